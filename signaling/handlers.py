"""What each protocol message does, and what each channel-layer control does.

Every handler is: call a service (which checks the actor's rights in the
database), then tell the people concerned. ``HANDLERS`` is the explicit
dispatch table; nothing is looked up by name from client input.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async as db

from meetings import selectors, services
from meetings.models import Participant, Role, Room
from meetings.services import LeaveResult
from signaling import events, payloads, sessions
from signaling import protocol as p
from signaling.bridge import MediaRejected, MediaUnavailable, get_bridge
from signaling.protocol import CLOSE_CODES, ProtocolError

if TYPE_CHECKING:
    from signaling.consumers import RoomConsumer

log = logging.getLogger(__name__)

Handler = Callable[["RoomConsumer", p.ClientMessage], Awaitable[None]]


# Before hello only these; in the lobby only these.
BEFORE_HELLO = {"hello", "ping", "pong"}
IN_LOBBY = {"ping", "pong", "leave"}


async def dispatch(consumer: RoomConsumer, message: p.ClientMessage) -> None:
    kind = message.type
    if consumer.state == "connected" and kind not in BEFORE_HELLO:
        raise ProtocolError("hello_required")
    if consumer.state == "lobby" and kind not in IN_LOBBY:
        raise ProtocolError("lobby_waiting")
    if kind == "hello" and consumer.state != "connected":
        raise ProtocolError("already_joined")
    await HANDLERS[kind](consumer, message)


def _payload_of(room: Room, participant: Participant) -> dict:
    role = selectors.roles_of(room=room, users=[participant.user])[participant.user_id]
    return payloads.participant(participant, role)


async def _tell_room_about(consumer: RoomConsumer, participant: Participant) -> None:
    payload = await db(_payload_of)(consumer.room, participant)
    await events.broadcast(
        consumer.room.pk, {"type": "participant_updated", "participant": payload}
    )


@contextlib.contextmanager
def _sfu_best_effort(what: str) -> Iterator[None]:
    """For media side effects of a change already made: without a media
    server there is nothing to forward (or stop forwarding), and a returning
    one starts from the database's state (hard mutes are applied on join)."""
    try:
        yield
    except MediaUnavailable:
        log.warning("media server unavailable: %s not applied there", what)


async def announce_departure(room_id: int, result: LeaveResult, *, reason: str) -> None:
    """Tell the room (and the SFU) that someone is gone."""
    await events.broadcast(
        room_id,
        {
            "type": "participant_left",
            "id": result.participant.public_id,
            "reason": reason,
        },
    )
    bridge = get_bridge()
    with _sfu_best_effort("leave"):
        await bridge.leave(room_id=room_id, participant_id=result.participant.public_id)
        if result.meeting_ended:
            await bridge.close_room(room_id=room_id)


async def deliver(participant_id: str, message: dict) -> None:
    """The SFU's way back to a participant's browser."""
    channel = await db(
        lambda: (
            Participant.objects.filter(public_id=participant_id)
            .values_list("channel_name", flat=True)
            .first()
        )
    )()
    await events.control(channel or "", "relay", message=message)


# Connection


async def on_hello(consumer: RoomConsumer, message: p.Hello) -> None:
    await consumer.hello(message.version)


async def on_ping(consumer: RoomConsumer, message: p.Ping) -> None:
    await consumer.send_json({"type": "pong"})


async def on_pong(consumer: RoomConsumer, message: p.Pong) -> None:
    """Nothing to do: hearing anything resets the liveness clock."""


async def on_leave(consumer: RoomConsumer, message: p.Leave) -> None:
    if consumer.state == "joined":
        result = await db(services.participant_leave)(
            participant_id=consumer.participant.pk, channel_name=consumer.channel_name
        )
        consumer.state = "closed"
        if result is not None:
            await announce_departure(consumer.room.pk, result, reason="left")
    await consumer.close(code=1000)


# Chat, own media, hand


async def on_chat_send(consumer: RoomConsumer, message: p.ChatSend) -> None:
    if not consumer.chat_limiter.take():
        raise ProtocolError(
            "rate_limited", "You are sending messages too fast. Wait a moment."
        )
    stored = await db(services.chat_post)(
        user=consumer.user, room=consumer.room, text=message.text
    )
    chat = payloads.chat(stored)
    await consumer.send_json(
        {"type": "chat_ack", "client_id": message.client_id, "message": chat}
    )
    await events.broadcast(
        consumer.room.pk,
        {"type": "chat_message", "message": chat},
        exclude=consumer.channel_name,
    )


async def on_media_state(consumer: RoomConsumer, message: p.MediaState) -> None:
    consumer.participant = await db(services.participant_set_media)(
        user=consumer.user,
        room=consumer.room,
        audio=message.audio,
        video=message.video,
        screen=message.screen,
    )
    await _tell_room_about(consumer, consumer.participant)


async def on_hand(consumer: RoomConsumer, message: p.HandRaise) -> None:
    consumer.participant = await db(services.participant_set_hand)(
        user=consumer.user, room=consumer.room, raised=message.raised
    )
    await _tell_room_about(consumer, consumer.participant)


