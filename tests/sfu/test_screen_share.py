"""Screen shares as the room page makes them: the screen transceiver is
reused for the next share (stop: no track, ``inactive``; share again:
``sendonly``, a new track, same mid), and a moderator can end a share."""

from __future__ import annotations

import asyncio

import pytest

from sfu.sfu import SFU
from tests.media import MediaClient, Switchboard, sending_tracks
from tests.sfu.test_sfu import wait_until

SETTLE, WATCH = 0.2, 1.2


@pytest.fixture
async def sfu():
    server = SFU(deliver=Switchboard())
    yield server
    await server.close()


def _offered(client: MediaClient) -> set[str]:
    if client.down is None or client.down.remoteDescription is None:
        return set()
    sdp = client.down.remoteDescription.sdp
    return {track_id for _kind, track_id in sending_tracks(sdp).values()}


def _screen_mid(client: MediaClient) -> str:
    return client._transceiver_of(client.senders["screen"]).mid


async def _decodes_share(viewer: MediaClient, before=None) -> None:
    """``viewer`` decodes (another) share of Ann's."""
    await wait_until(
        lambda: (
            viewer.received.get("screen-ann") not in (None, before)
            and viewer.frames_from("ann", "screen") > 10
        ),
        timeout=8,
    )
    assert viewer.received["screen-ann"].sizes[-1] == (320, 240)


@pytest.mark.parametrize("bye", [False, True], ids=["aiortc", "with-rtcp-bye"])
async def test_a_second_share_on_the_reused_transceiver_is_seen(sfu, bye):
    """``with-rtcp-bye``: the stop also sends RTCP BYE for the stream, as
    Chrome does when a transceiver stops sending; aiortc then stops the
    receiver's decoder, which the SFU must keep forwarding from."""
    ben = MediaClient(sfu, 1, "ben", audio=False, video=False, decode=True)
    await ben.join()
    ann = MediaClient(sfu, 1, "ann", audio=False, screen=True)
    await ann.join()
    await _decodes_share(ben)
    first = ben.received["screen-ann"]
    mid, transceivers = _screen_mid(ann), len(ann.up.getTransceivers())

    await ann.stop_screen(bye=bye)
    await wait_until(lambda: "screen-ann" not in _offered(ben))  # the tile goes
    assert sfu.forwarded_sources(1, "ann") == {"cam"}

    await ann.share_screen()
    assert (_screen_mid(ann), len(ann.up.getTransceivers())) == (mid, transceivers)
    await _decodes_share(ben, before=first)
    assert first.frames > 10  # both shares were seen
    assert sfu.forwarded_sources(1, "ann") == {"cam", "screen"}
    # And a third.
    second = ben.received["screen-ann"]
    await ann.stop_screen(bye=bye)
    await wait_until(lambda: "screen-ann" not in _offered(ben))
    await ann.share_screen()
    await _decodes_share(ben, before=second)
    await ann.close()
    await ben.close()


async def test_an_ended_share_stays_ended_and_the_next_share_is_seen(sfu):
    counting = MediaClient(sfu, 1, "ben", audio=False, video=False)
    viewer = MediaClient(sfu, 1, "cat", audio=False, video=False, decode=True)
    await counting.join()
    await viewer.join()
    ann = MediaClient(sfu, 1, "ann", audio=False, screen=True)
    await ann.join()
    await _decodes_share(viewer)
    first = viewer.received["screen-ann"]
    await wait_until(lambda: counting.packets_from("ann", "screen") > 30)
    screen_mid = counting.mid_of("ann", "screen")

    # A moderator ends it. Ann's client has not heard yet and sends on.
    await sfu.end_share(room_id=1, participant_id="ann")
    assert sfu.forwarded_sources(1, "ann") == {"cam"}
    for client in (counting, viewer):
        await wait_until(lambda client=client: "screen-ann" not in _offered(client))
    await asyncio.sleep(SETTLE)
    received = counting.mid_packets[screen_mid]
    sent = ann.packets_sent("screen")
    # Even an offer that still sends on it (a renegotiation for another
    # reason, or a client that ignores the stop) brings nothing back.
    await ann.renegotiate()
    await asyncio.sleep(WATCH)
    assert ann.packets_sent("screen") > sent + 20
    assert counting.mid_packets[screen_mid] == received
    assert "screen-ann" not in _offered(counting)
    assert sfu.forwarded_sources(1, "ann") == {"cam"}
    assert viewer.received["screen-ann"] is first  # no new share was seen

    # Her client stops, and she shares again: that share is seen.
    await ann.stop_screen()
    await ann.share_screen()
    await _decodes_share(viewer, before=first)
    assert sfu.forwarded_sources(1, "ann") == {"cam", "screen"}
    for client in (ann, counting, viewer):
        await client.close()


async def test_after_an_ended_share_a_share_on_a_new_transceiver_is_seen(sfu):
    """A client that starts its next share on a new transceiver, while the
    ended one still sends: the new one is seen, the ended one never is."""
    viewer = MediaClient(sfu, 1, "cat", audio=False, video=False, decode=True)
    await viewer.join()
    ann = MediaClient(sfu, 1, "ann", audio=False, screen=True)
    await ann.join()
    await _decodes_share(viewer)
    first = viewer.received["screen-ann"]
    ended = ann.senders["screen"]
    await sfu.end_share(room_id=1, participant_id="ann")
    await wait_until(lambda: "screen-ann" not in _offered(viewer))

    await ann.share_screen(new_transceiver=True)
    await _decodes_share(viewer, before=first)
    assert ann.senders["screen"] is not ended
    assert len([t for t in ann.up.getTransceivers() if t.kind == "video"]) == 3
    sending = {
        t.mid
        for t in ann.up.getTransceivers()
        if t.direction in ("sendonly", "sendrecv")
    }
    assert ann._transceiver_of(ended).mid in sending  # the ended one sends on
    assert sfu.forwarded_sources(1, "ann") == {"cam", "screen"}
    await ann.close()
    await viewer.close()
