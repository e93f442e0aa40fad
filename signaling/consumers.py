"""The room WebSocket: one connection per participant, at /ws/rooms/<slug>/.

This module owns the connection's life: admission before ``accept()``, the
``hello`` handshake, the lobby, liveness, limits on size and rate, and what
happens on disconnect. What each message does is in ``handlers.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from meetings import selectors, services
from meetings.errors import MeetingError, Refused
from meetings.models import LobbyRequest, Participant, Room
from meetings.selectors import Denial, MediaRights, RoomAccess
from sfu.api import MediaError
from signaling import events, liveness, payloads, presence, sessions
from signaling.bridge import get_media
from signaling.handlers import dispatch
from signaling.ice import ice_servers_for
from signaling.protocol import (
    CLOSE_CODES,
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    ProtocolError,
    error,
    parse,
)
from signaling.ratelimit import TokenBucket

log = logging.getLogger(__name__)

# A client may send 20 messages a second with bursts of 60 (ICE candidates come
# in bursts); past that it is told to slow down, and after 100 refused
# messages it is disconnected. (Chat and requests to unmute are limited per
# person by the services: reconnecting does not reset those.)
MESSAGE_RATE, MESSAGE_BURST, FLOOD_LIMIT = 20, 60, 100

# What someone put out of the meeting reads, by the reason they were.
REMOVAL_TEXT = {
    "removed": "A moderator removed you from this meeting. You can join its next meeting.",
    "banned": "A moderator banned you from this room.",
    "not_member": "A moderator removed you from this room's members.",
}
REMOVAL_CODE = {"removed": "removed", "banned": "banned", "not_member": "not_member"}


class RoomConsumer(AsyncWebsocketConsumer):
    room: Room | None = None
    access: RoomAccess | None = None
    participant: Participant | None = None
    lobby_request: LobbyRequest | None = None
    liveness: asyncio.Task | None = None
    media_session = ""
    # What the SFU was last told this participant may publish.
    allowed: frozenset[str] = frozenset()
    welcomed = False
    # connecting -> connected -> (lobby ->) joined -> closed
    state = "connecting"

    # The boundary

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # However the connection ends, its timers (and lease) end with it.
            if self.liveness:
                self.liveness.cancel()

    async def dispatch(self, message: dict) -> None:
        """Every event of this connection passes here: the socket's and the
        channel layer's. An unexpected exception is logged with its traceback
        and answered; it never kills the connection silently, which would
        leave a participant listed, holding a seat, with no connection."""
        try:
            await super().dispatch(message)
        except StopConsumer:
            raise
        except Exception:
            log.exception(
                "room connection %s (%s): %s failed",
                self.channel_name,
                self.state,
                message.get("type"),
            )
            if message.get("type") == "websocket.disconnect":
                raise StopConsumer from None
            await self.after_failure()

    async def after_failure(self) -> None:
        try:
            if self.state == "connecting":
                self.state = "closed"
                await self.close()  # refuse the handshake
            elif self.state in ("connected", "joined") and not self.welcomed:
                # Half way into the meeting: start again from a clean slate
                # (4500 is not final: the browser reconnects by itself).
                await self.refuse("internal", "Joining failed on the server. Retrying…")
            elif self.state != "closed":
                await self.send_json(error("internal"))
        except Exception:
            log.exception(
                "room connection %s: could not report a failure", self.channel_name
            )

    async def websocket_disconnect(self, message: dict) -> None:
        # Channels discards self.groups before calling disconnect(); if that
        # fails (Redis away), the departure would never be recorded. Here the
        # departure comes first and every step is independent.
        try:
            await self.disconnect(message.get("code", 1006))
        except Exception:
            log.exception("room connection %s: disconnect failed", self.channel_name)
        raise StopConsumer

    # Connecting

    async def connect(self) -> None:
        self.user = self.scope["user"]
        self.limiter = TokenBucket(rate=MESSAGE_RATE, burst=MESSAGE_BURST)
        self.refused_messages = 0
        self.last_heard = asyncio.get_running_loop().time()
        self.liveness: asyncio.Task | None = None
        slug = self.scope["url_route"]["kwargs"]["slug"]
        try:
            admission = await database_sync_to_async(services.participant_admission)(
                user=self.user, slug=slug
            )
        except Refused as exc:
            # Accept only to say why: a refused handshake reaches the browser
            # as a bare 1006 with no reason at all.
            await self.accept()
            await self.refuse(exc.code, str(exc))
            return
        self.room, self.access = admission.room, admission.access
        self.wait_in_lobby = admission.wait_in_lobby
        self.session_key = getattr(self.scope.get("session"), "session_key", "") or ""
        await self.join_groups(
            events.user_group(self.user.pk),
            *([sessions.session_group(self.session_key)] if self.session_key else []),
        )
        self.state = "connected"
        await self.accept()
        self.liveness = asyncio.get_running_loop().create_task(
            liveness.keep_alive(self)
        )
        presence.ensure_sweeper()

    async def join_groups(self, *groups: str) -> None:
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups.append(group)

    # Sending

    async def send_json(self, payload: dict) -> None:
        await self.send(text_data=_dumps(payload))

    async def refuse(self, code: str, message: str | None = None) -> None:
        """Say why, then close with the code that goes with it."""
        self.state = "closed"
        await self.send_json(error(code, message))
        await self.close(code=CLOSE_CODES[code])

    # Receiving

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None
    ) -> None:
        self.last_heard = asyncio.get_running_loop().time()
        if self.state == "closed":
            return
        size = (
            len(bytes_data) if bytes_data is not None else _utf8_length(text_data or "")
        )
        if size > MAX_FRAME_BYTES:
            await self.refuse("too_big", "That message was over 256 KiB: disconnected.")
            return
        if not self.limiter.take():
            self.refused_messages += 1
            if self.refused_messages > FLOOD_LIMIT:
                await self.refuse("rate_limited", "Too many messages: disconnected.")
            else:
                await self.send_json(error("rate_limited"))
            return
        if bytes_data is not None:
            await self.send_json(
                error("bad_message", "Send JSON text frames, not binary.")
            )
            return
        try:
            message = parse(text_data or "")
            await dispatch(self, message)
        except ProtocolError as exc:
            await self.send_json(error(exc.code, exc.message))
        except MeetingError as exc:
            await self.send_json(error(exc.code, str(exc)))

    # Entering

    async def hello(self, version: int) -> None:
        if version != PROTOCOL_VERSION:
            await self.refuse(
                "unsupported_version",
                f"This server speaks protocol version {PROTOCOL_VERSION}. Reload the page.",
            )
            return
        if self.wait_in_lobby:
            await self.enter_lobby()
        else:
            await self.join()

    async def enter_lobby(self) -> None:
        try:
            self.lobby_request = await database_sync_to_async(
                services.lobby_request_create
            )(user=self.user, room=self.room, channel_name=self.channel_name)
        except Refused as exc:  # turned away a moment ago
            await self.refuse(exc.code, str(exc))
            return
        self.state = "lobby"
        await self.send_json(
            {
                "type": "lobby_waiting",
                "room": {"name": self.room.name},
                "message": "A moderator has been told you are here and will let you in.",
            }
        )

    async def join(self) -> None:
        try:
            result = await database_sync_to_async(services.participant_join)(
                user=self.user, room=self.room, channel_name=self.channel_name
            )
        except Refused as exc:
            if exc.code == "lobby_required":  # the lobby was turned on meanwhile
                await self.enter_lobby()
            else:
                await self.refuse(exc.code, str(exc))
            return
        self.participant, self.state = result.participant, "joined"
        # Names the media of this connection: offers and answers of an
        # earlier connection (a reconnect) can still be in flight.
        self.media_session = secrets.token_urlsafe(12)
        await self.join_groups(events.room_group(self.room.pk), events.process_group())
        await self.sync_moderator_group()
        welcome = await database_sync_to_async(self.welcome)(resumed=result.resumed)
        await self.send_json(welcome)
        self.welcomed = True
        await self.start_media()

    async def start_media(self) -> None:
        """Give this connection's media session a peer on the SFU, with what
        the participant may publish now. Without a media server the meeting
        goes on (chat, people, moderation); the browser is told, and media
        starts when the server is back."""
        rights = await database_sync_to_async(selectors.media_rights)(
            room_id=self.room.pk, user=self.user, participant_id=self.participant.pk
        )
        self.allowed = rights.allowed
        try:
            await get_media().join(
                room_id=self.room.pk,
                participant_id=self.participant.public_id,
                session=self.media_session,
                address=self.channel_name,
                allowed=self.allowed,
            )
        except MediaError:
            await self.send_json(error("media_unavailable"))

    async def restart_media(self) -> None:
        """The media server came back: a new media session, new peers."""
        self.media_session = secrets.token_urlsafe(12)
        await self.send_json(
            {"type": "media_restart", "media_session": self.media_session}
        )
        await self.start_media()

    def welcome(self, *, resumed: bool) -> dict:
        room = Room.objects.get(pk=self.room.pk)
        self.access = selectors.room_access_for(user=self.user, room=room)
        message = {
            "type": "welcome",
            "protocol": PROTOCOL_VERSION,
            "resumed": resumed,
            "room": payloads.room(room),
            "you": {
                "id": self.participant.public_id,
                "role": str(self.access.role),
                "capabilities": self.access.capabilities,
                "media_session": self.media_session,
            },
            "participants": [
                payloads.participant(p, role)
                for p, role in selectors.meeting_participants(room=room)
            ],
            "chat": [payloads.chat(m) for m in selectors.chat_history(room=room)],
            "lobby": [],
            "ice_servers": ice_servers_for(user_id=self.user.pk),
        }
        if self.access.can_moderate:
            message["lobby"] = [
                payloads.lobby_request(r) for r in selectors.lobby_waiting(room=room)
            ]
        return message

    async def sync_moderator_group(self) -> None:
        group = events.moderators_group(self.room.pk)
        if self.access.can_moderate:
            if group not in self.groups:
                await self.join_groups(group)
        elif group in self.groups:
            self.groups.remove(group)
            await self.channel_layer.group_discard(group, self.channel_name)

    # Leaving

    async def disconnect(self, code: int) -> None:
        """Record the departure first, then the rest; each step on its own,
        so that one failing (the database, Redis) does not skip the others.
        Whatever is still missed, the participant's lease covers."""
        self.state = "closed"
        if self.liveness:
            self.liveness.cancel()
        steps = []
        if self.participant is not None:
            steps.append(self.record_drop)
        if self.lobby_request is not None:
            steps.append(self.cancel_lobby_request)
        steps.append(self.leave_groups)
        for step in steps:
            try:
                await step()
            except Exception:
                log.exception("room connection %s: %s failed", self.channel_name, step)

    async def record_drop(self) -> None:
        # Keeps their place for the grace period (unless this connection was
        # replaced or they are gone already); the room is told it dropped.
        ours = await database_sync_to_async(services.participant_disconnected)(
            participant_id=self.participant.pk, channel_name=self.channel_name
        )
        if ours:
            # Its media session ends with it: no connection is left to push
            # a mute or a demotion made meanwhile to that peer, and coming
            # back starts a new session anyway.
            await self._media_best_effort(
                get_media().leave(
                    room_id=self.room.pk, participant_id=self.participant.public_id
                )
            )

    async def cancel_lobby_request(self) -> None:
        await database_sync_to_async(services.lobby_request_cancel)(
            request_id=self.lobby_request.pk
        )

    async def leave_groups(self) -> None:
        for group in self.groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups.clear()

    # Channel-layer events (see signaling/events.py), each to the method of
    # its name. Only these change the connection's state from outside.

    async def room_message(self, event: dict) -> None:
        # Only participants hear the room: nothing reaches the lobby.
        if self.state == "joined" and event.get("exclude") != self.channel_name:
            await self.send_json(event["payload"])

    async def conn_refresh(self, event: dict) -> None:
        # A user's group spans rooms: only news of this room concerns us.
        if self.room is not None and event.get("room_id") == self.room.pk:
            await self.refresh()

    async def conn_stopped(self, event: dict) -> None:
        """A moderator stopped some of this participant's media."""
        if self.state != "joined":
            return
        if event["kind"] == "screen":
            await self._media_best_effort(
                get_media().end_share(
                    room_id=self.room.pk, participant_id=self.participant.public_id
                )
            )
        await self.refresh()
        await self.send_json({"type": "muted_by_moderator", "kind": event["kind"]})

    async def conn_allowed(self, event: dict) -> None:
        if self.state == "joined":
            await self.refresh()
            await self.send_json(
                {"type": "allowed_by_moderator", "kind": event["kind"]}
            )

    async def conn_removed(self, event: dict) -> None:
        reason = event.get("reason", "removed")
        self.state = "closed"
        message = REMOVAL_TEXT[reason]
        if reason == "banned":  # and until when, as the room's pages say
            access = await database_sync_to_async(selectors.room_access_for)(
                user=self.user, room=self.room
            )
            if access.denial == Denial.BANNED:
                message = access.ban_message
        await self.send_json(
            {
                "type": "removed",
                "reason": "removed" if reason == "not_member" else reason,
                "message": message,
            }
        )
        await self.close(code=CLOSE_CODES[REMOVAL_CODE[reason]])

    async def conn_meeting_ended(self, event: dict) -> None:
        self.state = "closed"
        ended_by = event.get("ended_by", "")
        who = ended_by or "A moderator"
        await self.send_json(
            {
                "type": "meeting_ended",
                "ended_by": ended_by,
                "message": f"{who} ended the meeting for everyone.",
            }
        )
        await self.close(code=CLOSE_CODES["meeting_ended"])

    async def conn_replaced(self, event: dict) -> None:
        await self.refuse(
            "replaced", "You joined this meeting from another tab or device."
        )

    async def conn_admitted(self, event: dict) -> None:
        if self.state == "lobby":
            self.wait_in_lobby = False
            await self.join()

    async def conn_denied(self, event: dict) -> None:
        if self.state == "lobby":
            wait = settings.LOBBY_COOL_DOWN
            later = (
                f"in {wait} seconds" if wait < 90 else f"in {round(wait / 60)} minutes"
            )
            await self.refuse(
                "lobby_denied",
                f"A moderator did not let you in. You can ask again {later}.",
            )

    async def conn_session_ended(self, event: dict) -> None:
        await self.refuse("session_ended")

    async def conn_check_session(self, event: dict) -> None:
        valid = await database_sync_to_async(sessions.session_is_valid)(
            session_key=self.session_key, user_id=self.user.pk
        )
        if not valid:
            await self.refuse("session_ended")

    async def media_message(self, event: dict) -> None:
        """From the SFU: a down offer, a candidate, the active speaker."""
        if self.state == "joined":
            await self.send_json(event["message"])

    async def media_restart(self, event: dict) -> None:
        if self.state == "joined":
            await self.restart_media()

    async def media_lost(self, event: dict) -> None:
        if self.state == "joined":
            await self.send_json(error("media_unavailable"))

    # For handlers (see handlers.Connection)

    @property
    def participant_pk(self) -> int:
        return self.participant.pk

    @property
    def participant_id(self) -> str:
        return self.participant.public_id

    async def leave(self) -> None:
        """Leave on purpose, at once: the room and the SFU hear of it from
        the service's event."""
        if self.state == "joined":
            self.state = "closed"
            await database_sync_to_async(services.participant_leave)(
                participant_id=self.participant.pk, channel_name=self.channel_name
            )
        await self.close(code=1000)

    async def refresh(self) -> MediaRights | None:
        """Read this connection's rights again and apply them: a connection
        that lost its way in is closed; the SFU is told what this participant
        may publish; the browser, its new role and capabilities."""
        if self.state not in ("connected", "lobby", "joined"):
            return None
        rights = await database_sync_to_async(selectors.media_rights)(
            room_id=self.room.pk,
            user=self.user,
            participant_id=self.participant.pk if self.participant else 0,
        )
        access = rights.access
        if not access.can_join:
            await self.refuse(access.denial.value, _lost_access_text(access))
            return None
        before = self.access
        self.room, self.access = rights.room, access
        if self.state != "joined" or rights.participant is None:
            return rights
        await self.sync_moderator_group()
        if rights.allowed != self.allowed:
            self.allowed = rights.allowed
            await self._media_best_effort(
                get_media().set_allowed(
                    room_id=self.room.pk,
                    participant_id=self.participant.public_id,
                    allowed=self.allowed,
                )
            )
        if (before.role, before.capabilities) != (access.role, access.capabilities):
            await self.send_json(
                {
                    "type": "role_changed",
                    "role": str(access.role),
                    "capabilities": access.capabilities,
                }
            )
        return rights

    async def _media_best_effort(self, call) -> None:
        # Without a media server there is nothing to forward or stop; a
        # returning one starts from the database's state (join carries it).
        try:
            await call
        except MediaError as exc:
            log.warning("%s: media server: %s", self.channel_name, exc)


def _lost_access_text(access: RoomAccess) -> str | None:
    if access.denial == Denial.BANNED:
        return access.ban_message
    if access.denial == Denial.NOT_MEMBER:
        return "You are no longer a member of this room. Ask a moderator for an invite."
    return None


def _utf8_length(text: str) -> int:
    # Cheap for the usual case: a str never has more characters than bytes.
    if len(text) > MAX_FRAME_BYTES or len(text) * 4 > MAX_FRAME_BYTES:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text)


def _dumps(payload: dict) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
