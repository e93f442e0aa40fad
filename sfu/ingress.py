"""The packet path's receive side (``SFU(forwarding="packets")``): each RTP
packet a publisher sends goes, just out of SRTP, to the subscribers of its
track, without aiortc's receiver.

aiortc would parse every packet into an ``RtpPacket``, route it, keep
statistics, NACK, estimate bandwidth, depacketise and hold it in a jitter
buffer until its frame is whole. ``Ingress.handle`` replaces the DTLS
transport's ``_handle_rtp_data`` (one per up connection: the SFU bundles
everything on one transport) and does only what forwarding needs, on bytes:
find the stream by SSRC, unwrap RTX, count for receiver reports, NACK the
publisher's losses, keep the packet for subscribers' NACKs, and hand it to
each subscriber's ``Outbound`` (``sfu.egress``).

Since aiortc's receiver no longer sees the packets, the SFU keeps what its
RTCP needs: the receive statistics aiortc's receiver reports are ours
(``ReceiveStats``, put where the receiver's RTCP task reads them), NACKs go
out through the receiver, and PLIs as before (``UpTrack.request_keyframe``).
aiortc still parses RTCP, so sender reports from the publisher still give
the receiver reports their LSR/DLSR. Not kept: aiortc's REMB estimate.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections import deque
from typing import Any

import pylibsrtp
from aioice.ice import StunProtocol
from aiortc.codecs import is_rtx
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import RtpPacket

from sfu.forwarding import (
    DTLS_HANDLE_RTP,
    DTLS_ROUTER,
    DTLS_RX_SRTP,
    ICE_CONNECTION,
    ICE_PROTOCOLS,
    LOOP_TRANSPORT_SOCKET,
    RECEIVER_REMOTE_STREAMS,
    RTX_SSRC,
    SEND_NACK,
    srtp_call,
)
from sfu.rtp import PacketCache, extensions, is_vp8_keyframe, payload_bounds, rtx_unwrap
from sfu.tracks import UpTrack

log = logging.getLogger(__name__)

AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
_INGRESS = "_sfu_ingress"  # where a tapped DTLS transport keeps its Ingress
_SSRC = struct.Struct("!I")
# A publisher's losses the SFU asks again for: a larger jump is a restart.
MAX_NACK_GAP = 100
NACK_HISTORY = 512  # missing numbers older than this are given up

# Read SRTP in the ICE socket's own callback (``Ingress.install_reader``),
# draining the socket, instead of one coroutine per datagram through aioice's
# queue and aiortc's ``_recv_next``. False only to measure the difference
# (bench/sfu.py's ``packets-queued``).
DIRECT_READ = True
# Datagrams read per wakeup at most, beyond the one the loop handed over: a
# flood on one socket must not starve the others.
DRAIN_MAX = 64
_monotonic = time.monotonic
# The time packets spend inside the SFU: one sample (seconds, from the read
# of its datagram to the return of the last send) every SAMPLE_EVERY packets.
# bench/sfu.py reads and clears it.
SAMPLE_EVERY = 32
latency_samples: deque[float] = deque(maxlen=4096)


class ReceiveStats(StreamStatistics):
    """aiortc's receive statistics (loss, jitter, highest number) fed from
    the header fields, so that its receiver's RTCP task reports them."""

    def add_fields(self, seq: int, timestamp: int, now: float) -> None:
        # StreamStatistics.add, on fields instead of an RtpPacket; ``now`` is
        # monotonic: jitter needs only differences of arrival times.
        in_order = self.max_seq is None or 0 < (seq - self.max_seq) & 0xFFFF < 0x8000
        self.packets_received += 1
        if self.base_seq is None:
            self.base_seq = seq
        if not in_order:
            return
        arrival = int(now * self._clockrate)
        if self.max_seq is not None and seq < self.max_seq:
            self.cycles += 1 << 16
        self.max_seq = seq
        if timestamp != self._last_timestamp and self.packets_received > 1:
            diff = abs(
                (arrival - self._last_arrival) - (timestamp - self._last_timestamp)
            )
            self._jitter_q4 += diff - ((self._jitter_q4 + 8) >> 4)
        self._last_arrival = arrival
        self._last_timestamp = timestamp


