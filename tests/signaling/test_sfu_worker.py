"""``manage.py sfu_worker``: the SFU in its own process, reached by daphne
processes through the Redis channel layer."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from channels.layers import channel_layers

from config.sfu_hosting import WorkerBridge
from sfu.testing import EncodedTrack, encoded_clip
from signaling.bridge import MediaRejected
from tests.servers import ROOT, Deployment
from tests.signaling.conftest import REDIS_URL, _redis_reachable


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
