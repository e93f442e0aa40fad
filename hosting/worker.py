"""The SFU in its own process (``manage.py sfu_worker``), reached by every
daphne process through the channel layer.

``WorkerClient`` is signaling's media server in a daphne process: each call
is a request to the worker's channel, answered on a reply channel of this
process. ``run_worker`` serves them in the worker, with an ``SFU`` whose
messages to participants go straight to their connections' channels
(``signaling.events.relay``).

On the wire (msgpack): a request is ``{"type": "sfu.request", "id", "op",
"args", "reply_to"}``, its reply ``{"type": "sfu.reply", "id", "result"}``
or ``{…, "error"}`` (with ``"unavailable": true`` for the SFU's own
``MediaUnavailable``: its port range is full). Sets of sources travel as
lists.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid

from channels.layers import get_channel_layer
from django.conf import settings

from sfu.api import MediaRejected, MediaUnavailable
from signaling.bridge import media_lost, media_restored

log = logging.getLogger(__name__)
# The worker says it is alive this often, to every client; a client that
# has not heard it for WORKER_DOWN_AFTER takes it as gone, and media calls
# then fail at once instead of each holding its connection for WORKER_TIMEOUT.
HEARTBEAT_EVERY = 1.0
WORKER_DOWN_AFTER = 3.5
WORKER_TIMEOUT = 5.0


def _clients_group() -> str:
    return f"{settings.SFU_WORKER_CHANNEL}.bridges"


async def _tell(news) -> None:
    # The client's listener and watchdog must outlive a failed notification.
    try:
        await news()
    except Exception:
        log.exception("could not tell participants: %s", news.__name__)


def _to_wire(args: dict) -> dict:
    if "allowed" in args:
        args["allowed"] = sorted(args["allowed"])  # msgpack has no sets
    return args


def _from_wire(args: dict) -> dict:
    if "allowed" in args:
        args["allowed"] = frozenset(args["allowed"])
    return args


class WorkerClient:
    """``sfu.api.MediaServer`` for an SFU in a worker process.

    The worker's heartbeat tells whether it is there. When it stops, every
    participant of this process is told that media is unavailable and calls
    fail at once (``MediaUnavailable``); when a worker answers again (a new
    process, which knows no one), every participant here starts a new media
    session. A refusal of the worker's SFU comes back as ``MediaRejected``,
    and its ``MediaUnavailable`` (no free port) as ``MediaUnavailable``.
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
            await self.layer.group_add(_clients_group(), self.reply_channel)
            self.started_at = loop.time()
            self.listener = loop.create_task(self._listen())
            self.watchdog = loop.create_task(self._watch())

    async def close(self) -> None:
        """Stop listening (this process is stopping; the worker goes on)."""
        for task in (self.listener, self.watchdog):
            if task is not None:
                task.cancel()
        if self.reply_channel:
            with contextlib.suppress(Exception):  # Redis may be gone already
                await self.layer.group_discard(_clients_group(), self.reply_channel)

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
                "args": _to_wire(args),
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
            if reply.get("unavailable"):
                raise MediaUnavailable(reply["error"])
            raise MediaRejected(reply["error"])
        return reply.get("result")

    async def join(
        self,
        *,
        room_id: int,
        participant_id: str,
        session: str,
        address: str,
        allowed: frozenset[str],
    ) -> None:
        await self._call(
            "join",
            room_id=room_id,
            participant_id=participant_id,
            session=session,
            address=address,
            allowed=allowed,
        )

    async def publish(
        self,
        *,
        room_id: int,
        participant_id: str,
        sdp: str,
        screen_track_id: str,
        allowed: frozenset[str],
    ) -> str:
        return await self._call(
            "publish",
            room_id=room_id,
            participant_id=participant_id,
            sdp=sdp,
            screen_track_id=screen_track_id,
            allowed=allowed,
        )

    async def answer(
        self, *, room_id: int, participant_id: str, sdp: str, session: str
    ) -> None:
        await self._call(
            "answer",
            room_id=room_id,
            participant_id=participant_id,
            sdp=sdp,
            session=session,
        )

    async def candidate(
        self,
        *,
        room_id: int,
        participant_id: str,
        pc: str,
        candidate: str,
        sdp_mid: str | None,
        sdp_mline_index: int | None,
    ) -> None:
        await self._call(
            "candidate",
            room_id=room_id,
            participant_id=participant_id,
            pc=pc,
            candidate=candidate,
            sdp_mid=sdp_mid,
            sdp_mline_index=sdp_mline_index,
        )

    async def set_allowed(
        self, *, room_id: int, participant_id: str, allowed: frozenset[str]
    ) -> None:
        await self._call(
            "set_allowed",
            room_id=room_id,
            participant_id=participant_id,
            allowed=allowed,
        )

    async def end_share(self, *, room_id: int, participant_id: str) -> None:
        await self._call("end_share", room_id=room_id, participant_id=participant_id)

    async def leave(self, *, room_id: int, participant_id: str) -> None:
        await self._call("leave", room_id=room_id, participant_id=participant_id)

    async def close_room(self, *, room_id: int) -> None:
        await self._call("close_room", room_id=room_id)


# The operations a client may ask for: the MediaServer calls, close() aside
# (the worker's SFU closes when the worker stops, not at a client's word).
OPERATIONS = (
    "join",
    "publish",
    "answer",
    "candidate",
    "set_allowed",
    "end_share",
    "leave",
    "close_room",
)


async def run_worker() -> None:
    """``manage.py sfu_worker``: serve SFU requests from the channel layer."""
    from hosting.embedded import make_sfu

    sfu = make_sfu()  # its messages: signaling.events.relay, to each channel
    layer = get_channel_layer()
    tasks: set[asyncio.Task] = set()

    async def serve(request: dict) -> None:
        reply: dict = {"type": "sfu.reply", "id": request.get("id")}
        op = request.get("op")
        try:
            if op not in OPERATIONS:
                raise MediaRejected(f"no such operation: {op!r}")
            args = _from_wire(dict(request.get("args") or {}))
            reply["result"] = await getattr(sfu, op)(**args)
        except (MediaRejected, TypeError) as exc:
            reply["error"] = str(exc) or exc.__class__.__name__
        except MediaUnavailable as exc:  # sfu.ports: the range is full
            reply["error"], reply["unavailable"] = str(exc), True
        except Exception:
            log.exception("SFU request %s failed", op)
            reply["error"] = "internal error in the SFU worker"
        await layer.send(request["reply_to"], reply)

    boot = uuid.uuid4().hex

    async def heartbeat() -> None:
        while True:
            with contextlib.suppress(Exception):  # Redis away: try again
                await layer.group_send(
                    _clients_group(), {"type": "sfu.heartbeat", "boot": boot}
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
