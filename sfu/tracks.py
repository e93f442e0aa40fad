"""A published track (``UpTrack``) and its copies to each subscriber
(``DownTrack``), in Galène's terms.

An UpTrack receives encoded frames from one publisher and hands the same
``av.Packet`` to every DownTrack (one subscription). Video never reaches a
subscriber before a keyframe, and a subscriber that falls behind is dropped
back to waiting for the next one.

A DownSlot is what an aiortc sender reads, for as long as its m-section
lives: the frames of whichever DownTrack holds that m-section now. Senders
cannot be restarted, so m-sections can be reused only if the sender's track
never ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import av
from aiortc import MediaStreamTrack
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket

from sfu.forwarding import is_vp8_keyframe, to_packet

if TYPE_CHECKING:
    from sfu.egress import Outbound
    from sfu.rtp import PacketCache

log = logging.getLogger(__name__)

# Keyframe requests to a publisher: at most one per interval; a request made
# inside the interval is sent when it ends, so a late joiner never waits long.
PLI_INTERVAL = 0.25
# While a subscriber still waits for a keyframe, ask again this often: a PLI
# is one UDP packet and can be lost, and a browser sends keyframes only when
# asked, so one lost request would leave that subscriber without video.
PLI_RETRY = 1.0
# Frames a subscriber may have queued before it counts as too slow.
DOWN_QUEUE_FRAMES = {"audio": 50, "video": 30}


class UpTrack:
    """One track a participant publishes: ``source`` is mic, cam or screen."""

    def __init__(
        self,
        *,
        owner_id: str,
        kind: str,
        source: str,
        send_pli: Callable[[int], Awaitable[None]],
    ) -> None:
        self.owner_id = owner_id
        self.kind = kind
        self.source = source
        # False while the server does not allow this source: nothing is
        # forwarded, whatever the publisher sends.
        self.forwarding = True
        self.receiver: object | None = None  # what it arrives on (aiortc's)
        self.subscribers: list[DownTrack] = []
        self.ssrc: int | None = None
        self.audio_level: int = 127  # -dBov: 0 is loudest, 127 silence
        self.level_at = 0.0
        self.frames_in = 0
        self.frames_out = 0
        self.ended = False
        # The packet path's (sfu.ingress): the publisher's recent packets,
        # for subscribers' NACKs, and its header extension ids by URI.
        self.cache: PacketCache | None = None
        self.extensions: dict[str, int] | None = None
        self._send_pli = send_pli
        self._last_pli = 0.0
        self._pli_pending: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()

    @property
    def id(self) -> str:
        return f"{self.source}-{self.owner_id}"

    @property
    def stream_id(self) -> str:
        # Camera and microphone share a stream (lip sync); a screen is its own.
        return f"screen-{self.owner_id}" if self.source == "screen" else self.owner_id

    # From the receiver

    def on_packet(self, packet: RtpPacket, media_ssrc: int) -> None:
        """Every RTP packet, before aiortc assembles it: the SSRC a keyframe
        request must name (``media_ssrc``, also for a retransmission) and the
        audio level."""
        self.ssrc = media_ssrc
        if self.kind == "audio":
            level = packet.extensions.audio_level
            if level is not None:
                self.audio_level = level[1]
                self.level_at = time.monotonic()

    def on_frame(self, frame: JitterFrame | None) -> None:
        if frame is None:
            self.end()
            return
        self.frames_in += 1
        if self.frames_in == 1:
            log.info("%s: first frame from the publisher", self.id)
        if not self.forwarding or not self.subscribers:
            return
        keyframe = self.kind == "audio" or is_vp8_keyframe(frame.data)
        packet = to_packet(frame, self.kind)
        waiting = False
        for down in self.subscribers:
            if down.push(packet, keyframe):
                self.frames_out += 1
            else:
                waiting = waiting or down.waiting_for_keyframe
        if waiting and time.monotonic() - self._last_pli > PLI_RETRY:
            self.request_keyframe()

    def on_loss(self) -> None:
        """A frame from the publisher was lost: what follows cannot be decoded
        until a keyframe (which the receiver has asked for)."""
        for down in self.subscribers:
            down.resync()

    # Keyframes

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe (RTCP PLI), rate-limited."""
        if self.kind != "video" or self.ended:
            return
        wait = self._last_pli + PLI_INTERVAL - time.monotonic()
        if wait <= 0:
            self._pli_now()
        elif self._pli_pending is None:
            self._pli_pending = self._loop.call_later(wait, self._pli_now)

    def keep_asking(self) -> None:
        """Someone still waits for a keyframe: ask again now and then."""
        if time.monotonic() - self._last_pli > PLI_RETRY:
            self.request_keyframe()

    def _pli_now(self) -> None:
        self._pli_pending = None
        if self.ssrc is None:
            # Nothing has arrived yet, so there is no SSRC to name. Not sent,
            # so not counted: the first frame a subscriber refuses asks again.
            return
        self._last_pli = time.monotonic()
        self._loop.create_task(self._send_pli(self.ssrc))

    # Subscribers and forwarding

    def subscribe(self, down: DownTrack) -> None:
        self.subscribers.append(down)
        self.request_keyframe()

    def unsubscribe(self, down: DownTrack) -> None:
        if down in self.subscribers:
            self.subscribers.remove(down)

    def set_forwarding(self, forwarding: bool) -> None:
        """Forward the publisher's frames, or not, from now on. Stopping also
        drops what subscribers have queued, so not one more frame leaves;
        resuming starts video at a keyframe, asked for at once."""
        if forwarding == self.forwarding:
            return
        self.forwarding = forwarding
        for down in self.subscribers:
            if not forwarding:
                down.drop_queued()
            down.resync()
        if forwarding:
            self.request_keyframe()

    def end(self) -> None:
        self.ended = True
        if self._pli_pending is not None:
            self._pli_pending.cancel()
            self._pli_pending = None
        for down in list(self.subscribers):
            down.finish()
        self.subscribers.clear()


