"""The hooks into aiortc that let the SFU forward encoded media.

aiortc's receiver assembles RTP packets into encoded frames (its jitter
buffer), then hands each frame to a decoder thread through a queue; its sender
calls the encoder's ``pack()`` instead of ``encode()`` when a track yields
``av.Packet`` objects. The SFU replaces the receiver's decoder queue with one
that wraps each assembled frame in an ``av.Packet`` and gives it to an
``UpTrack`` on the event loop, so no decoder (and no decoder thread) ever runs,
and gives each sender a packer that cannot encode.

A subscriber's m-section is reused for another publisher's track (see
``sfu.down``): the SFU names the new track in the sender's msid, and the
packer keeps the RTP timestamps continuous across the switch.

These are private attributes of aiortc, which is why aiortc is pinned and
``check_hooks()`` fails loudly at start (and in the tests) if they move.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from collections.abc import Callable
from typing import Any

import av
from aioice import Connection
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc import rtcpeerconnection as _pc_module
from aiortc import rtcrtpreceiver as _receiver_module
from aiortc import rtcrtptransceiver as _transceiver_module
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add

from sfu import consent, ports

log = logging.getLogger(__name__)

VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
AUDIO_TIME_BASE = fractions.Fraction(1, 48000)
CLOCK_RATES = {"audio": 48000, "video": 90000}

# The SFU forwards what publishers send, so everyone must speak one codec.
CODECS = {"audio": "audio/opus", "video": "video/VP8"}

_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_DECODER_THREAD = "_RTCRtpReceiver__decoder_thread"
_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
_RTX_SSRC = "_RTCRtpReceiver__rtx_ssrc"
_STARTED = "_RTCRtpReceiver__started"
# Where a tapped receiver keeps aiortc's own packet handler (ours).
_UNTAPPED_HANDLER = "_sfu_untapped_handle_rtp_packet"
_ENCODER = "_RTCRtpSender__encoder"
# Public-looking but undocumented: what aiortc writes in an m-section's
# ``a=msid:<stream> <track>`` line, and the direction the remote offered.
_STREAM_ID = "_stream_id"
_TRACK_ID = "_track_id"
_OFFER_DIRECTION = "_offerDirection"

# The packet path (sfu.ingress, sfu.egress). Receive: the DTLS transport's
# handler of each unprotected RTP packet (replaced per instance), its router,
# and where a receiver's RTCP task reads its receive statistics.
DTLS_HANDLE_RTP = "_handle_rtp_data"
DTLS_ROUTER = "_rtp_router"
DTLS_RX_SRTP = "_rx_srtp"
DTLS_TX_SRTP = "_tx_srtp"
# pylibsrtp's Session: its libsrtp context and buffer, called without the
# Python wrapper (srtp_call()).
SRTP_CONTEXT = "_srtp"
SRTP_CDATA = "_cdata"
SRTP_BUFFER = "_buffer"


def srtp_call(session: Any, function_name: str) -> Callable[[bytes], bytes]:
    """``session.protect`` or ``unprotect`` (``function_name`` is libsrtp's
    ``srtp_protect`` or ``srtp_unprotect``) without pylibsrtp's per-call
    checks and allocation: the same libsrtp call on the same buffer. Raises
    pylibsrtp.Error as they do."""
    import pylibsrtp
    from pylibsrtp import _binding

    function = getattr(_binding.lib, function_name)
    ok = _binding.lib.srtp_err_status_ok
    context = getattr(session, SRTP_CONTEXT)[0]
    cdata = getattr(session, SRTP_CDATA)
    buffer = getattr(session, SRTP_BUFFER)
    # Room left for the SRTP trailer protect adds (pylibsrtp's bound).
    room = len(buffer) - (
        pylibsrtp.SRTP_MAX_TRAILER_LEN if function_name == "srtp_protect" else 0
    )
    length = _binding.ffi.new("int *")

    def call(packet: bytes) -> bytes:
        size = len(packet)
        if size > room:
            raise pylibsrtp.Error("packet is too long")
        length[0] = size
        buffer[0:size] = packet
        rc = function(context, cdata, length)
        if rc != ok:
            raise pylibsrtp.Error(f"libsrtp error {rc}")
        return buffer[0 : length[0]]

    return call


# Reading SRTP in the ICE socket's callback: aioice's sockets of a connection
# (each a StunProtocol whose datagram_received is replaced per instance), and
# the socket of asyncio's own datagram transport, drained on each wakeup.
ICE_PROTOCOLS = "_protocols"
LOOP_TRANSPORT_SOCKET = "_sock"
RTX_SSRC = _RTX_SSRC
RECEIVER_REMOTE_STREAMS = "_RTCRtpReceiver__remote_streams"
SEND_NACK = "_send_rtcp_nack"
# Send: the ICE pair to send on, and what aiortc's sender reports carry.
ICE_CONNECTION = "_connection"
ICE_NOMINATED = "_nominated"
SENDER_NTP = "_RTCRtpSender__ntp_timestamp"
SENDER_RTP_TIMESTAMP = "_RTCRtpSender__rtp_timestamp"
SENDER_PACKETS = "_RTCRtpSender__packet_count"
SENDER_OCTETS = "_RTCRtpSender__octet_count"
# The round-trip time aiortc's sender keeps from the subscriber's reports.
SENDER_RTT = "_RTCRtpSender__rtt"


class AiortcHooksMissing(RuntimeError):
    """aiortc changed: the forwarding hooks need updating before an upgrade."""


def _names_in(function: Any) -> tuple[str, ...]:
    code = getattr(function, "__code__", None)
    return code.co_names if code is not None else ()


def check_hooks() -> None:
    """Fail at start, not mid-meeting, if aiortc's internals have moved."""
    problems = []
    if not callable(getattr(_receiver_module, "decoder_worker", None)):
        problems.append("aiortc.rtcrtpreceiver.decoder_worker")
    for cls, names in (
        (RTCRtpReceiver, ("_handle_rtp_packet", "_send_rtcp_pli")),
        (RTCRtpSender, ("_send_keyframe", "_next_encoded_frame", "_run_rtp")),
    ):
        problems += [f"{cls.__name__}.{n}" for n in names if not hasattr(cls, n)]
    if not hasattr(Vp8Encoder, "pack"):
        problems.append("Vp8Encoder.pack")
    # Instance attributes: look for them in the code that sets or reads them.
    for where, function, names in (
        (
            "RTCRtpReceiver.__init__",
            RTCRtpReceiver.__init__,
            (_DECODER_QUEUE, _DECODER_THREAD, _JITTER_BUFFER, _RTX_SSRC, _STARTED),
        ),
        ("RTCRtpSender.__init__", RTCRtpSender.__init__, (_ENCODER, _STREAM_ID)),
        ("RTCRtpSender.replaceTrack", RTCRtpSender.replaceTrack, (_TRACK_ID,)),
        # What an m-section's msid is made of: the SFU renames reused ones.
        (
            "create_media_description_for_transceiver",
            getattr(_pc_module, "create_media_description_for_transceiver", None),
            (_STREAM_ID, _TRACK_ID),
        ),
        (
            "RTCRtpTransceiver.__init__",
            _transceiver_module.RTCRtpTransceiver.__init__,
            (_OFFER_DIRECTION,),
        ),
    ):
        problems += [f"{where}: {n}" for n in names if n not in _names_in(function)]
    # aioice, for sfu.consent: the task connect() starts, and the flag close()
    # sets first.
    if "query_consent" not in _names_in(Connection.connect):
        problems.append("aioice Connection.connect starting query_consent")
    if "_closing" not in _names_in(Connection.close):
        problems.append("aioice Connection._closing")
    problems += _ports_hooks_missing()
    problems += _packet_path_hooks_missing()
    if problems:
        raise AiortcHooksMissing("aiortc no longer has: " + ", ".join(problems))