class Inbound:
    """What arrives on one receiver (one m-section of the up connection),
    for the UpTrack it carries now."""

    def __init__(self, transceiver: Any) -> None:
        self.receiver = transceiver.receiver
        self.kind = transceiver.kind
        self.video = self.kind == "video"
        codecs = transceiver._codecs
        self.rtx_payload_types = {c.payloadType for c in codecs if is_rtx(c)}
        media = [c for c in codecs if not is_rtx(c)]
        self.payload_type = media[0].payloadType if media else 0
        self.clock_rate = media[0].clockRate if media else 90000
        self.extensions = {e.uri: e.id for e in transceiver._headerExtensions}
        self.level_id = self.extensions.get(AUDIO_LEVEL)
        # RTX SSRC -> media SSRC, filled by aiortc from the offer.
        self.rtx_ssrcs: dict[int, int] = getattr(self.receiver, RTX_SSRC)
        self.up: UpTrack | None = None
        self.cache: PacketCache | None = None
        self.stats: ReceiveStats | None = None
        self.paused = False  # packets were left out: subscribers switch()
        self.packets_in = 0
        self.packets_out = 0
        self._max_seq: int | None = None
        self._missing: set[int] = set()
        self._tasks: set[asyncio.Future] = set()

    def start(self, up: UpTrack) -> None:
        """``up`` is what this receiver carries from now on."""
        self.up = up
        # Video is what subscribers NACK; Opus goes without.
        self.cache = PacketCache(1024) if self.video else None
        up.cache = self.cache
        up.extensions = self.extensions
        self._max_seq, self._missing = None, set()
        self.paused = True

    def receive(self, data: bytes, rtx: bool, now: float) -> None:
        up = self.up
        if up is None or up.ended:
            return
        if rtx:
            media_ssrc = self.rtx_ssrcs.get(_SSRC.unpack_from(data, 8)[0], up.ssrc)
            if media_ssrc is None:
                return
            try:
                data = rtx_unwrap(data, ssrc=media_ssrc, payload_type=self.payload_type)
            except ValueError:
                return  # padding on the RTX stream: a bandwidth probe
        try:
            start, end = payload_bounds(data)
        except ValueError:
            return
        self.packets_in += 1
        seq = data[2] << 8 | data[3]
        ssrc = _SSRC.unpack_from(data, 8)[0]
        if ssrc != up.ssrc:
            self._new_ssrc(up, ssrc)
        self.stats.add_fields(seq, _SSRC.unpack_from(data, 4)[0], now)
        if self.video:
            self._track_losses(ssrc, seq)
            self.cache.put(data, now)
        elif self.level_id is not None and data[0] & 0x10:
            self._read_level(up, data, now)
        if not up.forwarding:
            self.paused = True
            return
        subscribers = up.subscribers
        if not subscribers:
            return
        if self.paused:
            # What subscribers get goes on from their last packet, not with
            # a gap they would ask to have repaired.
            self.paused = False
            for down in subscribers:
                if down.outbound is not None:
                    down.outbound.restart()
        keyframe = self.video and is_vp8_keyframe(data, start, end)
        waiting = False
        for down in subscribers:
            out = down.outbound
            if out is None or out.down is not down:
                continue  # not answered yet: nothing to send on
            if out.forward(data, keyframe, now):
                self.packets_out += 1
            elif down.waiting_for_keyframe:
                waiting = True
        if waiting:
            up.keep_asking()

    def _new_ssrc(self, up: UpTrack, ssrc: int) -> None:
        """The first packet of a stream (or of the publisher's new SSRC)."""
        if up.ssrc is None:
            log.info("%s: first packet from the publisher", up.id)
        up.ssrc = ssrc  # what a PLI must name
        self.stats = ReceiveStats(self.clock_rate)
        # Where aiortc's receiver reads what its receiver reports say.
        streams = getattr(self.receiver, RECEIVER_REMOTE_STREAMS)
        streams.clear()
        streams[ssrc] = self.stats
        self._max_seq, self._missing = None, set()

    def _track_losses(self, ssrc: int, seq: int) -> None:
        """NACK what the publisher's packets skip, as aiortc's receiver does:
        on each new gap, every number still missing."""
        if self._max_seq is None:
            self._max_seq = seq
            return
        delta = (seq - self._max_seq) & 0xFFFF
        if delta == 0 or delta >= 0x8000:
            self._missing.discard(seq)  # late: perhaps a retransmission
            return
        self._max_seq = seq
        if delta == 1 or delta > MAX_NACK_GAP:
            return
        self._missing.update((seq - n) & 0xFFFF for n in range(1, delta))
        oldest = (seq - NACK_HISTORY) & 0xFFFF
        self._missing = {
            s for s in self._missing if (s - oldest) & 0xFFFF < NACK_HISTORY
        }
        self._spawn(getattr(self.receiver, SEND_NACK)(ssrc, sorted(self._missing)))

    def _read_level(self, up: UpTrack, data: bytes, now: float) -> None:
        try:
            value = extensions(data).get(self.level_id)
        except ValueError:
            return
        if value:
            up.audio_level = value[0] & 0x7F
            up.level_at = now

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class Ingress:
    """One up connection's RTP: every packet to the Inbound of its SSRC."""

    def __init__(self, dtls: Any) -> None:
        self.dtls = dtls
        self.inbound: dict[Any, Inbound] = {}  # by receiver
        self._by_ssrc: dict[int, tuple[Inbound, bool]] = {}  # (inbound, is RTX)
        self._count = 0  # packets dispatched, for sampling the time inside
        self._reading = False  # install_reader() done
        self._stamps: deque[float] = deque(maxlen=256)  # packets-queued only

    @classmethod
    def of(cls, dtls: Any) -> Ingress:
        """The Ingress of ``dtls``, installed on its first use."""
        ingress = dtls.__dict__.get(_INGRESS)
        if ingress is None:
            ingress = dtls.__dict__[_INGRESS] = cls(dtls)
            setattr(dtls, DTLS_HANDLE_RTP, ingress.handle)
        return ingress

    def attach(self, transceiver: Any, up: UpTrack) -> Inbound:
        """Forward what ``transceiver`` receives to ``up``'s subscribers."""
        receiver = transceiver.receiver
        inbound = self.inbound.get(receiver)
        if inbound is None:
            inbound = self.inbound[receiver] = Inbound(transceiver)
        inbound.start(up)
        return inbound

    async def handle(self, data: bytes, arrival_time_ms: int) -> None:
        """aiortc calls this for each RTP packet, after SRTP unprotect: the
        first ones, until ``install_reader`` takes over (SRTP keys exist)."""
        if not self._reading:
            self.install_reader()
        now = self._stamps.popleft() if self._stamps else _monotonic()
        self.dispatch(data, now)

    def dispatch(self, data: bytes, now: float) -> None:
        """One unprotected RTP packet, whose datagram was read at ``now``."""
        if len(data) < 12:
            return
        found = self._by_ssrc.get(_SSRC.unpack_from(data, 8)[0])
        if found is None:
            found = self._resolve(data)
            if found is None:
                return
        found[0].receive(data, found[1], now)
        self._count += 1
        if not self._count % SAMPLE_EVERY:
            latency_samples.append(_monotonic() - now)

    def install_reader(self) -> None:
        """Take SRTP out of each of the connection's ICE sockets as it is
        read, in the socket's callback (aioice's ``datagram_received``), and
        read whatever else is ready on that socket in the same wakeup. STUN,
        DTLS and SRTCP go on to aioice as before."""
        self._reading = True
        srtp = getattr(self.dtls, DTLS_RX_SRTP, None)
        connection = getattr(self.dtls.transport, ICE_CONNECTION, None)
        if srtp is None or connection is None:
            return
        for protocol in getattr(connection, ICE_PROTOCOLS):
            # Not TURN's (not a StunProtocol), nor one already read.
            if type(protocol) is StunProtocol and "datagram_received" not in vars(
                protocol
            ):
                reader = _Reader(protocol, self, srtp_call(srtp, "srtp_unprotect"))
                protocol.datagram_received = (
                    reader.received if DIRECT_READ else reader.stamp
                )

    def _resolve(self, data: bytes) -> tuple[Inbound, bool] | None:
        """Which receiver an SSRC not seen yet belongs to: an RTX SSRC the
        offer named, else aiortc's router (SSRCs of the offer, or a payload
        type only one receiver has)."""
        ssrc = _SSRC.unpack_from(data, 8)[0]
        for inbound in self.inbound.values():
            if ssrc in inbound.rtx_ssrcs:
                found = self._by_ssrc[ssrc] = (inbound, True)
                return found
        try:
            packet = RtpPacket.parse(data)
        except ValueError:
            return None
        receiver = getattr(self.dtls, DTLS_ROUTER).route_rtp(packet)
        inbound = self.inbound.get(receiver)
        if inbound is None:
            return None
        found = (inbound, packet.payload_type in inbound.rtx_payload_types)
        if len(self._by_ssrc) < 64:  # a bound on what a client can make us keep
            self._by_ssrc[ssrc] = found
        return found


