"""UpTrack, DownTrack and DownSlot without the network: fan-out, keyframe
gating, slow subscribers, forwarding stopped and resumed, subscriptions
switched under one sender."""

import asyncio

import pytest
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError

from sfu.speaker import SpeakerDetector
from sfu.tracks import DOWN_QUEUE_FRAMES, PLI_RETRY, DownSlot, DownTrack, UpTrack

KEY, DELTA = b"\x00keyframe", b"\x01delta"


def _video_up():
    plis: list[int] = []

    async def send_pli(ssrc: int) -> None:
        plis.append(ssrc)

    up = UpTrack(owner_id="ann", kind="video", source="cam", send_pli=send_pli)
    up.ssrc = 1234
    return up, plis


async def _new_subscriber():
    """A video UpTrack with one subscriber, who has just asked for a keyframe."""
    up, plis = _video_up()
    down = DownTrack(up)
    up.subscribe(down)
    await asyncio.sleep(0)
    assert plis == [1234]
    return up, down, plis


async def test_subscriber_waits_for_a_keyframe_and_one_is_requested_at_once():
    up, down, _plis = await _new_subscriber()
    up.on_frame(JitterFrame(DELTA, 1))
    assert down._queue.qsize() == 0 and down.dropped == 1
    up.on_frame(JitterFrame(KEY, 2))
    up.on_frame(JitterFrame(DELTA, 3))
    assert down._queue.qsize() == 2


async def test_keyframe_requests_are_rate_limited_but_never_lost():
    up, plis = _video_up()
    for _ in range(10):
        up.request_keyframe()
    await asyncio.sleep(0)
    assert plis == [1234]
    await asyncio.sleep(0.3)
    assert plis == [1234, 1234]  # the coalesced request went out after the interval


async def test_a_lost_keyframe_request_is_repeated_while_a_subscriber_waits():
    up, down, plis = await _new_subscriber()
    # No keyframe comes (the PLI was lost): delta frames for a while.
    up.on_frame(JitterFrame(DELTA, 1))
    await asyncio.sleep(0)
    assert plis == [1234]  # not yet: the request may still be answered
    up._last_pli -= PLI_RETRY  # as if a second had passed
    up.on_frame(JitterFrame(DELTA, 2))
    await asyncio.sleep(0)
    assert plis == [1234, 1234]
    up.on_frame(JitterFrame(KEY, 3))
    up._last_pli -= PLI_RETRY
    up.on_frame(JitterFrame(DELTA, 4))
    await asyncio.sleep(0)
    assert plis == [1234, 1234]  # flowing: nobody waits, nothing to ask
    assert down._queue.qsize() == 2


async def test_slow_subscriber_is_dropped_to_the_next_keyframe():
    up, plis = _video_up()
    slow, fast = DownTrack(up), DownTrack(up)
    up.subscribe(slow)
    up.subscribe(fast)
    up.on_frame(JitterFrame(KEY, 0))
    for n in range(DOWN_QUEUE_FRAMES["video"] + 5):
        up.on_frame(JitterFrame(DELTA, n + 1))
        while not fast._queue.empty():  # the fast one keeps up
            fast._queue.get_nowait()
    assert (
        slow.waiting_for_keyframe and slow._queue.qsize() < DOWN_QUEUE_FRAMES["video"]
    )
    assert not fast.waiting_for_keyframe
    await asyncio.sleep(0.3)
    assert len(plis) >= 2  # and it asked for the keyframe it needs


async def test_a_track_that_stops_forwarding_drops_what_is_queued_and_resumes_at_a_keyframe():
    up, _ = _video_up()
    down = DownTrack(up)
    up.subscribe(down)
    up.on_frame(JitterFrame(KEY, 0))
    up.on_frame(JitterFrame(DELTA, 1))
    up.set_forwarding(False)
    assert down._queue.qsize() == 0  # not one more frame leaves
    up.on_frame(JitterFrame(KEY, 2))
    up.on_frame(JitterFrame(DELTA, 3))
    assert down._queue.qsize() == 0
    up.set_forwarding(True)
    up.on_frame(JitterFrame(DELTA, 4))
    assert down._queue.qsize() == 0
    up.on_frame(JitterFrame(KEY, 5))
    assert down._queue.qsize() == 1


