"""``manage.py sfu_worker``: the SFU in its own process, reached by daphne
processes through the Redis channel layer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription
from channels.layers import channel_layers

from config.sfu_hosting import WORKER_DOWN_AFTER, WorkerBridge
from sfu.testing import EncodedTrack, encoded_clip
from signaling.bridge import MediaRejected
from tests.servers import ROOT, Deployment, recv_type, ws_headers, ws_url
from tests.signaling.conftest import REDIS_URL, _redis_reachable
from tests.signaling.test_two_processes import _services_or_skip


@pytest.fixture
def worker(settings):
    if problem := _redis_reachable():
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable: {problem}")
        pytest.skip(f"Redis is not reachable: {problem}")
    channel = f"sfu.worker.test{uuid.uuid4().hex[:8]}"
    settings.SFU_WORKER_CHANNEL = channel
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}]},
        }
    }
    channel_layers.backends.clear()
    with Deployment(redis_url=REDIS_URL) as deployment:
        deployment.prepare(members=0)
        env = {**deployment.env(), "SFU_MODE": "worker", "SFU_WORKER_CHANNEL": channel}
        process = subprocess.Popen(
            [sys.executable, "manage.py", "sfu_worker"], cwd=ROOT, env=env
        )
        try:
            yield
        finally:
            process.terminate()
            process.wait(timeout=10)
    channel_layers.backends.clear()


async def test_worker_answers_offers_and_refuses_bad_ones(worker):
    bridge = WorkerBridge()
    await bridge.join(room_id=7, participant_id="ann", session="s1", deliver=None)
    pc = RTCPeerConnection()
    pc.addTrack(EncodedTrack("audio", encoded_clip()))
    pc.addTrack(EncodedTrack("video", encoded_clip()))
    await pc.setLocalDescription(await pc.createOffer())
    answer = await bridge.publish(
        room_id=7, participant_id="ann", sdp=pc.localDescription.sdp, screen_track_id=""
    )
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    assert "opus" in answer and "VP8" in answer
    await bridge.set_muted(room_id=7, participant_id="ann", kind="audio", muted=True)
    with pytest.raises(MediaRejected):
        await bridge.publish(
            room_id=7, participant_id="ann", sdp="garbage", screen_track_id=""
        )
    with pytest.raises(MediaRejected):
        await bridge.answer(room_id=7, participant_id="nobody", sdp="v=0", session="s1")
    await bridge.leave(room_id=7, participant_id="ann")
    await pc.close()
    bridge.listener.cancel()


# The worker dies and comes back, under a real daphne


async def _publish(ws) -> RTCPeerConnection:
    """Publish a microphone and a camera over the meeting socket."""
    pc = RTCPeerConnection()
    pc.addTrack(EncodedTrack("audio", encoded_clip()))
    pc.addTrack(EncodedTrack("video", encoded_clip()))
    await pc.setLocalDescription(await pc.createOffer())
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
