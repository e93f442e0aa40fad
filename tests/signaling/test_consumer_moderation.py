"""Moderation over the WebSocket: every action works for moderators, is
written to the log, and is refused (with nothing changed) for everyone else."""

import pytest
from channels.db import database_sync_to_async as db

from meetings.models import (
    Ban,
    Meeting,
    Membership,
    ModerationAction,
    Participant,
    Room,
)
from signaling.protocol import CLOSE_CODES
from tests.signaling.client import RoomClient

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("channel_layer"),
]


@pytest.fixture
async def meeting(room, owner, publisher, viewer):
    """The owner, a publisher and a viewer in a running meeting."""
    clients = {
        "owner": RoomClient(owner, room),
        "publisher": RoomClient(publisher, room),
        "viewer": RoomClient(viewer, room),
    }
    for client in clients.values():
        await client.join()
    await clients["owner"].recv("participant_joined")
    await clients["owner"].recv("participant_joined")
    await clients["publisher"].recv("participant_joined")
    yield clients
    for client in clients.values():
        await client.close()


def _log():
    return list(ModerationAction.objects.values_list("action", flat=True))


async def _state(participant_id: str) -> Participant:
    return await db(Participant.objects.get)(public_id=participant_id)


async def test_moderator_mutes_a_participant_who_then_cannot_unmute(meeting, bridge):
    owner, pub, viewer = meeting["owner"], meeting["publisher"], meeting["viewer"]
    await pub.send({"type": "media_state", "audio": True, "video": True})
    await pub.recv("participant_updated")
    await owner.send({"type": "mod_mute", "participant_id": pub.id, "kind": "audio"})
    assert (await pub.recv_until("muted_by_moderator"))["kind"] == "audio"
    seen = await viewer.recv_until("participant_updated")
    while seen["participant"]["audio"]:  # the unmute broadcast may come first
        seen = await viewer.recv_until("participant_updated")
    assert seen["participant"]["audio_hard_muted"] is True
    assert ("set_allowed", pub.id, frozenset({"cam", "screen"})) in bridge.calls

    await pub.send({"type": "media_state", "audio": True})
    error = await pub.recv_until("error")
    assert error["code"] == "hard_muted" and "Ask to unmute" in error["message"]
    state = await _state(pub.id)
    assert (state.audio_on, state.video_on) == (False, True)

    await pub.send({"type": "ask_unmute"})
    request = await owner.recv_until("unmute_requested")
    assert request["participant_id"] == pub.id
    await owner.send({"type": "mod_allow", "participant_id": pub.id, "kind": "audio"})
    assert (await pub.recv_until("allowed_by_moderator"))["kind"] == "audio"
    await pub.send({"type": "media_state", "audio": True})
    update = await pub.recv_until("participant_updated")
    while not update["participant"]["audio"]:
        update = await pub.recv_until("participant_updated")
    assert await db(_log)() == ["allow_unmute", "mute_audio"]


async def test_a_stopped_screen_share_can_start_again(meeting, bridge):
    owner, pub = meeting["owner"], meeting["publisher"]
    await pub.send({"type": "media_state", "video": True, "screen": True})
    await pub.recv("participant_updated")
    await owner.send({"type": "mod_mute", "participant_id": pub.id, "kind": "screen"})
    assert (await pub.recv_until("muted_by_moderator"))["kind"] == "screen"
    state = await _state(pub.id)
    assert (state.video_on, state.screen_on) == (True, False)
    # That share ended at the SFU; sharing stays allowed.
    assert ("end_share", pub.id) in bridge.calls
    await pub.send({"type": "media_state", "screen": True})
    update = await pub.recv_until("participant_updated")
    while not update["participant"]["screen"]:
        update = await pub.recv_until("participant_updated")


async def test_stopped_video_stops_the_screen_too_until_allowed(meeting, bridge):
    """The server cannot tell a screen from a camera sent as one: a
    moderator's "stop video" holds for every video the person sends."""
    owner, pub = meeting["owner"], meeting["publisher"]
    await pub.send({"type": "media_state", "video": True, "screen": True})
    await pub.recv("participant_updated")
    await owner.send({"type": "mod_mute", "participant_id": pub.id, "kind": "video"})
    stopped = {(await pub.recv_until("muted_by_moderator"))["kind"] for _ in range(2)}
    assert stopped == {"video", "screen"}
    state = await _state(pub.id)
    assert (state.video_on, state.video_hard_muted, state.screen_on) == (
        False,
        True,
        False,
    )
    assert ("set_allowed", pub.id, frozenset({"mic"})) in bridge.calls
    await pub.send({"type": "media_state", "screen": True})
    assert "allow video" in (await pub.recv_until("error"))["message"]
    await owner.send({"type": "mod_allow", "participant_id": pub.id, "kind": "video"})
    await pub.recv_until("allowed_by_moderator")
    assert bridge.calls[-1] == (
        "set_allowed",
        pub.id,
        frozenset({"mic", "cam", "screen"}),
    )
    await pub.send({"type": "media_state", "screen": True})
    update = await pub.recv_until("participant_updated")
    while not update["participant"]["screen"]:
        update = await pub.recv_until("participant_updated")


