"""``manage.py sfu_worker``: the SFU in its own process, reached by daphne
processes through the Redis channel layer."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid

import pytest
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription
from channels.layers import channel_layers, get_channel_layer

from hosting.worker import WORKER_DOWN_AFTER, WorkerClient
from sfu.api import SOURCES, MediaRejected, MediaUnavailable
from signaling.layers import RedisChannelLayer
from tests.media import EncodedTrack, encoded_clip
from tests.servers import ROOT, Deployment, recv_type, ws_headers, ws_url
from tests.sfu.test_ports import free_range, host_candidates
from tests.signaling.conftest import REDIS_URL, _redis_reachable
from tests.signaling.test_two_processes import _services_or_skip

# Its servers use their own database: the PostgreSQL pass would repeat it.
pytestmark = pytest.mark.own_servers


@pytest.fixture
def worker(settings, request):
    """A worker process. Indirectly, ``{"ports": n}`` gives it a range of n
    free ports (SFU_UDP_PORTS), which the fixture's value is."""
    ports = free_range(request.param["ports"]) if hasattr(request, "param") else None
    if problem := _redis_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable: {problem}")
        pytest.skip(f"Redis is not reachable: {problem}")
    channel = f"sfu.worker.test{uuid.uuid4().hex[:8]}"
    settings.SFU_WORKER_CHANNEL = channel
    with Deployment(redis_url=REDIS_URL) as deployment:
        # This process talks to the worker through the deployment's keys.
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "signaling.layers.RedisChannelLayer",
                "CONFIG": {
                    "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                    "prefix": deployment.redis_prefix,
                },
            }
        }
        channel_layers.backends.clear()
        deployment.prepare(members=0)
        env = {
            **deployment.env(),
            "SFU_MODE": "worker",
            "SFU_WORKER_CHANNEL": channel,
            **({"SFU_UDP_PORTS": str(ports)} if ports else {}),
        }
        process = subprocess.Popen(
            [sys.executable, "manage.py", "sfu_worker"], cwd=ROOT, env=env
        )
        try:
            # Its first heartbeat, before the test's first call: a client
            # gives a worker 3.5 s, and starting Django and aiortc takes
            # longer than that on a busy machine.
            asyncio.run(_first_heartbeat(deployment.redis_prefix, channel))
            yield ports
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # stuck: the test has its answer
                process.kill()
                process.wait(timeout=10)
    channel_layers.backends.clear()


async def _first_heartbeat(prefix: str, channel: str, timeout: float = 60) -> None:
    layer = RedisChannelLayer(hosts=[REDIS_URL], prefix=prefix)
    listener = await layer.new_channel()
    await layer.group_add(f"{channel}.bridges", listener)  # as WorkerClient does
    try:
        message = await asyncio.wait_for(layer.receive(listener), timeout)
        assert message["type"] == "sfu.heartbeat", message
    finally:
        await layer.group_discard(f"{channel}.bridges", listener)
        await layer.close_pools()


async def _offer(*, screen: bool = False) -> tuple[RTCPeerConnection, str]:
    """A microphone and a camera (and a screen): the offer, and the screen's
    msid track id."""
    pc = RTCPeerConnection()
    pc.addTrack(EncodedTrack("audio", encoded_clip()))
    pc.addTrack(EncodedTrack("video", encoded_clip()))
    screen_sender = (
        pc.addTrack(EncodedTrack("video", encoded_clip())) if screen else None
    )
    await pc.setLocalDescription(await pc.createOffer())
    return pc, screen_sender._track_id if screen_sender else ""


async def _next_offer(layer, channel: str) -> str:
    """The SFU's next down offer relayed to ``channel`` (a connection's)."""
    while True:
        event = await asyncio.wait_for(layer.receive(channel), 10)
        assert event["type"] == "media.message"
        if event["message"]["type"] == "sfu_offer":
            return event["message"]["sdp"]


async def test_worker_answers_offers_and_refuses_bad_ones(worker):
    client = WorkerClient()
    await client.join(
        room_id=7, participant_id="ann", session="s1", address="a", allowed=SOURCES
    )
    pc, _ = await _offer()
    answer = await client.publish(
        room_id=7,
        participant_id="ann",
        sdp=pc.localDescription.sdp,
        screen_track_id="",
        allowed=SOURCES,
    )
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    assert "opus" in answer and "VP8" in answer
    await client.set_allowed(room_id=7, participant_id="ann", allowed=frozenset())
    await client.end_share(room_id=7, participant_id="ann")
    # Refusals come back as the contract's MediaRejected, with the reason.
    with pytest.raises(MediaRejected, match="not a session description"):
        await client.publish(
            room_id=7,
            participant_id="ann",
            sdp="garbage",
            screen_track_id="",
            allowed=SOURCES,
        )
    with pytest.raises(MediaRejected, match="has not joined"):
        await client.answer(room_id=7, participant_id="nobody", sdp="v=0", session="s1")
    await client.leave(room_id=7, participant_id="ann")
    await pc.close()
    await client.close()


@pytest.mark.parametrize("worker", [{"ports": 10}], indirect=True)
async def test_a_worker_with_a_full_port_range_says_media_is_unavailable(worker):
    """SFU_UDP_PORTS reaches the worker's SFU: its answer names ports of the
    range, and once each port holds a connection the next join is refused
    with MediaUnavailable (the participant's ``media_unavailable``)."""
    client = WorkerClient()
    pc, _ = await _offer()
    await client.join(
        room_id=7, participant_id="ann", session="s", address="a", allowed=SOURCES
    )
    answer = await client.publish(
        room_id=7,
        participant_id="ann",
        sdp=pc.localDescription.sdp,
        screen_track_id="",
        allowed=SOURCES,
    )
    assert host_candidates(answer)
    assert all(port in worker for _, port in host_candidates(answer))
    for n in range(len(worker) - 2):  # a down connection each
        await client.join(
            room_id=7, participant_id=f"p{n}", session="s", address="a", allowed=SOURCES
        )
    with pytest.raises(MediaUnavailable, match="SFU_UDP_PORTS"):
        await client.join(
            room_id=7,
            participant_id="one-too-many",
            session="s",
            address="a",
            allowed=SOURCES,
        )
    await client.close_room(room_id=7)
    await pc.close()
    await client.close()


