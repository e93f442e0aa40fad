"""Thousands of malformed and hostile messages from a non-moderator: the
consumer never raises, never writes what it should not, and answers every
message with a protocol error or a valid reply."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meetings import services
from meetings.models import (
    Ban,
    ChatMessage,
    Membership,
    ModerationAction,
    Participant,
    Room,
)
from signaling import consumers, presence
from signaling.protocol import (
    CLIENT_MESSAGES,
    CLOSE_CODES,
    ERROR_CODES,
    SERVER_MESSAGE_TYPES,
)
from tests.signaling.client import RoomClient

pytestmark = pytest.mark.django_db(transaction=True)

FIELDS = sorted(
    {name for model in CLIENT_MESSAGES.values() for name in model.model_fields}
    | {"author", "user_id", "role", "__proto__", "room"}
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(
        ["audio", "video", "screen", "moderator", "up", "down", "", "OWNER"]
    ),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
typed_messages = st.builds(
    lambda kind, fields: {"type": kind, **fields},
    st.sampled_from(sorted(CLIENT_MESSAGES)) | st.text(max_size=12),
    st.dictionaries(
        st.sampled_from(FIELDS) | st.text(max_size=6), json_values, max_size=4
    ),
)
frames = st.one_of(
    typed_messages.map(json.dumps),
    json_values.map(json.dumps),
    st.text(min_size=1, max_size=120),
    typed_messages.map(lambda m: json.dumps(m)[: len(json.dumps(m)) // 2]),
)

SERVER_TYPES = set(SERVER_MESSAGE_TYPES)


def _snapshot(room: Room, owner_participant: Participant) -> tuple:
    room.refresh_from_db()
    owner_participant.refresh_from_db()
    return (
        room.is_locked,
        room.lobby_enabled,
        room.max_participants,
        owner_participant.audio_hard_muted,
        owner_participant.removed,
        owner_participant.left_at,
        sorted(Membership.objects.values_list("user", "role")),
    )


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(batch=st.lists(frames, min_size=20, max_size=60))
def test_hostile_messages_never_break_the_consumer(
    room, owner, publisher, settings_, monkeypatch, batch
):
    settings_.MEETING_RECONNECT_GRACE = 0
    # The flood limit has its own test; here every frame must reach a handler.
    monkeypatch.setattr(consumers, "MESSAGE_BURST", 100_000)
    owner_in = services.participant_join(
        user=owner, room=room, channel_name="owner.elsewhere"
    )
    before = _snapshot(room, owner_in.participant)
    chats_before = ChatMessage.objects.count()

    acks = async_to_sync(_session)(
        room, publisher, owner_in.participant.public_id, batch
    )

    assert _snapshot(room, owner_in.participant) == before
    assert ModerationAction.objects.count() == 0
    assert Ban.objects.count() == 0
    assert ChatMessage.objects.count() == chats_before + acks


async def _session(room, publisher, owner_id: str, batch: list[str]) -> int:
    client = RoomClient(publisher, room)
    await client.join()
    acks = 0
    try:
        for frame in batch:
            await client.send_raw(frame.replace("OWNER", owner_id))
            # A ping after each frame: the answer must come, whatever the frame did.
            await client.send({"type": "ping"})
            while True:
                output = await client.ws.receive_output(3)
                if output["type"] == "websocket.close":
                    # left, or flooded
                    assert output["code"] in (1000, CLOSE_CODES["rate_limited"]), output
                    return acks
                message = json.loads(output["text"])
                assert message["type"] in SERVER_TYPES, message
                if message["type"] == "error":
                    assert message["code"] in ERROR_CODES, message
                    assert isinstance(message["message"], str) and message["message"]
                acks += message["type"] == "chat_ack"
                if message["type"] == "pong":
                    break
    finally:
        await client.close()
        await presence.stop_sweeper()
    return acks


@pytest.fixture
def settings_(settings):
    return settings
