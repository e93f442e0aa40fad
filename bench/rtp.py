"""The per-packet cost of the RTP forwarding primitives (sfu/rtp.py), against
parsing and serialising through aiortc's RtpPacket (today's per-packet
object path).

Each operation runs over many packets in a tight loop, timed with
time.perf_counter_ns; the figure is the median over the runs of the time per
packet (the loop's own overhead included). Packets are what Chrome sends to
an aiortc answerer: a 1200-byte VP8 payload (or 90 bytes of Opus) behind
one-byte header extensions; the subscriber's ids are aiortc's.

    .venv/bin/python -m bench.rtp [--runs 15] [--packets 20000]
"""

from __future__ import annotations

import argparse
import struct
import time
from collections.abc import Callable

from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket, pack_header_extensions

from bench.report import median, update_section
from sfu import rtp

ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
TWCC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
CHROME = {AUDIO_LEVEL: 1, ABS_SEND_TIME: 2, TWCC: 3, MID: 4}
AIORTC = {MID: 1, AUDIO_LEVEL: 2, ABS_SEND_TIME: 3}
# A cycle of packets whose sequence numbers go round 65536 exactly, so that
# the rewriter sees a stream without end (a gap of STEP - 1 between two). It
# is small enough to stay in the CPU's cache, as a packet just received and
# sent to each subscriber in turn does.
CYCLE, STEP = 64, 1024
VP8_DESCRIPTOR = b"\x90\x80\x85\x21"  # X, S, partition 0; I: 15-bit PictureID
DELTA_FRAME = b"\x31\x46\x00"  # the VP8 payload header of an interframe
VIDEO_BODY = VP8_DESCRIPTOR + DELTA_FRAME + bytes(1200 - 7)
AUDIO_BODY = b"\xfc" + bytes(89)  # an Opus TOC byte and its frame


def _packet(seq: int, *, video: bool, elements: list[tuple[int, bytes]]) -> bytes:
    profile, block = pack_header_extensions(elements)
    flags = 0x90 if block else 0x80
    head = struct.pack("!BBHII", flags, 96 if video else 111, seq, seq * 3000, 0x5EED)
    if block:
        head += struct.pack("!HH", profile, len(block) // 4) + block
    return head + (VIDEO_BODY if video else AUDIO_BODY)


def _stream(*, video: bool, elements: list[tuple[int, bytes]]) -> list[bytes]:
    return [
        _packet(i * STEP % 65536, video=video, elements=elements) for i in range(CYCLE)
    ]


def _aiortc_map(ids: dict[str, int]) -> HeaderExtensionsMap:
    extensions_map = HeaderExtensionsMap()
    extensions_map.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=i, uri=uri) for uri, i in ids.items()
            ]
        )
    )
    return extensions_map


def _measure(
    cases: list[tuple[str, str, Callable[[int], None]]], packets: int, runs: int
) -> list[tuple[str, str, float, float]]:
    """(name, packet, median, best) µs per packet of each case. Runs take
    turns, so that a slow spell of a noisy machine falls on every case."""
    for _, _, work in cases:
        work(min(packets, 2000))  # warm up
    times: list[list[float]] = [[] for _ in cases]
    for _ in range(runs):
        for (_, _, work), per_packet in zip(cases, times, strict=True):
            start = time.perf_counter_ns()
            work(packets)
            per_packet.append((time.perf_counter_ns() - start) / packets / 1000)
    return [
        (name, kind, median(t), min(t))
        for (name, kind, _), t in zip(cases, times, strict=True)
    ]


def _cases(video: bool) -> list[tuple[str, Callable[[int], None]]]:
    # Chrome sends abs-send-time and transport-wide-cc; the subscriber has
    # abs-send-time under another id and no transport-cc. Or both sides have
    # abs-send-time alone, under one id.
    chrome = _stream(video=video, elements=[(2, b"\x12\x34\x56"), (3, b"\x00\x07")])
    abs_only = _stream(video=video, elements=[(2, b"\x12\x34\x56")])
    plain = _stream(video=video, elements=[])
    renumber = rtp.ExtensionMap(CHROME, AIORTC)
    same_ids = rtp.ExtensionMap(CHROME, {ABS_SEND_TIME: 2})
    n = len(chrome)

    def header_only(count: int) -> None:
        for i in range(count):
            rtp.rewrite_header(
                plain[i % n],
                ssrc=1,
                sequence_number=i & 0xFFFF,
                timestamp=i,
                payload_type=97,
            )

    def header_and_ids(
        stream: list[bytes], mapping: rtp.ExtensionMap
    ) -> Callable[[int], None]:
        def work(count: int) -> None:
            for i in range(count):
                rtp.rewrite_header(
                    stream[i % n],
                    ssrc=1,
                    sequence_number=i & 0xFFFF,
                    timestamp=i,
                    payload_type=97,
                    extensions=mapping,
                )

        return work

    def rewriter_step(stream: list[bytes], mapping: rtp.ExtensionMap | None):
        def work(count: int) -> None:
            down = rtp.DownRewriter(
                ssrc=1, payload_type=97, clock_rate=90000, extensions=mapping
            )
            for i in range(count):
                down.rewrite(stream[i % n], 1.0)

        return work

    pub_map, sub_map = _aiortc_map(CHROME), _aiortc_map(AIORTC)

    def aiortc_objects(count: int) -> None:
        for i in range(count):
            packet = RtpPacket.parse(chrome[i % n], pub_map)
            packet.ssrc, packet.sequence_number = 1, i & 0xFFFF
            packet.timestamp, packet.payload_type = i, 97
            packet.serialize(sub_map)

    return [
        ("header rewrite, no extensions", header_only),
        ("header rewrite + 1 extension, id kept", header_and_ids(abs_only, same_ids)),
        (
            "header rewrite + 2 extensions: 1 renumbered, 1 dropped",
            header_and_ids(chrome, renumber),
        ),
        ("DownRewriter.rewrite, no extensions", rewriter_step(plain, None)),
        (
            "DownRewriter.rewrite, 2 extensions mapped",
            rewriter_step(chrome, renumber),
        ),
        ("aiortc RtpPacket.parse + serialize (today)", aiortc_objects),
    ]


