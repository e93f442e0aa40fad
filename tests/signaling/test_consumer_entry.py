"""Entering and leaving a room over the WebSocket: refusals, the lobby,
presence, reconnects, liveness and attendance."""

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async as db
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from config.asgi import application
from meetings.models import Attendance, LobbyRequest, Meeting, Participant, Room
from signaling.protocol import CLOSE_CODES
from tests.signaling.client import RoomClient

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("channel_layer"),
]


async def _refused(user, room, code: str) -> None:
    client = RoomClient(user, room)
    assert await client.open()
    await client.error(code)
    await client.closed(CLOSE_CODES[code])


async def test_anonymous_is_refused(room):
    await _refused(AnonymousUser(), room, "sign_in_required")


async def test_outsider_is_refused(room, outsider):
    await _refused(outsider, room, "not_member")


async def test_banned_user_is_refused(room, banned):
    await _refused(banned, room, "banned")


async def test_unknown_room_is_refused(publisher):
    await _refused(publisher, "aaa-bbbb-ccc", "not_found")


async def test_outsider_cannot_join_locked_room(room, publisher, moderator):
    await db(Room.objects.filter(pk=room.pk).update)(is_locked=True)
    await _refused(publisher, room, "locked")
    mod = RoomClient(moderator, room)
    await mod.join()
    await mod.close()


async def test_full_room_refuses_the_next_person(room, owner, publisher, viewer):
    await db(Room.objects.filter(pk=room.pk).update)(max_participants=2)
    first, second = RoomClient(owner, room), RoomClient(publisher, room)
    await first.join()
    await second.join()
    await _refused(viewer, room, "full")
    await first.close()
    await second.close()


async def test_wrong_protocol_version_is_refused(room, publisher):
    client = RoomClient(publisher, room)
    assert await client.open()
    await client.send({"type": "hello", "version": 99})
    await client.error("unsupported_version")
    await client.closed(CLOSE_CODES["unsupported_version"])


async def test_nothing_but_hello_before_hello(room, publisher):
    client = RoomClient(publisher, room)
    assert await client.open()
    await client.send({"type": "chat_send", "text": "early"})
    await client.error("hello_required")
    await client.send({"type": "ping"})
    await client.recv("pong")
    await client.send({"type": "hello", "version": 1})
    await client.recv("welcome")
    await client.send({"type": "hello", "version": 1})
    await client.error("already_joined")
    await client.close()


async def test_cross_site_origin_is_rejected_by_the_full_stack(room, publisher, client):
    """The deployed application checks Origin before anything else."""
    await db(client.force_login)(publisher)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    evil = RoomClient(
        None,
        room,
        application=application,
        headers=[(b"origin", b"https://evil.example"), (b"cookie", cookie)],
    )
    connected = await evil.open()
    assert not connected
    good = RoomClient(
        None,
        room,
        application=application,
        headers=[
            (b"origin", b"http://localhost"),
            (b"host", b"localhost"),
            (b"cookie", cookie),
        ],
    )
    welcome = await good.join()
    assert welcome["participants"][0]["name"] == "Pablo Publisher"
    await good.close()


async def test_welcome_carries_room_me_participants_chat_and_ice(
    room, owner, publisher
):
    first = RoomClient(owner, room)
    await first.join()
    second = RoomClient(publisher, room)
    welcome = await second.join()
    assert welcome["protocol"] == 1 and welcome["resumed"] is False
    assert welcome["room"]["slug"] == room.slug
    assert welcome["you"]["role"] == "publisher"
    assert welcome["you"]["capabilities"] == {
        "publish": True,
        "share_screen": True,
        "chat": True,
        "moderate": False,
    }
    assert sorted(p["name"] for p in welcome["participants"]) == [
        "Olivia Owner",
        "Pablo Publisher",
    ]
    assert welcome["lobby"] == [] and isinstance(welcome["ice_servers"], list)
    joined = await first.recv("participant_joined")
    assert joined["participant"]["id"] == second.id
    assert joined["participant"]["role"] == "publisher"
    await first.close()
    await second.close()


async def test_leave_is_seen_by_others_and_closes_attendance(room, owner, publisher):
    first, second = RoomClient(owner, room), RoomClient(publisher, room)
    await first.join()
    await second.join()
    await first.recv("participant_joined")
    await second.send({"type": "leave"})
    await second.closed(1000)
    left = await first.recv("participant_left")
    assert left == {"type": "participant_left", "id": second.id, "reason": "left"}
    stay = await db(Attendance.objects.get)(user=publisher)
    assert stay.left_at is not None
    await first.close()