class DownTrack(MediaStreamTrack):
    """One subscriber's copy of an UpTrack, read by an aiortc RTCRtpSender."""

    def __init__(self, up: UpTrack, subscriber_id: str = "") -> None:
        super().__init__()
        self.kind = up.kind
        self._id = up.id
        self.up = up
        self.subscriber_id = subscriber_id
        self.sent = 0
        self.waiting_for_keyframe = up.kind == "video"
        self.dropped = 0
        # On the packet path, the sender of the m-section it is given
        # (sfu.egress.Outbound); it sends this subscription once bound.
        self.outbound: Outbound | None = None
        self._queue: asyncio.Queue[av.Packet | None] = asyncio.Queue()
        self._limit = DOWN_QUEUE_FRAMES[up.kind]

    def push(self, packet: av.Packet, keyframe: bool) -> bool:
        """Queue a frame for this subscriber; False if it was dropped."""
        if self.waiting_for_keyframe:
            if not keyframe:
                self.dropped += 1
                return False
            self.waiting_for_keyframe = False
        if self._queue.qsize() >= self._limit:
            # Too slow to keep up: drop what is queued and start again from a
            # keyframe, rather than show ever older video.
            self.dropped += self._queue.qsize()
            self._drain()
            if self.kind == "video":
                self.resync()
                self.up.request_keyframe()
                return False
        self._queue.put_nowait(packet)
        return True

    def resync(self) -> None:
        """Start again from the next keyframe (video only)."""
        if self.kind == "video":
            self.waiting_for_keyframe = True

    def request_keyframe(self) -> None:
        """The subscriber's browser sent PLI or FIR."""
        self.up.request_keyframe()

    def drop_queued(self) -> None:
        """Forget the frames not yet sent."""
        self.dropped += self._queue.qsize()
        self._drain()

    def finish(self) -> None:
        self._drain()
        self._queue.put_nowait(None)

    def _drain(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()

    async def next(self) -> av.Packet | None:
        """The next frame for the subscriber; None once the subscription has
        ended (the publisher's track ended, or the subscription was stopped)."""
        if self.readyState != "live":
            return None
        packet = await self._queue.get()
        if packet is None:
            self.stop()
            return None
        self.sent += 1
        if self.sent == 1:
            # Where media stops is the first question when someone is not
            # seen: this line says the subscriber's sender is running.
            log.info("%s: first frame to %s", self._id, self.subscriber_id)
        return packet

    async def recv(self) -> av.Packet:
        packet = await self.next()
        if packet is None:
            raise MediaStreamError
        return packet

    def stop(self) -> None:
        if self.readyState == "live":
            self.finish()  # wakes a reader waiting for the next frame
        super().stop()
        self.up.unsubscribe(self)


class DownSlot(MediaStreamTrack):
    """The track of one m-section's sender, for the sender's whole life.

    It forwards the DownTrack ``bind()`` gives it, and waits (sending
    nothing) between subscriptions. It is bound only once the subscriber has
    answered the offer naming that subscription: until then its sender might
    still be disabled, and would read (and drop) the keyframe the new
    subscriber is waiting for. ``on_switch`` is called just before the first
    frame of a newly bound DownTrack goes out.
    """

    def __init__(self, kind: str, on_switch: Callable[[], None] = lambda: None):
        super().__init__()
        self.kind = kind
        self.on_switch = on_switch
        self.down: DownTrack | None = None
        self._bound = asyncio.Event()
        self._switched = False

    def bind(self, down: DownTrack) -> None:
        if down is self.down or self.readyState != "live":
            return
        self.down = down
        self._switched = True
        self._bound.set()

    def unbind(self) -> None:
        self.down = None
        self._bound.clear()

    def request_keyframe(self) -> None:
        """The subscriber's browser sent PLI or FIR."""
        if self.down is not None:
            self.down.request_keyframe()

    async def recv(self) -> av.Packet:
        while self.readyState == "live":
            down = self.down
            if down is None:
                self._bound.clear()
                await self._bound.wait()
                continue
            packet = await down.next()
            if down is not self.down:
                continue  # unbound while waiting: that frame is not wanted
            if packet is None:
                self.unbind()  # the subscription ended
                continue
            if self._switched:
                self._switched = False
                self.on_switch()
            return packet
        raise MediaStreamError

    def stop(self) -> None:
        """The sender has stopped: nothing will read this subscription."""
        super().stop()
        down, self.down = self.down, None
        if down is not None:
            down.stop()  # also wakes a recv() waiting for its next frame
        self._bound.set()  # and one waiting for a binding