async def test_ended_publisher_ends_its_subscribers():
    up, _ = _video_up()
    down = DownTrack(up)
    up.subscribe(down)
    up.on_frame(None)
    assert up.ended and up.subscribers == []
    assert await down._queue.get() is None


def test_speaker_hysteresis():
    detector = SpeakerDetector()
    now = 100.0
    assert detector.tick([("ann", 30, now), ("ben", 80, now)], now) == "ann"
    # Ben is a little louder for a moment: no flicker.
    assert detector.tick([("ann", 30, now), ("ben", 28, now)], now) is None
    # Ben is clearly louder, for long enough: he takes over.
    results = [
        detector.tick([("ann", 40, now), ("ben", 20, now)], now) for _ in range(3)
    ]
    assert results == [None, None, "ben"]
    # Silence and stale levels change nothing.
    assert detector.tick([("ann", 127, now), ("ben", 20, now - 5)], now) is None
    assert detector.current == "ben"


def _rtp(seq: int, ts: int, data: bytes = b"\x01x"):
    from aiortc.rtp import RtpPacket

    packet = RtpPacket(sequence_number=seq, timestamp=ts)
    packet._data = data
    return packet


def test_video_buffer_gives_up_on_a_lost_packet_and_resyncs(monkeypatch):
    from sfu import forwarding

    clock = [100.0]
    monkeypatch.setattr(forwarding.time, "monotonic", lambda: clock[0])
    losses = []
    buffer = forwarding.VideoForwardBuffer(
        on_loss=lambda: losses.append(1), max_wait=0.2
    )
    assert buffer.add(_rtp(1, 1000, b"\x00key"))[1] is None
    pli, frame = buffer.add(_rtp(2, 2000))  # frame 1000 complete
    assert frame.timestamp == 1000 and not pli
    # Packet 3 (rest of frame 2000) is lost; frames 3000 and 4000 arrive.
    buffer.add(_rtp(4, 3000))
    assert buffer.add(_rtp(5, 4000))[1] is None  # still waiting for packet 3...
    clock[0] += 0.3
    pli, frame = buffer.add(_rtp(6, 5000))  # ...but not for ever
    assert pli and losses
    assert frame is not None and frame.timestamp == 3000


async def test_a_slot_forwards_whichever_subscription_it_is_bound_to():
    """A sender's DownSlot outlives its subscriptions: it waits while unbound,
    forwards the bound DownTrack, and goes on to the next when one ends."""
    switches = []
    slot = DownSlot("video", on_switch=lambda: switches.append(1))
    first_up, _ = _video_up()
    first = DownTrack(first_up)
    first_up.subscribe(first)
    first_up.on_frame(JitterFrame(KEY, 1))
    reading = asyncio.ensure_future(slot.recv())
    await asyncio.sleep(0.01)
    assert not reading.done()  # unbound: nothing is sent, however much waits
    slot.bind(first)
    assert bytes(await reading) == KEY and switches == [1]

    reading = asyncio.ensure_future(slot.recv())
    await asyncio.sleep(0.01)
    slot.unbind()
    first.stop()  # the subscription ends while the sender waits on it
    second_up, _ = _video_up()
    second = DownTrack(second_up)
    second_up.subscribe(second)
    second_up.on_frame(JitterFrame(KEY + b"2", 7))
    await asyncio.sleep(0.01)
    assert not reading.done()
    slot.bind(second)
    assert bytes(await reading) == KEY + b"2" and switches == [1, 1]
    assert first_up.subscribers == []  # nothing holds the first publisher

    reading = asyncio.ensure_future(slot.recv())
    await asyncio.sleep(0.01)
    slot.stop()  # the connection closes
    with pytest.raises(MediaStreamError):
        await reading


async def test_a_slot_keyframe_request_goes_to_the_bound_publisher_only():
    slot = DownSlot("video")
    up, plis = _video_up()
    down = DownTrack(up)
    slot.request_keyframe()  # unbound: nobody to ask
    slot.bind(down)
    slot.request_keyframe()
    await asyncio.sleep(0)
    assert plis == [1234]
