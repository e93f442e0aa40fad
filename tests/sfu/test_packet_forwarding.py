"""The packet path (``SFU(forwarding="packets")``) with real aiortc peers:
each RTP packet is rewritten per subscriber and sent on, with no frame
assembly in the SFU. What a subscriber's aiortc gets is read at its DTLS
transport (``_handle_rtp_data``, just after SRTP), where a test can also
drop a packet as a lossy network would."""

from __future__ import annotations

import asyncio
import itertools
import struct
from dataclasses import dataclass, field

import pytest

from sfu.ingress import Ingress, latency_samples
from sfu.rtp import is_vp8_keyframe, payload_bounds
from sfu.sfu import SFU
from tests.media import MediaClient, Switchboard
from tests.sfu.test_sfu import wait_until

_FIXED = struct.Struct("!BBHII")


@pytest.fixture
async def sfu():
    server = SFU(deliver=Switchboard(), forwarding="packets")
    yield server
    await server.close()


@dataclass
class Wire:
    """What a subscriber's transport received: (payload type, sequence
    number, timestamp, keyframe start) by SSRC, in order of arrival."""

    packets: dict[int, list[tuple[int, int, int, bool]]] = field(default_factory=dict)
    # The first two payload bytes of each packet (an RTX packet's original
    # sequence number), by SSRC.
    heads: dict[int, list[int]] = field(default_factory=dict)
    drop: set[tuple[int, int]] = field(default_factory=set)  # (ssrc, seq) once
    dropped: list[tuple[int, int]] = field(default_factory=list)


def tap_wire(client: MediaClient) -> Wire:
    """Record (and drop what ``drop`` names) at ``client``'s down transport."""
    wire = Wire()
    dtls = client.down.getTransceivers()[0].receiver.transport
    handle = dtls._handle_rtp_data

    async def observe(data: bytes, arrival_time_ms: int) -> None:
        _, m_pt, seq, ts, ssrc = _FIXED.unpack_from(data)
        if (ssrc, seq) in wire.drop:
            wire.drop.discard((ssrc, seq))
            wire.dropped.append((ssrc, seq))
            return
        start, end = payload_bounds(data)
        key = is_vp8_keyframe(data, start, end)
        wire.packets.setdefault(ssrc, []).append((m_pt & 0x7F, seq, ts, key))
        if end - start >= 2:
            wire.heads.setdefault(ssrc, []).append(data[start] << 8 | data[start + 1])
        await handle(data, arrival_time_ms)

    dtls._handle_rtp_data = observe
    return wire


def _section(client: MediaClient, owner_id: str, source: str) -> str:
    mid = client.mid_of(owner_id, source)
    sdp = client.down.remoteDescription.sdp
    return next(s for s in sdp.split("\nm=") if f"a=mid:{mid}\r" in s)


def ssrc_of(client: MediaClient, owner_id: str, source: str) -> int:
    """The SSRC of the m-section carrying ``source`` of ``owner_id``."""
    section = _section(client, owner_id, source)
    line = next(ln for ln in section.splitlines() if ln.startswith("a=ssrc:"))
    return int(line.split()[0].split(":")[1])


def rtx_ssrc_of(client: MediaClient, owner_id: str, source: str) -> int:
    section = _section(client, owner_id, source)
    line = next(ln for ln in section.splitlines() if ln.startswith("a=ssrc-group:FID"))
    return int(line.split()[2])


async def _subscribed(client: MediaClient) -> None:
    """``client`` has a down connection with its m-sections."""
    await wait_until(lambda: client.down is not None and client.down.getTransceivers())


def media(wire: Wire, ssrc: int, payload_type: int | None = None) -> list:
    """The packets of ``ssrc`` (the media stream, not RTX)."""
    packets = wire.packets.get(ssrc, [])
    return [p for p in packets if payload_type is None or p[0] == payload_type]


