"""The packet path's send side (``SFU(forwarding="packets")``): one down
m-section's sender, which sends each publisher's packet rewritten into the
subscriber's own numbering, straight to the socket.

aiortc cannot restart a sender, so an m-section keeps its sender, SSRC and
sequence space for its whole life, whichever publisher it carries
(``sfu.down``). ``Outbound`` owns that space (``DownRewriter``): per down
track, sequence numbers go on by one and timestamps by the time that passed
across a mute, a resync at a keyframe and a switch to another publisher.

aiortc's sender stays for RTCP: its RTCP task sends the sender reports,
from the counters ``Outbound`` keeps up to date in it, and it parses what
the subscriber sends back: PLI and FIR reach ``DownSlot.request_keyframe``
(``tap_sender``), NACKs reach ``Outbound.retransmit`` in place of aiortc's
own history. Its RTP task never runs: the slot's track never yields.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from aiortc import RTCRtpSender
from aiortc.codecs import is_rtx
from aiortc.rtcdtlstransport import State
from aiortc.rtp import AnyRtcpPacket, RtcpRrPacket, RtcpSrPacket

from sfu.forwarding import (
    DTLS_TX_SRTP,
    ICE_CONNECTION,
    ICE_NOMINATED,
    LOOP_TRANSPORT_SOCKET,
    SENDER_NTP,
    SENDER_OCTETS,
    SENDER_PACKETS,
    SENDER_RTP_TIMESTAMP,
    SENDER_RTT,
    srtp_call,
)
from sfu.rtp import DownRewriter, ExtensionMap, rtx_wrap
from sfu.tracks import DownSlot, DownTrack

log = logging.getLogger(__name__)

NTP_EPOCH = 2208988800  # seconds from 1900 (NTP) to 1970 (Unix)
_CONNECTED = State.CONNECTED


def ntp_of(monotonic: float) -> int:
    """A ``time.monotonic()`` instant as a 64-bit NTP timestamp, as sender
    reports carry it."""
    wall = monotonic + time.time() - time.monotonic()
    return int((wall + NTP_EPOCH) * 4294967296.0)


def _ignore(sender: Any, value: Any) -> None:
    """What aiortc's own RTP task would set: it never runs for these."""


def _ntp(sender: Any) -> int:
    out = sender._sfu_outbound
    return ntp_of(out.last_at) if out is not None and out.sent else 0


def _rtp_timestamp(sender: Any) -> int:
    out = sender._sfu_outbound
    last = out.last_packet if out is not None else None
    return int.from_bytes(last[4:8], "big") if last else 0


def _count(field: str) -> property:
    def get(sender: Any) -> int:
        out = sender._sfu_outbound
        return getattr(out, field) if out is not None else 0

    return property(get, _ignore)


class PacketSender(RTCRtpSender):
    """aiortc's sender, whose RTCP task and stats read what its ``Outbound``
    sent from the Outbound, when they read it (about once a second), instead
    of ``Outbound`` setting four attributes (and reading the clock) per
    packet. ``Outbound`` makes its sender one of these."""

    _sfu_outbound: Outbound | None = None

    async def _handle_rtcp_packet(self, packet: AnyRtcpPacket) -> None:
        await super()._handle_rtcp_packet(packet)
        out = self._sfu_outbound
        if out is not None and isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
            for report in packet.reports:
                if report.ssrc == self._ssrc:
                    out.heard(report, getattr(self, SENDER_RTT))


for _name, _property in (
    (SENDER_NTP, property(_ntp, _ignore)),
    (SENDER_RTP_TIMESTAMP, property(_rtp_timestamp, _ignore)),
    (SENDER_PACKETS, _count("sent")),
    (SENDER_OCTETS, _count("octets")),
):
    setattr(PacketSender, _name, _property)


