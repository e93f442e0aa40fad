"""The one contract between signaling and the media server (SFU).

The SFU itself, the in-process host and the worker client all implement
``MediaServer``; signaling holds one and never knows which. Errors are these
two, whichever side raised them: callers translate nothing.

Nothing here imports Django, Channels or the apps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

# What a participant may publish, by source. The server derives the set from
# the participant's role, a moderator's stops and the room's policy, and
# pushes it on every change and with every offer; the SFU forwards a source
# only while it is in the set, whatever the client says.
SOURCES = frozenset({"mic", "cam", "screen"})

# deliver(address, message): send a protocol message to the connection at
# ``address`` (the opaque string ``join`` was given: a channel name).
Deliver = Callable[[str, dict], Awaitable[None]]


class MediaError(Exception):
    """Base of what a media server call can raise."""


class MediaUnavailable(MediaError):
    """No media server is configured or reachable, or it has no room for
    another connection (``sfu.ports.PortsExhausted``)."""


class MediaRejected(MediaError):
    """The media server refused a request: an unusable SDP or candidate, a
    participant it does not know, a connection that has closed."""


class MediaServer(Protocol):
    async def join(
        self,
        *,
        room_id: int,
        participant_id: str,
        session: str,
        address: str,
        allowed: frozenset[str],
    ) -> None:
        """The participant is in the meeting (a second join replaces the
        first): the SFU may start offering ``down``, with ``session`` in its
        offers, through ``deliver(address, …)``."""

    async def publish(
        self,
        *,
        room_id: int,
        participant_id: str,
        sdp: str,
        screen_track_id: str,
        allowed: frozenset[str],
    ) -> str:
        """Apply the client's ``up`` offer; return the SFU's answer SDP.
        ``allowed`` is applied before any track of the offer is forwarded."""

    async def answer(
        self, *, room_id: int, participant_id: str, sdp: str, session: str
    ) -> None:
        """Apply the client's answer to the SFU's ``down`` offer; an answer
        from another ``session`` than the current one is dropped."""

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

    async def set_allowed(
        self, *, room_id: int, participant_id: str, allowed: frozenset[str]
    ) -> None:
        """Forward only these sources of the participant from now on. A
        participant the SFU does not know is ignored (``join`` carries the
        set too)."""

    async def end_share(self, *, room_id: int, participant_id: str) -> None:
        """End the participant's current screen share for everyone (a
        moderator stopped it). That share stays ended; a new one (after the
        client stopped sending, or on a new track) is forwarded if allowed."""

    async def leave(self, *, room_id: int, participant_id: str) -> None: ...

    async def close_room(self, *, room_id: int) -> None: ...

    async def close(self) -> None:
        """Close everything (process shutdown)."""


class NoMediaServer:
    """No media server (``SFU_MODE=none``, or none installed yet): media
    calls fail with MediaUnavailable; control calls have nothing to do."""

    async def join(self, **kwargs: object) -> None:
        return None  # the first offer says media is unavailable

    async def publish(self, **kwargs: object) -> str:
        raise MediaUnavailable("no media server is configured")

    async def answer(self, **kwargs: object) -> None:
        raise MediaUnavailable("no media server is configured")

    async def candidate(self, **kwargs: object) -> None:
        raise MediaUnavailable("no media server is configured")

    async def set_allowed(self, **kwargs: object) -> None:
        return None

    async def end_share(self, **kwargs: object) -> None:
        return None

    async def leave(self, **kwargs: object) -> None:
        return None

    async def close_room(self, **kwargs: object) -> None:
        return None

    async def close(self) -> None:
        return None
