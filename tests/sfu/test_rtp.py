"""The packet-level primitives of RTP forwarding (sfu/rtp.py), on real bytes:
packets built by hand with struct and by aiortc (its RtpPacket, its VP8
encoder and packetiser, its NACK and RTX code)."""

from __future__ import annotations

import fractions
import struct

import av
import pytest
from aiortc.codecs.vpx import Vp8Encoder, VpxPayloadDescriptor
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import (
    HeaderExtensionsMap,
    RtcpPacket,
    RtcpRtpfbPacket,
    RtpPacket,
    pack_header_extensions,
    unpack_header_extensions,
    unwrap_rtx,
    wrap_rtx,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sfu import rtp

MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
TOFFSET = "urn:ietf:params:rtp-hdrext:toffset"
TWCC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
ORIENTATION = "urn:3gpp:video-orientation"
# What Chrome offers and what aiortc offers (aiortc.codecs.HEADER_EXTENSIONS).
CHROME = {
    AUDIO_LEVEL: 1,
    ABS_SEND_TIME: 2,
    TWCC: 3,
    MID: 4,
    ORIENTATION: 13,
    TOFFSET: 14,
}
AIORTC = {MID: 1, AUDIO_LEVEL: 2, ABS_SEND_TIME: 3}

PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fixed(*, seq=1, ts=1000, ssrc=0x1234, pt=96, marker=0, flags=0, cc=0) -> bytes:
    return struct.pack("!BBHII", 0x80 | flags | cc, marker << 7 | pt, seq, ts, ssrc)


def packet(seq=1, ts=1000, ssrc=0x1234, payload=b"payload", pt=96) -> bytes:
    return fixed(seq=seq, ts=ts, ssrc=ssrc, pt=pt) + payload


def aiortc_map(ids: dict[str, int]) -> HeaderExtensionsMap:
    extensions_map = HeaderExtensionsMap()
    extensions_map.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=i, uri=uri) for uri, i in ids.items()
            ]
        )
    )
    return extensions_map


def chrome_audio_packet(**fields: object) -> bytes:
    """An Opus packet as aiortc serialises it, with Chrome's extension ids."""
    packet = RtpPacket(payload_type=111, payload=b"\xfc" + bytes(range(60)), **fields)
    packet.csrc = [0xCAFE]
    packet.extensions.mid = "0"
    packet.extensions.abs_send_time = 0x123456
    packet.extensions.audio_level = (True, 42)
    return packet.serialize(aiortc_map(CHROME))


# Headers


def test_reads_the_header_of_an_aiortc_packet():
    data = chrome_audio_packet(
        sequence_number=65535, timestamp=2**32 - 1, ssrc=7, marker=1
    )
    header = rtp.parse_header(data)
    assert header == rtp.Header(True, 111, 65535, 2**32 - 1, 7, len(data) - 61)
    assert data[header.length :] == b"\xfc" + bytes(range(60))
    assert rtp.extensions(data) == {4: b"0", 2: b"\x12\x34\x56", 1: bytes([0x80 | 42])}


def test_payload_bounds_leave_out_csrcs_extension_and_padding():
    ext = struct.pack("!HH", rtp.ONE_BYTE, 1) + b"\x10\xaa\x00\x00"
    data = fixed(flags=0x30, cc=2) + bytes(8) + ext + b"body" + b"\x00\x00\x03"
    assert rtp.payload_bounds(data) == (12 + 8 + 8, len(data) - 3)
    assert RtpPacket.parse(data).payload == b"body"


@pytest.mark.parametrize(
    "data",
    [
        b"\x80\x60\x00",  # shorter than a header
        struct.pack("!BBHII", 0x40, 96, 1, 1, 1),  # version 1
        fixed(cc=3) + bytes(8),  # CSRCs cut short
        fixed(flags=0x10) + b"\xbe\xde",  # extension header cut short
        fixed(flags=0x10) + struct.pack("!HH", rtp.ONE_BYTE, 2) + bytes(4),
        fixed(flags=0x20) + b"abc\x00",  # padding of zero bytes
        fixed(flags=0x20) + b"ab\x09",  # more padding than payload
    ],
)
def test_malformed_packets_are_refused(data):
    with pytest.raises(ValueError):
        rtp.payload_bounds(data)