async def test_meeting_starts_with_the_first_and_ends_with_the_last(
    room, owner, publisher
):
    first, second = RoomClient(owner, room), RoomClient(publisher, room)
    await first.join()
    meeting = await db(Meeting.objects.get)(room=room)
    assert meeting.ended_at is None
    await second.join()
    await first.send({"type": "leave"})
    await second.send({"type": "leave"})
    await first.closed(1000)
    await second.closed(1000)
    await meeting.arefresh_from_db()
    assert meeting.ended_at is not None
    assert (
        await db(
            Attendance.objects.filter(meeting=meeting, left_at__isnull=True).count
        )()
        == 0
    )


async def test_dropped_connection_leaves_after_the_grace_period(
    room, owner, publisher, settings
):
    # Long enough that "reconnecting" reaches the room before the grace runs
    # out even on a loaded machine: with the 0.3 s of the other tests, the
    # sweep sometimes let the person go first and the room only heard "left".
    settings.MEETING_RECONNECT_GRACE = 2
    first, second = RoomClient(owner, room), RoomClient(publisher, room)
    await first.join()
    await second.join()
    await first.recv("participant_joined")
    await second.close()  # the network drops: no leave message
    update = await first.recv("participant_updated")
    assert update["participant"]["connected"] is False
    left = await first.recv("participant_left", timeout=8)
    assert left["id"] == second.id
    await first.close()


async def test_reconnect_within_grace_keeps_hard_mute_and_hand(room, owner, publisher):
    mod, user = RoomClient(owner, room), RoomClient(publisher, room)
    await mod.join()
    await user.join()
    await mod.recv("participant_joined")
    await user.send({"type": "hand", "raised": True})
    await user.recv("participant_updated")
    await mod.send({"type": "mod_mute", "participant_id": user.id, "kind": "audio"})
    await user.recv_until("muted_by_moderator")
    old_id = user.id
    await user.close()

    back = RoomClient(publisher, room)
    welcome = await back.join()
    assert welcome["resumed"] is True and back.id == old_id
    me = next(p for p in welcome["participants"] if p["id"] == back.id)
    assert me["hand"] is True and me["audio_hard_muted"] is True
    await back.send({"type": "media_state", "audio": True})
    await back.error("hard_muted")
    # One stay in the attendance, not two.
    assert await db(Attendance.objects.filter(user=publisher).count)() == 1
    await asyncio.sleep(0.5)  # past the grace period: still here
    assert (
        await db(
            Participant.objects.filter(user=publisher, left_at__isnull=True).count
        )()
        == 1
    )
    await mod.close()
    await back.close()


async def test_second_tab_replaces_the_first(room, publisher):
    first = RoomClient(publisher, room)
    await first.join()
    second = RoomClient(publisher, room)
    await second.join()
    await first.error("replaced")
    await first.closed(CLOSE_CODES["replaced"])
    assert second.welcome["resumed"] is True
    await second.close()