def _keyframe_and_cache() -> list[tuple[str, Callable[[int], None]]]:
    stream = _stream(video=True, elements=[(2, b"\x12\x34\x56"), (3, b"\x00\x07")])
    n = len(stream)

    def keyframe_check(count: int) -> None:
        for i in range(count):
            packet = stream[i % n]
            rtp.is_vp8_keyframe(packet, *rtp.payload_bounds(packet))

    def cache_put_get(count: int) -> None:
        cache = rtp.PacketCache(size=512)
        for i in range(count):
            cache.put(stream[i % n], 1.0)
            cache.get((i - 10) * STEP & 0xFFFF, 1.0)

    return [
        ("payload_bounds + is_vp8_keyframe", keyframe_check),
        ("PacketCache.put + get", cache_put_get),
    ]


def _check() -> None:
    """The figures are of correct work: our rewrite reads back in aiortc as
    the subscriber's packet."""
    data = _packet(7, video=True, elements=[(2, b"\x12\x34\x56"), (3, b"\x00\x07")])
    out = rtp.rewrite_header(
        data,
        ssrc=1,
        sequence_number=8,
        timestamp=9,
        payload_type=97,
        extensions=rtp.ExtensionMap(CHROME, AIORTC),
    )
    parsed = RtpPacket.parse(out, _aiortc_map(AIORTC))
    assert (parsed.ssrc, parsed.sequence_number, parsed.timestamp) == (1, 8, 9)
    assert parsed.extensions.abs_send_time == 0x123456
    assert parsed.payload == RtpPacket.parse(data).payload
    assert rtp.extensions(out) == {3: b"\x12\x34\x56"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--packets", type=int, default=20000)
    args = parser.parse_args()
    _check()

    cases = [
        (name, "video 1200 B" if video else "audio 90 B", work)
        for video in (True, False)
        for name, work in _cases(video)
    ]
    cases += [(name, "video 1200 B", work) for name, work in _keyframe_and_cache()]
    rows = _measure(cases, args.packets, args.runs)
    for name, kind, us, best in rows:
        print(f"{name:56} {kind:13} {us:6.2f} µs (best run {best:.2f})")

    figures = {(name, kind): us for name, kind, us, _ in rows}
    lines = [
        "## RTP primitives: per-packet cost of forwarding at the RTP level",
        "",
        "`sfu/rtp.py`, not yet wired into the SFU (`bench/rtp.py`). One core, a tight",
        f"loop over {args.packets} packets, {args.runs} runs taking turns with the other",
        "operations; median and best run, loop overhead included. Chrome's packets",
        "(abs-send-time, transport-wide-cc) rewritten for a subscriber with aiortc's",
        "extension ids. The `aiortc` rows are today's per-packet object path on the",
        "same packet: `RtpPacket.parse`, set the fields, `serialize`.",
        "",
        "| operation | packet | µs per packet (median) | best run |",
        "|---|---|---|---|",
        *[
            f"| {name} | {kind} | {us:.2f} | {best:.2f} |"
            for name, kind, us, best in rows
        ],
        "",
    ]
    for kind in ("video 1200 B", "audio 90 B"):
        ours = figures[("DownRewriter.rewrite, 2 extensions mapped", kind)]
        theirs = figures[("aiortc RtpPacket.parse + serialize (today)", kind)]
        lines.append(
            f"- {kind}: the rewriter step costs {ours:.2f} µs against {theirs:.2f} µs "
            f"for aiortc's parse + serialize ({theirs / ours:.1f}x)."
        )
    update_section("rtp", "\n".join(lines))


if __name__ == "__main__":
    main()
