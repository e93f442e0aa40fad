"""The SFU forwards what the server allows, whatever the client sends: real
aiortc peers, and the RTP packets a subscriber actually receives."""

from __future__ import annotations

import asyncio

import pytest

from sfu.api import SOURCES
from sfu.sfu import SFU
from tests.media import MediaClient, Switchboard, sending_tracks
from tests.sfu.test_sfu import wait_until

# What arrives after a change was on its way before it (loopback: little).
SETTLE = 0.2
# How long "nothing arrives" is watched for.
WATCH = 1.2


@pytest.fixture
async def sfu():
    server = SFU(deliver=Switchboard())
    yield server
    await server.close()


async def _close(*clients: MediaClient) -> None:
    for client in clients:
        await client.close()


def _offered_track_ids(client: MediaClient) -> set[str]:
    """Track ids the SFU's last offer to ``client`` sends."""
    if client.down is None or client.down.remoteDescription is None:
        return set()  # not offered anything yet
    sdp = client.down.remoteDescription.sdp
    return {track_id for _kind, track_id in sending_tracks(sdp).values()}


async def test_a_publisher_demoted_to_viewer_sends_on_and_reaches_no_one(sfu):
    ben = MediaClient(sfu, 1, "ben", audio=False, video=False)
    ann = MediaClient(sfu, 1, "ann")
    await ben.join()
    await ann.join()
    # Positive control: Ann's microphone and camera reach Ben.
    await wait_until(
        lambda: (
            ben.packets_from("ann", "cam") > 30 and ben.packets_from("ann", "mic") > 30
        )
    )
    await sfu.set_allowed(room_id=1, participant_id="ann", allowed=frozenset())
    assert sfu.forwarded_sources(1, "ann") == frozenset()
    assert sfu.allowed_sources(1, "ann") == frozenset()
    await asyncio.sleep(SETTLE)
    received = ben.packets_from("ann", "cam"), ben.packets_from("ann", "mic")
    sent = ann.packets_sent("cam"), ann.packets_sent("mic")
    await asyncio.sleep(WATCH)
    # Her client sent on (a hacked client ignores its new role)...
    assert ann.packets_sent("cam") > sent[0] + 20
    assert ann.packets_sent("mic") > sent[1] + 20
    # ...and not one packet of it reached Ben.
    assert (ben.packets_from("ann", "cam"), ben.packets_from("ann", "mic")) == received
    # Nor a newcomer.
    cat = MediaClient(sfu, 1, "cat", audio=False, video=False)
    await cat.join()
    await asyncio.sleep(WATCH)
    assert cat.packets_from("ann", "cam") == cat.packets_from("ann", "mic") == 0
    await _close(ann, ben, cat)


async def test_a_screen_offered_while_not_allowed_is_never_forwarded(sfu):
    """Ann may not share her screen (her role, the room's policy) but her
    client sends one: Ben gets her camera, and not a packet of the screen;
    he is not even offered it (no empty screen tile). Allowed later, it
    reaches him."""
    ben = MediaClient(sfu, 1, "ben", audio=False, video=False)
    await ben.join()
    ann = MediaClient(sfu, 1, "ann", screen=True, allowed=frozenset({"mic", "cam"}))
    await ann.join()
    await wait_until(lambda: ben.packets_from("ann", "cam") > 30)  # the camera is
    await asyncio.sleep(WATCH)
    assert ann.packets_sent("screen") > 20
    assert ben.packets_from("ann", "screen") == ben.frames_from("ann", "screen") == 0
    assert "screen-ann" not in _offered_track_ids(ben)
    # No m-section but her microphone's and camera's ever got a packet.
    assert set(ben.mid_packets) == {ben.mid_of("ann", "mic"), ben.mid_of("ann", "cam")}
    assert sfu.forwarded_sources(1, "ann") == {"mic", "cam"}

    await sfu.set_allowed(room_id=1, participant_id="ann", allowed=SOURCES)
    await wait_until(lambda: ben.frames_from("ann", "screen") > 10)
    assert sfu.forwarded_sources(1, "ann") == SOURCES
    await _close(ann, ben)


async def test_the_set_an_offer_carries_holds_before_its_tracks_forward(sfu):
    """Joined as a publisher, Ann is made a viewer just as her first offer
    goes out: it carries the new set, and not one packet of hers is ever
    forwarded."""
    ben = MediaClient(sfu, 1, "ben", audio=False, video=False)
    await ben.join()
    ann = MediaClient(sfu, 1, "ann")
    await ann.join(publish=False)
    ann.allowed = frozenset()
    await ann.publish()
    await wait_until(lambda: {"cam-ann", "mic-ann"} <= _offered_track_ids(ben))
    await asyncio.sleep(WATCH)
    assert ann.packets_sent("cam") > 20
    assert sum(ben.mid_packets.values()) == 0
    await _close(ann, ben)


@pytest.mark.parametrize("when", ["first offer", "after the stop"])
async def test_a_camera_claimed_as_the_screen_is_not_forwarded_once_video_is_stopped(
    sfu, when
):
    """A moderator stopped Ann's video (camera and screen). Her client sends
    its camera and names it as its screen: nothing of it reaches Ben, while
    her microphone does."""
    ben = MediaClient(sfu, 1, "ben", audio=False, video=False)
    await ben.join()
    audio_only = frozenset({"mic"})
    if when == "first offer":
        ann = MediaClient(sfu, 1, "ann", allowed=audio_only, claim_screen="cam")
        await ann.join()
    else:
        ann = MediaClient(sfu, 1, "ann")
        await ann.join()
        await wait_until(lambda: ben.packets_from("ann", "cam") > 30)
        await sfu.set_allowed(room_id=1, participant_id="ann", allowed=audio_only)
        ann.allowed, ann.claim_screen = audio_only, "cam"
        await ann.renegotiate()
    await wait_until(lambda: ben.packets_from("ann", "mic") > 30)  # audio is
    assert sfu.forwarded_sources(1, "ann") == {"mic"}
    await asyncio.sleep(SETTLE)
    video = {
        mid: n for mid, n in ben.mid_packets.items() if mid != ben.mid_of("ann", "mic")
    }
    await asyncio.sleep(WATCH)
    assert ann.packets_sent("cam") > 20
    assert {
        mid: n for mid, n in ben.mid_packets.items() if mid != ben.mid_of("ann", "mic")
    } == video
    assert ben.frames_from("ann", "screen") == 0
    await _close(ann, ben)


async def test_allowed_and_forwarded_sources_of_someone_the_sfu_does_not_know(sfu):
    assert sfu.allowed_sources(1, "nobody") is None
    assert sfu.forwarded_sources(1, "nobody") == frozenset()
    # Control calls about someone unknown are no one's error.
    await sfu.set_allowed(room_id=1, participant_id="nobody", allowed=SOURCES)
    await sfu.end_share(room_id=1, participant_id="nobody")
    assert sfu.rooms == {}
