"""A demotion stops the media at the SFU, whoever makes it: real aiortc peers
publish and subscribe through the room WebSocket and the in-process SFU,
and the publisher, demoted live or from the settings page, keeps sending
while the subscriber receives nothing more of it."""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from channels.db import database_sync_to_async as db
from django.test import Client
from django.urls import reverse

from hosting.embedded import make_sfu
from signaling.bridge import set_media
from tests.media import EncodedTrack, encoded_clip
from tests.signaling.client import RoomClient

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def sfu():
    server = make_sfu()
    set_media(server)
    yield server
    await server.close()


class Subscriber:
    """The receiving side of a browser: answers the SFU's down offers over
    the socket and counts the frames that arrive."""

    def __init__(self, client: RoomClient) -> None:
        self.client = client
        self.pc = RTCPeerConnection()
        self.frames = 0
        self.pc.on("track", self._on_track)
        self.tasks: set[asyncio.Task] = set()

    def _on_track(self, track) -> None:
        async def count() -> None:
            while True:
                await track.recv()
                self.frames += 1

        task = asyncio.get_running_loop().create_task(count())
        self.tasks.add(task)

    async def answer_next_offer(self) -> None:
        offer = await self.client.recv_until("sfu_offer")
        await self.pc.setRemoteDescription(
            RTCSessionDescription(sdp=offer["sdp"], type="offer")
        )
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await self.client.send(
            {
                "type": "sfu_answer",
                "pc": "down",
                "sdp": self.pc.localDescription.sdp,
                "session": offer["session"],
            }
        )

    async def frames_within(self, seconds: float) -> int:
        before = self.frames
        await asyncio.sleep(seconds)
        return self.frames - before

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await self.pc.close()


async def _publish(client: RoomClient) -> RTCPeerConnection:
    pc = RTCPeerConnection()
    pc.addTrack(EncodedTrack("audio", encoded_clip()))
    pc.addTrack(EncodedTrack("video", encoded_clip()))
    await pc.setLocalDescription(await pc.createOffer())
    await client.send({"type": "sfu_offer", "pc": "up", "sdp": pc.localDescription.sdp})
    answer = await client.recv_until("sfu_answer", timeout=10)
    await pc.setRemoteDescription(
        RTCSessionDescription(sdp=answer["sdp"], type="answer")
    )
    return pc


async def _packets_sent(pc: RTCPeerConnection) -> int:
    stats = await pc.getStats()
    return sum(s.packetsSent for s in stats.values() if s.type == "outbound-rtp")


def _demote_on_the_settings_page(owner, room, publisher) -> None:
    client = Client()
    client.force_login(owner)
    url = reverse("member_role", args=[room.slug, publisher.pk])
    assert client.post(url, {"role": "viewer"}).status_code == 302


@pytest.mark.parametrize("where", ["live", "settings page"])
async def test_a_demoted_publisher_reaches_nobody_any_more(
    sfu, room, owner, publisher, where
):
    watcher, sender = RoomClient(owner, room), RoomClient(publisher, room)
    await watcher.join()
    await sender.join()
    subscriber = Subscriber(watcher)
    up = await _publish(sender)
    await subscriber.answer_next_offer()
    # It flows: the subscriber decodes the publisher's camera and microphone.
    for _ in range(100):
        if subscriber.frames > 30:
            break
        await asyncio.sleep(0.1)
    assert await subscriber.frames_within(1.0) > 20

    if where == "live":
        await watcher.send(
            {"type": "mod_set_role", "participant_id": sender.id, "role": "viewer"}
        )
    else:
        await db(_demote_on_the_settings_page)(owner, room, publisher)
    assert (await sender.recv_until("role_changed"))["role"] == "viewer"
    await asyncio.sleep(0.3)  # what was already on the wire arrives

    sent_before = await _packets_sent(up)
    assert await subscriber.frames_within(1.5) == 0
    # The demoted browser kept sending (it could ignore role_changed): the
    # SFU is what stopped it.
    assert await _packets_sent(up) > sent_before + 20
    await up.close()
    await subscriber.close()
    await watcher.close()
    await sender.close()
