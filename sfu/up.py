"""A publisher's ``up`` connection: which transceiver carries which
published track (``UpTrack``), and which of them may be forwarded.

What the client says decides only what a track *is*: audio is the ``mic``,
the video track whose msid names ``screen_track_id`` is the ``screen``, any
other video the ``cam``. What is *forwarded* is the server's call alone: a
track whose source is not in ``allowed`` forwards nothing, whatever the
client sends, and a screen share a moderator ended is never forwarded again.

After each offer the tracks are reconciled with what the offer sends,
transceiver by transceiver, instead of trusting aiortc's ``track`` event:
aiortc fires it only the first time a transceiver receives, and a browser
reuses its screen transceiver for the next share (``inactive``, then
``sendonly`` again, same mid), which would otherwise reach nobody.
"""

from __future__ import annotations

import logging

from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

from sfu.forwarding import CODECS, tap_receiver
from sfu.ingress import Ingress
from sfu.tracks import UpTrack

log = logging.getLogger(__name__)

# The direction the client offered, as aiortc stores it: from the SFU's
# side, so a client's "sendonly" is "recvonly" here.
_OFFER_DIRECTION = "_offerDirection"
_RECEIVING = ("recvonly", "sendrecv")


def msid_track_ids(sdp: str) -> dict[str, str]:
    """The msid track id of each m-section, by mid.

    aiortc takes a track id from ``a=msid`` only when the stream is listed in
    ``a=msid-semantic: WMS``, and Chrome lists only some of its streams there
    (a screen share's stream is left out), so the SFU reads them itself.
    """
    ids: dict[str, str] = {}
    for section in sdp.split("\nm=")[1:]:
        mid = track_id = ""
        for line in section.splitlines():
            if line.startswith("a=mid:"):
                mid = line[len("a=mid:") :].strip()
            elif line.startswith("a=msid:") and " " in line:
                track_id = line.split()[1]
        if mid and track_id:
            ids[mid] = track_id
    return ids


def _ignore(*args: object) -> None:
    """What a receiver would hand on: the packet path took it before."""


def sends(transceiver: RTCRtpTransceiver) -> bool:
    """Does the client's last offer send on ``transceiver``?"""
    return getattr(transceiver, _OFFER_DIRECTION, None) in _RECEIVING


class Uplink:
    """The tracks one participant publishes, and what may be forwarded."""

    def __init__(
        self, owner_id: str, allowed: frozenset[str], *, forwarding: str = "frames"
    ) -> None:
        self.owner_id = owner_id
        self.allowed = allowed
        # "frames" (aiortc assembles them) or "packets" (sfu.ingress).
        self.forwarding = forwarding
        self.pc: RTCPeerConnection | None = None
        self.published: dict[str, UpTrack] = {}  # live tracks, by source
        # Receivers of shares a moderator ended. Whatever they go on sending
        # is not forwarded, until an offer stops sending on them: what the
        # client sends there after that is a new share.
        self.ended_shares: set[RTCRtpReceiver] = set()

    def tracks(self) -> list[UpTrack]:
        return list(self.published.values())

    def forwarded(self) -> frozenset[str]:
        """Sources whose live track forwards what it receives."""
        return frozenset(s for s, up in self.published.items() if up.forwarding)

    def set_allowed(self, allowed: frozenset[str]) -> list[UpTrack]:
        """Forward only these sources from now on; return the live tracks
        that started or stopped forwarding."""
        self.allowed = frozenset(allowed)
        changed = []
        for up in self.published.values():
            forwarding = up.source in self.allowed
            if forwarding != up.forwarding:
                up.set_forwarding(forwarding)
                changed.append(up)
        return changed

    def reconcile(
        self, *, screen_track_id: str, track_ids: dict[str, str]
    ) -> tuple[list[UpTrack], list[UpTrack]]:
        """Match the published tracks to the offer just applied; return the
        tracks that ended and those that started.

        A track ends when the offer stops sending on its transceiver. A
        transceiver the offer sends on, with no live track, starts one,
        unless it carries an ended share or its source is already live on
        another transceiver that still sends (the first keeps it: a client
        cannot make two transceivers take turns on every offer).

        Must run right after ``setRemoteDescription`` with no ``await`` in
        between: a new receiver must be tapped before aiortc starts it.
        """
        assert self.pc is not None
        transceivers = [t for t in self.pc.getTransceivers() if t.kind in CODECS]
        ended = []
        for transceiver in transceivers:
            if sends(transceiver):
                continue
            receiver = transceiver.receiver
            self.ended_shares.discard(receiver)  # the next one is a new share
            up = self._track_on(receiver)
            if up is not None:
                ended.append(self.forget(up))
        started = []
        for transceiver in transceivers:
            receiver = transceiver.receiver
            if (
                not sends(transceiver)
                or receiver.track is None
                or receiver in self.ended_shares
                or self._track_on(receiver) is not None
            ):
                continue
            source = self._source_of(transceiver, screen_track_id, track_ids)
            if source in self.published:
                log.warning(
                    "%s sends a second %s (mid %s): not published",
                    self.owner_id,
                    source,
                    transceiver.mid,
                )
                continue
            started.append(self._start(transceiver, source))
        return ended, started

    def end_share(self) -> UpTrack | None:
        """A moderator ended the screen share: return its track, now ended.
        Its transceiver is remembered, so that what the client goes on
        sending there is never forwarded again."""
        up = self.published.get("screen")
        if up is None:
            return None
        if up.receiver is not None:
            self.ended_shares.add(up.receiver)
        return self.forget(up)

    def forget(self, up: UpTrack) -> UpTrack:
        """End ``up`` and stop counting it as published."""
        if self.published.get(up.source) is up:
            del self.published[up.source]
        up.end()
        return up

    def close(self) -> list[UpTrack]:
        """End every track (the participant is leaving); return them."""
        return [self.forget(up) for up in list(self.published.values())]

    def _track_on(self, receiver: RTCRtpReceiver) -> UpTrack | None:
        return next(
            (up for up in self.published.values() if up.receiver is receiver), None
        )

    @staticmethod
    def _source_of(
        transceiver: RTCRtpTransceiver, screen_track_id: str, track_ids: dict[str, str]
    ) -> str:
        if transceiver.kind == "audio":
            return "mic"
        track_id = track_ids.get(transceiver.mid or "", transceiver.receiver.track.id)
        return "screen" if screen_track_id and track_id == screen_track_id else "cam"

    def _start(self, transceiver: RTCRtpTransceiver, source: str) -> UpTrack:
        receiver = transceiver.receiver
        up = UpTrack(
            owner_id=self.owner_id,
            kind=transceiver.kind,
            source=source,
            send_pli=receiver._send_rtcp_pli,
        )
        up.receiver = receiver
        up.forwarding = source in self.allowed  # before a single frame
        if self.forwarding == "packets":
            # No decoder thread either; aiortc's receiver sees no packet.
            tap_receiver(
                receiver, kind=transceiver.kind, on_frame=_ignore, on_packet=_ignore
            )
            Ingress.of(receiver.transport).attach(transceiver, up)
        else:
            tap_receiver(
                receiver,
                kind=transceiver.kind,
                on_frame=up.on_frame,
                on_packet=up.on_packet,
                on_loss=up.on_loss,
            )
        self.published[source] = up
        log.info(
            "%s publishes %s on mid %s%s",
            self.owner_id,
            up.id,
            transceiver.mid,
            "" if up.forwarding else " (not allowed: not forwarded)",
        )
        return up