async def test_mute_all_hard_mutes_everyone_but_the_moderator(meeting, bridge):
    owner, pub, viewer = meeting["owner"], meeting["publisher"], meeting["viewer"]
    await owner.send({"type": "mod_mute_all"})
    await pub.recv_until("muted_by_moderator")
    await viewer.recv_until("muted_by_moderator")
    states = await db(
        lambda: {p.display_name: p.audio_hard_muted for p in Participant.objects.all()}
    )()
    assert states == {
        "Olivia Owner": False,
        "Pablo Publisher": True,
        "Vera Viewer": True,
    }
    assert await db(_log)() == ["mute_all"]


async def test_removed_participant_cannot_rejoin_this_meeting(
    meeting, bridge, publisher, room
):
    owner, pub, viewer = meeting["owner"], meeting["publisher"], meeting["viewer"]
    await owner.send({"type": "mod_remove", "participant_id": pub.id})
    removed = await pub.recv_until("removed")
    assert removed["reason"] == "removed" and "next meeting" in removed["message"]
    await pub.closed(CLOSE_CODES["removed"])
    left = await viewer.recv_until("participant_left")
    assert left == {"type": "participant_left", "id": pub.id, "reason": "removed"}
    assert ("leave", pub.id) in bridge.calls

    again = RoomClient(publisher, room)
    assert await again.open()
    await again.error("removed")
    await again.closed(CLOSE_CODES["removed"])
    assert await db(_log)() == ["remove"]


async def test_ban_removes_and_keeps_out_of_the_room(meeting, bridge, publisher, room):
    owner, pub = meeting["owner"], meeting["publisher"]
    await owner.send(
        {"type": "mod_ban", "participant_id": pub.id, "minutes": 60, "reason": "spam"}
    )
    assert (await pub.recv_until("removed"))["reason"] == "banned"
    await pub.closed(CLOSE_CODES["banned"])
    ban = await db(Ban.objects.get)(user=publisher)
    assert ban.until is not None and ban.reason == "spam"
    again = RoomClient(publisher, room)
    assert await again.open()
    await again.error("banned")
    await again.closed(CLOSE_CODES["banned"])


async def test_lock_keeps_newcomers_out_and_everyone_sees_it(meeting, room, moderator):
    owner, viewer = meeting["owner"], meeting["viewer"]
    await owner.send({"type": "mod_lock", "locked": True})
    assert (await viewer.recv_until("room_updated"))["room"]["locked"] is True
    assert (await db(Room.objects.get)(pk=room.pk)).is_locked
    late_mod = RoomClient(moderator, room)
    await late_mod.join()  # moderators still get in
    await late_mod.close()
    await owner.send({"type": "mod_lock", "locked": False})
    assert (await viewer.recv_until("room_updated"))["room"]["locked"] is False
    assert await db(_log)() == ["unlock", "lock"]


async def test_end_meeting_closes_everyone_and_the_lobby(
    meeting, room, bridge, make_user
):
    owner, pub, viewer = meeting["owner"], meeting["publisher"], meeting["viewer"]
    await db(Room.objects.filter(pk=room.pk).update)(lobby_enabled=True)
    newcomer = await db(make_user)("Nora Newcomer")
    await db(Membership.objects.create)(room=room, user=newcomer, role="publisher")
    waiting = RoomClient(newcomer, room)
    await waiting.join(expect="lobby_waiting")
    await owner.recv_until("lobby_request")

    await owner.send({"type": "mod_end_meeting"})
    for client in (owner, pub, viewer, waiting):
        ended = await client.recv_until("meeting_ended")
        # Everyone learns who ended it.
        assert ended["ended_by"] == "Olivia Owner"
        assert ended["message"] == "Olivia Owner ended the meeting for everyone."
        await client.closed(CLOSE_CODES["meeting_ended"])
    meeting_row = await db(Meeting.objects.get)(room=room)
    assert meeting_row.ended_at is not None
    assert await db(Participant.objects.filter(left_at__isnull=True).count)() == 0
    assert ("close_room", room.pk) in bridge.calls


async def test_a_moderator_turns_the_lobby_on_and_newcomers_wait(
    meeting, room, moderator, make_user
):
    owner, viewer = meeting["owner"], meeting["viewer"]
    mod = RoomClient(moderator, room)
    await mod.join()
    await owner.recv_until("participant_joined")
    assert mod.welcome["room"]["lobby"] is False

    await owner.send({"type": "mod_lobby", "enabled": True})
    # Every connection hears it: another moderator's toggle follows.
    for client in (owner, mod, viewer):
        assert (await client.recv_until("room_updated"))["room"]["lobby"] is True
    assert (await db(Room.objects.get)(pk=room.pk)).lobby_enabled
    assert await db(_log)() == ["update_settings"]

    # Someone who comes now waits for a moderator.
    newcomer = await db(make_user)("Nora Newcomer")
    await db(Membership.objects.create)(room=room, user=newcomer, role="publisher")
    waiting = RoomClient(newcomer, room)
    await waiting.join(expect="lobby_waiting")
    knock = await mod.recv_until("lobby_request")
    assert knock["request"]["name"] == "Nora Newcomer"
    await waiting.close()

    # And off again, from the other moderator.
    await mod.send({"type": "mod_lobby", "enabled": False})
    assert (await owner.recv_until("room_updated"))["room"]["lobby"] is False
    late = RoomClient(await db(make_user)("Lia Late"), room)
    await db(Membership.objects.create)(room=room, user=late.user, role="publisher")
    await late.join()
    await late.close()
    await mod.close()


