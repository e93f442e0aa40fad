"""Limits and idempotency hold per person, not per connection: reconnecting
(or opening a second tab) resets nothing and repeats nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async as db
from django.utils import timezone

from meetings.models import ChatMessage, LobbyRequest, LobbyStatus, Membership, Role
from signaling.protocol import CLOSE_CODES
from tests.signaling.client import RoomClient

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("channel_layer"),
]


async def _types_within(client: RoomClient, seconds: float) -> list[str]:
    """The types of what ``client`` receives in the next ``seconds``."""
    types = []
    while not await client.silent(seconds):
        types.append((await client.recv())["type"])
    return types


async def test_a_message_sent_again_after_a_reconnect_is_stored_once(pair, room):
    first, second = pair
    message = {"type": "chat_send", "text": "Did this arrive?", "client_id": "c-1"}
    await second.send(message)
    ack = await second.recv_until("chat_ack")
    assert (await first.recv_until("chat_message"))["message"]["id"] == ack["message"][
        "id"
    ]
    # The acknowledgement was lost with the connection: the page sends again.
    await second.close()
    back = RoomClient(second.user, room)
    await back.join()
    await back.send(message)
    again = await back.recv_until("chat_ack")
    assert again["message"] == ack["message"]
    assert "chat_message" not in await _types_within(first, 0.3), "seen twice"
    stored = await db(ChatMessage.objects.filter(body="Did this arrive?").count)()
    assert stored == 1
    await back.close()


async def test_the_chat_limit_survives_a_reconnect(pair, room):
    _, second = pair
    for n in range(5):
        await second.send({"type": "chat_send", "text": f"{n}", "client_id": f"a{n}"})
        await second.recv_until("chat_ack")
    await second.close()
    back = RoomClient(second.user, room)
    await back.join()
    await back.send({"type": "chat_send", "text": "one more", "client_id": "b"})
    refused = await back.recv_until("error")
    assert refused["code"] == "rate_limited"
    assert await db(ChatMessage.objects.count)() == 5
    await back.close()


async def test_asking_to_unmute_is_limited_per_person(pair, room):
    first, second = pair
    await first.send({"type": "mod_mute", "participant_id": second.id, "kind": "audio"})
    await second.recv_until("muted_by_moderator")
    await second.send({"type": "ask_unmute"})
    await first.recv_until("unmute_requested")
    await second.close()
    back = RoomClient(second.user, room)
    await back.join()
    await back.send({"type": "ask_unmute"})
    assert (await back.recv_until("error"))["code"] == "rate_limited"
    await back.close()


async def test_a_moderator_lowers_a_raised_hand(pair):
    first, second = pair
    await second.send({"type": "hand", "raised": True})
    await first.recv_until("participant_updated")
    await first.send({"type": "mod_lower_hand", "participant_id": second.id})
    for client in (first, second):
        seen = await client.recv_until("participant_updated")
        while seen["participant"]["hand"]:
            seen = await client.recv_until("participant_updated")
        assert seen["participant"]["id"] == second.id
    # Only moderators may.
    await second.send({"type": "mod_lower_hand", "participant_id": first.id})
    assert (await second.recv_until("error"))["code"] == "forbidden"


async def test_someone_turned_away_waits_before_knocking_again(
    room, owner, make_user, settings
):
    settings.LOBBY_COOL_DOWN = 60
    room.lobby_enabled = True
    await db(room.save)()
    guest = await db(make_user)("Gus Guest")
    await db(Membership.objects.create)(room=room, user=guest, role=Role.PUBLISHER)
    mod = RoomClient(owner, room)
    await mod.join()
    waiting = RoomClient(guest, room)
    await waiting.join(expect="lobby_waiting")
    request = (await mod.recv_until("lobby_request"))["request"]
    await mod.send({"type": "lobby_deny", "request_id": request["id"]})
    await waiting.closed(CLOSE_CODES["lobby_denied"])

    again = RoomClient(guest, room)
    await again.join(expect="error")
    assert again.seen[-1]["code"] == "lobby_denied"
    assert "ask again in" in again.seen[-1]["message"]
    await again.closed(CLOSE_CODES["lobby_denied"])
    # The moderators were not bothered again.
    assert "lobby_request" not in await _types_within(mod, 0.3)
    knocks = await db(LobbyRequest.objects.filter(user=guest).count)()
    assert knocks == 1

    # After the cool-down, they may ask again.
    await db(
        lambda: LobbyRequest.objects.filter(status=LobbyStatus.DENIED).update(
            decided_at=timezone.now() - timedelta(seconds=61)
        )
    )()
    later = RoomClient(guest, room)
    await later.join(expect="lobby_waiting")
    await mod.recv_until("lobby_request")
    await later.close()
    await mod.close()