async def on_ask_unmute(consumer: RoomConsumer, message: p.AskToUnmute) -> None:
    if not consumer.ask_limiter.take():
        raise ProtocolError("rate_limited", "The moderators have been asked already.")
    me = await db(services.participant_ask_to_unmute)(
        user=consumer.user, room=consumer.room
    )
    await events.to_moderators(
        consumer.room.pk,
        {
            "type": "unmute_requested",
            "participant_id": me.public_id,
            "name": me.display_name,
        },
    )


# Moderation


async def _enforce_mute(room_id: int, target: Participant, kind: str) -> None:
    with _sfu_best_effort("mute"):
        await get_bridge().set_muted(
            room_id=room_id, participant_id=target.public_id, kind=kind, muted=True
        )
    await events.control(target.channel_name, "muted", kind=kind)


async def on_mod_mute(consumer: RoomConsumer, message: p.ModMute) -> None:
    target = await db(services.participant_hard_mute)(
        actor=consumer.user,
        room=consumer.room,
        target_id=message.participant_id,
        kind=message.kind,
    )
    await _enforce_mute(consumer.room.pk, target, message.kind)
    await _tell_room_about(consumer, target)


async def on_mod_allow(consumer: RoomConsumer, message: p.ModAllow) -> None:
    target = await db(services.participant_allow)(
        actor=consumer.user,
        room=consumer.room,
        target_id=message.participant_id,
        kind=message.kind,
    )
    with _sfu_best_effort("allow"):
        await get_bridge().set_muted(
            room_id=consumer.room.pk,
            participant_id=target.public_id,
            kind=message.kind,
            muted=False,
        )
    await events.control(target.channel_name, "allowed", kind=message.kind)
    await _tell_room_about(consumer, target)


async def on_mod_mute_all(consumer: RoomConsumer, message: p.ModMuteAll) -> None:
    targets = await db(services.meeting_mute_all)(
        actor=consumer.user, room=consumer.room
    )
    for target in targets:
        await _enforce_mute(consumer.room.pk, target, "audio")
        await _tell_room_about(consumer, target)


async def _send_out(consumer: RoomConsumer, result: LeaveResult, reason: str) -> None:
    await events.control(result.last_channel, "removed", reason=reason)
    await announce_departure(consumer.room.pk, result, reason=reason)


async def on_mod_remove(consumer: RoomConsumer, message: p.ModRemove) -> None:
    result = await db(services.participant_remove)(
        actor=consumer.user, room=consumer.room, target_id=message.participant_id
    )
    await _send_out(consumer, result, "removed")


async def on_mod_ban(consumer: RoomConsumer, message: p.ModBan) -> None:
    result = await db(services.participant_ban)(
        actor=consumer.user,
        room=consumer.room,
        target_id=message.participant_id,
        minutes=message.minutes,
        reason=message.reason,
    )
    await _send_out(consumer, result, "banned")


async def on_mod_lock(consumer: RoomConsumer, message: p.ModLock) -> None:
    consumer.room = await db(services.room_set_locked)(
        actor=consumer.user, room=consumer.room, locked=message.locked
    )
    await events.broadcast(
        consumer.room.pk, {"type": "room_updated", "room": payloads.room(consumer.room)}
    )


async def on_mod_end_meeting(consumer: RoomConsumer, message: p.ModEndMeeting) -> None:
    ended = await db(services.meeting_end)(actor=consumer.user, room=consumer.room)
    await events.control_all(consumer.room.pk, "meeting_ended")
    for request in ended.lobby:
        await events.control(request.channel_name, "meeting_ended")
    with _sfu_best_effort("end meeting"):
        await get_bridge().close_room(room_id=consumer.room.pk)


async def on_mod_set_role(consumer: RoomConsumer, message: p.ModSetRole) -> None:
    target, _access = await db(services.participant_set_role)(
        actor=consumer.user,
        room=consumer.room,
        target_id=message.participant_id,
        role=Role(message.role),
    )
    await events.control(target.channel_name, "role_changed")
    await _tell_room_about(consumer, target)


async def _decide(consumer: RoomConsumer, request_id: str, admit: bool) -> None:
    request = await db(services.lobby_decide)(
        actor=consumer.user, room=consumer.room, request_id=request_id, admit=admit
    )
    await events.control(request.channel_name, "admitted" if admit else "denied")
    await events.to_moderators(
        consumer.room.pk,
        {
            "type": "lobby_resolved",
            "request_id": request.public_id,
            "status": request.status,
        },
    )


async def on_lobby_admit(consumer: RoomConsumer, message: p.LobbyAdmit) -> None:
    await _decide(consumer, message.request_id, admit=True)


async def on_lobby_deny(consumer: RoomConsumer, message: p.LobbyDeny) -> None:
    await _decide(consumer, message.request_id, admit=False)


# Media (relayed to the SFU through the bridge)


