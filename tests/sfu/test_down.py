"""A subscriber's down connection recycles m-sections as people come and go,
and keeps nothing of those who have gone."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref

import pytest
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)

from sfu.down import Downlink
from sfu.sfu import SFU
from sfu.tracks import UpTrack
from tests.media import MediaClient, Switchboard, sending_tracks
from tests.sfu.test_sfu import wait_until


@pytest.fixture
async def sfu():
    server = SFU(deliver=Switchboard())
    yield server
    await server.close()


def _mids(client: MediaClient) -> dict[str, tuple[str, str]]:
    return sending_tracks(client.down.remoteDescription.sdp)


def _m_sections(client: MediaClient) -> int:
    return client.down.remoteDescription.sdp.count("\nm=")


async def _answered(sfu, participant_id: str) -> None:
    """The participant has answered the SFU's latest down offer."""
    down = sfu.rooms[1].peers[participant_id].down
    await wait_until(lambda: down.signalingState == "stable")


async def test_the_next_track_of_a_kind_takes_over_an_ended_tracks_m_section(sfu):
    """Ann leaves; Bob's microphone and camera take her m-sections at Host's
    (same mids, new msids), and Host decodes Bob on them."""
    host = MediaClient(sfu, 1, "host", decode=True)
    ann = MediaClient(sfu, 1, "ann")
    await host.join()
    await ann.join()
    await wait_until(lambda: host.frames_from("ann", "cam") > 5)
    ann_mids = {track_id: mid for mid, (_kind, track_id) in _mids(host).items()}
    await ann.leave()
    await wait_until(lambda: _mids(host) == {})  # offered inactive...
    await _answered(sfu, "host")  # ...and answered: free to reuse

    bob = MediaClient(sfu, 1, "bob")
    await bob.join()
    await wait_until(lambda: host.frames_from("bob", "cam") > 10, timeout=5)
    bob_mids = {track_id: mid for mid, (_kind, track_id) in _mids(host).items()}
    assert bob_mids == {"mic-bob": ann_mids["mic-ann"], "cam-bob": ann_mids["cam-ann"]}
    assert _m_sections(host) == 2
    assert host.received["cam-bob"].sizes[-1] == (320, 240)  # decoded
    assert host.frames_from("bob", "mic") > 10
    msids = [
        line
        for line in host.down.remoteDescription.sdp.splitlines()
        if line.startswith("a=msid:")
    ]
    assert len(msids) == len(set(msids))
    await bob.leave()
    await host.leave()


async def test_a_reused_m_section_waits_for_a_keyframe_and_asks_for_one(sfu):
    """Bob's camera starts mid-GOP (as after a lost keyframe), and sends its
    next keyframe only when asked: Host, on Ann's old m-section, gets a
    keyframe first, within a second, because the SFU asked Bob for it."""
    host = MediaClient(sfu, 1, "host", audio=False, video=False)
    ann = MediaClient(sfu, 1, "ann")
    await host.join()
    await ann.join()
    await wait_until(lambda: host.frames_from("ann", "cam") > 5)
    await ann.leave()
    await wait_until(lambda: _mids(host) == {})
    await _answered(sfu, "host")

    bob = MediaClient(sfu, 1, "bob")
    camera = bob.tracks["cam"]
    # One keyframe in its loop, two seconds off, unless asked for.
    camera._frames = [f for n, f in enumerate(camera._frames) if n == 0 or not f[1]]
    camera._index = 1
    started = time.monotonic()
    await bob.join()
    await wait_until(lambda: host.frames_from("bob", "cam") > 0, timeout=3)
    assert _m_sections(host) == 2  # it did reuse
    record = host.received["cam-bob"]
    assert record.first_was_keyframe is True
    assert record.first_at - started < 1.0
    assert camera.keyframe_requests >= 1
    # And the subscriber's own PLI still reaches the publisher.
    await asyncio.sleep(0.3)
    before = camera.keyframe_requests
    transceiver, _down = sfu.rooms[1].peers["host"].subscriptions["cam-bob"]
    transceiver.sender._send_keyframe()
    await wait_until(lambda: camera.keyframe_requests > before, timeout=2)
    await bob.leave()
    await host.leave()


async def test_the_down_offer_stays_the_same_size_as_visitors_come_and_go(sfu):
    host = MediaClient(sfu, 1, "host", audio=False, video=False)
    await host.join()
    sizes = []
    for n in range(5):
        visitor = MediaClient(sfu, 1, f"visitor{n}")
        await visitor.join()
        await wait_until(lambda v=visitor: host.frames_from(v.id, "cam") > 0)
        sizes.append((_m_sections(host), sfu.stats()["peers"][1]["host"]))
        if n % 2:
            await visitor.leave()
        else:
            await visitor.drop()  # a closed tab: the SFU notices by itself
        await wait_until(lambda: _mids(host) == {})
        await _answered(sfu, "host")
    assert [m for m, _stats in sizes] == [2] * 5
    offer_bytes = [stats["offer_bytes"] for _m, stats in sizes]
    assert max(offer_bytes) - min(offer_bytes) < 100  # only ids differ
    await host.leave()


