"""Where the SFU runs, chosen by settings.SFU_MODE (config/ may import both
signaling and sfu; they never import each other beyond the bridge types).

- ``embedded``: the SFU runs in this daphne process's event loop.
- ``none``: no media; signaling, chat and moderation still work.
"""

from __future__ import annotations

import contextlib

from aiortc import RTCIceServer
from django.conf import settings

from sfu.sfu import SFU, SfuError
from signaling.bridge import Deliver, MediaBridge, MediaRejected, NoMediaBridge


def _ice_servers() -> list[RTCIceServer]:
    # The SFU's own ICE servers: STUN to learn its public address. It needs
    # no TURN credentials of its own: browsers relay to it, not the reverse.
    return [RTCIceServer(urls=url) for url in settings.STUN_URLS]


class EmbeddedBridge:
    """The MediaBridge for an SFU in this process."""

    def __init__(self, sfu: SFU) -> None:
        self.sfu = sfu

    async def join(
        self, *, room_id: int, participant_id: str, deliver: Deliver
    ) -> None:
        await self.sfu.join(
            room_id=room_id, participant_id=participant_id, deliver=deliver
        )

    async def publish(
        self, *, room_id: int, participant_id: str, sdp: str, screen_track_id: str
    ) -> str:
        try:
            return await self.sfu.publish(
                room_id=room_id,
                participant_id=participant_id,
                sdp=sdp,
                screen_track_id=screen_track_id,
            )
        except SfuError as exc:
            raise MediaRejected(str(exc)) from exc

    async def answer(self, *, room_id: int, participant_id: str, sdp: str) -> None:
        try:
            await self.sfu.answer(
                room_id=room_id, participant_id=participant_id, sdp=sdp
            )
        except SfuError as exc:
            raise MediaRejected(str(exc)) from exc

    async def candidate(self, **kwargs) -> None:
        try:
            await self.sfu.candidate(**kwargs)
        except SfuError as exc:
            raise MediaRejected(str(exc)) from exc

    async def set_muted(
        self, *, room_id: int, participant_id: str, kind: str, muted: bool
    ) -> None:
        # Before join the SFU has no peer yet; signaling re-applies hard mutes
        # when the participant joins, so nothing is lost.
        with contextlib.suppress(SfuError):
            await self.sfu.set_muted(
                room_id=room_id, participant_id=participant_id, kind=kind, muted=muted
            )

    async def leave(self, *, room_id: int, participant_id: str) -> None:
        await self.sfu.leave(room_id=room_id, participant_id=participant_id)

    async def close_room(self, *, room_id: int) -> None:
        await self.sfu.close_room(room_id=room_id)


def make_bridge() -> MediaBridge:
    if settings.SFU_MODE == "embedded":
        return EmbeddedBridge(
            SFU(
                ice_servers=_ice_servers(),
                announced_address=settings.SFU_ANNOUNCED_ADDRESS,
            )
        )
    return NoMediaBridge()
