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

from meetings import selectors, services
from meetings.errors import MeetingError, Refused
from meetings.models import LobbyRequest, Participant, Room
from meetings.selectors import RoomAccess
from signaling import events, liveness, payloads, presence, sessions
from signaling.bridge import MediaRejected, MediaUnavailable, get_bridge
from signaling.handlers import deliver, dispatch, on_control
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
# messages it is disconnected.
MESSAGE_RATE, MESSAGE_BURST, FLOOD_LIMIT = 20, 60, 100


class RoomConsumer(AsyncWebsocketConsumer):
    room: Room | None = None
    access: RoomAccess | None = None
    participant: Participant | None = None
    lobby_request: LobbyRequest | None = None
    liveness: asyncio.Task | None = None
    media_session = ""
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
        self.chat_limiter = TokenBucket(rate=1, burst=5)
        self.ask_limiter = TokenBucket(rate=0.2, burst=1)
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
            sessions.user_group(self.user.pk),
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
        self.lobby_request = await database_sync_to_async(
            services.lobby_request_create
        )(user=self.user, room=self.room, channel_name=self.channel_name)
        self.state = "lobby"
        await self.send_json(
            {
                "type": "lobby_waiting",
                "room": {"name": self.room.name},
                "message": "A moderator has been told you are here and will let you in.",
            }
        )
        await events.to_moderators(
            self.room.pk,
            {
                "type": "lobby_request",
                "request": payloads.lobby_request(self.lobby_request),
            },
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
        if result.replaced_channel:
            await events.control(result.replaced_channel, "replaced")
        for gone in result.expired:
            await events.broadcast(
                self.room.pk,
                {"type": "participant_left", "id": gone.public_id, "reason": "left"},
            )
        welcome = await database_sync_to_async(self.welcome)(resumed=result.resumed)
        await self.send_json(welcome)
        self.welcomed = True
        me = next(
            p for p in welcome["participants"] if p["id"] == self.participant.public_id
        )
        kind = "participant_updated" if result.resumed else "participant_joined"
        await events.broadcast(
            self.room.pk, {"type": kind, "participant": me}, exclude=self.channel_name
        )
        await self.start_media()

    async def start_media(self) -> None:
        """Give this connection's media session a peer on the SFU. Without
        a media server the meeting goes on (chat, people, moderation); the
        browser is told, and media starts when the server is back."""
        bridge = get_bridge()
        try:
            await bridge.join(
                room_id=self.room.pk,
                participant_id=self.participant.public_id,
                session=self.media_session,
                deliver=deliver,
            )
            # A new peer for the SFU: enforce standing hard mutes again.
            for kind, muted in (
                ("audio", self.participant.audio_hard_muted),
                ("video", self.participant.video_hard_muted),
            ):
                if muted:
                    await bridge.set_muted(
                        room_id=self.room.pk,
                        participant_id=self.participant.public_id,
                        kind=kind,
                        muted=True,
                    )
        except (MediaUnavailable, MediaRejected):
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
        ours = await database_sync_to_async(services.participant_disconnected)(
            participant_id=self.participant.pk, channel_name=self.channel_name
        )
        if ours:  # not replaced, not gone already: keep their place for the grace
            self.participant.channel_name = ""
            await events.broadcast(
                self.room.pk,
                {"type": "participant_updated", "participant": await self.my_payload()},
            )

    async def cancel_lobby_request(self) -> None:
        cancelled = await database_sync_to_async(services.lobby_request_cancel)(
            request_id=self.lobby_request.pk
        )
        if cancelled:
            await events.to_moderators(
                self.room.pk,
                {
                    "type": "lobby_resolved",
                    "request_id": self.lobby_request.public_id,
                    "status": "cancelled",
                },
            )

    async def leave_groups(self) -> None:
        for group in self.groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups.clear()

    async def my_payload(self) -> dict:
        return payloads.participant(self.participant, self.access.role)

    # Channel-layer events (see signaling/events.py)

    async def room_message(self, event: dict) -> None:
        # Only participants hear the room: nothing reaches the lobby.
        if self.state == "joined" and event.get("exclude") != self.channel_name:
            await self.send_json(event["payload"])

    async def room_control(self, event: dict) -> None:
        await on_control(self, event["action"], event["data"])


def _utf8_length(text: str) -> int:
    # Cheap for the usual case: a str never has more characters than bytes.
    if len(text) > MAX_FRAME_BYTES or len(text) * 4 > MAX_FRAME_BYTES:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text)


def _dumps(payload: dict) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
