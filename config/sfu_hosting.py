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
import uuid

from aiortc import RTCIceServer
from channels.layers import get_channel_layer
from django.conf import settings

from sfu.guard import CandidatePolicy
from sfu.sfu import SFU, SfuError
from signaling.bridge import (
    Deliver,
    MediaBridge,
    MediaRejected,
    MediaUnavailable,
    NoMediaBridge,
    media_lost,
    media_restored,
)

log = logging.getLogger(__name__)
# The worker says it is alive this often, to every bridge; a bridge that has
# not heard it for WORKER_DOWN_AFTER takes it as gone, and media calls then
# fail at once instead of each holding its connection for WORKER_TIMEOUT.
HEARTBEAT_EVERY = 1.0
WORKER_DOWN_AFTER = 3.5
WORKER_TIMEOUT = 5.0


def _bridges_group() -> str:
    return f"{settings.SFU_WORKER_CHANNEL}.bridges"


async def _tell(news) -> None:
    # The bridge's listener and watchdog must outlive a failed notification.
    try:
        await news()
    except Exception:
        log.exception("could not tell participants: %s", news.__name__)


def _ice_servers() -> list[RTCIceServer]:
    # The SFU's own ICE servers: STUN to learn its public address. It needs
    # no TURN credentials of its own: browsers relay to it, not the reverse.
    return [RTCIceServer(urls=url) for url in settings.STUN_URLS]


def candidate_policy() -> CandidatePolicy:
    """Which addresses browsers may name in ICE candidates (settings)."""
    limit = settings.SFU_MAX_CANDIDATES
    if settings.SFU_CANDIDATE_NETWORKS:
        return CandidatePolicy(settings.SFU_CANDIDATE_NETWORKS, max_candidates=limit)
    return CandidatePolicy.default(max_candidates=limit)


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

    The worker's heartbeat tells whether it is there. When it stops, every
    participant of this process is told that media is unavailable and calls
    fail at once; when a worker answers again (a new process, which knows no
    one), every participant here starts a new media session.
    """

    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future] = {}
        self.reply_channel = ""
        self.listener: asyncio.Task | None = None
        self.watchdog: asyncio.Task | None = None
        self.worker_boot: str | None = None
        self.heard_at = 0.0
        self.up = asyncio.Event()
        # A call failed for want of a worker: someone waits for media_restart.
        self.missed = False

    async def _start(self) -> None:
        if self.listener is None:
            loop = asyncio.get_running_loop()
            # The default prefix, never one of our own: channels_redis lets one
            # receiver at a time pop its process's messages, and pops only from
            # the key of the receiver's prefix until something arrives. A reply
            # channel under another prefix held that turn whenever the worker
            # was silent, and no meeting socket of this process heard anything.
            self.reply_channel = await self.layer.new_channel()
            await self.layer.group_add(_bridges_group(), self.reply_channel)
            self.started_at = loop.time()
            self.listener = loop.create_task(self._listen())
            self.watchdog = loop.create_task(self._watch())

    async def close(self) -> None:
        for task in (self.listener, self.watchdog):
            if task is not None:
                task.cancel()

    async def _listen(self) -> None:
        while True:
            message = await self.layer.receive(self.reply_channel)
            if message.get("type") == "sfu.heartbeat":
                await self._heard(str(message.get("boot")))
                continue
            future = self.pending.pop(message.get("id"), None)
            if future is not None and not future.done():
                future.set_result(message)

    async def _heard(self, boot: str) -> None:
        self.heard_at = asyncio.get_running_loop().time()
        if self.up.is_set() and boot == self.worker_boot:
            return
        restarted = self.worker_boot is not None and boot != self.worker_boot
        came_back = restarted or (not self.up.is_set() and self.missed)
        self.worker_boot = boot
        self.up.set()
        if came_back:
            log.warning("the SFU worker is back: participants restart their media")
            self.missed = False
            await _tell(media_restored)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            if self.up.is_set() and loop.time() - self.heard_at > WORKER_DOWN_AFTER:
                log.warning("the SFU worker is gone: no heartbeat")
                self.up.clear()
                self.missed = True
                for future in self.pending.values():
                    if not future.done():
                        future.set_exception(MediaUnavailable("the SFU worker is gone"))
                self.pending.clear()
                await _tell(media_lost)

    async def _call(self, op: str, **args: object) -> object:
        await self._start()
        if not self.up.is_set():
            # Just started: give the worker's first heartbeat a moment.
            wait = (
                self.started_at + WORKER_DOWN_AFTER - asyncio.get_running_loop().time()
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.up.wait(), max(wait, 0))
        if not self.up.is_set():
            self.missed = True
            raise MediaUnavailable("the SFU worker is not running")
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
            self.missed = True
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
        ice_servers=_ice_servers(),
        announced_address=settings.SFU_ANNOUNCED_ADDRESS,
        candidate_policy=candidate_policy(),
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

    boot = uuid.uuid4().hex

    async def heartbeat() -> None:
        while True:
            with contextlib.suppress(Exception):  # Redis away: try again
                await layer.group_send(
                    _bridges_group(), {"type": "sfu.heartbeat", "boot": boot}
                )
            await asyncio.sleep(HEARTBEAT_EVERY)

    beating = asyncio.get_running_loop().create_task(heartbeat())
    log.info("SFU worker listening on %s", settings.SFU_WORKER_CHANNEL)
    try:
        while True:
            request = await layer.receive(settings.SFU_WORKER_CHANNEL)
            task = asyncio.get_running_loop().create_task(serve(request))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        beating.cancel()
        await sfu.close()


def make_bridge() -> MediaBridge:
    if settings.SFU_MODE == "worker":
        return WorkerBridge()
    if settings.SFU_MODE == "embedded":
        return EmbeddedBridge(
            SFU(
                ice_servers=_ice_servers(),
                announced_address=settings.SFU_ANNOUNCED_ADDRESS,
                candidate_policy=candidate_policy(),
            )
        )
    return NoMediaBridge()