def assert_continuous(packets: list) -> None:
    """Sequence numbers one apart, timestamps never going back (mod 2**32)."""
    assert packets
    for (_, seq_a, ts_a, _), (_, seq_b, ts_b, _) in itertools.pairwise(packets):
        assert (seq_b - seq_a) & 0xFFFF == 1, (seq_a, seq_b)
        assert (ts_b - ts_a) & 0xFFFFFFFF < 1 << 31, (ts_a, ts_b)


async def _close(*clients: MediaClient) -> None:
    for client in clients:
        await client.close()


async def test_a_subscriber_decodes_what_the_packet_path_forwards(sfu):
    ann = MediaClient(sfu, 1, "ann")
    ben = MediaClient(sfu, 1, "ben", decode=True, video=False, audio=False)
    await ann.join()
    await ben.join()
    await wait_until(
        lambda: (
            ben.frames_from("ann", "cam") > 20 and ben.frames_from("ann", "mic") > 20
        ),
        timeout=10,
    )
    assert ben.received["cam-ann"].sizes[-1] == (320, 240)  # decoded by libvpx
    # Forwarded by the packet path: aiortc's receiver in the SFU saw nothing.
    up = sfu.rooms[1].peers["ann"].published["cam"]
    assert up.frames_in == 0 and up.cache is not None
    # Read in the ICE sockets' callbacks, not through aioice's queue.
    dtls = sfu.rooms[1].peers["ann"].up.getTransceivers()[0].receiver.transport
    protocols = dtls.transport._connection._protocols
    assert protocols and all("datagram_received" in vars(p) for p in protocols)
    assert latency_samples, "the time packets spend inside is sampled"
    await _close(ann, ben)


async def test_numbering_stays_continuous_across_a_mute_and_unmute(sfu):
    """A moderator stops Ann's microphone and camera for a second: Ben's
    down tracks go on one sequence number after the other, timestamps move
    on by about the time that passed, and video resumes at a keyframe."""
    ann = MediaClient(sfu, 1, "ann")
    ben = MediaClient(sfu, 1, "ben", video=False, audio=False)
    await ann.join()
    await ben.join()
    await _subscribed(ben)
    wire = tap_wire(ben)
    await wait_until(lambda: ben.frames_from("ann", "cam") > 10)
    await sfu.set_allowed(room_id=1, participant_id="ann", allowed=frozenset())
    await asyncio.sleep(1.0)
    keyframe_at = {ssrc: len(p) for ssrc, p in wire.packets.items()}
    await sfu.set_allowed(
        room_id=1, participant_id="ann", allowed=frozenset({"mic", "cam"})
    )
    video, audio = ssrc_of(ben, "ann", "cam"), ssrc_of(ben, "ann", "mic")
    await wait_until(
        lambda: (
            len(wire.packets[video]) > keyframe_at[video] + 30
            and len(wire.packets[audio]) > keyframe_at[audio] + 20
        )
    )
    for ssrc, clock in ((video, 90000), (audio, 48000)):
        packets = media(wire, ssrc)
        assert_continuous(packets)
        # The mute: one step of its timestamps spans the second that passed.
        gap = packets[keyframe_at[ssrc] - 1 : keyframe_at[ssrc] + 1]
        step = (gap[1][2] - gap[0][2]) & 0xFFFFFFFF
        assert 0.9 * clock < step < 1.5 * clock, step
    # Video resumed at the start of a keyframe.
    assert wire.packets[video][keyframe_at[video]][3] is True
    await _close(ann, ben)


