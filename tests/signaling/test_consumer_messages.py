"""Chat, own media state, hands, the SFU relay, and bad input of every kind."""

import json

import pytest
from channels.db import database_sync_to_async as db

from meetings.models import ChatMessage, Participant, Room
from sfu.api import NoMediaServer
from signaling import events
from signaling.bridge import set_media
from signaling.protocol import CLOSE_CODES, MAX_FRAME_BYTES
from tests.signaling.client import RoomClient

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("channel_layer"),
]


# Chat


async def test_chat_is_stored_acknowledged_and_fanned_out(pair, room, publisher):
    first, second = pair
    await second.send(
        {"type": "chat_send", "text": "  hello there ", "client_id": "c1"}
    )
    ack = await second.recv("chat_ack")
    assert ack["client_id"] == "c1" and ack["message"]["text"] == "hello there"
    stored = await db(ChatMessage.objects.get)()
    assert (stored.body, stored.author_id, stored.author_name) == (
        "hello there",
        publisher.pk,
        "Pablo Publisher",
    )
    message = await first.recv("chat_message")
    assert message["message"] == ack["message"]
    assert message["message"]["author"] == "Pablo Publisher"


async def test_chat_history_is_the_last_100_on_join(room, owner, viewer):
    @db
    def fill():
        ChatMessage.objects.bulk_create(
            ChatMessage(room=room, author=owner, author_name="O", body=f"m{i}")
            for i in range(130)
        )

    await fill()
    welcome = await RoomClient(viewer, room).join()
    texts = [m["text"] for m in welcome["chat"]]
    assert len(texts) == 100 and texts[0] == "m30" and texts[-1] == "m129"


async def test_chat_length_limit(pair):
    _, second = pair
    await second.send({"type": "chat_send", "text": "x" * 2001})
    error = await second.recv("error")
    assert error["code"] == "too_long" and "2000" in error["message"]
    await second.send({"type": "chat_send", "text": "   "})
    await second.error("invalid")
    assert await db(ChatMessage.objects.count)() == 0


async def test_chat_can_be_turned_off_for_the_room(pair, room):
    first, second = pair
    await db(Room.objects.filter(pk=room.pk).update)(chat_enabled=False)
    await second.send({"type": "chat_send", "text": "hi"})
    await second.error("forbidden")
    assert await first.silent()
    assert await db(ChatMessage.objects.count)() == 0


async def test_viewers_may_be_kept_out_of_chat(room, viewer):
    await db(Room.objects.filter(pk=room.pk).update)(viewers_may_chat=False)
    client = RoomClient(viewer, room)
    welcome = await client.join()
    assert welcome["you"]["capabilities"]["chat"] is False
    await client.send({"type": "chat_send", "text": "hi"})
    await client.error("forbidden")
    await client.close()


async def test_chat_is_rate_limited_per_user(pair):
    _, second = pair
    for i in range(5):
        await second.send({"type": "chat_send", "text": f"m{i}"})
        await second.recv("chat_ack")
    await second.send({"type": "chat_send", "text": "one too many"})
    await second.error("rate_limited")
    assert await db(ChatMessage.objects.count)() == 5


# Own media and hands


async def test_media_state_and_hand_are_broadcast(pair):
    first, second = pair
    await second.send({"type": "media_state", "audio": True, "video": False})
    update = (await first.recv("participant_updated"))["participant"]
    assert (update["id"], update["audio"], update["video"]) == (second.id, True, False)
    await second.send({"type": "hand", "raised": True})
    assert (await first.recv("participant_updated"))["participant"]["hand"] is True


async def test_viewer_cannot_send_media(room, viewer):
    client = RoomClient(viewer, room)
    await client.join()
    await client.send({"type": "media_state", "video": True})
    await client.error("forbidden")
    await client.send({"type": "sfu_offer", "pc": "up", "sdp": "v=0"})
    await client.error("forbidden")
    assert not (await db(Participant.objects.get)(user=viewer)).video_on
    await client.close()


