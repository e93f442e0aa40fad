"""What each protocol message from a browser does.

Every handler calls a service, which checks the sender's rights in the
database and publishes what changed (meetings.events); the room, the people
concerned and the SFU hear of it from there (signaling/effects.py), as they
do of a change made on a page or in the admin. A handler answers only its
sender, and sees the connection through ``Connection``: it reads, it never
changes the connection's state behind its back.

``HANDLERS`` is the explicit dispatch table; nothing is looked up by name
from client input.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Protocol

from channels.db import database_sync_to_async as db

from accounts.models import User
from meetings import selectors, services
from meetings.models import Role, Room
from sfu.api import MediaRejected, MediaUnavailable
from signaling import payloads
from signaling import protocol as p
from signaling.bridge import get_media
from signaling.protocol import ProtocolError


class Connection(Protocol):
    """What a handler may see and ask of the connection it serves."""

    user: User
    room: Room
    channel_name: str
    state: str
    media_session: str

    @property
    def participant_pk(self) -> int: ...

    @property
    def participant_id(self) -> str:
        """The public id the SFU and the browsers know."""

    async def send_json(self, payload: dict) -> None: ...

    async def hello(self, version: int) -> None: ...

    async def leave(self) -> None:
        """Leave the meeting on purpose, and close."""

    async def refresh(self) -> selectors.MediaRights | None:
        """Read this connection's rights again and apply them (SFU, browser)."""


Handler = Callable[[Connection, p.ClientMessage], Awaitable[None]]

# Before hello only these; in the lobby only these.
BEFORE_HELLO = {"hello", "ping", "pong"}
IN_LOBBY = {"ping", "pong", "leave"}


async def dispatch(conn: Connection, message: p.ClientMessage) -> None:
    kind = message.type
    if conn.state == "connected" and kind not in BEFORE_HELLO:
        raise ProtocolError("hello_required")
    if conn.state == "lobby" and kind not in IN_LOBBY:
        raise ProtocolError("lobby_waiting")
    if kind == "hello" and conn.state != "connected":
        raise ProtocolError("already_joined")
    await HANDLERS[kind](conn, message)


# Connection


async def on_hello(conn: Connection, message: p.Hello) -> None:
    await conn.hello(message.version)


async def on_ping(conn: Connection, message: p.Ping) -> None:
    await conn.send_json({"type": "pong"})


async def on_pong(conn: Connection, message: p.Pong) -> None:
    """Nothing to do: hearing anything resets the liveness clock."""


async def on_leave(conn: Connection, message: p.Leave) -> None:
    await conn.leave()


# Chat, own media, hand


async def on_chat_send(conn: Connection, message: p.ChatSend) -> None:
    post = await db(services.chat_post)(
        user=conn.user, room=conn.room, text=message.text, client_id=message.client_id
    )
    await conn.send_json(
        {
            "type": "chat_ack",
            "client_id": message.client_id,
            "message": payloads.chat(post.message),
        }
    )


async def on_media_state(conn: Connection, message: p.MediaState) -> None:
    await db(services.participant_set_media)(
        user=conn.user,
        room=conn.room,
        audio=message.audio,
        video=message.video,
        screen=message.screen,
    )


async def on_hand(conn: Connection, message: p.HandRaise) -> None:
    await db(services.participant_set_hand)(
        user=conn.user, room=conn.room, raised=message.raised
    )


async def on_ask_unmute(conn: Connection, message: p.AskToUnmute) -> None:
    await db(services.participant_ask_to_unmute)(user=conn.user, room=conn.room)


# Moderation


async def on_mod_mute(conn: Connection, message: p.ModMute) -> None:
    await db(services.participant_hard_mute)(
        actor=conn.user,
        room=conn.room,
        target_id=message.participant_id,
        kind=message.kind,
    )


async def on_mod_allow(conn: Connection, message: p.ModAllow) -> None:
    await db(services.participant_allow)(
        actor=conn.user,
        room=conn.room,
        target_id=message.participant_id,
        kind=message.kind,
    )


async def on_mod_mute_all(conn: Connection, message: p.ModMuteAll) -> None:
    await db(services.meeting_mute_all)(actor=conn.user, room=conn.room)


