"""The one door between signaling and the media server (SFU).

The consumer relays the media messages of the protocol (``sfu_offer``,
``sfu_answer``, ``sfu_candidate``) and the moderators' mutes through a
``MediaBridge``; which one is in use depends on ``settings.SFU_MODE``.
Messages from the SFU to a participant (the ``down`` offer, candidates,
active-speaker events) come back through ``deliver``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from signaling import events

# deliver(participant_id, message): send a protocol message to a participant.
Deliver = Callable[[str, dict], Awaitable[None]]


class MediaUnavailable(Exception):
    """No media server is configured or reachable."""


class MediaRejected(Exception):
    """The media server refused a request (an unusable SDP or candidate)."""


class MediaBridge(Protocol):
    async def publish(
        self, *, room_id: int, participant_id: str, sdp: str, screen_track_id: str
    ) -> str:
        """Apply the client's ``up`` offer; return the SFU's answer SDP."""

    async def answer(
        self, *, room_id: int, participant_id: str, sdp: str, session: str
    ) -> None:
        """Apply the client's answer to the SFU's ``down`` offer; ``session``
        is the one the offer carried (an answer from an earlier one is
        dropped)."""

    async def candidate(
        self,
        *,
        room_id: int,
        participant_id: str,
        pc: str,
        candidate: str,
        sdp_mid: str | None,
        sdp_mline_index: int | None,
    ) -> None: ...

    async def join(
        self, *, room_id: int, participant_id: str, session: str, deliver: Deliver
    ) -> None:
        """The participant is in the meeting: the SFU may start offering
        ``down``. ``session`` names this connection's media session."""

    async def set_muted(
        self, *, room_id: int, participant_id: str, kind: str, muted: bool
    ) -> None:
        """Enforce a moderator's mute: a muted kind is not forwarded."""

    async def leave(self, *, room_id: int, participant_id: str) -> None: ...

    async def close_room(self, *, room_id: int) -> None: ...


class NoMediaBridge:
    """``SFU_MODE=none``: signaling, chat and moderation work; media does not."""

    async def publish(self, **kwargs: object) -> str:
        raise MediaUnavailable

    async def answer(self, **kwargs: object) -> None:
        raise MediaUnavailable

    async def candidate(self, **kwargs: object) -> None:
        raise MediaUnavailable

    async def join(self, **kwargs: object) -> None:
        return None

    async def set_muted(self, **kwargs: object) -> None:
        return None

    async def leave(self, **kwargs: object) -> None:
        return None

    async def close_room(self, **kwargs: object) -> None:
        return None


async def media_lost() -> None:
    """A bridge lost its media server: every participant here is told."""
    await events.control_group(events.process_group(), "media_lost")


async def media_restored() -> None:
    """The media server is back (a new process: it knows no one). Every
    participant here starts a new media session."""
    await events.control_group(events.process_group(), "media_restart")


_bridge: MediaBridge | None = None
_factory: Callable[[], MediaBridge] = NoMediaBridge


def get_bridge() -> MediaBridge:
    """The bridge for this process, made on first use (inside the event loop,
    which an in-process SFU needs)."""
    global _bridge
    if _bridge is None:
        _bridge = _factory()
    return _bridge


def set_bridge_factory(factory: Callable[[], MediaBridge]) -> None:
    """config/ chooses how the SFU is hosted (settings.SFU_MODE)."""
    global _factory, _bridge
    _factory, _bridge = factory, None


def set_bridge(bridge: MediaBridge | None) -> None:
    """Install a bridge directly (tests install doubles)."""
    global _bridge
    _bridge = bridge
