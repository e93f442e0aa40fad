"""Every change reaches the live meeting, whichever way it was made: the
room settings page, the Django admin or the WebSocket.

Each test has people in a meeting (live WebSocket connections), makes one
change from one entry point, and checks what those people notice: they are
told at once, their capabilities change, the SFU is told what they may
publish, and someone put out is closed with the right code and cannot come
back.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from channels.db import database_sync_to_async as db
from django.test import Client
from django.urls import reverse

from accounts.models import User
from meetings.models import Ban, Membership, Role, Room
from signaling.protocol import CLOSE_CODES
from tests.signaling.client import RoomClient

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("channel_layer"),
]

ENTRIES = ("page", "admin", "socket")


# The three ways in. Each makes a change as a person would: the page and
# the admin post their real forms; the socket sends the protocol message.


def _logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _room_form(room: Room, **changes) -> dict:
    room.refresh_from_db()
    data = {
        "name": room.name,
        "max_participants": room.max_participants,
        "screen_share_policy": room.screen_share_policy,
    }
    for flag in ("is_locked", "lobby_enabled", "chat_enabled", "viewers_may_chat"):
        if getattr(room, flag):
            data[flag] = "on"
    for field, value in changes.items():
        if value is False:
            data.pop(field, None)
        else:
            data[field] = "on" if value is True else value
    return data


class Pages:
    """The room settings page, as the room's owner."""

    def __init__(self, owner: User, room: Room, socket: RoomClient) -> None:
        self.client, self.room = _logged_in(owner), room

    def _post(self, name: str, data: dict, *args) -> None:
        response = self.client.post(reverse(name, args=[self.room.slug, *args]), data)
        assert response.status_code == 302, response.content[:500]

    async def settings(self, **changes) -> None:
        data = await db(_room_form)(self.room, **changes)
        await db(self._post)("room_settings", data)

    async def set_role(self, user: User, role: str) -> None:
        await db(self._post)("member_role", {"role": role}, user.pk)

    async def ban(self, user: User) -> None:
        await db(self._post)("member_ban", {"duration": "1d", "reason": ""}, user.pk)

    async def put_out(self, user: User) -> None:
        await db(self._post)("member_remove", {}, user.pk)


class Admin:
    """The Django admin, as a superuser."""

    def __init__(self, owner: User, room: Room, socket: RoomClient) -> None:
        self.room = room
        self.admin = User.objects.create_superuser(
            email="ada.admin@example.org", password="x" * 20, display_name="Ada"
        )
        self.client = _logged_in(self.admin)

    def _post(self, url: str, data: dict) -> None:
        response = self.client.post(url, data)
        assert response.status_code == 302, response.content.decode()[:2000]

    def _room_data(self, **changes) -> dict:
        data = _room_form(self.room, **changes)
        memberships = list(self.room.memberships.order_by("pk"))
        for i, membership in enumerate(memberships):
            data |= {
                f"memberships-{i}-id": membership.pk,
                f"memberships-{i}-room": self.room.pk,
                f"memberships-{i}-user": membership.user_id,
                f"memberships-{i}-role": membership.role,
            }
        return data | {
            "memberships-TOTAL_FORMS": len(memberships),
            "memberships-INITIAL_FORMS": len(memberships),
            "memberships-MIN_NUM_FORMS": 0,
            "memberships-MAX_NUM_FORMS": 1000,
        }

    async def settings(self, **changes) -> None:
        url = reverse("admin:meetings_room_change", args=[self.room.pk])
        data = await db(self._room_data)(**changes)
        await db(self._post)(url, data)

    async def set_role(self, user: User, role: str) -> None:
        membership = await db(Membership.objects.get)(room=self.room, user=user)
        url = reverse("admin:meetings_membership_change", args=[membership.pk])
        data = {"room": self.room.pk, "user": user.pk, "role": role}
        await db(self._post)(url, data)

    async def ban(self, user: User) -> None:
        url = reverse("admin:meetings_ban_add")
        data = {"room": self.room.pk, "user": user.pk, "until_0": "", "until_1": ""}
        await db(self._post)(url, data | {"reason": "spam"})

    async def put_out(self, user: User) -> None:
        membership = await db(Membership.objects.get)(room=self.room, user=user)
        url = reverse("admin:meetings_membership_delete", args=[membership.pk])
        await db(self._post)(url, {"post": "yes"})


