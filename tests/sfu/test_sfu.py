"""The SFU with real aiortc peers in one process: media is decoded for real at
the subscribers, and never decoded or encoded in the SFU."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from aiortc import rtcrtpreceiver
from aiortc.codecs import vpx

from sfu.api import SOURCES
from sfu.forwarding import OpusPacker, Vp8Packer, check_hooks
from sfu.sfu import SFU
from tests.media import MediaClient, Switchboard


async def wait_until(condition, timeout: float = 5.0, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


@pytest.fixture
async def sfu():
    server = SFU(deliver=Switchboard())
    yield server
    await server.close()


@pytest.fixture(params=["frames", "packets"])
async def either_path(request):
    """The frame path (the default) and the packet path
    (SFU_FORWARDING=packets): the core promises hold on both."""
    server = SFU(deliver=Switchboard(), forwarding=request.param)
    yield server
    await server.close()


async def _room(sfu, names, **kwargs) -> list[MediaClient]:
    clients = [MediaClient(sfu, 1, name, **kwargs) for name in names]
    for client in clients:
        await client.join()
    return clients


async def _close(clients) -> None:
    for client in clients:
        await client.close()


async def test_every_subscriber_decodes_every_publisher(either_path):
    """Four people: each receives three audio and three video tracks on one
    (bundled) connection, and libvpx/libopus decode all of them."""
    sfu = either_path
    clients = await _room(sfu, ["ann", "ben", "cat", "dan"], decode=True)
    pairs = [(c, o) for c in clients for o in clients if o is not c]

    def all_flowing() -> bool:
        return all(
            c.frames_from(o.id, "cam") >= 20 and c.frames_from(o.id, "mic") >= 30
            for c, o in pairs
        )

    await wait_until(all_flowing, timeout=10)
    for client, other in pairs:
        video = client.received[f"cam-{other.id}"]
        assert video.sizes[-1] == (320, 240)  # decoded pictures, not bytes
    await _close(clients)


async def test_a_publishers_microphone_and_camera_come_in_one_offer(sfu):
    ben = MediaClient(sfu, 1, "ben", audio=False, video=False)
    await ben.join()
    ann = MediaClient(sfu, 1, "ann")
    await ann.join()
    await wait_until(
        lambda: ben.frames_from("ann", "cam") > 5 and ben.frames_from("ann", "mic") > 5
    )
    # A second round would renegotiate while the connection is still being
    # set up, for nothing.
    assert ben.offers == 1
    await _close([ann, ben])


async def test_late_joiner_sees_every_publisher_within_a_second(sfu):
    early = await _room(sfu, ["ann", "ben"])
    await asyncio.sleep(1.3)  # mid-GOP: the next natural keyframe is far off
    late = MediaClient(sfu, 1, "cat")
    started = time.monotonic()
    await late.join()
    await wait_until(
        lambda: all(late.frames_from(c.id, "cam") for c in early), timeout=3
    )
    for publisher in early:
        first = late.received[f"cam-{publisher.id}"].first_at - started
        assert first < 1.0, f"first frame from {publisher.id} after {first:.2f} s"
        # ...because the SFU asked the publisher for a keyframe at once.
        assert publisher.tracks["cam"].keyframe_requests >= 1
        assert late.received[f"cam-{publisher.id}"].keyframes >= 1
    await _close([*early, late])


async def test_no_delta_frame_reaches_a_subscriber_before_a_keyframe(sfu):
    early = await _room(sfu, ["ann"])
    for delay in (0.5, 0.8):  # joining at different points of the GOP
        await asyncio.sleep(delay)
        late = MediaClient(sfu, 1, f"late{delay}")
        await late.join()
        await wait_until(lambda late=late: late.frames_from("ann", "cam") > 0)
        assert late.received["cam-ann"].first_was_keyframe is True
        await late.leave()
        await late.close()
    await _close(early)


async def test_a_source_not_allowed_forwards_nothing_and_comes_back_at_a_keyframe(
    either_path,
):
    """A moderator stops Ann's microphone and camera: her client sends on,
    Ben gets nothing of either; allowed again, video resumes at a keyframe."""
    sfu = either_path
    ann, ben = await _room(sfu, ["ann", "ben"])
    await wait_until(lambda: ben.frames_from("ann", "cam") > 10)
    await sfu.set_allowed(room_id=1, participant_id="ann", allowed=frozenset())
    assert sfu.forwarded_sources(1, "ann") == frozenset()
    video, audio = ben.frames_from("ann", "cam"), ben.frames_from("ann", "mic")
    sent = ann.tracks["cam"]._count
    await asyncio.sleep(1.0)
    # Ann's client kept sending all along; the SFU forwarded nothing, not
    # even what it had queued for Ben when the change came.
    assert ben.frames_from("ann", "cam") == video
    assert ben.frames_from("ann", "mic") == audio
    assert ann.tracks["cam"]._count > sent + 20
    keyframes = ben.received["cam-ann"].keyframes
    await sfu.set_allowed(room_id=1, participant_id="ann", allowed=frozenset({"cam"}))
    await wait_until(lambda: ben.frames_from("ann", "cam") > video + 5)
    assert ben.received["cam-ann"].keyframes > keyframes
    assert ben.frames_from("ann", "mic") == audio  # the microphone still is not
    await sfu.set_allowed(room_id=1, participant_id="ann", allowed=SOURCES)
    await wait_until(lambda: ben.frames_from("ann", "mic") > audio + 5)
    await _close([ann, ben])


def _chrome_like(sdp: str) -> str:
    # Chrome leaves a screen share's stream out of the WMS list, so aiortc
    # alone would not see the msid track id the client names.
    return re.sub(r"a=msid-semantic:[^\r\n]*", "a=msid-semantic: WMS", sdp)


@pytest.mark.parametrize("rewrite", [None, _chrome_like], ids=["aiortc", "chrome"])
async def test_screen_share_arrives_as_its_own_track(sfu, rewrite):
    ann = MediaClient(sfu, 1, "ann", screen=True, rewrite_offer=rewrite)
    ben = MediaClient(sfu, 1, "ben")
    await ann.join()
    await ben.join()
    await wait_until(
        lambda: (
            ben.frames_from("ann", "screen") > 10 and ben.frames_from("ann", "cam") > 10
        )
    )
    # The screen is its own stream (msid), apart from camera and microphone.
    sdp = ben.down.remoteDescription.sdp
    assert "a=msid:screen-ann screen-ann" in sdp
    assert "a=msid:ann cam-ann" in sdp and "a=msid:ann mic-ann" in sdp
    await _close([ann, ben])


@pytest.mark.parametrize("noticed", [False, True], ids=["at-once", "after-drop"])
async def test_a_returning_publisher_is_offered_without_duplicate_msids(sfu, noticed):
    ann = MediaClient(sfu, 1, "ann")
    ben = MediaClient(sfu, 1, "ben")
    await ann.join()
    await ben.join()
    await wait_until(lambda: ben.frames_from("ann", "cam") > 10)
    first = ben.received["cam-ann"]
    # Ann comes back (a reconnect): same participant id, new tracks. Her old
    # connections close; the SFU may or may not have noticed when she rejoins.
    await ann.close()
    if noticed:
        await wait_until(lambda: "ann" not in sfu.rooms[1].peers)
    again = MediaClient(sfu, 1, "ann")
    await again.join()
    # Ben gets her new camera as a new track, on the old camera's m-section
    # (recycled) or on a new one.
    await wait_until(
        lambda: (
            ben.received["cam-ann"] is not first and ben.frames_from("ann", "cam") > 5
        )
    )
    msids = [
        line
        for line in ben.down.remoteDescription.sdp.splitlines()
        if line.startswith("a=msid:")
    ]
    # Chrome refuses an offer that names one msid twice.
    assert len(msids) == len(set(msids))
    assert sum("cam-ann" in line for line in msids) == 1
    await _close([again, ben])


async def test_leave_and_close_leave_nothing_behind(sfu):
    before = {t for t in asyncio.all_tasks() if not t.done()}
    clients = await _room(sfu, ["ann", "ben", "cat"])
    await wait_until(lambda: clients[2].frames_from("ann", "cam") > 5)
    await clients[0].leave()
    # The others are told: their down connection renegotiates without Ann.
    await wait_until(lambda: "cam-ann" not in sfu.stats()["tracks"])
    assert len(sfu.rooms[1].peers) == 2
    for client in clients[1:]:
        await client.leave()
    assert sfu.rooms == {}
    assert sfu.peer_connections == set()
    await _close(clients)
    await asyncio.sleep(0.5)
    leftover = {t for t in asyncio.all_tasks() if not t.done()} - before
    leftover.discard(asyncio.current_task())
    assert leftover == set(), [t.get_coro() for t in leftover]


async def test_close_room_releases_every_connection(sfu):
    clients = await _room(sfu, ["ann", "ben"])
    await wait_until(lambda: clients[1].frames_from("ann", "cam") > 5)
    await sfu.close_room(room_id=1)
    assert sfu.rooms == {} and sfu.peer_connections == set()
    await _close(clients)


async def test_nothing_is_decoded_or_encoded_on_the_forwarding_path(sfu, monkeypatch):
    """With subscribers that only count (as the SFU does), no VP8 decoder or
    encoder exists in the whole process, and no decoder is even looked up."""
    created = {"decoders": 0, "lookups": 0, "encodes": 0}
    real_decoder_init = vpx.Vp8Decoder.__init__
    real_get_decoder = rtcrtpreceiver.get_decoder

    def counting_init(self, *args, **kwargs):
        created["decoders"] += 1
        real_decoder_init(self, *args, **kwargs)

    def counting_lookup(codec):
        created["lookups"] += 1
        return real_get_decoder(codec)

    def counting_encode(self, *args, **kwargs):
        created["encodes"] += 1
        raise AssertionError("encode called")

    monkeypatch.setattr(vpx.Vp8Decoder, "__init__", counting_init)
    monkeypatch.setattr(rtcrtpreceiver, "get_decoder", counting_lookup)
    monkeypatch.setattr(vpx.Vp8Encoder, "encode", counting_encode)
    clients = await _room(sfu, ["ann", "ben", "cat"])
    await wait_until(
        lambda: all(
            c.frames_from(o.id, "cam") > 20
            for c in clients
            for o in clients
            if o is not c
        )
    )
    assert created == {"decoders": 0, "lookups": 0, "encodes": 0}
    for peer in sfu.rooms[1].peers.values():
        for transceiver, _down in peer.subscriptions.values():
            packer = transceiver.sender._RTCRtpSender__encoder
            assert isinstance(
                packer, Vp8Packer if transceiver.kind == "video" else OpusPacker
            )
            assert getattr(packer, "codec", None) is None  # libvpx never created
    await _close(clients)


async def test_active_speaker_from_audio_levels(sfu):
    ann, ben, cat = await _room(sfu, ["ann", "ben", "cat"])
    ben.tracks["mic"].level = 25  # -25 dBov: speaking
    ann.tracks["mic"].level = 70  # quiet
    await wait_until(
        lambda: all(c.speakers[-1:] == ["ben"] for c in (ann, ben, cat)), timeout=3
    )
    ben.tracks["mic"].level = 127
    cat.tracks["mic"].level = 20
    await wait_until(lambda: cat.speakers[-1:] == ["cat"], timeout=3)
    # Events are few: on changes only.
    assert len(ann.speakers) <= 3
    await _close([ann, ben, cat])


async def test_a_mic_not_allowed_is_never_the_active_speaker(sfu):
    ann, ben = await _room(sfu, ["ann", "ben"])
    await sfu.set_allowed(room_id=1, participant_id="ann", allowed=frozenset({"cam"}))
    ann.tracks["mic"].level = 10
    await asyncio.sleep(1.2)
    assert "ann" not in ben.speakers
    await _close([ann, ben])


def test_aiortc_hooks_are_where_the_sfu_expects_them():
    """If an aiortc upgrade moves the private hooks, this fails first."""
    check_hooks()
    receiver_attrs = (
        "_RTCRtpReceiver__decoder_queue",
        "_RTCRtpReceiver__jitter_buffer",
        "_RTCRtpReceiver__rtx_ssrc",
    )
    source = rtcrtpreceiver.RTCRtpReceiver.__init__.__code__.co_names
    for attr in receiver_attrs:
        assert attr in source, attr
    from aiortc import rtcrtpsender

    assert (
        "_RTCRtpSender__encoder" in rtcrtpsender.RTCRtpSender.__init__.__code__.co_names
    )


@pytest.mark.parametrize("gap", [0, 0.005, 0.02])
async def test_two_people_reconnecting_at_once_get_each_others_media(sfu, gap):
    """A network blip drops everyone's socket: each rejoins (same participant
    id) while the other's old peer is being removed and its new one added."""
    ann, ben = await _room(sfu, ["ann", "ben"])
    await wait_until(
        lambda: ben.frames_from("ann", "mic") and ann.frames_from("ben", "mic")
    )
    ann2, ben2 = MediaClient(sfu, 1, "ann"), MediaClient(sfu, 1, "ben")

    async def ben_rejoins() -> None:
        await asyncio.sleep(gap)
        await ben2.join()

    await asyncio.gather(ann2.join(), ben_rejoins())
    await wait_until(
        lambda: all(
            client.frames_from(other, source) > 5
            for client, other in ((ann2, "ben"), (ben2, "ann"))
            for source in ("mic", "cam")
        )
    )
    assert set(sfu.rooms[1].peers) == {"ann", "ben"}
    await _close([ann, ben, ann2, ben2])