def _names_deep(function: Any) -> set[str]:
    """Names used by ``function`` and the lambdas and comprehensions in it."""
    names: set[str] = set()
    stack = [getattr(function, "__code__", None)]
    while stack:
        code = stack.pop()
        if code is not None:
            names.update(code.co_names)
            stack += [c for c in code.co_consts if hasattr(c, "co_names")]
    return names


def _ports_hooks_missing() -> list[str]:
    """What sfu.ports needs: aioice binds host candidates, and asks STUN and
    TURN, in ``get_component_candidates``, which ``gather_candidates`` calls
    with the host's addresses and ``close()`` undoes through ``_protocols``;
    aiortc gathers only in ``setLocalDescription``."""
    get_candidates = ports._original_get_component_candidates
    problems = [
        f"aioice Connection.get_component_candidates using {n}"
        for n in (
            "create_datagram_endpoint",
            "StunProtocol",
            "_protocols",
            "server_reflexive_candidate",
            "relayed_candidate",
        )
        if n not in _names_deep(get_candidates)
    ]
    if get_candidates.__code__.co_varnames[:4] != (
        "self",
        "component",
        "addresses",
        "timeout",
    ):
        problems.append("aioice Connection.get_component_candidates(component, …)")
    gather = _names_deep(Connection.gather_candidates)
    if "get_component_candidates" not in gather or "get_host_addresses" not in gather:
        problems.append("aioice Connection.gather_candidates")
    if "_protocols" not in _names_in(Connection.close):
        problems.append("aioice Connection.close closing _protocols")
    if not hasattr(ports.turn, "UDP_SOCKET_BUFFER_SIZE"):
        problems.append("aioice turn.UDP_SOCKET_BUFFER_SIZE")
    gatherers = {
        name
        for name, function in vars(_pc_module.RTCPeerConnection).items()
        if "_RTCPeerConnection__gather" in _names_in(function)
    }
    if gatherers != {"setLocalDescription"}:
        problems.append("aiortc RTCPeerConnection gathering in setLocalDescription")
    return problems