async def test_screen_share_policy_for_moderators_only(room, publisher):
    await db(Room.objects.filter(pk=room.pk).update)(screen_share_policy="moderators")
    client = RoomClient(publisher, room)
    await client.join()
    await client.send({"type": "media_state", "screen": True})
    await client.error("forbidden")
    await client.close()


async def test_asking_to_unmute_when_not_muted_is_explained(pair):
    _, second = pair
    await second.send({"type": "ask_unmute"})
    await second.error("not_muted")


# The SFU relay


class EchoBridge:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    async def join(self, *, room_id, participant_id, session, address, allowed):
        self.address = address
        self.session = session

    async def publish(self, *, room_id, participant_id, sdp, screen_track_id, allowed):
        self.calls.append(("publish", participant_id, sdp, screen_track_id, allowed))
        return "answer-sdp"

    async def answer(self, *, room_id, participant_id, sdp, session):
        self.calls.append(("answer", participant_id, sdp, session))

    async def candidate(
        self, *, room_id, participant_id, pc, candidate, sdp_mid, sdp_mline_index
    ):
        self.calls.append(
            ("candidate", participant_id, pc, candidate, sdp_mid, sdp_mline_index)
        )

    async def leave(self, **kwargs):
        pass

    async def close_room(self, **kwargs):
        pass

    async def set_allowed(self, **kwargs):
        pass

    async def end_share(self, **kwargs):
        pass


async def test_sfu_messages_are_relayed_through_the_bridge(room, publisher):
    bridge = EchoBridge()
    set_media(bridge)
    client = RoomClient(publisher, room)
    welcome = await client.join()
    # This connection's media session: the bridge was given it, and the
    # browser echoes it so answers from an earlier connection are told apart.
    session = welcome["you"]["media_session"]
    assert session
    await client.send(
        {"type": "sfu_offer", "pc": "up", "sdp": "offer-sdp", "screen_track_id": "t2"}
    )
    assert await client.recv("sfu_answer") == {
        "type": "sfu_answer",
        "pc": "up",
        "sdp": "answer-sdp",
        "session": session,
    }
    assert bridge.session == session
    await client.send(
        {"type": "sfu_answer", "pc": "down", "sdp": "down-answer", "session": session}
    )
    await client.send(
        {
            "type": "sfu_candidate",
            "pc": "down",
            "candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host",
            "sdp_mid": "0",
            "sdp_mline_index": 0,
        }
    )
    await client.send({"type": "ping"})
    await client.recv("pong")
    assert [c[0] for c in bridge.calls] == ["publish", "answer", "candidate"]
    # What the publisher may send is decided on the server, with each offer.
    assert bridge.calls[0] == (
        "publish",
        client.id,
        "offer-sdp",
        "t2",
        frozenset({"mic", "cam", "screen"}),
    )
    assert bridge.calls[1] == ("answer", client.id, "down-answer", session)
    # And back: the SFU reaches the browser by the address it was given.
    await events.relay(bridge.address, {"type": "sfu_offer", "pc": "down", "sdp": "x"})
    assert (await client.recv("sfu_offer"))["pc"] == "down"
    await client.close()


async def test_without_a_media_server_media_messages_get_a_clear_error(room, publisher):
    set_media(NoMediaServer())
    client = RoomClient(publisher, room)
    await client.join()
    await client.send({"type": "sfu_offer", "pc": "up", "sdp": "v=0"})
    await client.error("media_unavailable")
    await client.close()


# Bad input