async def test_stale_participant_of_a_dead_process_is_cleared_on_next_join(
    room, owner, publisher, viewer
):
    first = RoomClient(owner, room)
    await first.join()
    meeting = await db(Meeting.objects.get)(room=room)
    # A participant whose server process died: it never saw the disconnect,
    # so the channel is still set, and nobody renewed the lease since.
    ghost = await db(Participant.objects.create)(
        room=room,
        meeting=meeting,
        user=viewer,
        display_name="Ghost",
        channel_name="specific.dead-process!abc",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    other = RoomClient(publisher, room)
    welcome = await other.join()
    assert "Ghost" not in [p["name"] for p in welcome["participants"]]
    left = await first.recv("participant_left")
    assert left["id"] == ghost.public_id
    await first.close()
    await other.close()


async def test_liveness_pings_then_closes_a_silent_client(room, publisher, settings):
    settings.SIGNALING_PING_INTERVAL = 1
    settings.SIGNALING_PING_TIMEOUT = 2
    client = RoomClient(publisher, room)
    await client.join()
    output = await client.ws.receive_output(3)
    assert '"ping"' in output["text"]
    await client.closed(CLOSE_CODES["timeout"], timeout=4)
    assert client.seen[-1]["code"] == "timeout"


async def test_answering_pings_keeps_the_connection(room, publisher, settings):
    settings.SIGNALING_PING_INTERVAL = 1
    settings.SIGNALING_PING_TIMEOUT = 2
    client = RoomClient(publisher, room)
    await client.join()
    for _ in range(3):
        output = await client.ws.receive_output(3)
        assert '"ping"' in output["text"]
        await client.send({"type": "pong"})
    await client.close()


# The lobby


@pytest.fixture
async def lobby_room(room):
    await db(Room.objects.filter(pk=room.pk).update)(lobby_enabled=True)
    return room


async def test_lobby_waiting_user_sees_nothing_until_admitted(
    lobby_room, owner, publisher, viewer
):
    mod = RoomClient(owner, lobby_room)
    await mod.join()
    inside = RoomClient(viewer, lobby_room)
    await mod.send({"type": "chat_send", "text": "before"})
    await mod.recv("chat_ack")

    waiting = RoomClient(publisher, lobby_room)
    message = await waiting.join(expect="lobby_waiting")
    assert "moderator" in message["message"]
    request = await mod.recv("lobby_request")
    assert request["request"]["name"] == "Pablo Publisher"

    # Things happen in the meeting; none of it reaches the lobby.
    await inside.join(expect="lobby_waiting")  # viewers wait too
    await mod.recv("lobby_request")
    await mod.send({"type": "chat_send", "text": "secret"})
    await mod.recv("chat_ack")
    assert await waiting.silent(0.3)
    await waiting.send({"type": "chat_send", "text": "let me in"})
    await waiting.error("lobby_waiting")

    await mod.send({"type": "lobby_admit", "request_id": request["request"]["id"]})
    resolved = await mod.recv_until("lobby_resolved")
    assert resolved["status"] == "admitted"
    welcome = await waiting.recv("welcome")
    assert [m["text"] for m in welcome["chat"]] == ["before", "secret"]
    await mod.recv_until("participant_joined")
    await mod.close()
    await waiting.close()
    await inside.close()


async def test_denied_user_is_told_and_closed(lobby_room, owner, publisher):
    mod = RoomClient(owner, lobby_room)
    await mod.join()
    waiting = RoomClient(publisher, lobby_room)
    await waiting.join(expect="lobby_waiting")
    request = await mod.recv("lobby_request")
    await mod.send({"type": "lobby_deny", "request_id": request["request"]["id"]})
    await waiting.error("lobby_denied")
    await waiting.closed(CLOSE_CODES["lobby_denied"])
    assert (await mod.recv("lobby_resolved"))["status"] == "denied"
    await mod.close()


async def test_arriving_before_the_moderator_still_waits(lobby_room, owner, publisher):
    waiting = RoomClient(publisher, lobby_room)
    await waiting.join(expect="lobby_waiting")
    mod = RoomClient(owner, lobby_room)
    welcome = await mod.join()
    assert [r["name"] for r in welcome["lobby"]] == ["Pablo Publisher"]
    assert [p["name"] for p in welcome["participants"]] == ["Olivia Owner"]
    await mod.send({"type": "lobby_admit", "request_id": welcome["lobby"][0]["id"]})
    await waiting.recv("welcome")
    await mod.close()
    await waiting.close()


async def test_admitted_user_reconnects_without_the_lobby(lobby_room, owner, publisher):
    mod = RoomClient(owner, lobby_room)
    await mod.join()
    waiting = RoomClient(publisher, lobby_room)
    await waiting.join(expect="lobby_waiting")
    request = await mod.recv("lobby_request")
    await mod.send({"type": "lobby_admit", "request_id": request["request"]["id"]})
    await waiting.recv("welcome")
    await waiting.close()
    again = RoomClient(publisher, lobby_room)
    await again.join()  # a welcome, not the lobby
    await mod.close()
    await again.close()


async def test_leaving_the_lobby_withdraws_the_request(lobby_room, owner, publisher):
    mod = RoomClient(owner, lobby_room)
    await mod.join()
    waiting = RoomClient(publisher, lobby_room)
    await waiting.join(expect="lobby_waiting")
    request = await mod.recv("lobby_request")
    await waiting.close()
    resolved = await mod.recv("lobby_resolved")
    assert resolved == {
        "type": "lobby_resolved",
        "request_id": request["request"]["id"],
        "status": "cancelled",
    }
    await mod.send({"type": "lobby_admit", "request_id": request["request"]["id"]})
    await mod.error("not_found")
    await mod.close()


async def test_lobby_requests_are_forgery_proof(
    lobby_room, owner, publisher, make_user
):
    mod = RoomClient(owner, lobby_room)
    await mod.join()
    await mod.send({"type": "lobby_admit", "request_id": "made-up"})
    await mod.error("not_found")
    assert await db(LobbyRequest.objects.filter(status="admitted").count)() == 0
    await mod.close()