def _packet_path_hooks_missing() -> list[str]:
    """What sfu.ingress and sfu.egress use of aiortc and aioice."""
    from asyncio.selector_events import _SelectorDatagramTransport

    from aioice.ice import CandidatePair, StunProtocol
    from aiortc import rtcdtlstransport, rtcicetransport
    from aiortc.rtcrtpreceiver import StreamStatistics

    dtls = rtcdtlstransport.RTCDtlsTransport
    problems = []
    if not hasattr(getattr(rtcdtlstransport, "State", None), "CONNECTED"):
        problems.append("aiortc rtcdtlstransport.State.CONNECTED")
    if not hasattr(getattr(rtcdtlstransport, "RtpRouter", None), "route_rtp"):
        problems.append("aiortc RtpRouter.route_rtp")
    for cls, names in (
        (RTCRtpReceiver, (SEND_NACK, "_send_rtcp", "_send_rtcp_pli")),
        (RTCRtpSender, ("_retransmit", "_handle_rtcp_packet", "_run_rtcp")),
        (dtls, (DTLS_HANDLE_RTP, "_recv_next")),
    ):
        problems += [f"{cls.__name__}.{n}" for n in names if not hasattr(cls, n)]
    for where, function, names in (
        # It unprotects, then hands the packet to _handle_rtp_data.
        (
            "RTCDtlsTransport._recv_next",
            dtls._recv_next,
            ("unprotect", DTLS_HANDLE_RTP, DTLS_RX_SRTP, "is_rtcp"),
        ),
        (
            "RTCDtlsTransport.__init__",
            dtls.__init__,
            (DTLS_ROUTER, "_state", DTLS_TX_SRTP, DTLS_RX_SRTP),
        ),
        ("RTCDtlsTransport._send_rtp", dtls._send_rtp, ("_tx_srtp", "protect")),
        (
            "RTCRtpReceiver._run_rtcp",
            RTCRtpReceiver._run_rtcp,
            (RECEIVER_REMOTE_STREAMS,),
        ),
        (
            "RTCRtpSender._run_rtcp",
            RTCRtpSender._run_rtcp,
            (SENDER_NTP, SENDER_RTP_TIMESTAMP, SENDER_PACKETS, SENDER_OCTETS),
        ),
        (
            "RTCRtpSender.__init__",
            RTCRtpSender.__init__,
            ("_ssrc", "_rtx_ssrc"),
        ),
        (
            "RTCRtpSender._handle_rtcp_packet",
            RTCRtpSender._handle_rtcp_packet,
            ("_retransmit", SENDER_RTT),
        ),
        (
            "RTCRtpTransceiver.__init__",
            _transceiver_module.RTCRtpTransceiver.__init__,
            ("_codecs", "_headerExtensions"),
        ),
        (
            "RTCIceTransport.__init__",
            rtcicetransport.RTCIceTransport.__init__,
            (ICE_CONNECTION,),
        ),
        (
            "aioice Connection.__init__",
            Connection.__init__,
            (ICE_NOMINATED, ICE_PROTOCOLS),
        ),
        # Non-STUN datagrams go to the connection's queue, which is all
        # that the replaced datagram_received skips for SRTP.
        (
            "aioice StunProtocol.datagram_received",
            StunProtocol.datagram_received,
            ("parse_message", "data_received"),
        ),
        (
            "aioice Connection.data_received",
            Connection.data_received,
            ("_queue", "put_nowait"),
        ),
        (
            "asyncio _SelectorDatagramTransport._read_ready",
            _SelectorDatagramTransport._read_ready,
            (LOOP_TRANSPORT_SOCKET, "recvfrom", "datagram_received"),
        ),
        (
            "asyncio _SelectorDatagramTransport.sendto",
            _SelectorDatagramTransport.sendto,
            (LOOP_TRANSPORT_SOCKET, "sendto", "_buffer"),
        ),
        ("aioice Connection.sendto", Connection.sendto, ("protocol", "remote_addr")),
        (
            "StreamStatistics.add",
            StreamStatistics.add,
            ("max_seq", "base_seq", "cycles", "packets_received", "_jitter_q4"),
        ),
    ):
        problems += [f"{where}: {n}" for n in names if n not in _names_in(function)]
    from pylibsrtp import Session, _binding

    problems += [
        f"pylibsrtp Session.__init__: {n}"
        for n in (SRTP_CONTEXT, SRTP_CDATA, SRTP_BUFFER)
        if n not in _names_in(Session.__init__)
    ]
    problems += [
        f"pylibsrtp lib.{n}"
        for n in ("srtp_protect", "srtp_unprotect", "srtp_err_status_ok")
        if not hasattr(_binding.lib, n)
    ]
    if "remote_addr" not in dir(CandidatePair):
        problems.append("aioice CandidatePair.remote_addr")
    return problems


