"""When the server process stops, its media server closes its peer
connections properly: a browser's connection to the SFU closes at once,
instead of failing only when ICE consent runs out."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import pytest
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription

from config.asgi import application
from sfu.api import SOURCES
from signaling.bridge import get_media, set_media, set_media_factory
from tests.media import EncodedTrack, encoded_clip
from tests.servers import Deployment, recv_type, ws_headers, ws_url


async def _wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def _offer() -> RTCPeerConnection:
    pc = RTCPeerConnection()
    pc.addTrack(EncodedTrack("audio", encoded_clip()))
    pc.addTrack(EncodedTrack("video", encoded_clip()))
    await pc.setLocalDescription(await pc.createOffer())
    return pc


class Lifespan:
    """An ASGI server's side of the lifespan protocol."""

    def __init__(self) -> None:
        self.to_app: asyncio.Queue[dict] = asyncio.Queue()
        self.from_app: asyncio.Queue[dict] = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(
            application(
                {"type": "lifespan", "asgi": {"version": "3.0"}},
                self.to_app.get,
                self.from_app.put,
            )
        )

    async def event(self, kind: str) -> dict:
        await self.to_app.put({"type": f"lifespan.{kind}"})
        return await asyncio.wait_for(self.from_app.get(), 10)


@pytest.fixture
def embedded(settings):
    from hosting.factory import make_media_server

    settings.SFU_MODE = "embedded"
    set_media_factory(make_media_server)  # as config/asgi.py does
    yield
    set_media(None)


async def test_lifespan_shutdown_closes_the_embedded_sfu(embedded):
    lifespan = Lifespan()
    assert await lifespan.event("startup") == {"type": "lifespan.startup.complete"}
    # A participant publishes to the media server this process made.
    sfu = get_media()
    await sfu.join(
        room_id=1, participant_id="ann", session="s", address="ann's", allowed=SOURCES
    )
    browser = await _offer()
    answer = await sfu.publish(
        room_id=1,
        participant_id="ann",
        sdp=browser.localDescription.sdp,
        screen_track_id="",
        allowed=SOURCES,
    )
    await browser.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await _wait_for(lambda: browser.connectionState == "connected", 10)

    assert await lifespan.event("shutdown") == {"type": "lifespan.shutdown.complete"}
    await asyncio.wait_for(lifespan.task, 5)  # the application returned
    assert sfu.rooms == {} and sfu.peer_connections == set()
    # The browser hears it at once (DTLS close_notify).
    await _wait_for(lambda: browser.connectionState == "closed", 5)
    await browser.close()


async def test_lifespan_without_a_media_server_made_just_completes(embedded):
    lifespan = Lifespan()
    assert await lifespan.event("startup") == {"type": "lifespan.startup.complete"}
    assert await lifespan.event("shutdown") == {"type": "lifespan.shutdown.complete"}
    await asyncio.wait_for(lifespan.task, 5)


async def test_daphne_closes_the_embedded_sfu_when_it_is_stopped():
    """daphne sends no lifespan events: its reactor's shutdown does it. A
    SIGTERM (a restart) while someone publishes: their connection to the
    SFU closes at once."""
    env = {"SFU_MODE": "embedded", "LOG_LEVEL": "INFO"}
    with Deployment(extra_env=env) as deployment:
        seeded = deployment.prepare(members=0)
        (port,) = deployment.start(1)
        async with websockets.connect(
            ws_url(port, seeded["slug"]),
            additional_headers=ws_headers(port, seeded["sessions"][0]),
        ) as ws:
            await ws.send(json.dumps({"type": "hello", "version": 1}))
            await recv_type(ws, "welcome")
            browser = await _offer()
            await ws.send(
                json.dumps(
                    {
                        "type": "sfu_offer",
                        "pc": "up",
                        "sdp": browser.localDescription.sdp,
                    }
                )
            )
            answer = await recv_type(ws, "sfu_answer")
            await browser.setRemoteDescription(
                RTCSessionDescription(sdp=answer["sdp"], type="answer")
            )
            await _wait_for(lambda: browser.connectionState == "connected", 10)

            daphne = deployment.processes[0]
            daphne.send_signal(signal.SIGTERM)
            await _wait_for(lambda: browser.connectionState == "closed", 5)
            await _wait_for(lambda: daphne.poll() is not None, 10)
        await browser.close()
        log = (deployment.tmp / f"daphne-{port}.log").read_text()
        assert "media server closed" in log, log[-2000:]