async def test_an_answer_from_an_earlier_session_is_dropped(sfu):
    """After a reconnect, the browser's answer to an offer of its previous
    session can still arrive; applied to the new peer's offer (the m-lines
    may well line up) it would leave tracks inactive for good."""
    ann, ben = await _room(sfu, ["ann", "ben"])
    await wait_until(lambda: ben.frames_from("ann", "mic") > 5)
    stale_answer = ben.down.localDescription.sdp
    offers: list[dict] = []

    async def receive(message: dict) -> None:
        offers.append(message)

    sfu.deliver.connect("ben's new tab", receive)
    await sfu.join(
        room_id=1,
        participant_id="ben",
        session="second",
        address="ben's new tab",
        allowed=SOURCES,
    )
    assert [o["session"] for o in offers if o["type"] == "sfu_offer"] == ["second"]
    await sfu.answer(
        room_id=1, participant_id="ben", sdp=stale_answer, session=ben.session
    )
    # Still waiting for the answer to the offer it made.
    assert sfu.rooms[1].peers["ben"].down.signalingState == "have-local-offer"
    await _close([ann, ben])


async def test_a_subscribers_keyframe_request_reaches_the_publisher(sfu):
    ann, ben = await _room(sfu, ["ann", "ben"])
    await wait_until(lambda: ben.frames_from("ann", "cam") > 5)
    await asyncio.sleep(0.3)  # past the PLI interval of the join itself
    before = ann.tracks["cam"].keyframe_requests
    transceiver, _down = sfu.rooms[1].peers["ben"].subscriptions["cam-ann"]
    # What aiortc calls when Ben's browser sends RTCP PLI or FIR.
    transceiver.sender._send_keyframe()
    await wait_until(lambda: ann.tracks["cam"].keyframe_requests > before, timeout=2)
    await _close([ann, ben])