async def test_a_switch_to_another_publisher_resumes_at_a_keyframe(sfu):
    """Ann leaves; Bob's tracks take her m-sections at Host's: the same
    SSRCs go on numbering from where Ann's packets stopped, and Bob's video
    starts with a keyframe."""
    host = MediaClient(sfu, 1, "host", video=False, audio=False)
    ann = MediaClient(sfu, 1, "ann")
    await host.join()
    await ann.join()
    await _subscribed(host)
    wire = tap_wire(host)
    await wait_until(lambda: host.frames_from("ann", "cam") > 10)
    video, audio = ssrc_of(host, "ann", "cam"), ssrc_of(host, "ann", "mic")
    await ann.leave()
    down = sfu.rooms[1].peers["host"].down
    await wait_until(lambda: host.received and not host._by_mid)  # inactive...
    await wait_until(lambda: down.signalingState == "stable")  # ...and answered
    await asyncio.sleep(0.3)
    switch_at = {ssrc: len(p) for ssrc, p in wire.packets.items()}
    bob = MediaClient(sfu, 1, "bob")
    await bob.join()
    await wait_until(lambda: host.frames_from("bob", "cam") > 10, timeout=5)
    assert ssrc_of(host, "bob", "cam") == video  # the same m-section
    assert ssrc_of(host, "bob", "mic") == audio
    for ssrc in (video, audio):
        assert len(wire.packets[ssrc]) > switch_at[ssrc]
        assert_continuous(media(wire, ssrc))
    assert wire.packets[video][switch_at[video]][3] is True  # Bob's first: a keyframe
    assert host.received["cam-bob"].first_was_keyframe is True
    await _close(bob, host)


async def test_a_publisher_reconnecting_keeps_each_down_track_numbered_on(sfu):
    """Ann's browser reconnects (her old connections close, she joins again
    with new SSRCs): whichever m-section of Host's carries her now, what
    Host receives on it goes on one sequence number after the other,
    timestamps never go back, and her video resumes at a keyframe."""
    host = MediaClient(sfu, 1, "host", video=False, audio=False)
    ann = MediaClient(sfu, 1, "ann")
    await host.join()
    await ann.join()
    await _subscribed(host)
    wire = tap_wire(host)
    await wait_until(lambda: host.frames_from("ann", "cam") > 10)
    first = host.received["cam-ann"]
    sections = ssrc_of(host, "ann", "cam"), ssrc_of(host, "ann", "mic")
    old_ssrc = {s: ann.senders[s]._ssrc for s in ("cam", "mic")}
    await ann.drop()
    again = MediaClient(sfu, 1, "ann")
    await again.join()
    assert {s: again.senders[s]._ssrc for s in ("cam", "mic")} != old_ssrc
    await wait_until(
        lambda: (
            host.received["cam-ann"] is not first
            and host.frames_from("ann", "cam") > 10
            and host.frames_from("ann", "mic") > 10
        ),
        timeout=10,
    )
    video, audio = ssrc_of(host, "ann", "cam"), ssrc_of(host, "ann", "mic")
    # Her m-sections were kept: the numbering crossed from her old SSRCs to
    # her new ones on the same down tracks.
    assert (video, audio) == sections
    for ssrc in (video, audio):
        assert_continuous(media(wire, ssrc))
    # Her new camera's first frame at Host's was a keyframe.
    assert host.received["cam-ann"].first_was_keyframe is True
    await _close(again, host)


async def test_a_packet_lost_on_the_subscribers_leg_is_retransmitted(sfu):
    """A video packet to Ben is lost on the way: Ben NACKs it, the SFU sends
    it again (RTX) from its cache, Ben decodes on, and Ann is never asked
    for a keyframe for it."""
    ann = MediaClient(sfu, 1, "ann")
    ben = MediaClient(sfu, 1, "ben", decode=True, video=False, audio=False)
    await ann.join()
    await ben.join()
    await _subscribed(ben)
    wire = tap_wire(ben)
    await wait_until(lambda: ben.frames_from("ann", "cam") > 20, timeout=10)
    await asyncio.sleep(0.5)  # past the keyframe requests of joining
    video, rtx = ssrc_of(ben, "ann", "cam"), rtx_ssrc_of(ben, "ann", "cam")
    keyframe_requests = ann.tracks["cam"].keyframe_requests
    lost = (wire.packets[video][-1][1] + 10) & 0xFFFF
    wire.drop.add((video, lost))
    await wait_until(lambda: wire.dropped == [(video, lost)])
    await wait_until(lambda: lost in wire.heads.get(rtx, []))
    frames = ben.frames_from("ann", "cam")
    await wait_until(lambda: ben.frames_from("ann", "cam") > frames + 20)
    outbound = sfu.rooms[1].peers["ben"].subscriptions["cam-ann"][1].outbound
    assert outbound.retransmitted >= 1
    assert ann.tracks["cam"].keyframe_requests == keyframe_requests
    await _close(ann, ben)


