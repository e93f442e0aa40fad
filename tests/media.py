"""Cheap media clients for tests and benchmarks: they publish pre-encoded VP8
and Opus (made once with PyAV) and count what they receive, so that a room of
ten costs the client side little and the SFU's cost can be measured.

``MediaClient`` talks to an SFU through its API (``sfu.api.MediaServer``), as
signaling does; the SFU's messages reach it through a ``Switchboard``, the
SFU's ``deliver``. Its receivers either decode for real (``decode=True``:
libvpx and libopus, to prove the media is intact) or count encoded frames
and RTP packets.

This is test code: the product (``sfu/``) encodes and decodes nothing.
"""

from __future__ import annotations

import array
import asyncio
import fractions
import itertools
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import av
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtcpByePacket

from sfu.api import SOURCES
from sfu.forwarding import (
    ImmediateAudioBuffer,
    VideoForwardBuffer,
    replace_jitter_buffer,
    tap_receiver,
)

VIDEO_RATE = 90000
FPS = 30
AUDIO_SAMPLES = 960  # 20 ms at 48 kHz


@dataclass
class EncodedClip:
    """A loop of encoded frames: (payload, is_keyframe)."""

    video: list[tuple[bytes, bool]]
    audio: list[bytes]
    fps: int = FPS
    audio_samples: int = AUDIO_SAMPLES  # per Opus packet


_clips: dict[tuple[int, ...], EncodedClip] = {}


