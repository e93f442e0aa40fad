"""The hostile corpus straight at the SFU's API, with no signaling in front:
every refusal is a MediaRejected for the sender, nothing else is ever raised or
logged as an error, and an honest participant in the same room is served
throughout."""

from __future__ import annotations

import logging

import pytest

from sfu.api import SOURCES, MediaRejected
from sfu.guard import CandidatePolicy
from sfu.sfu import SFU
from tests.media import Switchboard
from tests.sfu.hostile import (
    good_offer,
    hostile_answers,
    hostile_candidates,
    hostile_offers,
)


@pytest.fixture
async def sfu():
    server = SFU(deliver=Switchboard(), candidate_policy=CandidatePolicy.default())
    yield server
    await server.close()


async def test_the_sfu_api_refuses_the_hostile_corpus_and_only_that(sfu, caplog):
    caplog.set_level(logging.WARNING)
    # Nobody at either address: the SFU's offers go unheard.
    for name in ("attacker", "honest"):
        await sfu.join(
            room_id=1,
            participant_id=name,
            session=name[0],
            address=name,
            allowed=SOURCES,
        )
    refused = 0
    for item in await hostile_offers():
        try:
            await sfu.publish(
                room_id=1, participant_id="attacker", sdp=item.text, allowed=SOURCES
            )
        except MediaRejected:
            refused += 1
    for item in await hostile_answers():
        try:
            await sfu.answer(
                room_id=1, participant_id="attacker", sdp=item.text, session="a"
            )
        except MediaRejected:
            refused += 1
    for item in hostile_candidates():
        for pc in ("up", "down"):
            try:
                await sfu.candidate(
                    room_id=1,
                    participant_id="attacker",
                    pc=pc,
                    candidate=item.text,
                    sdp_mid="0",
                    sdp_mline_index=0,
                )
            except MediaRejected:
                refused += 1
    assert refused > 700
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    # The honest participant publishes as ever, and the attacker is still a
    # peer of the room (its refusals were its own).
    answer = await sfu.publish(
        room_id=1, participant_id="honest", sdp=await good_offer(), allowed=SOURCES
    )
    assert "a=fingerprint" in answer
    assert set(sfu.rooms[1].peers) == {"attacker", "honest"}
    await sfu.leave(room_id=1, participant_id="attacker")
    await sfu.leave(room_id=1, participant_id="honest")
    assert sfu.stats()["rooms"] == 0
    assert sfu.stats()["peer_connections"] == 0
