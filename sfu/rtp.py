"""RTP at the packet level: what forwarding one packet to one subscriber needs.

Issue 11 replaces frame re-assembly with RTP-level forwarding. This module
holds that path's pure pieces, on packets as ``bytes`` just out of SRTP
unprotect: reading and rewriting headers and their extensions (RFC 3550,
RFC 8285), the per-subscriber numbering (``DownRewriter``), the VP8 keyframe
check (RFC 7741), the publisher's packet cache and generic NACK (RFC 4585),
and RTX (RFC 4588). Nothing in the SFU uses them yet: the wiring into
aiortc's receive and send paths is the next step.

Per packet they slice bytes and call ``struct``; the objects they make are
the bytes they return, a tuple from ``struct`` and, where extension ids
change, a short list of elements. They expect a packet that
``payload_bounds()`` has accepted, as the forwarding path will check each
received packet once; ``rewrite_header`` still raises ValueError on a
malformed extension block.
"""

from __future__ import annotations

import secrets
import struct
from collections import deque
from collections.abc import Iterable, Mapping
from typing import NamedTuple

_FIXED = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence, timestamp, SSRC
_HH = struct.Struct("!HH")
_II = struct.Struct("!II")
_I = struct.Struct("!I")

ONE_BYTE = 0xBEDE  # RFC 8285 4.2
TWO_BYTE = 0x1000  # RFC 8285 4.3: 0x100 and four application bits

# Extensions that name things of one connection: forwarded as they are, the
# publisher's values would be wrong on the subscriber's. A MID that the
# subscriber does not know makes a browser drop the packet (BUNDLE demuxing
# prefers MID to a known SSRC); rids name the publisher's layers; transport-
# wide sequence numbers count the publisher's transport, not ours.
HOP_BY_HOP = frozenset(
    {
        "urn:ietf:params:rtp-hdrext:sdes:mid",
        "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
        "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
        "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
        "http://www.webrtc.org/experiments/rtp-hdrext/transport-wide-cc-02",
    }
)


class Header(NamedTuple):
    """An RTP packet's fixed header, and where its payload starts."""

    marker: bool
    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    length: int  # bytes before the payload: fixed header, CSRCs, extension


def payload_bounds(packet: bytes) -> tuple[int, int]:
    """Where the payload starts and ends (before any padding); ValueError if
    the packet is not well-formed RTP."""
    size = len(packet)
    if size < 12 or packet[0] >> 6 != 2:
        raise ValueError("not an RTP version 2 packet")
    first = packet[0]
    start = 12 + 4 * (first & 0x0F)
    if first & 0x10:
        if size < start + 4:
            raise ValueError("RTP header extension is truncated")
        start += 4 + 4 * (packet[start + 2] << 8 | packet[start + 3])
    if size < start:
        raise ValueError("RTP header is truncated")
    if not first & 0x20:
        return start, size
    padding = packet[-1]
    if padding == 0 or padding > size - start:
        raise ValueError("RTP padding length is invalid")
    return start, size - padding


def parse_header(packet: bytes) -> Header:
    """The header's fields (for the cold paths: the hot one unpacks ``_FIXED``)."""
    start, _ = payload_bounds(packet)
    _, m_pt, seq, ts, ssrc = _FIXED.unpack_from(packet)
    return Header(bool(m_pt & 0x80), m_pt & 0x7F, seq, ts, ssrc, start)


def _elements(
    packet: bytes, pos: int, end: int, two_byte: bool
) -> list[tuple[int, int, int]]:
    """(id, value start, value end) of each element of an extension block."""
    found = []
    while pos < end:
        if packet[pos] == 0:  # padding between elements
            pos += 1
            continue
        if two_byte:
            if pos + 2 > end:
                raise ValueError("RTP two-byte header extension is truncated")
            ext_id, length = packet[pos], packet[pos + 1]
            pos += 2
        else:
            ext_id, length = packet[pos] >> 4, (packet[pos] & 0x0F) + 1
            if ext_id == 15:  # reserved: stop reading (RFC 8285 4.2)
                break
            pos += 1
        if pos + length > end:
            raise ValueError("RTP header extension value is truncated")
        found.append((ext_id, pos, pos + length))
        pos += length
    return found