class Socket:
    """The owner's own meeting connection."""

    def __init__(self, owner: User, room: Room, socket: RoomClient) -> None:
        self.socket = socket

    async def settings(self, **changes) -> None:
        assert set(changes) == {"is_locked"}, "the socket only locks"
        await self.socket.send({"type": "mod_lock", "locked": changes["is_locked"]})

    async def set_role(self, user: User, role: str) -> None:
        await self.socket.send(
            {"type": "mod_set_role", "participant_id": _id_of(user), "role": role}
        )

    async def ban(self, user: User) -> None:
        await self.socket.send(
            {"type": "mod_ban", "participant_id": _id_of(user), "minutes": 60}
        )

    async def put_out(self, user: User) -> None:
        await self.socket.send({"type": "mod_remove", "participant_id": _id_of(user)})


_ids: dict[int, str] = {}


def _id_of(user: User) -> str:
    return _ids[user.pk]


@dataclass
class Meeting:
    owner: RoomClient
    publisher: RoomClient
    viewer: RoomClient
    change: Pages | Admin | Socket


@pytest.fixture(params=ENTRIES)
async def meeting(request, room, owner, publisher, viewer, bridge):
    """The owner, a publisher and a viewer in a meeting; ``change`` makes
    changes from the entry point under test."""
    clients = [RoomClient(user, room) for user in (owner, publisher, viewer)]
    for client in clients:
        await client.join()
        _ids[client.user.pk] = client.id
    entry = {"page": Pages, "admin": Admin, "socket": Socket}[request.param]
    change = await db(entry)(owner, room, clients[0])
    yield Meeting(*clients, change=change)
    for client in clients:
        await client.close()


async def _newcomer(room: Room, make_user) -> RoomClient:
    user = await db(make_user)("Nina Newcomer")
    await db(Membership.objects.create)(room=room, user=user, role=Role.PUBLISHER)
    return RoomClient(user, room)


async def _updated(client: RoomClient, who: RoomClient, **expected) -> dict:
    """The next participant_updated about ``who`` that shows ``expected``."""
    while True:
        seen = (await client.recv_until("participant_updated"))["participant"]
        if seen["id"] == who.id and expected.items() <= seen.items():
            return seen


# Role changes


async def test_a_demotion_reaches_the_person_the_room_and_the_sfu(meeting, bridge):
    await meeting.change.set_role(meeting.publisher.user, "viewer")
    told = await meeting.publisher.recv_until("role_changed")
    assert told["role"] == "viewer"
    assert told["capabilities"]["publish"] is False
    assert told["capabilities"]["share_screen"] is False
    await _updated(meeting.viewer, meeting.publisher, role="viewer")
    assert bridge.allowed(meeting.publisher.id) == frozenset()
    # And publishing is refused on the database's word, not the connection's.
    await meeting.publisher.send({"type": "sfu_offer", "pc": "up", "sdp": "v=0"})
    assert (await meeting.publisher.recv_until("error"))["code"] == "forbidden"


async def test_a_promotion_gives_moderator_powers_at_once(meeting, bridge):
    await meeting.change.set_role(meeting.viewer.user, "moderator")
    told = await meeting.viewer.recv_until("role_changed")
    assert told["capabilities"]["moderate"] is True
    assert bridge.allowed(meeting.viewer.id) == frozenset({"mic", "cam", "screen"})
    # Now in the moderators' group: asked to unmute, they hear it.
    await meeting.viewer.send(
        {"type": "mod_mute", "participant_id": meeting.publisher.id, "kind": "audio"}
    )
    await meeting.publisher.recv_until("muted_by_moderator")
    await meeting.publisher.send({"type": "ask_unmute"})
    asked = await meeting.viewer.recv_until("unmute_requested")
    assert asked["participant_id"] == meeting.publisher.id


# Bans and removals


async def test_a_ban_puts_the_person_out_and_keeps_them_out(meeting, bridge, room):
    banned = meeting.publisher
    await meeting.change.ban(banned.user)
    removed = await banned.recv_until("removed")
    assert removed["reason"] == "banned"
    await banned.closed(CLOSE_CODES["banned"])
    left = await meeting.viewer.recv_until("participant_left")
    assert (left["id"], left["reason"]) == (banned.id, "banned")
    assert ("leave", banned.id) in bridge.calls
    assert await db(Ban.objects.filter(room=room, user=banned.user).exists)()

    again = RoomClient(banned.user, room)
    assert await again.open()
    assert (await again.recv("error"))["code"] == "banned"
    await again.closed(CLOSE_CODES["banned"])