class _Reader:
    """One ICE socket's ``datagram_received``: SRTP straight to the Ingress."""

    def __init__(self, protocol: StunProtocol, ingress: Ingress, unprotect: Any):
        self.protocol = protocol
        self.ingress = ingress
        self.unprotect = unprotect
        self.original = StunProtocol.datagram_received.__get__(protocol)

    def received(self, data: bytes, addr: Any) -> None:
        self._one(data, addr, _monotonic())
        transport = self.protocol.transport
        sock = getattr(transport, LOOP_TRANSPORT_SOCKET, None)
        if sock is None:  # another event loop's transport (uvloop drains itself)
            return
        one = self._one
        for _ in range(DRAIN_MAX):
            if transport.is_closing():
                return
            try:
                data, addr = sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # the loop's next read meets it and reports it
            one(data, addr, _monotonic())

    def _one(self, data: bytes, addr: Any, now: float) -> None:
        # RTP, not RTCP (aiortc's is_rtcp: second byte 192-208).
        if 127 < data[0] < 192 and len(data) > 12 and not 191 < data[1] < 209:
            try:
                data = self.unprotect(data)
            except pylibsrtp.Error:
                return
            self.ingress.dispatch(data, now)
        else:
            self.original(data, addr)

    def stamp(self, data: bytes, addr: Any) -> None:
        """The queued way, for comparison: note when each RTP datagram was
        read, for the Ingress to measure the time it spent inside."""
        if 127 < data[0] < 192 and len(data) > 12 and not 191 < data[1] < 209:
            self.ingress._stamps.append(_monotonic())
        self.original(data, addr)