async def on_mod_remove(conn: Connection, message: p.ModRemove) -> None:
    await db(services.participant_remove)(
        actor=conn.user, room=conn.room, target_id=message.participant_id
    )


async def on_mod_ban(conn: Connection, message: p.ModBan) -> None:
    await db(services.participant_ban)(
        actor=conn.user,
        room=conn.room,
        target_id=message.participant_id,
        minutes=message.minutes,
        reason=message.reason,
    )


def _update_room(*, actor: User, room_id: int, **changes: object) -> Room:
    """Change settings from what the database has now, not from what this
    connection last heard: a page may have changed the room meanwhile."""
    room = Room.objects.get(pk=room_id)
    return services.room_update_settings(actor=actor, room=room, **changes)


async def on_mod_lock(conn: Connection, message: p.ModLock) -> None:
    await db(_update_room)(
        actor=conn.user, room_id=conn.room.pk, is_locked=message.locked
    )


async def on_mod_lobby(conn: Connection, message: p.ModLobby) -> None:
    await db(_update_room)(
        actor=conn.user, room_id=conn.room.pk, lobby_enabled=message.enabled
    )


async def on_mod_end_meeting(conn: Connection, message: p.ModEndMeeting) -> None:
    await db(services.meeting_end)(actor=conn.user, room=conn.room)


async def on_mod_set_role(conn: Connection, message: p.ModSetRole) -> None:
    await db(services.participant_set_role)(
        actor=conn.user,
        room=conn.room,
        target_id=message.participant_id,
        role=Role(message.role),
    )


async def on_mod_lower_hand(conn: Connection, message: p.ModLowerHand) -> None:
    await db(services.participant_lower_hand)(
        actor=conn.user, room=conn.room, target_id=message.participant_id
    )


async def on_lobby_admit(conn: Connection, message: p.LobbyAdmit) -> None:
    await db(services.lobby_decide)(
        actor=conn.user, room=conn.room, request_id=message.request_id, admit=True
    )


async def on_lobby_deny(conn: Connection, message: p.LobbyDeny) -> None:
    await db(services.lobby_decide)(
        actor=conn.user, room=conn.room, request_id=message.request_id, admit=False
    )


# Media (relayed to the SFU)


@contextlib.contextmanager
def _media_errors() -> Iterator[None]:
    """The media server's failures, as protocol errors the browser understands."""
    try:
        yield
    except MediaUnavailable:
        raise ProtocolError("media_unavailable") from None
    except MediaRejected as exc:
        raise ProtocolError(
            "media_rejected", f"The media server refused that: {exc}."
        ) from None


async def on_sfu_offer(conn: Connection, message: p.SfuOffer) -> None:
    # The rights as the database has them now, not as they were when this
    # connection opened: a demotion made anywhere holds for this offer. A
    # change after this read reaches the SFU through conn.refresh, which this
    # connection handles only once this offer is through.
    rights = await conn.refresh()
    if rights is None or not rights.access.can_publish:
        raise ProtocolError(
            "forbidden", "Your role in this room does not let you send media."
        )
    with _media_errors():
        answer = await get_media().publish(
            room_id=conn.room.pk,
            participant_id=conn.participant_id,
            sdp=message.sdp,
            screen_track_id=message.screen_track_id,
            allowed=rights.allowed,
        )
    await conn.send_json(
        {"type": "sfu_answer", "pc": "up", "sdp": answer, "session": conn.media_session}
    )


async def on_sfu_answer(conn: Connection, message: p.SfuAnswer) -> None:
    with _media_errors():
        await get_media().answer(
            room_id=conn.room.pk,
            participant_id=conn.participant_id,
            sdp=message.sdp,
            session=message.session,
        )


async def on_sfu_candidate(conn: Connection, message: p.SfuCandidate) -> None:
    with _media_errors():
        await get_media().candidate(
            room_id=conn.room.pk,
            participant_id=conn.participant_id,
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
    "mod_lobby": on_mod_lobby,
    "mod_end_meeting": on_mod_end_meeting,
    "mod_set_role": on_mod_set_role,
    "mod_lower_hand": on_mod_lower_hand,
    "lobby_admit": on_lobby_admit,
    "lobby_deny": on_lobby_deny,
    "sfu_offer": on_sfu_offer,
    "sfu_answer": on_sfu_answer,
    "sfu_candidate": on_sfu_candidate,
}