async def test_nothing_of_a_departed_publisher_is_kept(sfu):
    """Ann leaves and Ben's tab closes: while Host stays, none of their
    connections, tracks or receivers is held any more (no subscriber's
    m-section, sender or subscription refers to them)."""
    host = MediaClient(sfu, 1, "host", audio=False, video=False)
    await host.join()
    gone = []
    for name in ("ann", "ben"):
        client = MediaClient(sfu, 1, name)
        await client.join()
        await wait_until(lambda c=client: host.frames_from(c.id, "cam") > 5)
        peer = sfu.rooms[1].peers[name]
        tracks = list(peer.published.values())
        gone += [weakref.ref(o) for o in (peer, peer.up, peer.down)]
        gone += [weakref.ref(o) for t in tracks for o in (t, t.receiver)]
        gone += [weakref.ref(d) for _t, d in host_subscriptions(sfu)]
        del peer, tracks
        if name == "ann":
            await client.leave()
        else:
            await client.drop()
        del client
    await wait_until(lambda: set(sfu.rooms[1].peers) == {"host"})
    await wait_until(lambda: _mids(host) == {})
    await _answered(sfu, "host")
    await asyncio.sleep(0.2)  # the senders have seen their subscriptions end
    gc.collect()
    kept = [ref() for ref in gone if ref() is not None]
    assert kept == []
    await host.leave()


def host_subscriptions(sfu):
    return list(sfu.rooms[1].peers["host"].subscriptions.values())


# The m-section state machine, with the subscriber's answers under the test's
# control (no media flows: only descriptions are exchanged).


class _Subscriber:
    """The SDP side of a subscriber's down connection."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(
            RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )

    async def answer(self, offer: RTCSessionDescription) -> RTCSessionDescription:
        await self.pc.setRemoteDescription(offer)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription


async def _offer(downlink: Downlink) -> RTCSessionDescription:
    offer = await downlink.pc.createOffer()
    downlink.offered()
    await downlink.pc.setLocalDescription(offer)
    return downlink.pc.localDescription


async def _apply(downlink: Downlink, answer: RTCSessionDescription) -> None:
    await downlink.pc.setRemoteDescription(answer)
    assert downlink.answered() == []


def _up(owner: str) -> UpTrack:
    async def send_pli(ssrc: int) -> None:
        pass

    return UpTrack(owner_id=owner, kind="video", source="cam", send_pli=send_pli)


def _mid_of(downlink: Downlink, up: UpTrack) -> str | None:
    return downlink.subscriptions[up.id][0].mid


async def test_an_m_section_is_reused_only_after_the_subscriber_ended_its_track():
    """Never sendonly-to-sendonly under another msid: the browser would show
    no new track. A slot named in an unanswered offer waits for the answer,
    then for an inactive round."""
    downlink = Downlink(RTCPeerConnection(), "host")
    subscriber = _Subscriber()
    ann, ben, cat, dan = _up("ann"), _up("ben"), _up("cat"), _up("dan")

    downlink.subscribe(ann)
    await _apply(downlink, await subscriber.answer(await _offer(downlink)))
    assert downlink.slots[0].track.down is downlink.subscriptions["cam-ann"][1]

    downlink.unsubscribe(ann)
    downlink.subscribe(ben)  # Ann's m-section still sends, as far as it knows
    assert len(downlink.slots) == 2
    await _apply(downlink, await subscriber.answer(await _offer(downlink)))

    downlink.subscribe(cat)  # Ann's m-section, now inactive on both sides
    assert _mid_of(downlink, cat) == "0"
    offer = await _offer(downlink)  # names Cat there...
    downlink.unsubscribe(cat)  # ...who leaves before the answer
    downlink.subscribe(dan)
    assert len(downlink.slots) == 3 and _mid_of(downlink, dan) is None  # a new one
    await _apply(downlink, await subscriber.answer(offer))
    assert downlink.slots[0].track.down is None  # Cat is not sent

    await _apply(downlink, await subscriber.answer(await _offer(downlink)))
    assert downlink.slots[0].reusable
    assert downlink.slots[2].track.down is downlink.subscriptions["cam-dan"][1]
    for pc in (downlink.pc, subscriber.pc):
        await pc.close()


async def test_an_m_section_never_offered_is_reused_at_once():
    downlink = Downlink(RTCPeerConnection(), "host")
    ann, ben = _up("ann"), _up("ben")
    downlink.subscribe(ann)
    downlink.unsubscribe(ann)
    downlink.subscribe(ben)
    assert len(downlink.slots) == 1
    assert downlink.slots[0].transceiver.sender._track_id == "cam-ben"
    await downlink.pc.close()