def test_rewrite_changes_only_ssrc_sequence_timestamp_and_payload_type():
    data = chrome_audio_packet(sequence_number=10, timestamp=20, ssrc=30, marker=1)
    out = rtp.rewrite_header(
        data,
        ssrc=0xAABBCCDD,
        sequence_number=65535,
        timestamp=2**32 - 1,
        payload_type=109,
    )
    parsed, original = RtpPacket.parse(out, aiortc_map(CHROME)), RtpPacket.parse(data)
    assert (parsed.ssrc, parsed.sequence_number, parsed.timestamp) == (
        0xAABBCCDD,
        65535,
        2**32 - 1,
    )
    assert (parsed.payload_type, parsed.marker, parsed.csrc) == (109, 1, [0xCAFE])
    assert out[12:] == data[12:] and parsed.payload == original.payload


def test_extension_ids_are_mapped_and_those_not_negotiated_dropped():
    """Chrome's ids become aiortc's; Chrome's video orientation and toffset,
    which the subscriber did not negotiate, go; the packet stays valid."""
    profile, block = pack_header_extensions(
        [(2, b"\xab\xcd\xef"), (13, b"\x01"), (1, b"\x03"), (14, b"\x00\x00\x05")]
    )
    ext = struct.pack("!HH", profile, len(block) // 4) + block
    data = fixed(flags=0x10) + ext + b"vp8 data"
    mapping = rtp.ExtensionMap(CHROME, AIORTC)
    out = rtp.rewrite_header(
        data,
        ssrc=1,
        sequence_number=2,
        timestamp=3,
        payload_type=97,
        extensions=mapping,
    )
    assert rtp.extensions(out) == {3: b"\xab\xcd\xef", 2: b"\x03"}
    parsed = RtpPacket.parse(out, aiortc_map(AIORTC))
    assert parsed.extensions.abs_send_time == 0xABCDEF
    assert parsed.extensions.audio_level == (False, 3)
    assert parsed.payload == b"vp8 data"
    assert struct.unpack_from("!HH", out, 12) == (rtp.ONE_BYTE, 2)  # 6 bytes, padded


def test_subscribers_with_the_same_ids_share_one_rewrite_per_packet():
    block = bytes([0x12, 0xAB, 0xCD, 0xEF, 0x30, 0x83, 0, 0])  # ids 1 and 3
    data = fixed(flags=0x10) + struct.pack("!HH", rtp.ONE_BYTE, 2) + block + b"vp8"
    shared = rtp.ExtensionMap.shared(CHROME, AIORTC)
    assert rtp.ExtensionMap.shared(dict(CHROME), dict(AIORTC)) is shared
    alone = rtp.ExtensionMap(CHROME, AIORTC)
    for seq in (1, 2):  # the second subscriber gets the first one's rewrite
        fields = dict(ssrc=seq, sequence_number=seq, timestamp=seq, payload_type=97)
        out = rtp.rewrite_header(data, extensions=shared, **fields)
        assert out == rtp.rewrite_header(data, extensions=alone, **fields)
        assert struct.unpack_from("!BBHII", out)[1:] == (97, seq, seq, seq)
    other = data[:-1] + b"9"  # another packet: rewritten anew
    out = rtp.rewrite_header(other, extensions=shared, **fields)
    assert out.endswith(b"vp9") and out == rtp.rewrite_header(
        other, extensions=alone, **fields
    )


def test_connection_extensions_are_never_forwarded():
    """The publisher's MID would make the subscriber's browser drop the packet
    (or route it to another m-section), even when both negotiated MID."""
    data = chrome_audio_packet(sequence_number=1)
    mapping = rtp.ExtensionMap(CHROME, {**CHROME})
    out = rtp.rewrite_header(
        data,
        ssrc=1,
        sequence_number=1,
        timestamp=1,
        payload_type=111,
        extensions=mapping,
    )
    assert rtp.extensions(out) == {2: b"\x12\x34\x56", 1: bytes([0x80 | 42])}


def test_when_no_extension_is_left_the_x_bit_goes_and_padding_still_holds():
    source = RtpPacket(payload_type=96, sequence_number=5, payload=b"abc")
    source.extensions.mid = "1"
    source.padding_size = 7
    data = source.serialize(aiortc_map(CHROME))
    mapping = rtp.ExtensionMap(CHROME, AIORTC)
    out = rtp.rewrite_header(
        data,
        ssrc=1,
        sequence_number=5,
        timestamp=0,
        payload_type=96,
        extensions=mapping,
    )
    assert not out[0] & 0x10 and out[0] & 0x20
    assert rtp.payload_bounds(out) == (12, len(out) - 7)
    parsed = RtpPacket.parse(out)
    assert (parsed.payload, parsed.padding_size) == (b"abc", 7)


def test_an_extension_kept_as_it_is_leaves_the_packet_as_it_is():
    data = chrome_audio_packet(sequence_number=9)
    mapping = rtp.ExtensionMap(CHROME, {ABS_SEND_TIME: 2, AUDIO_LEVEL: 1, MID: 4})
    out = rtp.rewrite_header(
        data,
        ssrc=1,
        sequence_number=9,
        timestamp=0,
        payload_type=111,
        extensions=mapping,
    )
    # MID (hop by hop) goes; the rest keep their ids and bytes.
    assert rtp.extensions(out) == {2: b"\x12\x34\x56", 1: bytes([0x80 | 42])}
    without_mid = rtp.rewrite_header(
        out,
        ssrc=1,
        sequence_number=9,
        timestamp=0,
        payload_type=111,
        extensions=mapping,
    )
    assert without_mid == out


def test_two_byte_extensions_are_mapped():
    """Two-byte elements (RFC 8285 4.3), one empty and one of 20 bytes, and a
    high id: kept, renumbered, dropped."""
    profile, block = pack_header_extensions(
        [(20, b""), (3, bytes(range(20))), (40, b"x")]
    )
    assert profile == rtp.TWO_BYTE
    data = (
        fixed(flags=0x10) + struct.pack("!HH", profile, len(block) // 4) + block + b"p"
    )
    mapping = rtp.ExtensionMap({"a": 20, "b": 3, "c": 40}, {"a": 200, "b": 3})
    out = rtp.rewrite_header(
        data,
        ssrc=1,
        sequence_number=1,
        timestamp=1,
        payload_type=96,
        extensions=mapping,
    )
    assert rtp.extensions(out) == {200: b"", 3: bytes(range(20))}
    assert RtpPacket.parse(out).payload == b"p"


def test_a_one_byte_block_becomes_two_byte_for_an_id_above_14():
    data = chrome_audio_packet(sequence_number=1)
    mapping = rtp.ExtensionMap(CHROME, {AUDIO_LEVEL: 100})
    out = rtp.rewrite_header(
        data,
        ssrc=1,
        sequence_number=1,
        timestamp=1,
        payload_type=111,
        extensions=mapping,
    )
    assert struct.unpack_from("!H", out, 16)[0] == rtp.TWO_BYTE
    assert rtp.extensions(out) == {100: bytes([0x80 | 42])}


def test_one_byte_id_15_ends_the_block():
    block = b"\x20\xaa\xf0\x30\xbb\x00\x00\x00"  # id 2, then 15, then id 3
    data = fixed(flags=0x10) + struct.pack("!HH", rtp.ONE_BYTE, 2) + block
    assert rtp.extensions(data) == {2: b"\xaa"}
    mapping = rtp.ExtensionMap({"a": 2, "b": 3}, {"a": 3, "b": 4})
    out = rtp.rewrite_header(
        data,
        ssrc=1,
        sequence_number=1,
        timestamp=1,
        payload_type=96,
        extensions=mapping,
    )
    assert rtp.extensions(out) == {3: b"\xaa"}


def test_a_truncated_extension_element_is_refused():
    data = fixed(flags=0x10) + struct.pack("!HH", rtp.ONE_BYTE, 1) + b"\x23\xaa\xbb\xcc"
    mapping = rtp.ExtensionMap({"a": 2}, {"a": 3})
    with pytest.raises(ValueError):
        rtp.rewrite_header(
            data,
            ssrc=1,
            sequence_number=1,
            timestamp=1,
            payload_type=96,
            extensions=mapping,
        )


_values = st.binary(min_size=0, max_size=20)


_ids = st.integers(1, 14) | st.integers(1, 255)


@PROPERTY
@given(
    # One-byte blocks (ids up to 14, 1 to 16 bytes) and any.
    elements=st.dictionaries(
        st.integers(1, 14), st.binary(min_size=1, max_size=16)
    ).filter(bool)
    | st.dictionaries(st.integers(1, 255), _values, min_size=1, max_size=6),
    subscriber_ids=st.dictionaries(_ids, _ids, max_size=6),
    padding=st.integers(0, 5),
)
def test_any_extension_block_maps_as_the_model_says(elements, subscriber_ids, padding):
    """Kept elements carry their values under the subscriber's ids, in order;
    the rest go; aiortc reads the result back."""
    profile, block = pack_header_extensions(list(elements.items()))
    data = fixed(flags=0x10) + struct.pack("!HH", profile, len(block) // 4) + block
    data += b"media"
    if padding:
        data = (
            bytes([data[0] | 0x20]) + data[1:] + bytes(padding - 1) + bytes([padding])
        )
    publisher = {f"uri{i}": i for i in elements}
    subscriber = {f"uri{i}": new for i, new in subscriber_ids.items() if i in elements}
    out = rtp.rewrite_header(
        data,
        ssrc=1,
        sequence_number=1,
        timestamp=1,
        payload_type=96,
        extensions=rtp.ExtensionMap(publisher, subscriber),
    )
    expected = [
        (subscriber[f"uri{i}"], v)
        for i, v in elements.items()
        if f"uri{i}" in subscriber
    ]
    assert list(rtp.extensions(out).items()) == _dedupe(expected)
    parsed = RtpPacket.parse(out)
    assert (parsed.payload, parsed.padding_size) == (b"media", padding)
    if out[0] & 0x10:
        profile, words = struct.unpack_from("!HH", out, 12)
        assert unpack_header_extensions(profile, out[16 : 16 + 4 * words]) == expected


def _dedupe(pairs):
    # Two publisher ids may map to one subscriber id: a dict keeps the last.
    return list(dict(pairs).items())


# The per-down-track rewriter

OPUS = 48000


def down(**options) -> rtp.DownRewriter:
    defaults = {"ssrc": 0xD0D0, "payload_type": 111, "clock_rate": OPUS}
    defaults.update(first_sequence_number=100, first_timestamp=5000)
    return rtp.DownRewriter(**{**defaults, **options})


def test_the_first_source_starts_from_the_down_tracks_own_origin():
    rewriter = down()
    assert rewriter.map(0xAA, 40000, 7_000_000, now=1.0) == (100, 5000)
    assert rewriter.map(0xAA, 40001, 7_000_960, now=1.02) == (101, 5960)


def test_origins_are_random_when_not_given():
    firsts = {
        rtp.DownRewriter(ssrc=1, payload_type=96, clock_rate=90000).map(5, 1, 1, 0.0)
        for _ in range(8)
    }
    assert len(firsts) > 1


def test_a_loss_upstream_stays_a_gap_the_subscriber_can_nack():
    rewriter = down()
    rewriter.map(0xAA, 10, 0, 0.0)
    assert rewriter.map(0xAA, 13, 2880, 0.06) == (103, 5000 + 2880)


def test_old_and_repeated_packets_keep_their_numbers():
    rewriter = down()
    for seq in (10, 11, 13, 14):
        rewriter.map(0xAA, seq, seq * 960, 0.0)
    assert rewriter.map(0xAA, 12, 12 * 960, 0.1) == (102, 5000 + 2 * 960)  # late
    assert rewriter.map(0xAA, 13, 13 * 960, 0.1) == (103, 5000 + 3 * 960)  # again
    assert rewriter.map(0xAA, 15, 15 * 960, 0.1) == (105, 5000 + 5 * 960)


def test_sequence_numbers_and_timestamps_wrap_in_and_out():
    rewriter = down(first_sequence_number=65534, first_timestamp=2**32 - 960)
    got = [
        rewriter.map(
            0xAA, (65533 + i) % 65536, (2**32 - 1920 + 960 * i) % 2**32, i * 0.02
        )
        for i in range(4)
    ]
    assert got == [(65534, 2**32 - 960), (65535, 0), (0, 960), (1, 1920)]


def test_mute_and_unmute_numbers_on_with_the_time_that_passed():
    """An enforced mute: the SFU forwards nothing for 2 s while the publisher
    goes on; after the unmute, one number on and 2 s of 48 kHz ticks on."""
    rewriter = down()
    rewriter.map(0xAA, 10, 960, now=5.0)
    rewriter.switch()
    assert rewriter.map(0xAA, 110, 960 + 100 * 960, now=7.0) == (101, 5000 + 96000)
    assert rewriter.map(0xAA, 111, 960 + 101 * 960, now=7.02) == (102, 5000 + 96960)


def test_a_keyframe_resync_skips_the_lost_stretch_and_drops_what_predates_it():
    rewriter = down(clock_rate=90000, payload_type=96)
    rewriter.map(0xAA, 500, 0, now=0.0)
    rewriter.switch()  # loss: wait for the keyframe at 530
    assert rewriter.map(0xAA, 530, 9000, now=0.1) == (101, 5000 + 9000)
    assert rewriter.map(0xAA, 529, 6000, now=0.1) is None  # before the keyframe
    assert rewriter.map(0xAA, 531, 9000, now=0.1) == (102, 5000 + 9000)


def test_the_publisher_reconnecting_with_a_new_ssrc_goes_on_seamlessly():
    """New SSRC, random sequence number and timestamp: seen without being
    told; late packets of the old SSRC are dropped."""
    rewriter = down(clock_rate=90000, payload_type=96)
    rewriter.map(0xAA, 65535, 2**32 - 100, now=10.0)
    assert rewriter.map(0xBB, 12345, 777, now=10.5) == (101, (5000 + 45000) % 2**32)
    assert rewriter.map(0xAA, 0, 2**32 - 100 + 3000, now=10.5) is None
    assert rewriter.map(0xBB, 12346, 777 + 3000, now=10.53) == (102, 5000 + 48000)


def test_another_publisher_and_back_again():
    rewriter = down()
    rewriter.map(0xAA, 1, 0, now=0.0)
    rewriter.switch()  # another publisher takes this m-section
    assert rewriter.map(0xBB, 9000, 10, now=1.0) == (101, 5000 + 48000)
    rewriter.switch()  # and the first comes back on it
    assert rewriter.map(0xAA, 60, 59 * 960, now=2.0) == (102, 5000 + 96000)


def test_a_stray_far_packet_is_dropped_and_a_restarted_numbering_followed():
    rewriter = down()
    rewriter.map(0xAA, 100, 0, now=0.0)
    assert rewriter.map(0xAA, 40000, 960, now=0.02) is None  # one stray
    assert rewriter.map(0xAA, 101, 960, now=0.02) == (101, 5960)
    assert rewriter.map(0xAA, 20000, 7, now=0.04) is None
    assert rewriter.map(0xAA, 20001, 967, now=0.06) == (102, 5960 + 1920)


def test_a_burst_answered_too_late_is_dropped_not_taken_for_a_restart():
    """Two consecutive retransmissions 150 packets late look like RFC 3550's
    restart; taken as one, the next live packet would jump 150 ahead."""
    rewriter = down()
    for seq in range(1000, 1200):
        rewriter.map(0xAA, seq, seq, 0.0)
    assert rewriter.map(0xAA, 1049, 1049, 0.1) is None
    assert rewriter.map(0xAA, 1050, 1050, 0.1) is None
    assert rewriter.map(0xAA, 1100, 1100, 0.1) == (200, 5100)  # 99 back: in time
    assert rewriter.map(0xAA, 1200, 1200, 0.1) == (300, 5200)


def test_numbers_sent_map_back_to_their_source_across_switches():
    rewriter = down()
    for seq in range(10, 13):
        rewriter.map(0xAA, seq, 0, 0.0)  # out 100..102
    rewriter.map(0xBB, 500, 0, 1.0)  # out 103
    rewriter.map(0xBB, 502, 0, 1.0)  # out 105
    assert [rewriter.original(s) for s in (100, 102, 103, 104, 105)] == [
        (0xAA, 10),
        (0xAA, 12),
        (0xBB, 500),
        (0xBB, 501),
        (0xBB, 502),
    ]
    assert rewriter.original(106) is None and rewriter.original(99) is None
    # aiortc's NACK parser does not wrap: 65536 + 103 names 103.
    assert rewriter.original(65536 + 103) == (0xBB, 500)


def test_a_nacked_packet_is_resent_as_it_was_first_sent():
    cache = rtp.PacketCache(size=64)
    rewriter = down(extensions=rtp.ExtensionMap(CHROME, AIORTC))
    sent = {}
    for i, ssrc in enumerate([0xAA, 0xAA, 0xBB, 0xBB]):
        data = chrome_audio_packet(
            sequence_number=1000 + i, timestamp=960 * i, ssrc=ssrc
        )
        cache.put(data, now=0.1 * i)
        out = rewriter.rewrite(data, now=0.1 * i)
        sent[struct.unpack_from("!H", out, 2)[0]] = out
    for seq, out in sent.items():
        assert rewriter.retransmission(seq, cache, now=0.5) == out
    assert rewriter.retransmission(104, cache, now=0.5) is None  # never sent
    assert rewriter.retransmission(100, cache, now=5.0) is None  # too old


_step = st.one_of(
    st.tuples(st.just("next"), st.integers(1, 5)),  # the next packet, after a loss
    # an old packet or a repeat, late or far too late
    st.tuples(st.just("late"), st.integers(0, 120) | st.integers(0, 4000)),
    st.tuples(st.just("switch"), st.integers(0, 2**16 - 1)),  # same SSRC, new numbering
    st.tuples(st.just("ssrc"), st.integers(0, 2**16 - 1)),  # a new SSRC
)


@PROPERTY
@given(
    steps=st.lists(_step, min_size=1, max_size=80),
    first_seq=st.integers(0, 2**16 - 1),
    first_ts=st.integers(0, 2**32 - 1),
)
def test_any_stream_of_switches_losses_and_reordering_stays_continuous(
    steps, first_seq, first_ts
):
    """New packets go on without jumps (a loss stays its own size, a switch
    is one step), timestamps never go back, an old packet maps to the number
    it had or is dropped, and each number maps back to its source."""
    rewriter = down(
        clock_rate=90000, first_sequence_number=first_seq, first_timestamp=first_ts
    )
    ssrc, seq, ts, now = 1, first_seq ^ 0x5A5A, first_ts ^ 0xA5A5A5A5, 0.0
    high, high_ts = rewriter.map(ssrc, seq, ts, now)
    assert (high, high_ts) == (first_seq, first_ts)
    epoch, sent = 0, {(0, seq): high}  # (epoch, seq) -> the number it got
    for kind, value in steps:
        now += 0.01
        if kind == "late":
            old = (seq - value) % 65536
            got = rewriter.map(ssrc, old, ts, now)
            if got is not None:
                assert got[0] == sent.get((epoch, old), got[0])
                assert (high - got[0]) % 65536 <= 100  # within this epoch
                assert rewriter.original(got[0]) == (ssrc, old)
            continue
        step = value if kind == "next" else 1
        if kind == "next":
            seq, ts = (seq + step) % 65536, (ts + 3000 * step) % 2**32
        else:
            epoch, seq = epoch + 1, value
            if kind == "switch":
                rewriter.switch()
            else:
                ssrc += 1
        out, out_ts = rewriter.map(ssrc, seq, ts, now)
        assert out == (high + step) % 65536
        assert 0 < (out_ts - high_ts) % 2**32 < 2**31
        assert rewriter.original(out) == (ssrc, seq)
        sent[(epoch, seq)] = out
        high, high_ts = out, out_ts


# VP8 keyframes


def _frame(pts: int, seed: int) -> av.VideoFrame:
    frame = av.VideoFrame(160, 120, "yuv420p")
    for i, plane in enumerate(frame.planes):
        plane.update(bytes((x * seed + i) % 251 for x in range(plane.buffer_size)))
    frame.pts, frame.time_base = pts, fractions.Fraction(1, 90000)
    return frame


def _rtp(payload: bytes, seq: int) -> bytes:
    packet = RtpPacket(
        payload_type=96, sequence_number=seq, timestamp=0, ssrc=1, payload=payload
    )
    packet.extensions.abs_send_time = 1
    packet.extensions.mid = "1"
    packet.padding_size = seq % 3
    return packet.serialize(aiortc_map(CHROME))


def _is_keyframe(data: bytes) -> bool:
    return rtp.is_vp8_keyframe(data, *rtp.payload_bounds(data))


def test_libvpx_keyframes_start_where_aiortc_packetised_them():
    """Real VP8 from aiortc's encoder (15-bit PictureID descriptors): only
    the first packet of the keyframe starts one."""
    encoder = Vp8Encoder()
    key, _ = encoder.encode(_frame(0, 7), force_keyframe=True)
    delta, _ = encoder.encode(_frame(3000, 11))
    assert len(key) > 1 and len(delta) > 1
    assert [_is_keyframe(_rtp(p, i)) for i, p in enumerate(key)] == [True] + [False] * (
        len(key) - 1
    )
    assert not any(_is_keyframe(_rtp(p, i)) for i, p in enumerate(delta))


def test_packetised_without_the_encoder_too():
    """aiortc's packetiser on its own (the path the SFU uses today), and a
    7-bit PictureID, which aiortc never writes."""
    keyframe = bytes([0x50, 0x01, 0x00, 0x9D, 0x01, 0x2A]) + bytes(3000)
    payloads = Vp8Encoder._packetize(keyframe, picture_id=5)
    assert payloads[0][:4] == b"\x90\x80\x80\x05"  # X, S; I; 15-bit PictureID 5
    assert [_is_keyframe(_rtp(p, 1)) for p in payloads[:2]] == [True, False]
    short = bytes([0x90, 0x80, 0x05]) + keyframe[:100]  # hand-made 7-bit PictureID
    assert _is_keyframe(_rtp(short, 0))


KEY_HEADER = bytes([0x50, 0x01, 0x00, 0x9D, 0x01, 0x2A])  # P clear, start code
DELTA_HEADER = bytes([0x51, 0x01, 0x00])


@pytest.mark.parametrize(
    ("descriptor", "starts"),
    [
        (b"\x10", True),  # S, partition 0, no extension
        (b"\x18", True),  # the reserved bit is ignored
        (b"\x90\x80\x05", True),  # I: 7-bit PictureID
        (b"\x90\x80\x80\x05", True),  # I: 15-bit PictureID
        (b"\x90\x40\x07", True),  # L: TL0PICIDX
        (b"\x90\x20\x41", True),  # T only: TID 1 (the KEYIDX bits ignored)
        (b"\x90\x10\x03", True),  # K only: KEYIDX 3
        (b"\x90\xf0\xff\xff\x07\x43", True),  # I (15 bits), L, T and K
        (b"\x11", False),  # partition 1
        (b"\x00", False),  # not the start of a partition
        (b"\x80\xf0\x80\x05\x07\x41", False),
    ],
)
def test_descriptors_built_by_hand(descriptor, starts):
    assert _is_keyframe(fixed() + descriptor + KEY_HEADER) is starts
    assert not _is_keyframe(fixed() + descriptor + DELTA_HEADER)


@PROPERTY
@given(
    start=st.integers(0, 1),
    partition=st.integers(0, 7),
    picture_id=st.none() | st.integers(0, 2**15 - 1),
    tl0picidx=st.none() | st.integers(0, 255),
    tid=st.none() | st.tuples(st.integers(0, 3), st.integers(0, 1)),
    keyidx=st.none() | st.integers(0, 31),
    vp8_header=st.integers(0, 255),
)
def test_every_descriptor_form_is_read(
    start, partition, picture_id, tl0picidx, tid, keyidx, vp8_header
):
    descriptor = VpxPayloadDescriptor(
        start, partition, picture_id, tl0picidx, tid, keyidx
    )
    data = _rtp(bytes(descriptor) + bytes([vp8_header, 1, 2]), 4)
    assert _is_keyframe(data) == (start == 1 and partition == 0 and not vp8_header & 1)


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x90", b"\x90\x80", b"\x90\x80\x85", b"\x90\x40\x01", b"\x10"],
)
def test_a_truncated_descriptor_is_not_a_keyframe(payload):
    data = fixed() + payload
    assert not _is_keyframe(data)


def test_padding_only_is_not_a_keyframe():
    data = fixed(flags=0x20) + bytes(9) + b"\x0a"
    assert not _is_keyframe(data)


# The packet cache


def test_the_cache_gives_back_an_original_packet_while_it_is_young():
    cache = rtp.PacketCache(size=8, max_age=1.0)
    data = packet(seq=65535)
    cache.put(data, now=10.0)
    cache.put(packet(seq=0), now=10.0)
    assert cache.get(65535, now=10.9) is data
    assert cache.get(65534, now=10.9) is None
    assert cache.get(65535, now=11.1) is None


def test_a_packet_replaces_the_one_a_ring_before_it():
    cache = rtp.PacketCache(size=8)
    cache.put(packet(seq=3), now=0.0)
    cache.put(packet(seq=11), now=0.0)
    assert cache.get(3, now=0.0) is None and cache.get(11, now=0.0) is not None
    cache.clear()
    assert cache.get(11, now=0.0) is None


def test_the_cache_size_is_a_power_of_two():
    with pytest.raises(ValueError):
        rtp.PacketCache(size=1000)


# Generic NACK and RTX


def test_a_nack_across_the_wrap_fits_one_entry():
    assert rtp.nack_fci([1, 65534, 0, 65535]) == struct.pack("!HH", 65534, 0b111)
    assert rtp.parse_nack_fci(struct.pack("!HH", 65534, 0b111)) == [65534, 65535, 0, 1]


def test_nacks_read_by_aiortc_and_aiortc_nacks_read():
    built = rtp.build_nack(11, 22, [5, 7, 30, 21])
    (parsed,) = RtcpPacket.parse(built)
    assert isinstance(parsed, RtcpRtpfbPacket)
    assert (parsed.ssrc, parsed.media_ssrc, parsed.lost) == (11, 22, [5, 7, 21, 30])
    theirs = bytes(RtcpRtpfbPacket(fmt=1, ssrc=3, media_ssrc=4, lost=[100, 101, 140]))
    assert rtp.parse_nack(theirs) == (3, 4, [100, 101, 140])


def test_what_is_not_a_nack_is_refused():
    with pytest.raises(ValueError):
        rtp.parse_nack(bytes([0x81, 206, 0, 2]) + bytes(8))  # PLI's packet type
    with pytest.raises(ValueError):
        rtp.parse_nack(rtp.build_nack(1, 2, [3])[:-1])  # cut short


@PROPERTY
@given(
    base=st.integers(0, 2**16 - 1),
    offsets=st.sets(st.integers(0, 3000), min_size=1, max_size=60),
)
def test_any_set_of_lost_numbers_survives_a_nack(base, offsets):
    lost = [(base + o) % 65536 for o in sorted(offsets)]
    assert rtp.parse_nack(rtp.build_nack(1, 2, reversed(lost)))[2] == lost


def test_rtx_wraps_and_unwraps_as_aiortc_does():
    data = chrome_audio_packet(sequence_number=4321, timestamp=99, ssrc=5, marker=1)
    wrapped = rtp.rtx_wrap(data, ssrc=6, payload_type=97, sequence_number=7)
    theirs = wrap_rtx(
        RtpPacket.parse(data, aiortc_map(CHROME)),
        payload_type=97,
        sequence_number=7,
        ssrc=6,
    )
    assert wrapped == theirs.serialize(aiortc_map(CHROME))
    assert rtp.rtx_unwrap(wrapped, ssrc=5, payload_type=111) == data
    unwrapped = unwrap_rtx(RtpPacket.parse(wrapped), payload_type=111, ssrc=5)
    assert unwrapped.sequence_number == 4321


def test_an_rtx_probe_without_payload_is_refused():
    probe = fixed(flags=0x20) + bytes(99) + b"\x64"
    with pytest.raises(ValueError):
        rtp.rtx_unwrap(probe, ssrc=1, payload_type=96)