async def test_keyframe_requests_name_the_stream_even_after_a_retransmission(sfu):
    """Chrome probes bandwidth with padding on its RTX SSRC and ignores a PLI
    naming that SSRC (as the publisher here does): a late joiner would wait
    for video until the next natural keyframe."""
    ann, ben = await _room(sfu, ["ann", "ben"])
    await wait_until(lambda: ben.frames_from("ann", "cam") > 5)
    camera = ann.tracks["cam"]
    sender = next(s for s in ann.up.getSenders() if s.track is camera)
    camera.hold()
    await asyncio.sleep(0.2)  # what was in flight has arrived
    # The last video packet the SFU sees is a retransmission (RTX).
    sent = sender._RTCRtpSender__rtp_history.values()
    await sender._retransmit(max(p.sequence_number for p in sent))
    await asyncio.sleep(0.1)
    requests = camera.keyframe_requests
    late = MediaClient(sfu, 1, "cat")
    await late.join()
    camera.release()
    await wait_until(lambda: late.frames_from("ann", "cam") > 0, timeout=1.0)
    assert camera.keyframe_requests > requests
    await _close([ann, ben, late])


def test_announced_address_replaces_host_candidates_only():
    sfu = SFU(deliver=Switchboard(), announced_address="203.0.113.7")
    sdp = (
        "a=candidate:1 1 udp 2130706431 192.0.2.2 40000 typ host\r\n"
        "a=candidate:2 1 udp 1694498815 198.51.100.9 40000 typ srflx"
        " raddr 192.0.2.2 rport 40000\r\n"
    )
    announced = sfu._announce(sdp)
    assert "203.0.113.7 40000 typ host" in announced
    assert "198.51.100.9 40000 typ srflx" in announced