_original_decoder_worker = _receiver_module.decoder_worker


def _decoder_worker(loop: Any, input_q: Any, output_q: Any, decode_error: Any) -> None:
    """The receiver's decoder thread: a no-op for forwarding receivers."""
    if isinstance(input_q, FrameTap):
        return
    _original_decoder_worker(loop, input_q, output_q, decode_error)


_installed = False


def install() -> None:
    """Patch aiortc and aioice once per process (idempotent)."""
    global _installed
    if not _installed:
        check_hooks()
        _receiver_module.decoder_worker = _decoder_worker
        consent.install()
        ports.install()
        _installed = True


class FrameTap:
    """Stands in for a receiver's decoder queue: frames go to ``on_frame``.

    ``put`` is called on the event loop by the receiver with a (codec,
    JitterFrame) pair, and with None when aiortc stops the receiver's
    decoder: as the receiver stops, and also on an RTCP BYE, which Chrome
    sends when a transceiver stops sending (a screen share stopped). A
    stream can start again on that receiver (the next share on the reused
    transceiver), so the receiver is made to keep handing frames over; one
    that has stopped receives no more packets anyway.
    """

    def __init__(
        self, receiver: RTCRtpReceiver, on_frame: Callable[[JitterFrame], None]
    ) -> None:
        self.receiver = receiver
        self.on_frame = on_frame

    def put(self, item: tuple[Any, JitterFrame] | None) -> None:
        if item is None:
            # aiortc forgets the decoder just after this call returns.
            asyncio.get_running_loop().call_soon(_keep_decoding, self.receiver)
            return
        self.on_frame(item[1])


class _NoDecoder:
    """What a tapped receiver holds as its decoder thread once aiortc has
    stopped the real one: a receiver without one drops every frame."""

    def join(self, timeout: float | None = None) -> None:
        """Nothing to wait for."""


def _keep_decoding(receiver: RTCRtpReceiver) -> None:
    if getattr(receiver, _DECODER_THREAD) is None:
        setattr(receiver, _DECODER_THREAD, _NoDecoder())


