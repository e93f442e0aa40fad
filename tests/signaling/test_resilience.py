"""No connection dies without cleanup, and nobody outlives their connection:
the consumer's boundary, close codes that reach the browser, NUL bytes, and
presence leases swept by any process."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async as db
from django.utils import timezone

from meetings import services
from meetings.models import Attendance, ChatMessage, Meeting, Participant, Room
from sfu.api import NoMediaServer
from signaling import consumers, presence
from signaling.bridge import media_lost, media_restored, set_media
from signaling.protocol import CLOSE_CODES
from tests.signaling.client import RoomClient

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("channel_layer"),
]


class BrokenBridge(NoMediaServer):
    """A media bridge with a bug: publishing raises what nobody expected."""

    async def publish(self, **kwargs: object) -> str:
        raise RuntimeError("a bug in the media path")


async def _present_count(room: Room) -> int:
    return await db(Participant.objects.filter(room=room, left_at__isnull=True).count)()


# The boundary


async def test_an_unexpected_error_is_answered_and_the_connection_lives_on(
    room, owner, publisher, caplog
):
    set_media(BrokenBridge())
    owner_in, pub = RoomClient(owner, room), RoomClient(publisher, room)
    await owner_in.join()
    await pub.join()
    await pub.send({"type": "sfu_offer", "pc": "up", "sdp": "v=0\r\nm=audio"})
    message = await pub.error("internal")
    assert "try again" in message["message"]
    # Still in the meeting, still listened to: a ping is answered, chat works.
    await pub.send({"type": "ping"})
    await pub.recv("pong")
    await pub.send({"type": "chat_send", "text": "still here"})
    await pub.recv("chat_ack")
    assert (await owner_in.recv_until("chat_message"))["message"]["text"] == (
        "still here"
    )
    assert "a bug in the media path" in caplog.text  # logged with its traceback
    await pub.close()
    await owner_in.close()


async def test_a_failure_while_joining_closes_cleanly_and_leaves_no_ghost(
    room, owner, publisher, monkeypatch, settings
):
    owner_in = RoomClient(owner, room)
    await owner_in.join()

    def broken(**kwargs):
        raise RuntimeError("welcome could not be built")

    monkeypatch.setattr(consumers, "ice_servers_for", broken)
    pub = RoomClient(publisher, room)
    assert await pub.open()
    await pub.send({"type": "hello", "version": 1})
    await pub.error("internal")
    await pub.closed(CLOSE_CODES["internal"])
    # The join had committed; the close is recorded as a drop, and the grace
    # period ends the stay: no one is left present without a connection.
    left = await owner_in.recv_until("participant_left")
    participant = await db(Participant.objects.get)(user=publisher)
    assert left["id"] == participant.public_id
    assert await _present_count(room) == 1

    monkeypatch.undo()
    again = RoomClient(publisher, room)
    await again.join()
    await again.close()
    await owner_in.close()


async def test_a_timed_out_connection_is_recorded_as_dropped(
    room, owner, publisher, settings
):
    """The liveness close used to mark the connection closed before the
    disconnect handler ran, which then recorded nothing: a ghost for good."""
    settings.SIGNALING_PING_INTERVAL = 1
    settings.SIGNALING_PING_TIMEOUT = 2
    # Long enough that "reconnecting" reaches the owner before the sweep lets
    # the publisher go, on a loaded machine too.
    settings.MEETING_RECONNECT_GRACE = 2
    owner_in, pub = RoomClient(owner, room), RoomClient(publisher, room)
    await owner_in.join()
    await pub.join()
    await owner_in.recv("participant_joined")
    # The publisher's browser goes silent; the owner keeps talking the whole
    # time (on a busy machine, waiting for the publisher's close once took
    # longer than the owner's own 2 s of allowed silence).

    async def keep_talking() -> None:
        while True:
            await owner_in.send({"type": "ping"})
            await asyncio.sleep(0.5)

    talking = asyncio.create_task(keep_talking())
    try:
        await pub.closed(CLOSE_CODES["timeout"], timeout=6)
        update = await owner_in.recv_until("participant_updated")
        assert update["participant"]["connected"] is False
        left = await owner_in.recv_until("participant_left", timeout=8)
        assert left["id"] == pub.id
    finally:
        talking.cancel()
    await owner_in.close()


async def test_nul_bytes_are_refused_before_they_reach_the_database(pair):
    owner_in, pub = pair
    await pub.send({"type": "chat_send", "text": "hello\u0000world"})
    message = await pub.error("bad_message")
    assert "NUL" in message["message"]
    await owner_in.send(
        {"type": "mod_ban", "participant_id": pub.id, "reason": "spam\u0000"}
    )
    await owner_in.error("bad_message")
    assert await db(ChatMessage.objects.count)() == 0
    await pub.send({"type": "ping"})
    await pub.recv("pong")


async def test_close_codes_are_ones_the_websocket_library_can_send():
    for name, code in CLOSE_CODES.items():
        assert code == 1000 or 3000 <= code <= 4999, name


# Leases


async def _ghost(room: Room, user, *, expired: bool) -> Participant:
    """A participant whose server process died: the channel is still set
    and nobody renews the lease."""
    meeting = await db(Meeting.objects.get)(room=room, ended_at__isnull=True)
    when = timezone.now() + timedelta(seconds=-1 if expired else 60)
    participant = await db(Participant.objects.create)(
        room=room,
        meeting=meeting,
        user=user,
        display_name=user.display_name,
        channel_name="specific.dead-process!abc",
        lease_expires_at=when,
    )
    await db(Attendance.objects.create)(meeting=meeting, user=user)
    return participant


async def test_a_lapsed_lease_is_swept_and_everyone_is_told(room, owner, viewer):
    owner_in = RoomClient(owner, room)
    await owner_in.join()
    ghost = await _ghost(room, viewer, expired=True)
    # Nobody joins or leaves: the sweep alone finds the ghost.
    left = await owner_in.recv_until("participant_left", timeout=3)
    assert left["id"] == ghost.public_id
    attendance = await db(Attendance.objects.get)(user=viewer)
    assert attendance.left_at is not None
    await owner_in.close()


async def test_a_live_connection_keeps_its_lease(room, owner, publisher, settings):
    settings.MEETING_PRESENCE_LEASE = 0.6  # renewed every 0.2 s
    settings.MEETING_RECONNECT_GRACE = 0.3
    owner_in, pub = RoomClient(owner, room), RoomClient(publisher, room)
    await owner_in.join()
    await pub.join()
    await owner_in.recv("participant_joined")
    # Several lease periods pass; both are still here, nobody was swept.
    await asyncio.sleep(2.0)
    while not await owner_in.silent(0.05):
        await owner_in.recv()
    assert "participant_left" not in [m["type"] for m in owner_in.seen]
    assert await _present_count(room) == 2
    lease = await db(lambda: Participant.objects.get(user=publisher).lease_expires_at)()
    assert lease > timezone.now()
    await pub.close()
    await owner_in.close()


async def test_a_ghost_holds_no_seat(room, owner, viewer, publisher):
    await db(Room.objects.filter(pk=room.pk).update)(max_participants=2)
    owner_in = RoomClient(owner, room)
    await owner_in.join()
    await _ghost(room, viewer, expired=True)
    # A two-seat room with the owner and a ghost is not full.
    pub = RoomClient(publisher, room)
    welcome = await pub.join()
    assert sorted(p["name"] for p in welcome["participants"]) == [
        "Olivia Owner",
        "Pablo Publisher",
    ]
    await pub.close()
    await owner_in.close()


async def test_the_meeting_ends_when_the_last_lease_runs_out(room, owner):
    owner_in = RoomClient(owner, room)
    await owner_in.join()
    # The owner's own process dies: its lease runs out and nobody is left.
    await owner_in.close()
    await db(Participant.objects.filter(user=owner).update)(
        channel_name="specific.dead!x", lease_expires_at=timezone.now()
    )
    await presence.sweep_once()
    meeting = await db(Meeting.objects.get)(room=room)
    assert meeting.ended_at is not None


async def test_a_waiting_lobby_request_of_a_dead_process_is_cancelled(
    room, owner, publisher
):
    await db(Room.objects.filter(pk=room.pk).update)(lobby_enabled=True)
    owner_in = RoomClient(owner, room)
    await owner_in.join()
    request = await db(services.lobby_request_create)(
        user=publisher, room=room, channel_name="specific.dead!y"
    )
    await db(type(request).objects.filter(pk=request.pk).update)(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    resolved = await owner_in.recv_until("lobby_resolved", timeout=3)
    assert resolved == {
        "type": "lobby_resolved",
        "request_id": request.public_id,
        "status": "cancelled",
    }
    await owner_in.close()


async def test_every_frame_gets_an_answer_or_a_clean_close(pair):
    """Whatever arrives, the sender hears back: garbage of every shape."""
    _, pub = pair
    frames = [
        " ",
        "null",
        "[]",
        '{"type": 5}',
        '{"type": "sfu_candidate", "pc": "up", "candidate": 7}',
        "[" * 5000 + "]" * 5000,
        json.dumps({"type": "chat_send", "text": "x", "extra": {"a": ["\u0000"]}}),
        json.dumps({"type": "hand", "raised": "yes"}),
    ]
    for frame in frames:
        await pub.send_raw(frame)
        answer = await pub.recv()
        assert answer["type"] == "error", (frame[:40], answer)
    await pub.send({"type": "ping"})
    await pub.recv("pong")


# The media server goes away and comes back


async def test_everyone_here_hears_when_media_is_lost_and_restored(pair):
    owner_in, pub = pair
    await media_lost()
    for client in (owner_in, pub):
        await client.error("media_unavailable")
    # Signaling and chat go on.
    await pub.send({"type": "chat_send", "text": "still talking"})
    await pub.recv("chat_ack")
    assert (await owner_in.recv("chat_message"))["message"]["text"] == "still talking"
    before = pub.welcome["you"]["media_session"]
    await media_restored()
    for client in (owner_in, pub):
        restart = await client.recv("media_restart")
        assert restart["media_session"] != before
