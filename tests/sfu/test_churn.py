"""Hundreds of people come and go while one stays: what the one who stays is
offered stays bounded, it sees everyone, and nothing of those who went is
left behind (issue 9)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time

import pytest
from aiortc import RTCPeerConnection

from sfu.sfu import SFU
from tests.media import MediaClient, Switchboard, encoded_clip, sending_tracks
from tests.sfu.test_sfu import wait_until

WAVE = 3  # visitors who join together, while the wave before them goes
WAVES = 67  # 201 visitors, each staying until Host receives them
# Most tracks Host receives at once: two waves (one arriving, one going) of
# WAVE visitors with a microphone and a camera.
MOST_LIVE_TRACKS = 2 * WAVE * 2
MAX_M_SECTIONS = MOST_LIVE_TRACKS + 2
MAX_OFFER_BYTES = 32 * 1024  # before issue 9's fix it passed 64 KiB by the 28th


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _objects() -> int:
    return len(gc.get_objects())


def _media_objects() -> list[object]:
    """Live objects of aiortc's, aioice's and the SFU's own classes."""
    prefixes = ("aiortc", "aioice", "sfu.")
    return [
        o
        for o in gc.get_objects()
        if str(vars(type(o)).get("__module__", "")).startswith(prefixes)
    ]


def _peer_connections() -> int:
    gc.collect()
    return sum(isinstance(o, RTCPeerConnection) for o in gc.get_objects())


def _describe_peer_connections() -> list[str]:
    """Each live peer connection's states and what refers to it, for a
    failure to say where a leak is held."""
    gc.collect()
    return [
        f"{pc.connectionState}/{pc.signalingState} held by "
        + ", ".join(sorted({type(r).__name__ for r in gc.get_referrers(pc)}))
        for pc in gc.get_objects()
        if isinstance(pc, RTCPeerConnection)
    ]


def _media_tasks() -> list[asyncio.Task]:
    """Running tasks of aiortc and aioice (consent checks included)."""

    def source(task: asyncio.Task) -> str:
        code = getattr(task.get_coro(), "cr_code", None)
        return code.co_filename if code else ""

    return [
        t
        for t in asyncio.all_tasks()
        if not t.done()
        and any(lib in source(t) for lib in ("/aiortc/", "/aioice/", "sfu/consent.py"))
    ]


@pytest.fixture
async def sfu():
    server = SFU(deliver=Switchboard())
    yield server
    await server.close()


async def _go(client: MediaClient, how: str) -> None:
    if how == "leave":
        await client.leave()
    else:
        await client.drop()  # the SFU notices the closed connections itself