async def test_worker_offers_through_the_connections_channel_what_is_allowed(worker):
    """The worker reaches a participant at the channel name it joined with,
    and forwards only the sources allowed: Ann's screen (not allowed) is not
    offered to Ben until it is."""
    layer = get_channel_layer()
    bens_connection = await layer.new_channel()
    client = WorkerClient()
    no_screen = frozenset({"mic", "cam"})
    await client.join(
        room_id=8, participant_id="ann", session="a", address="a", allowed=no_screen
    )
    pc, screen_track_id = await _offer(screen=True)
    answer = await client.publish(
        room_id=8,
        participant_id="ann",
        sdp=pc.localDescription.sdp,
        screen_track_id=screen_track_id,
        allowed=no_screen,
    )
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await client.join(
        room_id=8,
        participant_id="ben",
        session="b",
        address=bens_connection,
        allowed=SOURCES,
    )
    offer = await _next_offer(layer, bens_connection)
    assert "a=msid:ann cam-ann" in offer and "screen-ann" not in offer
    await client.set_allowed(room_id=8, participant_id="ann", allowed=SOURCES)
    # Ben has not answered the first offer: the change waits for his answer.
    down = RTCPeerConnection()
    await down.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    await down.setLocalDescription(await down.createAnswer())
    await client.answer(
        room_id=8, participant_id="ben", sdp=down.localDescription.sdp, session="b"
    )
    assert "a=msid:screen-ann screen-ann" in await _next_offer(layer, bens_connection)
    await client.close_room(room_id=8)
    for connection in (pc, down):
        await connection.close()
    await client.close()


# The worker dies and comes back, under a real daphne


async def _publish(ws) -> RTCPeerConnection:
    """Publish a microphone and a camera over the meeting socket."""
    pc, _ = await _offer()
    await ws.send(
        json.dumps({"type": "sfu_offer", "pc": "up", "sdp": pc.localDescription.sdp})
    )
    return pc


def _start_worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "sfu_worker"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def worker_deployment():
    _services_or_skip()
    channel = f"sfu.worker.test{uuid.uuid4().hex[:8]}"
    env = {"SFU_MODE": "worker", "SFU_WORKER_CHANNEL": channel}
    with Deployment(
        database="postgres", redis_url=REDIS_URL, extra_env=env
    ) as deployment:
        seeded = deployment.prepare(members=1)
        worker = _start_worker(deployment.env())
        (port,) = deployment.start(1)
        workers = [worker]
        try:
            yield deployment, port, seeded, workers
        finally:
            for process in workers:
                if process.poll() is None:
                    process.kill()
                    process.wait()


async def test_a_killed_worker_is_survived_and_media_comes_back(worker_deployment):
    deployment, port, seeded, workers = worker_deployment
    slug, (owner_key, member_key) = seeded["slug"], seeded["sessions"]
    async with (
        websockets.connect(
            ws_url(port, slug), additional_headers=ws_headers(port, owner_key)
        ) as owner,
        websockets.connect(
            ws_url(port, slug), additional_headers=ws_headers(port, member_key)
        ) as member,
    ):
        for ws in (owner, member):
            await ws.send(json.dumps({"type": "hello", "version": 1}))
            await recv_type(ws, "welcome")
        first_pc = await _publish(member)
        await recv_type(member, "sfu_answer")
        offer = await recv_type(
            owner, "sfu_offer"
        )  # the member's tracks, via the worker
        assert offer["sdp"].count("m=") == 2

        await member.send(json.dumps({"type": "chat_send", "text": "before"}))
        await recv_type(member, "chat_ack")
        await recv_type(owner, "chat_message")
        workers[0].kill()  # kill -9
        workers[0].wait()
        # Everyone is told, without having asked anything.
        for ws in (owner, member):
            error = await recv_type(ws, "error", timeout=WORKER_DOWN_AFTER + 4)
            assert error["code"] == "media_unavailable"
        # Signaling and chat go on.
        await member.send(json.dumps({"type": "chat_send", "text": "still talking"}))
        await recv_type(member, "chat_ack")
        chat = await recv_type(owner, "chat_message")
        assert chat["message"]["text"] == "still talking"
        # A media message fails at once, not after a timeout.
        started = time.monotonic()
        second_pc = await _publish(member)
        error = await recv_type(member, "error")
        assert error["code"] == "media_unavailable"
        assert time.monotonic() - started < 1.5

        workers.append(_start_worker(deployment.env()))
        # Media comes back by itself: a new media session for each...
        restarts = [
            await recv_type(ws, "media_restart", timeout=30) for ws in (owner, member)
        ]
        session = restarts[0]["media_session"]
        assert session and restarts[1]["media_session"] != session
        # ...in which publishing works again and reaches the others.
        third_pc = await _publish(member)
        await recv_type(member, "sfu_answer")
        offer = await recv_type(owner, "sfu_offer")
        assert offer["session"] == session
        assert offer["sdp"].count("m=") == 2
        for pc in (first_pc, second_pc, third_pc):
            await pc.close()