def encoded_clip(
    *,
    seconds: int = 2,
    width: int = 320,
    height: int = 240,
    fps: int = FPS,
    audio_ms: int = 20,
) -> EncodedClip:
    """Encode a moving test pattern and a tone once per process (per kind).
    A small, slow clip (few frames per second, 60 ms of audio a packet) keeps
    a test with many clients cheap."""
    key = (seconds, width, height, fps, audio_ms)
    if key in _clips:
        return _clips[key]
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.bit_rate = 300_000
    encoder.time_base = fractions.Fraction(1, fps)
    encoder.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    encoder.gop_size = fps  # a keyframe every second
    video = []
    for n in range(seconds * fps):
        frame = av.VideoFrame(width, height, "yuv420p")
        luma = bytes((x + n * 4) % 256 for x in range(width)) * height
        frame.planes[0].update(luma)
        frame.planes[1].update(bytes([128 + (n % 32)]) * (width * height // 4))
        frame.planes[2].update(bytes([128]) * (width * height // 4))
        frame.pts = n
        for packet in encoder.encode(frame):
            video.append((bytes(packet), bool(packet.is_keyframe)))
    for packet in encoder.encode(None):
        video.append((bytes(packet), bool(packet.is_keyframe)))

    opus = av.CodecContext.create("libopus", "w")
    opus.sample_rate, opus.layout, opus.format = 48000, "mono", "s16"
    opus.bit_rate = 32000
    opus.options = {"frame_duration": str(audio_ms)}
    samples = 48 * audio_ms
    audio = []
    for n in range(seconds * 1000 // audio_ms):
        frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
        frame.sample_rate = 48000
        tone = array.array(
            "h",
            (
                int(8000 * math.sin(2 * math.pi * 440 * (n * samples + i) / 48000))
                for i in range(samples)
            ),
        )
        frame.planes[0].update(tone.tobytes())
        frame.pts = n * samples
        audio += [bytes(p) for p in opus.encode(frame)]
    _clips[key] = EncodedClip(video=video, audio=audio, fps=fps, audio_samples=samples)
    return _clips[key]


class EncodedTrack(MediaStreamTrack):
    """Yields the clip's packets in real time, looping; jumps to a keyframe
    when the remote side asks for one."""

    def __init__(self, kind: str, clip: EncodedClip) -> None:
        super().__init__()
        self.kind = kind
        self._frames = (
            clip.video if kind == "video" else [(a, True) for a in clip.audio]
        )
        self._index = 0
        self._count = 0
        self._start: float | None = None
        self._period = 1 / clip.fps if kind == "video" else clip.audio_samples / 48000
        self._pts_step = (
            VIDEO_RATE // clip.fps if kind == "video" else clip.audio_samples
        )
        self.keyframe_requests = 0
        self.level = 127  # -dBov sent in the audio-level header: 127 is silence
        self._flowing = asyncio.Event()
        self._flowing.set()

    def hold(self) -> None:
        """Stop yielding frames (a camera that stalls) until ``release()``."""
        self._flowing.clear()

    def release(self) -> None:
        if self._start is not None:
            # Go on from now rather than send the held frames in a burst.
            self._start = time.monotonic() - self._count * self._period
        self._flowing.set()

    def request_keyframe(self) -> None:
        self.keyframe_requests += 1
        keys = [i for i, (_, key) in enumerate(self._frames) if key]
        later = [i for i in keys if i >= self._index]
        self._index = later[0] if later else keys[0]

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        await self._flowing.wait()
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._count * self._period - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        data, _key = self._frames[self._index % len(self._frames)]
        self._index = (self._index + 1) % len(self._frames)
        packet = av.Packet(data)
        if self.kind == "video":
            packet.pts = self._count * self._pts_step
            packet.time_base = fractions.Fraction(1, VIDEO_RATE)
        else:
            packet.pts = self._count * self._pts_step
            packet.time_base = fractions.Fraction(1, 48000)
        self._count += 1
        return packet


class Switchboard:
    """The SFU's ``deliver`` in tests: hands each message to the client at
    the address it names. A message to an address nobody holds is lost, as
    one to a closed connection's channel is."""

    def __init__(self) -> None:
        self.clients: dict[str, Callable[[dict], Awaitable[None]]] = {}

    def connect(self, address: str, receive: Callable[[dict], Awaitable[None]]) -> None:
        self.clients[address] = receive

    def disconnect(self, address: str) -> None:
        self.clients.pop(address, None)

    async def __call__(self, address: str, message: dict) -> None:
        receive = self.clients.get(address)
        if receive is not None:
            await receive(message)


_addresses = itertools.count(1)


@dataclass
class Received:
    """What one client got from one remote track."""

    track_id: str
    kind: str
    frames: int = 0
    packets: int = 0  # RTP packets (counted when not decoding)
    first_at: float | None = None
    keyframes: int = 0
    first_was_keyframe: bool | None = None
    sizes: list[tuple[int, int]] = field(default_factory=list)


def sending_tracks(sdp: str) -> dict[str, tuple[str, str]]:
    """(kind, msid track id) of each m-section of an SFU offer that sends."""
    sending = {}
    for section in sdp.split("\nm=")[1:]:
        kind = section.split(" ", 1)[0]
        mid = track_id = ""
        active = False
        for line in section.splitlines():
            if line.startswith("a=mid:"):
                mid = line[len("a=mid:") :].strip()
            elif line.startswith("a=msid:") and " " in line:
                track_id = line.split()[1]
            elif line.strip() in ("a=sendonly", "a=sendrecv"):
                active = True
        if mid and active:
            sending[mid] = (kind, track_id)
    return sending


class MediaClient:
    """One participant: joins, publishes its tracks on ``up``, answers the
    SFU's ``down`` offers and counts what arrives from each remote track.

    ``allowed`` is what the server lets it publish, passed with ``join`` and
    every offer as signaling does; ``claim_screen`` names the track of
    another source (say ``"cam"``) as its screen, as a lying client would."""

    def __init__(
        self,
        sfu,
        room_id: int,
        participant_id: str,
        *,
        video: bool = True,
        audio: bool = True,
        screen: bool = False,
        decode: bool = False,
        rewrite_offer: Callable[[str], str] | None = None,
        clip: EncodedClip | None = None,
        allowed: frozenset[str] = SOURCES,
        claim_screen: str = "",
    ) -> None:
        self.sfu = sfu
        # Makes the offer look like another browser's, e.g. Chrome's.
        self.rewrite_offer = rewrite_offer or (lambda sdp: sdp)
        self.room_id = room_id
        self.id = participant_id
        # Where the SFU's messages to this client go (a channel name, in
        # production): one per client, as each connection has its own.
        self.address = f"{participant_id}#{next(_addresses)}"
        self.allowed = allowed
        self.claim_screen = claim_screen
        self.decode = decode
        self.clip = clip or encoded_clip()
        self.tracks = {}
        if audio:
            self.tracks["mic"] = EncodedTrack("audio", self.clip)
        if video:
            self.tracks["cam"] = EncodedTrack("video", self.clip)
        if screen:
            self.tracks["screen"] = EncodedTrack("video", self.clip)
        self.up: RTCPeerConnection | None = None
        self.down: RTCPeerConnection | None = None
        self.senders: dict[str, object] = {}  # RTCRtpSender, by source
        self.received: dict[str, Received] = {}  # by track id
        self._by_mid: dict[str, Received] = {}  # what each m-section carries now
        # RTP packets each down m-section received, whatever it carried
        # (counted when not decoding).
        self.mid_packets: dict[str, int] = {}
        self.speakers: list[str] = []
        self.offers = 0  # sfu_offer messages received on ``down``
        self.joined_at = 0.0
        self._tasks: set[asyncio.Task] = set()
        self._negotiation = asyncio.Lock()
        self.closed = False

    @staticmethod
    def _pc() -> RTCPeerConnection:
        return RTCPeerConnection(
            RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )

    async def join(self, *, publish: bool = True) -> None:
        self.joined_at = time.monotonic()
        self.session = f"{self.id}-{id(self)}"  # one per join, as a browser's
        self.sfu.deliver.connect(self.address, self._receive)
        await self.sfu.join(
            room_id=self.room_id,
            participant_id=self.id,
            session=self.session,
            address=self.address,
            allowed=self.allowed,
        )
        if self.tracks and publish:
            await self.publish()

    async def publish(self) -> None:
        """Offer every track on a new ``up`` connection."""
        self.up = self._pc()
        self.senders = {}
        for source, track in self.tracks.items():
            sender = self.up.addTrack(track)
            self.senders[source] = sender
            # A PLI from the SFU. One naming another SSRC never gets here:
            # aiortc routes RTCP by SSRC, and a browser ignores it too.
            sender._send_keyframe = track.request_keyframe
            if source == "mic":
                self._send_audio_level(sender, track)
        await self.renegotiate()

    async def renegotiate(self) -> None:
        """Offer ``up`` as it is now, as a browser does after a change."""
        await self.up.setLocalDescription(await self.up.createOffer())
        sdp = self.up.localDescription.sdp
        answer = await self.sfu.publish(
            room_id=self.room_id,
            participant_id=self.id,
            sdp=self.rewrite_offer(sdp),
            screen_track_id=self._screen_track_id(),
            allowed=self.allowed,
        )
        await self.up.setRemoteDescription(
            RTCSessionDescription(sdp=answer, type="answer")
        )

    def _screen_track_id(self) -> str:
        if self.claim_screen:
            return self.msid_of(self.claim_screen)
        sender = self.senders.get("screen")
        if sender is None or self._transceiver_of(sender).direction == "inactive":
            return ""
        return sender._track_id  # what aiortc writes in the msid

    def _transceiver_of(self, sender):
        return next(t for t in self.up.getTransceivers() if t.sender is sender)

    def msid_of(self, source: str) -> str:
        """The msid track id the offer gives ``source``'s track."""
        return self.senders[source]._track_id

    async def stop_screen(self, *, bye: bool = False) -> None:
        """Stop sharing as the room page does: no track, ``inactive``,
        renegotiate. ``bye``: first send RTCP BYE for the stream, as Chrome
        does when a transceiver stops sending."""
        sender = self.senders["screen"]
        if bye:
            await sender._send_rtcp([RtcpByePacket(sources=[sender._ssrc])])
        sender.replaceTrack(None)
        self._transceiver_of(sender).direction = "inactive"
        # Not stopped: aiortc's sender would stop for good if the track it
        # was still reading from ended under it.
        self.tracks.pop("screen")
        await self.renegotiate()

    async def share_screen(self, *, new_transceiver: bool = False) -> EncodedTrack:
        """Share (again), as the room page does: the screen transceiver
        reused (``sendonly``, a new track, same mid), or a new one (the
        first share, or ``new_transceiver``: whatever the last one still
        does)."""
        track = EncodedTrack("video", self.clip)
        self.tracks["screen"] = track
        sender = self.senders.get("screen")
        if sender is None or new_transceiver:
            sender = self.senders["screen"] = self.up.addTrack(track)
        else:
            self._transceiver_of(sender).direction = "sendonly"
            sender.replaceTrack(track)
        sender._send_keyframe = track.request_keyframe
        await self.renegotiate()
        return track

    @staticmethod
    def _send_audio_level(sender, track: EncodedTrack) -> None:
        """Put ``track.level`` (-dBov) in the ssrc-audio-level header, as a
        browser does; aiortc only does it for audio it encodes itself."""
        next_frame = sender._next_encoded_frame

        async def with_level(codec):
            frame = await next_frame(codec)
            if frame is not None:
                frame.audio_level = -track.level
            return frame

        sender._next_encoded_frame = with_level

    async def _receive(self, message: dict) -> None:
        if message["type"] == "active_speaker":
            self.speakers.append(message["participant_id"])
        elif message["type"] == "sfu_offer" and not self.closed:
            self.offers += 1
            # Answer outside the SFU's call, as a browser would.
            task = asyncio.get_running_loop().create_task(self._answer(message["sdp"]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, sdp: str) -> None:
        async with self._negotiation:
            if self.down is None:
                self.down = self._pc()
                self.down.on("track", self._on_track)
            await self.down.setRemoteDescription(
                RTCSessionDescription(sdp=sdp, type="offer")
            )
            self._start_tracks(sending_tracks(sdp))
            await self.down.setLocalDescription(await self.down.createAnswer())
            await self.sfu.answer(
                room_id=self.room_id,
                participant_id=self.id,
                sdp=self.down.localDescription.sdp,
                session=self.session,
            )

    def _start_tracks(self, sending: dict[str, tuple[str, str]]) -> None:
        """A new track starts on each m-section that starts sending or names
        another track. aiortc fires ``track`` only the first time an m-section
        is used; a browser fires it each time one starts receiving again,
        which is how a recycled m-section shows its new track."""
        for mid in set(self._by_mid) - set(sending):
            self._end_track(mid)
        for mid, (kind, track_id) in sending.items():
            record = self._by_mid.get(mid)
            if record is None or record.track_id != track_id:
                if record is not None:
                    self._end_track(mid)
                record = Received(track_id=track_id, kind=kind)
                self.received[track_id] = record  # the newest of that id
                self._by_mid[mid] = record

    def _end_track(self, mid: str) -> None:
        """The track on ``mid`` has ended: forget what its receiver holds.
        aiortc's jitter buffer gives out a video frame only when the next
        begins, so the last frame of the old track would otherwise come out
        as the first of the next one. (A browser gives out each frame as
        soon as it is complete.)"""
        record = self._by_mid.pop(mid)
        receiver = next(t.receiver for t in self.down.getTransceivers() if t.mid == mid)
        audio = record.kind == "audio"
        if self.decode:  # aiortc's own buffers
            buffer = (
                JitterBuffer(capacity=16, prefetch=4)
                if audio
                else JitterBuffer(capacity=512, is_video=True)
            )
        else:
            buffer = (
                ImmediateAudioBuffer() if audio else VideoForwardBuffer(lambda: None)
            )
        replace_jitter_buffer(receiver, buffer)

    def _on_track(self, track) -> None:
        """A new m-section: read what arrives on it, for whichever track it
        carries at the time."""
        transceiver = next(
            t for t in self.down.getTransceivers() if t.receiver.track is track
        )
        mid = transceiver.mid
        if self.decode:
            task = asyncio.get_running_loop().create_task(
                self._read_decoded(track, mid)
            )
            self._tasks.add(task)
            return

        def on_frame(frame) -> None:
            record = self._by_mid.get(mid)
            if record is None:
                return
            key = track.kind == "video" and bool(frame.data) and not frame.data[0] & 1
            if record.frames == 0:
                record.first_was_keyframe = key
            record.frames += 1
            record.first_at = record.first_at or time.monotonic()
            record.keyframes += key

        def on_packet(packet, ssrc) -> None:
            self.mid_packets[mid] = self.mid_packets.get(mid, 0) + 1
            record = self._by_mid.get(mid)
            if record is not None:
                record.packets += 1

        tap_receiver(
            transceiver.receiver,
            kind=track.kind,
            on_frame=on_frame,
            on_packet=on_packet,
        )

    async def _read_decoded(self, track, mid: str) -> None:
        try:
            while True:
                frame = await track.recv()
                record = self._by_mid.get(mid)
                if record is None:
                    continue
                record.frames += 1
                record.first_at = record.first_at or time.monotonic()
                if track.kind == "video":
                    record.sizes.append((frame.width, frame.height))
        except MediaStreamError:
            pass

    def frames_from(self, owner_id: str, source: str) -> int:
        record = self.received.get(f"{source}-{owner_id}")
        return record.frames if record else 0

    def packets_from(self, owner_id: str, source: str) -> int:
        """RTP packets of ``source``'s track (the newest of that id); counted
        only when not decoding."""
        record = self.received.get(f"{source}-{owner_id}")
        return record.packets if record else 0

    def mid_of(self, owner_id: str, source: str) -> str:
        """The down m-section carrying ``source`` of ``owner_id`` now."""
        track_id = f"{source}-{owner_id}"
        return next(m for m, r in self._by_mid.items() if r.track_id == track_id)

    def packets_sent(self, source: str) -> int:
        """RTP packets this client has sent of ``source``."""
        return self.senders[source]._RTCRtpSender__packet_count

    async def leave(self) -> None:
        await self.sfu.leave(room_id=self.room_id, participant_id=self.id)
        await self.close()

    async def drop(self) -> None:
        """Vanish as a closed tab does: the peer connections close, and the
        SFU is not told (signaling calls ``leave`` only after a grace period)."""
        await self.close()

    async def close(self) -> None:
        self.closed = True
        self.sfu.deliver.disconnect(self.address)
        for task in list(self._tasks):
            task.cancel()
        for pc in (self.up, self.down):
            if pc is not None:
                await pc.close()