async def test_two_hundred_visitors_come_and_go_while_host_stays(sfu, capsys):
    """201 visitors in waves of three (half leave, half close their tab) and
    33 visits cut short, while Host stays: Host receives every visitor, its
    down offer never passes MAX_M_SECTIONS m-sections nor MAX_OFFER_BYTES and
    stops growing after the first waves; once all have gone, no room, peer
    connection, task or object of aiortc, aioice or the SFU is left."""
    # Tiny and slow (10 frames a second, 60 ms of audio a packet): every
    # client runs in this process too.
    clip = encoded_clip(seconds=1, width=64, height=48, fps=10, audio_ms=60)
    gc.collect()
    started, rss_before, objects_before = time.monotonic(), _rss_kib(), _objects()
    media_objects_before = len(_media_objects())
    tasks_before = {t for t in asyncio.all_tasks() if not t.done()}
    media_tasks_before = len(_media_tasks())

    host = MediaClient(sfu, 1, "host", clip=clip)
    await host.join()
    host_peer = sfu.rooms[1].peers["host"]
    leaving: list[tuple[MediaClient, str]] = []
    cut_short: list[str] = []
    m_sections: list[int] = []
    offer_bytes: list[int] = []
    for wave in range(WAVES):
        visitors = [MediaClient(sfu, 1, f"v{wave}-{n}", clip=clip) for n in range(WAVE)]
        # Every other wave, a visit cut short: the tab closes right after
        # joining, before ICE completes; signaling calls leave when its grace
        # period ends, two waves later.
        brief = MediaClient(sfu, 1, f"brief{wave}", clip=clip) if wave % 2 else None
        await asyncio.gather(
            *(v.join() for v in visitors),
            *([brief.join()] if brief else []),
            *(_go(client, how) for client, how in leaving),
        )
        if brief is not None:
            await brief.drop()
            cut_short.append(brief.id)
            del brief
        await wait_until(
            lambda visitors=visitors: all(
                host.frames_from(v.id, "cam") and host.frames_from(v.id, "mic")
                for v in visitors
            ),
            timeout=10,
        )
        # Host has answered everything it was offered, ended tracks included.
        await wait_until(
            lambda: (
                host_peer.down.signalingState == "stable"
                and not (host_peer.renegotiate or host_peer.offer_scheduled)
            )
        )
        offered = host_peer.down.localDescription.sdp
        m_sections.append(offered.count("\nm="))
        offer_bytes.append(len(offered))
        assert m_sections[-1] <= MAX_M_SECTIONS, m_sections
        assert offer_bytes[-1] < MAX_OFFER_BYTES, offer_bytes
        assert len(sending_tracks(offered)) == 2 * WAVE  # this wave's, no one else's
        leaving = [(v, "leave" if n % 2 else "drop") for n, v in enumerate(visitors)]
        del visitors
        if len(cut_short) > 1:  # their grace period is over
            await sfu.leave(room_id=1, participant_id=cut_short.pop(0))
        if wave == 0:
            rss_warm, media_tasks_during = _rss_kib(), len(_media_tasks())

    await asyncio.gather(*(_go(client, how) for client, how in leaving))
    del leaving
    for participant_id in cut_short:
        await sfu.leave(room_id=1, participant_id=participant_id)
    await wait_until(lambda: set(sfu.rooms[1].peers) == {"host"})
    # The m-sections stopped growing after the first waves: they were
    # reused. (How many two overlapping waves hold at a given moment depends
    # on timing, so the last offer is compared with the largest of the first
    # ten, not with one wave's.)
    assert m_sections[-1] <= max(m_sections[:10]), m_sections

    # While Host stays, nothing of the visitors is alive: the only peer
    # connections left in the process are Host's two and the SFU's two.
    await wait_until(lambda: not sending_tracks(host_peer.down.localDescription.sdp))
    # A dropped client's connection finishes closing on its own tasks: give
    # it a few seconds (CI once still held one after a fixed 0.3 s), then
    # count. A real leak stays and fails here.
    with contextlib.suppress(AssertionError):
        await wait_until(lambda: _peer_connections() == 4, timeout=10, step=0.25)
    alive = _peer_connections()
    assert alive == 4, (
        f"{alive} peer connections alive, not Host's two and the SFU's: "
        f"{_describe_peer_connections()}"
    )

    await host.leave()
    host = host_peer = None  # so that only what the SFU keeps is counted below
    await asyncio.sleep(0.5)
    stats = sfu.stats()
    assert (stats["rooms"], stats["peer_connections"], stats["tasks"]) == (0, 0, 0)
    leftover = {t for t in asyncio.all_tasks() if not t.done()} - tasks_before
    leftover.discard(asyncio.current_task())
    assert leftover == set(), [t.get_coro() for t in leftover]
    media_tasks_after = len(_media_tasks())
    assert media_tasks_after == media_tasks_before
    gc.collect()
    rss_after, objects_after = _rss_kib(), _objects()
    media_objects_after = len(_media_objects())
    # Not one object of aiortc's, aioice's or the SFU's more than before.
    assert media_objects_after == media_objects_before
    with capsys.disabled():
        print(
            f"\nchurn: {WAVES * WAVE} visitors + {WAVES // 2} cut short in "
            f"{time.monotonic() - started:.1f} s; host's down offer: "
            f"{min(m_sections)}-{max(m_sections)} m-sections (bound "
            f"{MAX_M_SECTIONS}), {min(offer_bytes)}-{max(offer_bytes)} bytes "
            f"(bound {MAX_OFFER_BYTES}); RSS {rss_before} KiB before, "
            f"{rss_warm} KiB after the first wave, {rss_after} KiB after; "
            f"objects tracked by gc {objects_before} before, {objects_after} after "
            f"(of aiortc, aioice and sfu: {media_objects_before} before, "
            f"{media_objects_after} after); "
            f"aiortc/aioice tasks {media_tasks_before} before, "
            f"{media_tasks_during} during, {media_tasks_after} after"
        )
