"""Active-speaker detection from the audio levels publishers put in their RTP
headers (``ssrc-audio-level``, RFC 6464): nothing is decoded.

Levels are -dBov (0 loudest, 127 silence). Hysteresis keeps the highlight
from flickering: a challenger must be louder than the current speaker for
several ticks in a row, and a speaker who goes quiet keeps the highlight a
little while.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

SPEECH_LEVEL = 60  # quieter than -60 dBov is not speech
TICKS_TO_TAKE_OVER = 3  # at 200 ms a tick: 0.6 s of being louder
MARGIN = 3  # dB louder than the current speaker, to count as louder
STALE_AFTER = 0.5  # seconds without a level: the track is silent


class SpeakerDetector:
    def __init__(self) -> None:
        self.current: str | None = None
        self._challenger: str | None = None
        self._challenger_ticks = 0

    def tick(
        self, levels: Iterable[tuple[str, int, float]], now: float | None = None
    ) -> str | None:
        """Feed (participant_id, level, measured_at) for each unmuted mic.
        Returns the new active speaker when it changes, else None."""
        now = time.monotonic() if now is None else now
        speaking = {
            pid: level
            for pid, level, at in levels
            if now - at <= STALE_AFTER and level <= SPEECH_LEVEL
        }
        if not speaking:
            self._challenger, self._challenger_ticks = None, 0
            return None
        loudest = min(speaking, key=speaking.__getitem__)
        if self.current is None or self.current not in speaking:
            candidate_beats = True
        else:
            candidate_beats = speaking[loudest] + MARGIN <= speaking[self.current]
        if loudest == self.current or not candidate_beats:
            self._challenger, self._challenger_ticks = None, 0
            return None
        if loudest == self._challenger:
            self._challenger_ticks += 1
        else:
            self._challenger, self._challenger_ticks = loudest, 1
        if self._challenger_ticks >= TICKS_TO_TAKE_OVER or self.current is None:
            self.current = loudest
            self._challenger, self._challenger_ticks = None, 0
            return loudest
        return None

    def forget(self, participant_id: str) -> None:
        if self.current == participant_id:
            self.current = None