class Outbound:
    """One m-section's RTP to its subscriber, and the answers to its NACKs."""

    def __init__(self, transceiver: Any) -> None:
        self.transceiver = transceiver
        self.sender = transceiver.sender
        self.kind = transceiver.kind
        self.down: DownTrack | None = None  # the subscription sent now
        # Made at the first binding: the payload type is negotiated by then.
        self.rewriter: DownRewriter | None = None
        self.rtx_payload_type: int | None = None
        self._rtx_seq = secrets.randbits(16)
        self.sent = 0
        self.octets = 0  # payload (and extension) octets, for sender reports
        self.last_at = 0.0  # when the last packet was sent (monotonic)
        self.last_packet: bytes | None = None  # the last one sent
        # (DTLS transport, socket or None, transport, address, protect)
        self._route: tuple[Any, Any, Any, Any, Any] | None = None
        self.retransmitted = 0
        self.unanswered = 0  # NACKed packets no longer in the cache
        # What the subscriber last reported receiving (stats()).
        self.report: dict | None = None
        # aiortc calls this for every number a NACK names.
        self.sender._retransmit = self.retransmit
        # Its sender reports read our counters.
        self.sender.__class__ = PacketSender
        self.sender._sfu_outbound = self

    def bind(self, down: DownTrack) -> None:
        """Send ``down`` from now on (the subscriber answered the offer
        naming it): video from its next keyframe, which is asked for."""
        if self.rewriter is None:
            codec = next(c for c in self.transceiver._codecs if not is_rtx(c))
            self.rewriter = DownRewriter(
                ssrc=self.sender._ssrc,
                payload_type=codec.payloadType,
                clock_rate=codec.clockRate,
            )
        # As aiortc's sender finds it, but that is only once DTLS is up.
        self.rtx_payload_type = next(
            (
                c.payloadType
                for c in self.transceiver._codecs
                if is_rtx(c) and c.parameters.get("apt") == self.rewriter.payload_type
            ),
            None,
        )
        ours = {e.uri: e.id for e in self.transceiver._headerExtensions}
        self.rewriter.extensions = ExtensionMap.shared(down.up.extensions or {}, ours)
        self.rewriter.switch()
        self.down = down
        if self.kind == "video":
            down.waiting_for_keyframe = True
            down.up.request_keyframe()

    def unbind(self) -> None:
        self.down = None

    def heard(self, report: Any, rtt: float | None) -> None:
        """The subscriber's receiver report on this down track: how much it
        lost, its jitter, and the round trip (once a sender report of ours
        came back in it)."""
        clock_rate = self.rewriter.clock_rate if self.rewriter else 90000
        self.report = {
            "fraction_lost": round(report.fraction_lost / 256, 3),
            "packets_lost": report.packets_lost,
            "jitter_ms": round(report.jitter * 1000 / clock_rate, 1),
            "rtt_ms": None if rtt is None else round(rtt * 1000, 1),
        }

    def stats(self) -> dict:
        return {
            "sent": self.sent,
            "retransmitted": self.retransmitted,
            "unanswered": self.unanswered,
            "received": self.report,
        }

    def restart(self) -> None:
        """What comes next does not follow what was sent (the publisher's
        packets were left out meanwhile): number it on from the last one."""
        if self.rewriter is not None:
            self.rewriter.switch()

    def forward(self, packet: bytes, keyframe: bool, now: float) -> bool:
        """Send the publisher's ``packet``; False if this subscriber does not
        take it (it waits for a keyframe, or is not connected yet)."""
        route = self._route
        if route is None or route[0]._state is not _CONNECTED:
            route = self._find_route()
            if route is None:
                # Not one packet out until the subscriber's DTLS is up; then
                # video starts at a keyframe (the first one was not sent).
                self.down.resync()
                return False
        down = self.down
        if down.waiting_for_keyframe:
            if not keyframe:
                return False
            down.waiting_for_keyframe = False
            self.rewriter.switch()  # what was skipped is no gap to repair
        out = self.rewriter.rewrite(packet, now)
        if out is None:
            return False
        _, sock, transport, addr, protect = route
        data = protect(out)
        if sock is None:
            transport.sendto(data, addr)
        else:
            try:
                sock.sendto(data, addr)
            except (BlockingIOError, InterruptedError):
                transport.sendto(data, addr)  # it buffers, as before
            except OSError:
                pass  # as the transport would: reported, not raised
        # What aiortc's RTCP task puts in the sender reports (PacketSender).
        self.sent += 1
        self.octets += len(out) - 12
        self.last_at = now
        self.last_packet = out
        return True

    async def retransmit(self, sequence_number: int) -> None:
        """The subscriber NACKed ``sequence_number``: send it again from the
        publisher's cache, as RTX where negotiated."""
        down = self.down
        cache = down.up.cache if down is not None else None
        if cache is None or self.rewriter is None:
            return
        # aiortc's NACK parser does not wrap what the bitmask adds.
        packet = self.rewriter.retransmission(
            sequence_number & 0xFFFF, cache, time.monotonic()
        )
        if packet is None:
            self.unanswered += 1
            return
        if self.rtx_payload_type is not None:
            packet = rtx_wrap(
                packet,
                ssrc=self.sender._rtx_ssrc,
                payload_type=self.rtx_payload_type,
                sequence_number=self._rtx_seq,
            )
            self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
        if self._send(packet):
            self.retransmitted += 1

    def _send(self, packet: bytes) -> bool:
        route = self._route
        if route is None or route[0]._state is not _CONNECTED:
            route = self._find_route()
            if route is None:
                return False
        route[2].sendto(route[4](packet), route[3])
        return True

    def _find_route(self) -> tuple[Any, Any, Any, Any, Any] | None:
        """Where to send, straight to the socket of the nominated ICE pair
        without aiortc's and aioice's coroutines in between; None until DTLS
        is up. The socket is None with a loop whose transport hides it."""
        self._route = None
        dtls = self.sender.transport
        if dtls._state is not _CONNECTED:
            return None
        connection = getattr(dtls.transport, ICE_CONNECTION)
        pair = getattr(connection, ICE_NOMINATED).get(1)
        if pair is None:
            return None
        transport = pair.protocol.transport
        sock = getattr(transport, LOOP_TRANSPORT_SOCKET, None)
        protect = srtp_call(getattr(dtls, DTLS_TX_SRTP), "srtp_protect")
        self._route = (dtls, sock, transport, pair.remote_addr, protect)
        return self._route


class PacketSlot(DownSlot):
    """A DownSlot whose bindings go to its ``Outbound``. It never yields a
    frame, so aiortc's sender never packetises anything itself."""

    outbound: Outbound

    def attach(self, transceiver: Any) -> Outbound:
        """The transceiver made for this slot (which needed the slot first)."""
        self.outbound = Outbound(transceiver)
        return self.outbound

    def bind(self, down: DownTrack) -> None:
        if down is self.down or self.readyState != "live":
            return
        super().bind(down)
        self.outbound.bind(down)

    def unbind(self) -> None:
        super().unbind()
        self.outbound.unbind()

    def stop(self) -> None:
        super().stop()
        self.outbound.unbind()