BAD_MESSAGES = [
    ("{not json", "bad_json"),
    ("[1, 2, 3]", "bad_message"),
    ('"hello"', "bad_message"),
    ("{}", "bad_message"),
    ('{"type": 7}', "bad_message"),
    ('{"type": "teleport"}', "unknown_type"),
    ('{"type": "chat_send"}', "bad_message"),
    ('{"type": "chat_send", "text": "hi", "author": "admin"}', "bad_message"),
    ('{"type": "chat_send", "text": 42}', "bad_message"),
    ('{"type": "hand", "raised": "yes"}', "bad_message"),
    # An answer must say which offer (media session) it answers.
    ('{"type": "sfu_answer", "pc": "down", "sdp": "v=0"}', "bad_message"),
    ('{"type": "media_state", "audio": 1}', "bad_message"),
    ('{"type": "mod_ban", "participant_id": "x", "minutes": -5}', "bad_message"),
    ('{"type": "sfu_offer", "pc": "down", "sdp": "v=0"}', "bad_message"),
    (
        '{"type": "mod_mute", "participant_id": "' + "x" * 100 + '", "kind": "audio"}',
        "bad_message",
    ),
    ("[" * 5000 + "]" * 5000, "bad_json"),
]


@pytest.mark.parametrize("text, code", BAD_MESSAGES)
async def test_malformed_messages_get_an_error_and_the_connection_stays_usable(
    pair, text, code
):
    _, second = pair
    await second.send_raw(text)
    await second.error(code)
    await second.send({"type": "ping"})
    await second.recv("pong")


async def test_binary_frames_are_refused_politely(pair):
    _, second = pair
    await second.ws.send_to(bytes_data=b"\x00\x01")
    await second.error("bad_message")


async def test_oversized_frame_is_explained_then_closed_with_4413(pair):
    """1009 would be the natural code, but daphne's WebSocket library refuses
    to send it: the close would never reach the browser."""
    _, second = pair
    await second.send_raw(
        json.dumps({"type": "chat_send", "text": "x" * MAX_FRAME_BYTES})
    )
    await second.closed(CLOSE_CODES["too_big"])
    assert second.seen[-1]["code"] == "too_big"
    assert await db(ChatMessage.objects.count)() == 0


async def test_multibyte_frames_are_measured_in_bytes(pair):
    _, second = pair
    # 70k four-byte characters: under 256 Ki characters, over 256 KiB.
    await second.send_raw(
        json.dumps({"type": "chat_send", "text": "😀" * 70_000}, ensure_ascii=False)
    )
    await second.closed(CLOSE_CODES["too_big"])


async def test_floods_are_rate_limited_then_closed(pair):
    _, second = pair
    for _ in range(200):
        await second.send({"type": "ping"})
    codes = []
    while True:
        output = await second.ws.receive_output(3)
        if output["type"] == "websocket.close":
            assert output["code"] == CLOSE_CODES["rate_limited"]
            break
        message = json.loads(output["text"])
        codes.append(message.get("code", message["type"]))
    # The burst is answered, the rest refused, and then the connection closed.
    assert 55 <= codes.count("pong") < 100
    assert codes.count("rate_limited") > 50
    assert codes[-1] == "rate_limited"  # the last word says why
    await second.ws.disconnect(CLOSE_CODES["rate_limited"])


async def test_embedded_sfu_answers_a_real_offer(room, publisher, settings):
    """Signaling and the in-process SFU, wired as config/ wires them."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from hosting.factory import make_media_server
    from tests.media import EncodedTrack, encoded_clip

    settings.SFU_MODE = "embedded"
    server = make_media_server()
    set_media(server)
    client = RoomClient(publisher, room)
    await client.join()
    pc = RTCPeerConnection()
    pc.addTrack(EncodedTrack("video", encoded_clip()))
    await pc.setLocalDescription(await pc.createOffer())
    await client.send({"type": "sfu_offer", "pc": "up", "sdp": pc.localDescription.sdp})
    answer = await client.recv("sfu_answer", timeout=10)
    await pc.setRemoteDescription(
        RTCSessionDescription(sdp=answer["sdp"], type="answer")
    )
    assert "VP8" in answer["sdp"] and "a=recvonly" in answer["sdp"]
    await client.send({"type": "sfu_offer", "pc": "up", "sdp": "not sdp"})
    await client.error("media_rejected")
    await pc.close()
    await client.close()
    await server.close()
