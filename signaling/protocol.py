"""The room WebSocket protocol, as typed messages (docs/protocol.md is the
specification; this module follows it and a test keeps the two in step).

Every client message is validated into one of the models below before any
handler sees it: unknown types, missing or extra fields and wrong types are
refused with an ``error`` carrying a stable code. Identity and role never come
from a message: they come from the session and the database.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 256 * 1024

# Close codes, by the error ``code`` sent just before the close. The WebSocket
# library under daphne sends only 1000 and 3000-4999 (1008 and 1009 would be
# refused and never reach anyone), so every code is the application's own.
CLOSE_CODES = {
    "sign_in_required": 4001,
    "not_member": 4003,
    "not_found": 4004,
    "banned": 4005,
    "locked": 4006,
    "full": 4007,
    "removed": 4008,
    "lobby_denied": 4009,
    "meeting_ended": 4010,
    "replaced": 4011,
    "timeout": 4012,
    "session_ended": 4013,
    "unsupported_version": 4400,
    "too_big": 4413,
    "rate_limited": 4429,
    "internal": 4500,
}

# Error codes the server sends (``error.code``); stable, for clients to act on.
ERROR_CODES = {
    "bad_json": "The message is not valid JSON.",
    "bad_message": "The message does not follow the protocol.",
    "unknown_type": "The server does not know this message type.",
    "hello_required": "Send hello first.",
    "already_joined": "This connection has already said hello.",
    "rate_limited": "Too many messages; slow down.",
    "forbidden": "Your role does not allow that.",
    "invalid": "That cannot be done now.",
    "not_found": "That person or request is not here any more.",
    "not_joined": "Join the meeting first.",
    "hard_muted": "A moderator muted you.",
    "not_muted": "You are not muted by a moderator.",
    "too_long": "The message is too long.",
    "media_unavailable": (
        "Audio and video are unavailable: the media server cannot be reached. "
        "They come back by themselves when it is."
    ),
    "media_rejected": "The media server refused that request.",
    "lobby_waiting": "You are waiting in the lobby.",
    "too_big": "The message is over 256 KiB.",
    "internal": "Something went wrong on the server. It has been logged; try again.",
    "session_ended": "You signed out, or your account changed. Sign in again to rejoin.",
}

_Id = Annotated[str, StringConstraints(min_length=1, max_length=32)]
_Sdp = Annotated[str, StringConstraints(min_length=1, max_length=64 * 1024)]
_PcName = Literal["up", "down"]


class ClientMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Hello(ClientMessage):
    type: Literal["hello"]
    version: int


class Ping(ClientMessage):
    type: Literal["ping"]


class Pong(ClientMessage):
    type: Literal["pong"]


class Leave(ClientMessage):
    type: Literal["leave"]


class ChatSend(ClientMessage):
    type: Literal["chat_send"]
    text: Annotated[str, StringConstraints(max_length=8000)]
    # Echoed in chat_ack so the client can match its optimistic copy.
    client_id: Annotated[str, StringConstraints(max_length=64)] = ""


class MediaState(ClientMessage):
    type: Literal["media_state"]
    audio: bool | None = None
    video: bool | None = None
    screen: bool | None = None


class HandRaise(ClientMessage):
    type: Literal["hand"]
    raised: bool


class AskToUnmute(ClientMessage):
    type: Literal["ask_unmute"]


class ModMute(ClientMessage):
    type: Literal["mod_mute"]
    participant_id: _Id
    kind: Literal["audio", "video", "screen"]


class ModAllow(ClientMessage):
    type: Literal["mod_allow"]
    participant_id: _Id
    kind: Literal["audio", "video"]


class ModMuteAll(ClientMessage):
    type: Literal["mod_mute_all"]


class ModRemove(ClientMessage):
    type: Literal["mod_remove"]
    participant_id: _Id


class ModLowerHand(ClientMessage):
    type: Literal["mod_lower_hand"]
    participant_id: _Id


class ModBan(ClientMessage):
    type: Literal["mod_ban"]
    participant_id: _Id
    # Empty for a ban for good; otherwise up to a year.
    minutes: Annotated[int, Field(ge=1, le=525_600)] | None = None
    reason: Annotated[str, StringConstraints(max_length=200)] = ""


class ModLock(ClientMessage):
    type: Literal["mod_lock"]
    locked: bool


class ModLobby(ClientMessage):
    type: Literal["mod_lobby"]
    enabled: bool


class ModEndMeeting(ClientMessage):
    type: Literal["mod_end_meeting"]


class ModSetRole(ClientMessage):
    type: Literal["mod_set_role"]
    participant_id: _Id
    role: Literal["moderator", "publisher", "viewer"]


class LobbyAdmit(ClientMessage):
    type: Literal["lobby_admit"]
    request_id: _Id


class LobbyDeny(ClientMessage):
    type: Literal["lobby_deny"]
    request_id: _Id


class SfuOffer(ClientMessage):
    """The client publishes: an offer on its ``up`` connection."""

    type: Literal["sfu_offer"]
    pc: Literal["up"]
    sdp: _Sdp
    # Which of the offered tracks is the screen (its MediaStreamTrack id).
    screen_track_id: Annotated[str, StringConstraints(max_length=128)] = ""


class SfuAnswer(ClientMessage):
    """The client's answer to the SFU's offer on its ``down`` connection."""

    type: Literal["sfu_answer"]
    pc: Literal["down"]
    sdp: _Sdp
    # The session of the offer answered (from ``sfu_offer``).
    session: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class SfuCandidate(ClientMessage):
    type: Literal["sfu_candidate"]
    pc: _PcName
    # Empty string: end of candidates.
    candidate: Annotated[str, StringConstraints(max_length=1024)]
    sdp_mid: Annotated[str, StringConstraints(max_length=64)] | None = None
    sdp_mline_index: Annotated[int, Field(ge=0, le=64)] | None = None


CLIENT_MESSAGES: dict[str, type[ClientMessage]] = {
    model.model_fields["type"].annotation.__args__[0]: model
    for model in (
        Hello,
        Ping,
        Pong,
        Leave,
        ChatSend,
        MediaState,
        HandRaise,
        AskToUnmute,
        ModMute,
        ModAllow,
        ModMuteAll,
        ModRemove,
        ModLowerHand,
        ModBan,
        ModLock,
        ModLobby,
        ModEndMeeting,
        ModSetRole,
        LobbyAdmit,
        LobbyDeny,
        SfuOffer,
        SfuAnswer,
        SfuCandidate,
    )
}

# Every type the server sends; docs/protocol.md documents each one.
SERVER_MESSAGE_TYPES = (
    "welcome",
    "lobby_waiting",
    "error",
    "ping",
    "pong",
    "participant_joined",
    "participant_left",
    "participant_updated",
    "chat_message",
    "chat_ack",
    "lobby_request",
    "lobby_resolved",
    "unmute_requested",
    "muted_by_moderator",
    "allowed_by_moderator",
    "role_changed",
    "room_updated",
    "removed",
    "meeting_ended",
    "sfu_offer",
    "sfu_answer",
    "sfu_candidate",
    "active_speaker",
    "media_restart",
)


class ProtocolError(Exception):
    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(message or ERROR_CODES.get(code, code))
        self.code = code
        self.message = str(self)


def parse(text: str) -> ClientMessage:
    """Validate one text frame into a typed message, or raise ProtocolError."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError("bad_json") from None
    if not isinstance(data, dict):
        raise ProtocolError("bad_message", "A message must be a JSON object.")
    if _has_nul(data):
        # PostgreSQL text cannot hold NUL, and no field has a use for it.
        raise ProtocolError("bad_message", "Text may not contain NUL characters.")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("bad_message", "A message needs a string field `type`.")
    model = CLIENT_MESSAGES.get(kind)
    if model is None:
        raise ProtocolError("unknown_type", f"Unknown message type {kind[:40]!r}.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "message"
        raise ProtocolError(
            "bad_message", f"{kind}: {where}: {first['msg']}."
        ) from None


def _has_nul(data: object) -> bool:
    # Iterative: a deeply nested message must not exhaust the stack.
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return True
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def error(code: str, message: str | None = None, *, ref: str | None = None) -> dict:
    payload = {"type": "error", "code": code, "message": message or ERROR_CODES[code]}
    if ref:
        payload["ref"] = ref
    return payload