async def test_put_out_by_a_moderator_cannot_come_back(meeting, bridge, room, request):
    """From a page or the admin: the membership goes, and the meeting with it.
    From the meeting: removed from this meeting."""
    entry = request.node.callspec.params["meeting"]
    code = "removed" if entry == "socket" else "not_member"
    gone = meeting.publisher
    await meeting.change.put_out(gone.user)
    assert (await gone.recv_until("removed"))["message"]
    await gone.closed(CLOSE_CODES[code])
    left = await meeting.owner.recv_until("participant_left")
    assert (left["id"], left["reason"]) == (gone.id, "removed")
    assert ("leave", gone.id) in bridge.calls

    again = RoomClient(gone.user, room)
    assert await again.open()
    assert (await again.recv("error"))["code"] == code
    await again.closed(CLOSE_CODES[code])


# Room policy


async def test_a_lock_is_seen_by_everyone_and_keeps_newcomers_out(
    meeting, room, make_user
):
    await meeting.change.settings(is_locked=True)
    for client in (meeting.owner, meeting.publisher, meeting.viewer):
        update = await client.recv_until("room_updated")
        assert update["room"]["locked"] is True
    newcomer = await _newcomer(room, make_user)
    assert await newcomer.open()
    assert (await newcomer.recv("error"))["code"] == "locked"
    await newcomer.closed(CLOSE_CODES["locked"])


policy_entries = pytest.mark.parametrize("meeting", ["page", "admin"], indirect=True)


@policy_entries
async def test_turning_the_lobby_on_holds_newcomers_there(meeting, room, make_user):
    await meeting.change.settings(lobby_enabled=True)
    assert (await meeting.viewer.recv_until("room_updated"))["room"]["lobby"] is True
    newcomer = await _newcomer(room, make_user)
    await newcomer.join(expect="lobby_waiting")
    knock = await meeting.owner.recv_until("lobby_request")
    assert knock["request"]["name"] == "Nina Newcomer"
    await newcomer.close()


@policy_entries
async def test_a_lower_size_limit_keeps_newcomers_out(meeting, room, make_user):
    await meeting.change.settings(max_participants=3)
    update = await meeting.viewer.recv_until("room_updated")
    assert update["room"]["max_participants"] == 3
    newcomer = await _newcomer(room, make_user)
    assert await newcomer.open()
    assert (await newcomer.recv("error"))["code"] == "full"
    await newcomer.closed(CLOSE_CODES["full"])


@policy_entries
async def test_screen_sharing_for_moderators_only_stops_a_share_at_once(
    meeting, bridge
):
    sharer = meeting.publisher
    await sharer.send({"type": "media_state", "screen": True})
    await _updated(meeting.viewer, sharer, screen=True)
    await meeting.change.settings(screen_share_policy="moderators")
    told = {}
    while len(told) < 2:
        message = await sharer.recv()
        if message["type"] in ("muted_by_moderator", "role_changed"):
            told[message["type"]] = message
    assert told["muted_by_moderator"]["kind"] == "screen"
    assert told["role_changed"]["capabilities"]["share_screen"] is False
    await _updated(meeting.viewer, sharer, screen=False)
    assert ("end_share", sharer.id) in bridge.calls
    assert bridge.allowed(sharer.id) == frozenset({"mic", "cam"})
    await sharer.send({"type": "media_state", "screen": True})
    assert (await sharer.recv_until("error"))["code"] == "forbidden"
    # The moderators keep theirs.
    assert bridge.allowed(meeting.owner.id) == frozenset({"mic", "cam", "screen"})


@policy_entries
async def test_turning_chat_off_silences_everyone_but_moderators(meeting):
    await meeting.change.settings(chat_enabled=False)
    for client in (meeting.publisher, meeting.viewer):
        told = await client.recv_until("role_changed")
        assert told["capabilities"]["chat"] is False
    await meeting.publisher.send({"type": "chat_send", "text": "still here?"})
    assert (await meeting.publisher.recv_until("error"))["code"] == "forbidden"


@policy_entries
async def test_viewers_may_chat_off_silences_viewers_only(meeting):
    await meeting.change.settings(viewers_may_chat=False)
    told = await meeting.viewer.recv_until("role_changed")
    assert told["capabilities"]["chat"] is False
    await meeting.publisher.send({"type": "chat_send", "text": "I still can"})
    await meeting.publisher.recv_until("chat_ack")
    await meeting.viewer.send({"type": "chat_send", "text": "can I?"})
    assert (await meeting.viewer.recv_until("error"))["code"] == "forbidden"


@policy_entries
async def test_a_new_name_is_shown_at_once(meeting):
    await meeting.change.settings(name="Renamed call")
    update = await meeting.publisher.recv_until("room_updated")
    assert update["room"]["name"] == "Renamed call"
