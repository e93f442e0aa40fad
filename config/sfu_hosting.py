"""Where the SFU runs, chosen by settings.SFU_MODE (config/ may import both
signaling and sfu; they never import each other beyond the bridge types).

- ``embedded``: the SFU runs in this daphne process's event loop.
- ``worker``: the SFU runs in ``python manage.py sfu_worker``; daphne
  processes reach it through the (Redis) channel layer.
- ``none``: no media; signaling, chat and moderation still work.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging

from aiortc import RTCIceServer
from channels.layers import get_channel_layer
from django.conf import settings

from sfu.sfu import SFU, SfuError
from signaling.bridge import (
    Deliver,
    MediaBridge,
    MediaRejected,
    MediaUnavailable,
    NoMediaBridge,
)

log = logging.getLogger(__name__)
WORKER_TIMEOUT = 10.0


def _ice_servers() -> list[RTCIceServer]:
    # The SFU's own ICE servers: STUN to learn its public address. It needs
    # no TURN credentials of its own: browsers relay to it, not the reverse.
    return [RTCIceServer(urls=url) for url in settings.STUN_URLS]


class EmbeddedBridge:
    """The MediaBridge for an SFU in this process."""

    def __init__(self, sfu: SFU) -> None:
        self.sfu = sfu

    async def join(
        self, *, room_id: int, participant_id: str, session: str, deliver: Deliver
    ) -> None:
        await self.sfu.join(
            room_id=room_id,
            participant_id=participant_id,
            session=session,
            deliver=deliver,
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

    async def answer(
        self, *, room_id: int, participant_id: str, sdp: str, session: str
    ) -> None:
        try:
            await self.sfu.answer(
                room_id=room_id, participant_id=participant_id, sdp=sdp, session=session
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


class WorkerBridge:
    """The MediaBridge for an SFU in a worker process, over the channel layer.

    Requests go to the worker's channel with a reply channel of this process;
    the worker reaches participants itself (``signaling.handlers.deliver``
    finds their connection in the database), so ``deliver`` stays here unused.
    """

    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future] = {}
        self.reply_channel = ""
        self.listener: asyncio.Task | None = None

    async def _start(self) -> None:
        if self.listener is None:
            self.reply_channel = await self.layer.new_channel("sfu.reply.")
            self.listener = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self) -> None:
        while True:
            reply = await self.layer.receive(self.reply_channel)
            future = self.pending.pop(reply.get("id"), None)
            if future is not None and not future.done():
                future.set_result(reply)

    async def _call(self, op: str, **args: object) -> object:
        await self._start()
        request_id = next(self.ids)
        future = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        await self.layer.send(
            settings.SFU_WORKER_CHANNEL,
            {
                "type": "sfu.request",
                "id": request_id,
                "op": op,
                "args": args,
                "reply_to": self.reply_channel,
            },
        )
        try:
            reply = await asyncio.wait_for(future, WORKER_TIMEOUT)
        except TimeoutError:
            self.pending.pop(request_id, None)
            raise MediaUnavailable("the SFU worker did not answer") from None
        if reply.get("error"):
            raise MediaRejected(reply["error"])
        return reply.get("result")

    async def join(
        self, *, room_id: int, participant_id: str, session: str, deliver: Deliver
    ) -> None:
        await self._call(
            "join", room_id=room_id, participant_id=participant_id, session=session
        )

    async def publish(self, **args: object) -> str:
        return await self._call("publish", **args)

    async def answer(self, **args: object) -> None:
        await self._call("answer", **args)

    async def candidate(self, **args: object) -> None:
        await self._call("candidate", **args)

    async def set_muted(self, **args: object) -> None:
        await self._call("set_muted", **args)

    async def leave(self, **args: object) -> None:
        await self._call("leave", **args)

    async def close_room(self, **args: object) -> None:
        await self._call("close_room", **args)


async def run_worker() -> None:
    """``manage.py sfu_worker``: serve SFU requests from the channel layer."""
    from signaling.handlers import deliver

    sfu = SFU(
        ice_servers=_ice_servers(), announced_address=settings.SFU_ANNOUNCED_ADDRESS
    )
    layer = get_channel_layer()
    calls = {
        "join": lambda **a: sfu.join(**a, deliver=deliver),
        "publish": sfu.publish,
        "answer": sfu.answer,
        "candidate": sfu.candidate,
        "set_muted": sfu.set_muted,
        "leave": sfu.leave,
        "close_room": sfu.close_room,
    }
    tasks: set[asyncio.Task] = set()

    async def serve(request: dict) -> None:
        reply: dict = {"type": "sfu.reply", "id": request.get("id")}
        try:
            reply["result"] = await calls[request["op"]](**request.get("args", {}))
        except (SfuError, KeyError, TypeError) as exc:
            reply["error"] = str(exc) or exc.__class__.__name__
        except Exception:
            log.exception("SFU request %s failed", request.get("op"))
            reply["error"] = "internal error in the SFU worker"
        await layer.send(request["reply_to"], reply)

    log.info("SFU worker listening on %s", settings.SFU_WORKER_CHANNEL)
    try:
        while True:
            request = await layer.receive(settings.SFU_WORKER_CHANNEL)
            task = asyncio.get_running_loop().create_task(serve(request))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        await sfu.close()


def make_bridge() -> MediaBridge:
    if settings.SFU_MODE == "worker":
        return WorkerBridge()
    if settings.SFU_MODE == "embedded":
        return EmbeddedBridge(
            SFU(
                ice_servers=_ice_servers(),
                announced_address=settings.SFU_ANNOUNCED_ADDRESS,
            )
        )
    return NoMediaBridge()