async def test_a_lobby_change_goes_from_the_room_as_it_is_now(meeting, room):
    """A change made on a page meanwhile is not undone by a stale view."""
    owner = meeting["owner"]
    await db(Room.objects.filter(pk=room.pk).update)(lobby_enabled=True)
    await owner.send({"type": "mod_lobby", "enabled": False})
    assert (await owner.recv_until("room_updated"))["room"]["lobby"] is False
    assert not (await db(Room.objects.get)(pk=room.pk)).lobby_enabled


async def test_role_change_takes_effect_live(meeting):
    owner, pub, viewer = meeting["owner"], meeting["publisher"], meeting["viewer"]
    await pub.send({"type": "media_state", "audio": True})
    await pub.recv("participant_updated")
    await owner.send(
        {"type": "mod_set_role", "participant_id": pub.id, "role": "viewer"}
    )
    changed = await pub.recv_until("role_changed")
    assert changed["role"] == "viewer" and changed["capabilities"]["publish"] is False
    update = await viewer.recv_until("participant_updated")
    while (
        update["participant"]["role"] != "viewer"
        or update["participant"]["id"] != pub.id
    ):
        update = await viewer.recv_until("participant_updated")
    assert update["participant"]["audio"] is False
    await pub.send({"type": "media_state", "audio": True})
    await pub.recv_until("error")

    # Promoted to moderator, the viewer can now moderate.
    await owner.send(
        {"type": "mod_set_role", "participant_id": viewer.id, "role": "moderator"}
    )
    await viewer.recv_until("role_changed")
    await viewer.send({"type": "mod_lock", "locked": True})
    await viewer.recv_until("room_updated")


MODERATOR_MESSAGES = [
    {"type": "mod_mute", "participant_id": "TARGET", "kind": "audio"},
    {"type": "mod_allow", "participant_id": "TARGET", "kind": "audio"},
    {"type": "mod_mute_all"},
    {"type": "mod_remove", "participant_id": "TARGET"},
    {"type": "mod_ban", "participant_id": "TARGET"},
    {"type": "mod_lock", "locked": True},
    {"type": "mod_lobby", "enabled": True},
    {"type": "mod_end_meeting"},
    {"type": "mod_set_role", "participant_id": "TARGET", "role": "moderator"},
    {"type": "lobby_admit", "request_id": "whatever"},
    {"type": "lobby_deny", "request_id": "whatever"},
]


def _rows(room) -> list:
    return [
        *Participant.objects.order_by("id").values(),
        Room.objects.filter(pk=room.pk).values().get(),
    ]


@pytest.mark.parametrize("message", MODERATOR_MESSAGES, ids=lambda m: m["type"])
async def test_non_moderators_are_forbidden_every_moderator_action(
    meeting, room, message
):
    pub, viewer, owner = meeting["publisher"], meeting["viewer"], meeting["owner"]
    before = await db(_rows)(room)
    for actor, target in ((pub, owner), (viewer, pub)):
        payload = {k: (target.id if v == "TARGET" else v) for k, v in message.items()}
        await actor.send(payload)
        error = await actor.recv_until("error")
        assert error["code"] == "forbidden", error
    after = await db(_rows)(room)
    assert after == before
    assert await db(_log)() == []
    assert await db(Ban.objects.count)() == 0
    assert await owner.silent(0.2)


async def test_forged_participant_ids_change_nothing(meeting, room, make_user):
    owner = meeting["owner"]
    # An id from another room's meeting, and one that never existed.
    other_user = await db(make_user)("Elsewhere")
    other_room = await db(Room.objects.create)(owner=other_user, name="Other")
    other_meeting = await db(Meeting.objects.create)(room=other_room)
    stranger = await db(Participant.objects.create)(
        room=other_room,
        meeting=other_meeting,
        user=other_user,
        display_name="Elsewhere",
        channel_name="x",
    )
    for target in (stranger.public_id, "nope"):
        await owner.send({"type": "mod_remove", "participant_id": target})
        assert (await owner.recv_until("error"))["code"] == "not_found"
    stranger = await db(Participant.objects.get)(pk=stranger.pk)
    assert stranger.left_at is None and not stranger.removed


async def test_owner_cannot_be_removed_by_another_moderator(meeting, room, moderator):
    owner = meeting["owner"]
    mod = RoomClient(moderator, room)
    await mod.join()
    await mod.send({"type": "mod_remove", "participant_id": owner.id})
    assert (await mod.recv_until("error"))["code"] == "invalid"
    await mod.close()
