"""Rooms, who may do what in them, and the record of what happened.

Single-row invariants live on the models (constraints, choices, methods that
change related fields together); anything that spans models is in services.
"""

from meetings.models.live import LobbyRequest, LobbyStatus, Participant
from meetings.models.records import (
    CHAT_MESSAGE_MAX_LENGTH,
    Attendance,
    ChatMessage,
    LeftReason,
    Meeting,
    ModerationAction,
    ModerationKind,
)
from meetings.models.rooms import (
    SLUG_PATTERN,
    Ban,
    Guest,
    Invite,
    Membership,
    Role,
    Room,
    ScreenSharePolicy,
    generate_room_slug,
    invite_pk_from_token,
    invite_token,
)
from meetings.models.support import CandidateKind, PrecallReport

__all__ = [
    "CHAT_MESSAGE_MAX_LENGTH",
    "SLUG_PATTERN",
    "Attendance",
    "Ban",
    "CandidateKind",
    "ChatMessage",
    "Guest",
    "Invite",
    "LeftReason",
    "LobbyRequest",
    "LobbyStatus",
    "Meeting",
    "Membership",
    "ModerationAction",
    "ModerationKind",
    "Participant",
    "PrecallReport",
    "Role",
    "Room",
    "ScreenSharePolicy",
    "generate_room_slug",
    "invite_pk_from_token",
    "invite_token",
]
