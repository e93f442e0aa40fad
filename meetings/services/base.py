"""What every service module shares: the moderator check and the log."""

from __future__ import annotations

from accounts.models import User
from meetings.errors import NotAllowed
from meetings.models import Meeting, ModerationAction, ModerationKind, Room
from meetings.selectors import RoomAccess, room_access_for


def require_moderator(actor: User, room: Room) -> RoomAccess:
    access = room_access_for(user=actor, room=room)
    if not access.can_moderate:
        raise NotAllowed("Only a moderator of this room can do that.")
    return access


def log_action(
    *,
    room: Room,
    actor: User,
    action: ModerationKind,
    target: User | None = None,
    detail: str = "",
    meeting: Meeting | None = None,
) -> None:
    ModerationAction.objects.create(
        room=room,
        meeting=meeting,
        actor=actor,
        target=target,
        action=action,
        detail=detail[:200],
    )