class ImmediateAudioBuffer(JitterBuffer):
    """Every Opus packet is a whole frame: pass it on at once.

    aiortc's audio buffer holds four packets (80 ms) before releasing one; the
    receiving browser has a jitter buffer of its own, so the SFU need not wait.
    """

    def __init__(self) -> None:
        super().__init__(capacity=16)

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        return False, JitterFrame(data=packet._data, timestamp=packet.timestamp)  # type: ignore[attr-defined]


class VideoForwardBuffer(JitterBuffer):
    """aiortc's video jitter buffer, but it stops waiting for a lost packet.

    aiortc waits for a missing packet until 512 later ones have arrived
    (seconds of frozen video) in case a retransmission comes. A forwarding
    SFU gives a retransmission ``max_wait`` seconds, then drops the broken
    frame, tells ``on_loss`` (subscribers wait for a keyframe) and reports
    picture loss so the receiver sends PLI to the publisher. Capacity stays
    large: one keyframe of a shared screen can be hundreds of packets.
    """

    def __init__(self, on_loss: Callable[[], None], max_wait: float = 0.2) -> None:
        super().__init__(capacity=512, is_video=True)
        self._on_loss = on_loss
        self._max_wait = max_wait
        self._stuck_since: float | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        pli, frame = super().add(packet)
        if frame is not None or not self._has_hole(packet.sequence_number):
            self._stuck_since = None
        else:
            now = time.monotonic()
            if self._stuck_since is None:
                self._stuck_since = now
            elif now - self._stuck_since > self._max_wait:
                self._stuck_since = None
                self._skip_broken_frame()
                pli = True
                frame = self._remove_frame(packet.sequence_number)
        if pli:
            self._on_loss()
        return pli, frame

    def _slot(self, offset: int) -> RtpPacket | None:
        return self._packets[(self._origin + offset) % self._capacity]

    def _has_hole(self, newest: int) -> bool:
        """Is a slot empty between the oldest packet held and ``newest``?"""
        if self._origin is None:
            return False
        span = uint16_add(newest, -self._origin)
        return span < self._capacity and any(self._slot(i) is None for i in range(span))

    def _skip_broken_frame(self) -> None:
        # Drop the packets of the frame the hole broke, and the hole itself,
        # up to the first packet of a later frame.
        first = self._slot(0)
        broken = first.timestamp if first is not None else None
        for _ in range(self._capacity):
            slot = self._slot(0)
            if slot is not None and slot.timestamp != broken:
                if broken is not None:
                    return
                broken = slot.timestamp  # the hole began the frame
            self.remove(1)


def replace_jitter_buffer(receiver: RTCRtpReceiver, buffer: JitterBuffer) -> None:
    """Give ``receiver`` another (empty) jitter buffer."""
    setattr(receiver, _JITTER_BUFFER, buffer)


def tap_receiver(
    receiver: RTCRtpReceiver,
    *,
    kind: str,
    on_frame: Callable[[JitterFrame], None],
    on_packet: Callable[[RtpPacket, int], None],
    on_loss: Callable[[], None] = lambda: None,
) -> None:
    """Make ``receiver`` deliver encoded frames instead of decoding them.

    First called before the receiver starts (before the offer that created
    it is answered), since starting is what launches the decoder thread. It
    may be called again for the same receiver, for the next track sent on
    its transceiver: the new callbacks replace the old ones, and the jitter
    buffer starts empty (what the last track left in it is not the new
    track's).

    ``on_packet`` sees every packet as it arrives, with a retransmission's
    SSRC already mapped back to the stream it repairs: Chrome probes
    bandwidth with padding on its RTX SSRC, and a keyframe request naming
    that SSRC is ignored, which left late joiners without video.
    """
    install()
    setattr(receiver, _DECODER_QUEUE, FrameTap(receiver, on_frame))
    if getattr(receiver, _STARTED):
        _keep_decoding(receiver)  # its decoder may have been stopped (BYE)
    if kind == "audio":
        replace_jitter_buffer(receiver, ImmediateAudioBuffer())
    else:
        replace_jitter_buffer(receiver, VideoForwardBuffer(on_loss))
    # aiortc's own packet handler, however often the receiver is tapped.
    handle = receiver.__dict__.get(_UNTAPPED_HANDLER) or receiver._handle_rtp_packet
    receiver.__dict__[_UNTAPPED_HANDLER] = handle
    # RTX SSRC -> media SSRC, filled by aiortc when the receiver starts.
    rtx_ssrcs: dict[int, int] = getattr(receiver, _RTX_SSRC)

    async def handle_and_observe(packet: RtpPacket, arrival_time_ms: int) -> None:
        on_packet(packet, rtx_ssrcs.get(packet.ssrc, packet.ssrc))
        await handle(packet, arrival_time_ms=arrival_time_ms)

    receiver._handle_rtp_packet = handle_and_observe  # type: ignore[method-assign]