def _extension_block(packet: bytes) -> tuple[int, int, int, int]:
    """(where the extension header starts, profile, block start, block end)."""
    pos = 12 + 4 * (packet[0] & 0x0F)
    profile, words = _HH.unpack_from(packet, pos)
    end = pos + 4 + 4 * words
    if end > len(packet):
        raise ValueError("RTP header extension is truncated")
    return pos, profile, pos + 4, end


def extensions(packet: bytes) -> dict[int, bytes]:
    """The packet's header extensions, by id (RFC 8285 one- or two-byte)."""
    if not packet[0] & 0x10:
        return {}
    _, profile, start, end = _extension_block(packet)
    if profile != ONE_BYTE and profile & 0xFFF0 != TWO_BYTE:
        return {}
    elements = _elements(packet, start, end, profile != ONE_BYTE)
    return {ext_id: packet[a:b] for ext_id, a, b in elements}


def pack_extensions(elements: Iterable[tuple[int, bytes]]) -> bytes:
    """An extension header and block: one-byte if every element fits, else
    two-byte; padded to 32 bits. Empty if there is nothing to send."""
    elements = list(elements)
    if not elements:
        return b""
    one_byte = all(0 < i < 15 and 0 < len(v) <= 16 for i, v in elements)
    block = bytearray()
    for ext_id, value in elements:
        block += bytes(
            ((ext_id << 4) | (len(value) - 1),) if one_byte else (ext_id, len(value))
        )
        block += value
    block += bytes(-len(block) % 4)
    profile = ONE_BYTE if one_byte else TWO_BYTE
    return _HH.pack(profile, len(block) // 4) + block


class ExtensionMap:
    """The publisher's header-extension ids turned into one subscriber's.

    Both sides are given as {URI: id} as negotiated. An extension the
    subscriber did not negotiate, or one in ``HOP_BY_HOP``, is dropped.
    """

    def __init__(
        self, publisher: Mapping[str, int], subscriber: Mapping[str, int]
    ) -> None:
        self._to = bytearray(256)  # publisher's id -> subscriber's, 0 to drop
        for uri, ext_id in publisher.items():
            if uri in subscriber and uri not in HOP_BY_HOP:
                self._to[ext_id] = subscriber[uri]
        # Can a one-byte block stay one-byte? (The subscriber's ids fit.) If
        # so, each one-byte element header turns into this one (0 to drop).
        self._one_byte = max(self._to[1:15]) <= 14
        self._heads = bytes(
            self._to[h >> 4] << 4 | h & 0x0F
            if self._one_byte and self._to[h >> 4]
            else 0
            for h in range(256)
        )
        self._last: bytes | None = None  # tail()'s last packet, and answer
        self._last_tail: tuple[int, bytes] = (0, b"")

    @classmethod
    def shared(
        cls, publisher: Mapping[str, int], subscriber: Mapping[str, int]
    ) -> ExtensionMap:
        """The one map for these two sides: subscribers that negotiated the
        same ids share it, and with it ``tail()``'s last result, so that a
        packet's extensions are rewritten once for all of them."""
        key = (tuple(sorted(publisher.items())), tuple(sorted(subscriber.items())))
        found = _SHARED.get(key)
        if found is None:
            if len(_SHARED) >= 256:
                _SHARED.clear()
            found = _SHARED[key] = cls(publisher, subscriber)
        return found

    def tail(self, packet: bytes) -> tuple[int, bytes]:
        """The first byte (X cleared if no extension is left) and everything
        after the 12 fixed bytes of ``packet`` as the subscriber gets it; the
        last packet's answer is kept for the next subscriber asking."""
        if packet is self._last:
            return self._last_tail
        first = packet[0]
        pos = 12 + 4 * (first & 0x0F)
        profile, words = _HH.unpack_from(packet, pos)
        end = pos + 4 + 4 * words
        if end > len(packet):
            raise ValueError("RTP header extension is truncated")
        block = self.rewrite(packet, profile, pos + 4, end)
        if block is None:
            tail = packet[12:]
        else:
            if not block:
                first &= 0xEF  # no extension left: clear X
            tail = b"".join((packet[12:pos], block, packet[end:]))
        self._last, self._last_tail = packet, (first, tail)
        return first, tail

    def rewrite(
        self, packet: bytes, profile: int, start: int, end: int
    ) -> bytes | None:
        """The subscriber's extension header and block for the block at
        ``packet[start:end]``: None if it may stay as it is, empty if no
        extension is left."""
        if profile != ONE_BYTE or not self._one_byte:
            return self._rewrite_any(packet, profile, start, end)
        # The hot case, in one pass: a one-byte block stays one-byte.
        heads = self._heads
        block = bytearray()
        same = True
        pos = start
        while pos < end:
            head = packet[pos]
            if head == 0:  # padding between elements
                pos += 1
                continue
            if head >= 0xF0:  # id 15 is reserved: stop reading (RFC 8285 4.2)
                break
            value_end = pos + 2 + (head & 0x0F)
            if value_end > end:
                raise ValueError("RTP header extension value is truncated")
            new = heads[head]
            if new == head:
                block += packet[pos:value_end]
            else:
                same = False
                if new:
                    block.append(new)
                    block += packet[pos + 1 : value_end]
            pos = value_end
        if same:
            return None
        if not block:
            return b""
        block += _PADDING[len(block) & 3]
        return _HH.pack(ONE_BYTE, len(block) >> 2) + block

    def _rewrite_any(
        self, packet: bytes, profile: int, start: int, end: int
    ) -> bytes | None:
        if profile != ONE_BYTE and profile & 0xFFF0 != TWO_BYTE:
            return b""  # not RFC 8285: nothing the subscriber negotiated
        to = self._to
        elements = _elements(packet, start, end, profile != ONE_BYTE)
        if all(to[ext_id] == ext_id for ext_id, _, _ in elements):
            return None
        return pack_extensions((to[i], packet[a:b]) for i, a, b in elements if to[i])


_PADDING = (b"", b"\x00\x00\x00", b"\x00\x00", b"\x00")  # by length % 4
_SHARED: dict[tuple, ExtensionMap] = {}  # ExtensionMap.shared()


def rewrite_header(
    packet: bytes,
    *,
    ssrc: int,
    sequence_number: int,
    timestamp: int,
    payload_type: int,
    extensions: ExtensionMap | None = None,
) -> bytes:
    """A copy of ``packet`` with these fields (marker, CSRCs, payload and
    padding kept) and, given a map, the subscriber's header extensions."""
    second = (packet[1] & 0x80) | payload_type
    if extensions is not None and packet[0] & 0x10:
        first, tail = extensions.tail(packet)
        return _FIXED.pack(first, second, sequence_number, timestamp, ssrc) + tail
    return (
        _FIXED.pack(packet[0], second, sequence_number, timestamp, ssrc) + packet[12:]
    )


# As RFC 3550 A.1: a packet up to MAX_MISORDER behind is late, one up to
# MAX_DROPOUT behind too late (dropped: a retransmission answered late, say,
# never a restart), and a jump of more than MAX_DROPOUT either way is believed
# when the next packet follows it (the source restarted its numbering).
MAX_DROPOUT = 3000
MAX_MISORDER = 100
# The most a switch moves timestamps on: beyond 2**31 they would seem to go back.
MAX_TS_GAP = 1 << 30
_EPOCHS_KEPT = 8  # earlier sources that a NACK may still name


class DownRewriter:
    """One down track's own sequence and timestamp spaces (Janus's switching
    context, Galène's packet map).

    Packets of one source (an epoch) keep their spacing: a gap left by a loss
    stays, so that the subscriber can NACK it; an old or repeated packet maps
    to the number it had, unless it predates the epoch (dropped). A new
    epoch starts on ``switch()`` (mute and unmute, keyframe resync, another
    publisher), on a new SSRC (the publisher reconnected) and on a restart
    of the numbering: it goes on from the last packet sent, one sequence
    number on, and as many clock ticks on as wall-clock time has passed.
    Late packets of an SSRC left behind are dropped; after ``switch()``, the
    first packet to come starts the epoch, whatever its SSRC.
    """

    def __init__(
        self,
        *,
        ssrc: int,
        payload_type: int,
        clock_rate: int,
        extensions: ExtensionMap | None = None,
        first_sequence_number: int | None = None,
        first_timestamp: int | None = None,
    ) -> None:
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.extensions = extensions
        seq = (
            secrets.randbits(16)
            if first_sequence_number is None
            else first_sequence_number
        )
        self._first = (
            seq,
            secrets.randbits(32) if first_timestamp is None else first_timestamp,
        )
        self._pending = True  # the next packet starts an epoch
        self._src: int | None = None  # the source SSRC of this epoch
        self._retired: int | None = None  # and of the one before
        # Input numbers extended past 16 bits; out = extended in + offset.
        self._start = self._high = self._high16 = 0
        self._seq_offset = 0
        self._ts_offset = 0
        self._ts_high = 0  # input timestamp of the highest packet
        self._high_at = 0.0  # when it came
        self._bad_seq = -1
        self._epochs: deque[tuple[int, int, int, int, int]] = deque(maxlen=_EPOCHS_KEPT)

    def switch(self) -> None:
        """The next packet forwarded starts another stream (or resumes this
        one after a gap): number it on from the last one sent."""
        if not self._pending:
            self._retired = self._src
            self._pending = True

    def rewrite(self, packet: bytes, now: float) -> bytes | None:
        """The packet as this subscriber gets it, or None to drop it."""
        _, _, seq, ts, src = _FIXED.unpack_from(packet)
        out = self._advance(src, seq, ts, now)
        if out < 0:
            return None
        return rewrite_header(
            packet,
            ssrc=self.ssrc,
            sequence_number=out,
            timestamp=(ts + self._ts_offset) & 0xFFFFFFFF,
            payload_type=self.payload_type,
            extensions=self.extensions,
        )

    def map(self, ssrc: int, seq: int, ts: int, now: float) -> tuple[int, int] | None:
        """The (sequence number, timestamp) a packet gets, or None to drop it."""
        out = self._advance(ssrc, seq, ts, now)
        return None if out < 0 else (out, (ts + self._ts_offset) & 0xFFFFFFFF)

    def _advance(self, src: int, seq: int, ts: int, now: float) -> int:
        if src == self._src and not self._pending:
            delta = ((seq - self._high16 + 0x8000) & 0xFFFF) - 0x8000
            if 0 < delta <= MAX_DROPOUT:
                self._high += delta
                self._high16, self._ts_high, self._high_at = seq, ts, now
                return (self._high + self._seq_offset) & 0xFFFF
            if -MAX_MISORDER <= delta <= 0:
                ext = self._high + delta
                return -1 if ext < self._start else (ext + self._seq_offset) & 0xFFFF
            if -MAX_DROPOUT <= delta < 0:  # too late
                return -1
            if seq != self._bad_seq:  # a stray, unless the next one follows it
                self._bad_seq = (seq + 1) & 0xFFFF
                return -1
        elif not self._pending:
            if src == self._retired:
                return -1
            self._retired = self._src
        self._start_epoch(src, seq, ts, now)
        return (self._high + self._seq_offset) & 0xFFFF

    def _start_epoch(self, src: int, seq: int, ts: int, now: float) -> None:
        if self._src is None:
            out_seq, out_ts = self._first
        else:
            last = self._high + self._seq_offset
            self._epochs.append(
                (
                    self._start + self._seq_offset,
                    last,
                    self._seq_offset,
                    self._ts_offset,
                    self._src,
                )
            )
            ticks = min(
                max(1, round((now - self._high_at) * self.clock_rate)), MAX_TS_GAP
            )
            out_seq, out_ts = last + 1, self._ts_high + self._ts_offset + ticks
        self._src, self._pending, self._bad_seq = src, False, -1
        self._start = self._high = self._high16 = seq
        self._ts_high, self._high_at = ts, now
        self._seq_offset = out_seq - seq
        self._ts_offset = (out_ts - ts) & 0xFFFFFFFF

    def _lookup(self, out_seq: int) -> tuple[int, int, int] | None:
        """(source SSRC, original sequence number, timestamp offset)."""
        if self._src is None:
            return None
        high = self._high + self._seq_offset
        ext = high - ((high - out_seq) & 0xFFFF)  # NACKs name recent packets
        current = (
            self._start + self._seq_offset,
            high,
            self._seq_offset,
            self._ts_offset,
            self._src,
        )
        for first, last, seq_offset, ts_offset, src in (
            current,
            *reversed(self._epochs),
        ):
            if first <= ext <= last:
                return src, (ext - seq_offset) & 0xFFFF, ts_offset
        return None

    def original(self, out_seq: int) -> tuple[int, int] | None:
        """The (source SSRC, sequence number) behind a number this subscriber
        got, as its NACK names it; None if it is not one it was sent."""
        found = self._lookup(out_seq & 0xFFFF)
        return None if found is None else found[:2]

    def retransmission(
        self, out_seq: int, cache: PacketCache, now: float
    ) -> bytes | None:
        """The packet this subscriber NACKed, rewritten as it was first sent,
        from the publisher's cache; None if it is not there."""
        found = self._lookup(out_seq & 0xFFFF)
        packet = None if found is None else cache.get(found[1], now)
        if packet is None or _I.unpack_from(packet, 8)[0] != found[0]:
            return None
        return rewrite_header(
            packet,
            ssrc=self.ssrc,
            sequence_number=out_seq & 0xFFFF,
            timestamp=(_I.unpack_from(packet, 4)[0] + found[2]) & 0xFFFFFFFF,
            payload_type=self.payload_type,
            extensions=self.extensions,
        )


def is_vp8_keyframe(packet: bytes, start: int, end: int) -> bool:
    """Does this VP8 packet (payload at ``packet[start:end]``, as from
    ``payload_bounds``) begin a keyframe? RFC 7741: S set, partition 0, and
    the P bit of the VP8 payload header clear."""
    if start >= end or packet[start] & 0x17 != 0x10:  # S=1, PID=0 (R ignored)
        return False
    pos = start + 1
    if packet[start] & 0x80:  # X: the extension octet follows
        if pos >= end:
            return False
        x = packet[pos]
        pos += 1
        if x & 0x80:  # I: PictureID, 15 bits if its M bit is set, else 7
            if pos >= end:
                return False
            pos += 2 if packet[pos] & 0x80 else 1
        if x & 0x40:  # L: TL0PICIDX
            pos += 1
        if x & 0x30:  # T or K: one octet for TID/Y/KEYIDX
            pos += 1
    return pos < end and not packet[pos] & 0x01


class PacketCache:
    """A publisher's last packets (about a second) by sequence number, to
    answer NACKs: a ring of ``size`` slots (a power of two), where a packet
    replaces the one ``size`` numbers before it."""

    def __init__(self, size: int = 512, max_age: float = 1.0) -> None:
        if size <= 0 or size & (size - 1) or size > 1 << 16:
            raise ValueError("the cache size must be a power of two up to 65536")
        self.max_age = max_age
        self._mask = size - 1
        self._packets: list[bytes | None] = [None] * size
        self._seqs = [-1] * size
        self._times = [0.0] * size

    def put(self, packet: bytes, now: float) -> None:
        seq = packet[2] << 8 | packet[3]
        slot = seq & self._mask
        self._packets[slot] = packet
        self._seqs[slot] = seq
        self._times[slot] = now

    def get(self, seq: int, now: float) -> bytes | None:
        """Original packet ``seq``, if it is still here and young enough."""
        slot = seq & self._mask
        if self._seqs[slot] != seq or now - self._times[slot] > self.max_age:
            return None
        return self._packets[slot]

    def clear(self) -> None:
        self._seqs = [-1] * len(self._seqs)
        self._packets = [None] * len(self._packets)


RTCP_RTPFB = 205
NACK_FMT = 1


def nack_fci(lost: Iterable[int]) -> bytes:
    """Generic NACK FCI entries (PID and BLP, RFC 4585 6.2.1) for these
    sequence numbers, in RTP order across the 16-bit wrap."""
    seqs = sorted({s & 0xFFFF for s in lost})
    if len(seqs) > 1:  # start after the widest gap: that is where the wrap is
        widest = max(range(len(seqs)), key=lambda i: (seqs[i] - seqs[i - 1]) & 0xFFFF)
        seqs = seqs[widest:] + seqs[:widest]
    fci = bytearray()
    pid, blp = -1, 0
    for seq in seqs:
        distance = (seq - pid - 1) & 0xFFFF
        if pid >= 0 and distance < 16:
            blp |= 1 << distance
            continue
        if pid >= 0:
            fci += _HH.pack(pid, blp)
        pid, blp = seq, 0
    if pid >= 0:
        fci += _HH.pack(pid, blp)
    return bytes(fci)


def parse_nack_fci(fci: bytes) -> list[int]:
    """The sequence numbers that generic NACK FCI entries report lost."""
    if len(fci) % 4:
        raise ValueError("NACK FCI length is not a multiple of 4")
    lost = []
    for pos in range(0, len(fci), 4):
        pid, blp = _HH.unpack_from(fci, pos)
        lost.append(pid)
        lost += [(pid + bit + 1) & 0xFFFF for bit in range(16) if blp >> bit & 1]
    return lost


def build_nack(sender_ssrc: int, media_ssrc: int, lost: Iterable[int]) -> bytes:
    """An RTCP generic NACK packet (RTPFB, FMT 1)."""
    body = _II.pack(sender_ssrc, media_ssrc) + nack_fci(lost)
    return bytes((0x80 | NACK_FMT, RTCP_RTPFB)) + (len(body) // 4).to_bytes(2) + body


def parse_nack(packet: bytes) -> tuple[int, int, list[int]]:
    """(sender SSRC, media SSRC, lost sequence numbers) of one RTCP NACK."""
    if (
        len(packet) < 12
        or packet[0] & 0xDF != 0x80 | NACK_FMT
        or packet[1] != RTCP_RTPFB
    ):
        raise ValueError("not an RTCP generic NACK")
    end = 4 + 4 * (packet[2] << 8 | packet[3])
    if end > len(packet):
        raise ValueError("RTCP NACK is truncated")
    sender, media = _II.unpack_from(packet, 4)
    return sender, media, parse_nack_fci(packet[12:end])


def rtx_wrap(
    packet: bytes, *, ssrc: int, payload_type: int, sequence_number: int
) -> bytes:
    """An RTX packet (RFC 4588) carrying ``packet``: its sequence number
    goes first in the payload; timestamp, marker and extensions stay."""
    start, _ = payload_bounds(packet)
    _, m_pt, _, ts, _ = _FIXED.unpack_from(packet)
    head = _FIXED.pack(
        packet[0], (m_pt & 0x80) | payload_type, sequence_number, ts, ssrc
    )
    return head + packet[12:start] + packet[2:4] + packet[start:]


def rtx_unwrap(packet: bytes, *, ssrc: int, payload_type: int) -> bytes:
    """The original packet inside an RTX one; ValueError for an RTX packet
    without a payload (padding sent to probe bandwidth)."""
    start, end = payload_bounds(packet)
    if end - start < 2:
        raise ValueError("RTX packet without an original sequence number")
    _, m_pt, _, ts, _ = _FIXED.unpack_from(packet)
    osn = packet[start] << 8 | packet[start + 1]
    head = _FIXED.pack(packet[0], (m_pt & 0x80) | payload_type, osn, ts, ssrc)
    return head + packet[12:start] + packet[start + 2 :]
