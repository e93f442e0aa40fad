"""Hostile media messages at the consumer, with the real embedded SFU behind
it: hundreds of malformed and adversarial offers, answers and candidates.
Each is answered, none raises past the SFU's checks (nothing is logged as an
error), the sender's connection stays usable, and nobody is left present
without a connection."""

from __future__ import annotations

import json
import logging

import pytest
from channels.db import database_sync_to_async as db

from hosting.embedded import make_sfu
from meetings.models import Participant
from signaling import consumers
from signaling.bridge import set_media
from signaling.protocol import MAX_FRAME_BYTES
from tests.sfu.hostile import (
    good_offer,
    hostile_answers,
    hostile_candidates,
    hostile_offers,
)
from tests.signaling.client import RoomClient

pytestmark = pytest.mark.django_db(transaction=True)

REFUSALS = {"media_rejected", "bad_message"}


@pytest.fixture
async def sfu():
    server = make_sfu()
    set_media(server)
    yield server
    await server.close()


async def _answered(client: RoomClient, message: dict) -> list[dict]:
    """Send ``message`` and a ping; return what came back before the pong.
    A frame over the limit closes the connection (its own test shows that):
    here, what does not fit in a frame is not sent."""
    if len(json.dumps(message).encode()) > MAX_FRAME_BYTES:
        return []
    await client.send(message)
    await client.send({"type": "ping"})
    replies = []
    while True:
        reply = await client.recv(timeout=10)
        if reply["type"] == "pong":
            return replies
        replies.append(reply)


def _refused_or(replies: list[dict], *accepted: str) -> None:
    kinds = [r["type"] for r in replies if r["type"] in (*accepted, "error")]
    assert len(kinds) <= 1, replies
    for reply in replies:
        if reply["type"] == "error":
            assert reply["code"] in REFUSALS, reply
            assert reply["message"]


async def test_hostile_media_messages_are_answered_and_harm_no_one(
    room, owner, publisher, sfu, monkeypatch, caplog
):
    # Every frame must reach a handler: the flood limit has its own tests.
    monkeypatch.setattr(consumers, "MESSAGE_BURST", 100_000)
    offers = await hostile_offers()
    answers = await hostile_answers()
    candidates = hostile_candidates()
    assert len(offers) >= 200 and len(answers) >= 200 and len(candidates) >= 100
    caplog.set_level(logging.WARNING)

    owner_in, attacker = RoomClient(owner, room), RoomClient(publisher, room)
    await owner_in.join()
    await attacker.join()
    session = attacker.welcome["you"]["media_session"]
    answered_offers = 0
    for item in offers:
        replies = await _answered(
            attacker, {"type": "sfu_offer", "pc": "up", "sdp": item.text}
        )
        _refused_or(replies, "sfu_answer")
        answered_offers += any(r["type"] == "sfu_answer" for r in replies)
    for item in answers:
        replies = await _answered(
            attacker,
            {"type": "sfu_answer", "pc": "down", "sdp": item.text, "session": session},
        )
        _refused_or(replies)
    for item in candidates:
        for pc in ("up", "down"):
            replies = await _answered(
                attacker,
                {
                    "type": "sfu_candidate",
                    "pc": pc,
                    "candidate": item.text,
                    "sdp_mid": "0",
                    "sdp_mline_index": 0,
                },
            )
            _refused_or(replies)
    print(
        f"\n{len(offers)} offers ({answered_offers} applied: after the first, "
        "a renegotiation must keep its media sections), "
        f"{len(answers)} answers, {len(candidates)} candidates on both connections"
    )

    # Nothing raised past the SFU's checks: no error and no traceback logged.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # An honest publisher in the same room is served as ever...
    replies = await _answered(
        owner_in, {"type": "sfu_offer", "pc": "up", "sdp": await good_offer()}
    )
    assert "sfu_answer" in [r["type"] for r in replies]
    assert "error" not in [r["type"] for r in replies]
    # ...the attacker's connection is still usable, and so is the meeting.
    await attacker.send({"type": "chat_send", "text": "still here"})
    await attacker.recv_until("chat_ack")
    assert (await owner_in.recv_until("chat_message"))["message"]["text"] == (
        "still here"
    )
    present = await db(
        lambda: sorted(
            Participant.objects.filter(left_at__isnull=True).values_list(
                "channel_name", flat=True
            )
        )
    )()
    assert len(present) == 2 and all(present)

    await attacker.close()
    await owner_in.close()