@contextlib.contextmanager
def _media_errors() -> Iterator[None]:
    """The bridge's failures, as protocol errors the browser understands."""
    try:
        yield
    except MediaUnavailable:
        raise ProtocolError("media_unavailable") from None
    except MediaRejected as exc:
        raise ProtocolError(
            "media_rejected", f"The media server refused that: {exc}."
        ) from None


async def on_sfu_offer(consumer: RoomConsumer, message: p.SfuOffer) -> None:
    if not consumer.access.can_publish:
        raise ProtocolError(
            "forbidden", "Your role in this room does not let you send media."
        )
    with _media_errors():
        answer = await get_bridge().publish(
            room_id=consumer.room.pk,
            participant_id=consumer.participant.public_id,
            sdp=message.sdp,
            screen_track_id=message.screen_track_id,
        )
    await consumer.send_json(
        {
            "type": "sfu_answer",
            "pc": "up",
            "sdp": answer,
            "session": consumer.media_session,
        }
    )


async def on_sfu_answer(consumer: RoomConsumer, message: p.SfuAnswer) -> None:
    with _media_errors():
        await get_bridge().answer(
            room_id=consumer.room.pk,
            participant_id=consumer.participant.public_id,
            sdp=message.sdp,
            session=message.session,
        )


async def on_sfu_candidate(consumer: RoomConsumer, message: p.SfuCandidate) -> None:
    with _media_errors():
        await get_bridge().candidate(
            room_id=consumer.room.pk,
            participant_id=consumer.participant.public_id,
            pc=message.pc,
            candidate=message.candidate,
            sdp_mid=message.sdp_mid,
            sdp_mline_index=message.sdp_mline_index,
        )


HANDLERS: dict[str, Handler] = {
    "hello": on_hello,
    "ping": on_ping,
    "pong": on_pong,
    "leave": on_leave,
    "chat_send": on_chat_send,
    "media_state": on_media_state,
    "hand": on_hand,
    "ask_unmute": on_ask_unmute,
    "mod_mute": on_mod_mute,
    "mod_allow": on_mod_allow,
    "mod_mute_all": on_mod_mute_all,
    "mod_remove": on_mod_remove,
    "mod_ban": on_mod_ban,
    "mod_lock": on_mod_lock,
    "mod_end_meeting": on_mod_end_meeting,
    "mod_set_role": on_mod_set_role,
    "lobby_admit": on_lobby_admit,
    "lobby_deny": on_lobby_deny,
    "sfu_offer": on_sfu_offer,
    "sfu_answer": on_sfu_answer,
    "sfu_candidate": on_sfu_candidate,
}


# Controls: one connection told by another (through the channel layer) that
# its own situation changed.

REMOVAL_TEXT = {
    "removed": "A moderator removed you from this meeting. You can join its next meeting.",
    "banned": "A moderator banned you from this room.",
}


async def on_control(consumer: RoomConsumer, action: str, data: dict) -> None:
    if action == "replaced":
        await consumer.refuse(
            "replaced", "You joined this meeting from another tab or device."
        )
    elif action == "removed":
        reason = data.get("reason", "removed")
        consumer.state = "closed"
        await consumer.send_json(
            {"type": "removed", "reason": reason, "message": REMOVAL_TEXT[reason]}
        )
        await consumer.close(code=CLOSE_CODES[reason])
    elif action == "meeting_ended":
        consumer.state = "closed"
        await consumer.send_json(
            {
                "type": "meeting_ended",
                "message": "A moderator ended the meeting for everyone.",
            }
        )
        await consumer.close(code=CLOSE_CODES["meeting_ended"])
    elif action in ("muted", "allowed"):
        kind = "muted_by_moderator" if action == "muted" else "allowed_by_moderator"
        await consumer.send_json({"type": kind, "kind": data["kind"]})
    elif action == "role_changed" and consumer.state == "joined":
        room = await db(Room.objects.get)(pk=consumer.room.pk)
        consumer.access = await db(selectors.room_access_for)(
            user=consumer.user, room=room
        )
        await consumer.sync_moderator_group()
        await consumer.send_json(
            {
                "type": "role_changed",
                "role": str(consumer.access.role),
                "capabilities": consumer.access.capabilities,
            }
        )
    elif action == "admitted" and consumer.state == "lobby":
        consumer.wait_in_lobby = False
        await consumer.join()
    elif action == "denied" and consumer.state == "lobby":
        await consumer.refuse(
            "lobby_denied",
            "A moderator did not let you in. Ask them to admit you, then try again.",
        )
    elif action == "relay" and consumer.state == "joined":
        await consumer.send_json(data["message"])
    elif action == "session_ended":
        await consumer.refuse("session_ended")
    elif action == "check_session":
        valid = await db(sessions.session_is_valid)(
            session_key=consumer.session_key, user_id=consumer.user.pk
        )
        if not valid:
            await consumer.refuse("session_ended")
    elif action == "media_restart" and consumer.state == "joined":
        await consumer.restart_media()
    elif action == "media_lost" and consumer.state == "joined":
        await consumer.send_json(p.error("media_unavailable"))