def to_packet(frame: JitterFrame, kind: str) -> av.Packet:
    packet = av.Packet(frame.data)
    packet.pts = frame.timestamp
    packet.time_base = AUDIO_TIME_BASE if kind == "audio" else VIDEO_TIME_BASE
    return packet


def is_vp8_keyframe(data: bytes) -> bool:
    # VP8 frame tag (RFC 6386 9.1): bit 0 of the first byte is 0 for a key frame.
    return bool(data) and not data[0] & 0x01


class _Packer:
    """Packetises forwarded media without an encoder, and keeps the RTP
    timestamps of one sender continuous when the track it forwards changes.

    Forwarded timestamps are the publisher's own (from a random origin). When
    an m-section is reused for another publisher, the receiver would see them
    jump anywhere; as other SFUs do, the new stream goes on from where the
    last one stopped, plus the time that passed.
    """

    def __init__(self, kind: str) -> None:
        self.clock_rate = CLOCK_RATES[kind]
        self._offset = 0
        self._last: int | None = None
        self._last_at = 0.0
        self._rebase = False

    def encode(self, *args: object, **kwargs: object) -> Any:
        raise AssertionError("the SFU must never encode media")

    def rebase(self) -> None:
        """The next packet starts another publisher's stream."""
        self._rebase = True

    def retime(self, timestamp: int) -> int:
        now = time.monotonic()
        if self._rebase and self._last is not None:
            elapsed = max(1, round((now - self._last_at) * self.clock_rate))
            self._offset = self._last + elapsed - timestamp
        self._rebase = False
        self._last = (timestamp + self._offset) % (1 << 32)
        self._last_at = now
        return self._last


class Vp8Packer(_Packer, Vp8Encoder):
    """VP8 packetisation only (``Vp8Encoder.pack``); libvpx is never created."""

    def __init__(self) -> None:
        Vp8Encoder.__init__(self)
        _Packer.__init__(self, "video")

    def pack(self, packet: av.Packet) -> tuple[list[bytes], int]:
        payloads, timestamp = super().pack(packet)
        return payloads, self.retime(timestamp)


class OpusPacker(_Packer):
    """Opus needs no packetisation: one packet, one payload. Unlike aiortc's
    OpusEncoder, this creates no libopus encoder."""

    def __init__(self) -> None:
        super().__init__("audio")

    def pack(self, packet: av.Packet) -> tuple[list[bytes], int]:
        return [bytes(packet)], self.retime(int(packet.pts))


def tap_sender(
    sender: RTCRtpSender, *, kind: str, on_keyframe_request: Callable[[], None]
) -> _Packer:
    """Make ``sender`` packetise without an encoder, and pass a subscriber's
    PLI/FIR on (it would otherwise ask a non-existent encoder for a keyframe).
    Returns the packer, whose ``rebase()`` marks a change of track."""
    install()
    packer: _Packer = OpusPacker() if kind == "audio" else Vp8Packer()
    setattr(sender, _ENCODER, packer)
    sender._send_keyframe = on_keyframe_request  # type: ignore[method-assign]
    return packer


def prefer_codec(transceiver: RTCRtpTransceiver) -> None:
    """Offer or accept only the SFU's codec (and RTX) on ``transceiver``."""
    wanted = CODECS[transceiver.kind]
    capabilities = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    chosen = [c for c in capabilities if c.mimeType == wanted]
    # RTX (retransmission) for video, bound to the chosen codec by the SDP.
    chosen += [c for c in capabilities if c.mimeType.endswith("/rtx")]
    transceiver.setCodecPreferences(chosen)