async def test_rtcp_both_ways_sender_and_receiver_reports_and_nacks(sfu):
    """The SFU's RTCP without aiortc's receive path: Ben gets sender reports
    for his down track; Ann gets the SFU's receiver reports; a packet lost
    on Ann's leg is NACKed by the SFU and Ann's retransmission reaches Ben."""
    ann = MediaClient(sfu, 1, "ann")
    ben = MediaClient(sfu, 1, "ben", decode=True, video=False, audio=False)
    await ann.join()
    await ben.join()
    await _subscribed(ben)
    await wait_until(lambda: ben.frames_from("ann", "cam") > 20, timeout=10)
    # Drop one of Ann's video packets as it reaches the SFU.
    cam = ann.senders["cam"]
    dtls = sfu.rooms[1].peers["ann"].up.getTransceivers()[0].receiver.transport
    # Where each packet goes once unprotected, from the socket's callback
    # (or aiortc's _handle_rtp_data for the first ones).
    ingress = Ingress.of(dtls)
    dispatch = ingress.dispatch
    lost: list[int] = []

    def lossy(data: bytes, now: float) -> None:
        _, _, seq, _, ssrc = _FIXED.unpack_from(data)
        if ssrc == cam._ssrc and not lost:
            lost.append(seq)
            return
        dispatch(data, now)

    nacked: list[int] = []
    retransmit = cam._retransmit

    async def recording(seq: int) -> None:
        nacked.append(seq & 0xFFFF)
        await retransmit(seq)

    cam._retransmit = recording
    wire = tap_wire(ben)
    ingress.dispatch = lossy
    await wait_until(lambda: lost and lost[0] in nacked)
    video = ssrc_of(ben, "ann", "cam")
    await wait_until(lambda: len(wire.packets.get(video, [])) > 30)
    # What Ann sent again went on to Ben, late: no hole in his numbering.
    seqs = [p[1] for p in media(wire, video)]
    relative = sorted({((s - seqs[0] + 0x8000) & 0xFFFF) - 0x8000 for s in seqs})
    assert relative == list(range(relative[0], relative[0] + len(relative)))

    async def stats(report_of, kind: str) -> list:
        return [s for s in (await report_of.getStats()).values() if s.type == kind]

    down = next(
        t.receiver
        for t in ben.down.getTransceivers()
        if t.mid == ben.mid_of("ann", "cam")
    )
    for _ in range(60):  # reports go out every 0.5 to 1.5 s
        sent = await stats(down, "remote-outbound-rtp")
        received = await stats(cam, "remote-inbound-rtp")
        if sent and received and received[0].packetsReceived > 0:
            break
        await asyncio.sleep(0.1)
    assert sent and sent[0].packetsSent > 0  # the SFU's sender report
    assert received and received[0].packetsReceived > 0  # its receiver report

    # What Ben reports receiving shows in the SFU's stats, per down track,
    # with a round trip once one of the SFU's sender reports came back.
    def ben_reports() -> dict | None:
        tracks = sfu.stats()["peers"][1]["ben"]["down_tracks"]
        return tracks["cam-ann"]["received"]

    await wait_until(lambda: (ben_reports() or {}).get("rtt_ms") is not None)
    report = ben_reports()
    assert 0 <= report["fraction_lost"] <= 1 and report["jitter_ms"] >= 0
    assert 0 <= report["rtt_ms"] < 1000
    assert sfu.stats()["peers"][1]["ben"]["down_tracks"]["cam-ann"]["sent"] > 30
    await _close(ann, ben)
