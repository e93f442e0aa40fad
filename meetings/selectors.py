"""Reads. ``room_access_for`` is the one access rule: views, the WebSocket
consumer and the services all ask it, and nothing else decides who may do what.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AnonymousUser
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from accounts.models import User
from meetings.models import (
    Ban,
    ChatMessage,
    Invite,
    LobbyRequest,
    LobbyStatus,
    Membership,
    Participant,
    Role,
    Room,
    ScreenSharePolicy,
)


class Denial(enum.Enum):
    """Why someone has no access to a room; the wire protocol uses these names."""

    SIGN_IN = "sign_in_required"
    NOT_MEMBER = "not_member"
    BANNED = "banned"


@dataclass(frozen=True)
class RoomAccess:
    """What one user may do in one room, right now."""

    role: Role | None
    denial: Denial | None = None
    banned_until: datetime | None = None
    can_publish: bool = False
    can_share_screen: bool = False
    can_chat: bool = False
    can_moderate: bool = False

    @property
    def can_join(self) -> bool:
        return self.role is not None

    @property
    def is_moderator(self) -> bool:
        return self.role == Role.MODERATOR

    @property
    def capabilities(self) -> dict[str, bool]:
        """The capabilities as the browser sees them (page and protocol)."""
        return {
            "publish": self.can_publish,
            "share_screen": self.can_share_screen,
            "chat": self.can_chat,
            "moderate": self.can_moderate,
        }

    @property
    def ban_message(self) -> str:
        """What a banned user is told, on the web pages and in the meeting."""
        until = (
            f"until {timezone.localtime(self.banned_until):%d %b %Y, %H:%M}"
            if self.banned_until
            else "for good"
        )
        return f"A moderator has banned you from this room {until}."


def _granted(room: Room, role: Role) -> RoomAccess:
    moderator = role == Role.MODERATOR
    publisher = moderator or role == Role.PUBLISHER
    screen = moderator or (
        publisher and room.screen_share_policy == ScreenSharePolicy.PUBLISHERS
    )
    chat = room.chat_enabled and (role != Role.VIEWER or room.viewers_may_chat)
    return RoomAccess(
        role=role,
        can_publish=publisher,
        can_share_screen=screen,
        can_chat=chat,
        can_moderate=moderator,
    )


def room_access_for(*, user: User | AnonymousUser, room: Room) -> RoomAccess:
    """The role and capabilities of ``user`` in ``room``.

    Superusers and the owner are moderators (a ban cannot lock the owner out of
    their own room); an active ban takes everything from anyone else; members
    get their membership's role; everyone else gets nothing.
    """
    if not user.is_authenticated:
        return RoomAccess(role=None, denial=Denial.SIGN_IN)
    if not user.is_active:
        return RoomAccess(role=None, denial=Denial.SIGN_IN)
    if user.is_superuser or room.owner_id == user.pk:
        return _granted(room, Role.MODERATOR)
    ban = Ban.objects.active().filter(room=room, user=user).first()
    if ban is not None:
        return RoomAccess(role=None, denial=Denial.BANNED, banned_until=ban.until)
    role = (
        Membership.objects.filter(room=room, user=user)
        .values_list("role", flat=True)
        .first()
    )
    if role is None:
        return RoomAccess(role=None, denial=Denial.NOT_MEMBER)
    return _granted(room, Role(role))


def rooms_for_user(*, user: User) -> QuerySet[Room]:
    """Rooms the user owns or belongs to (and is not banned from), newest first.

    Each room carries ``membership_role`` (None for an owner without a row).
    """
    banned_rooms = Ban.objects.active().filter(user=user).values("room")
    role = Membership.objects.filter(room=OuterRef("pk"), user=user).values("role")[:1]
    return (
        Room.objects.filter(Q(owner=user) | Q(memberships__user=user))
        .exclude(Q(pk__in=banned_rooms) & ~Q(owner=user))
        .annotate(membership_role=Subquery(role))
        .select_related("owner")
        .distinct()
        .order_by("-updated_at")
    )


def room_members(*, room: Room) -> QuerySet[Membership]:
    return room.memberships.select_related("user").order_by("user__display_name")


def room_active_invites(*, room: Room) -> list[Invite]:
    invites = room.invites.filter(
        revoked_at__isnull=True, expires_at__gt=timezone.now()
    )
    return [invite for invite in invites if invite.is_usable]


def room_active_bans(*, room: Room) -> QuerySet[Ban]:
    return room.bans.active().select_related("user")


# During a meeting


def roles_of(*, room: Room, users: list[User]) -> dict[int, Role]:
    """Each user's role in the room, in two queries whatever their number."""
    roles = dict(
        Membership.objects.filter(room=room, user__in=users).values_list("user", "role")
    )
    return {
        user.pk: (
            Role.MODERATOR
            if user.is_superuser or user.pk == room.owner_id
            else Role(roles.get(user.pk, Role.VIEWER))
        )
        for user in users
    }


def meeting_participants(*, room: Room) -> list[tuple[Participant, Role]]:
    """Who is in the room's running meeting now (reconnecting ones included)."""
    participants = list(
        Participant.objects.filter(
            room=room,
            meeting__ended_at__isnull=True,
            left_at__isnull=True,
            removed=False,
        ).select_related("user")
    )
    roles = roles_of(room=room, users=[p.user for p in participants])
    return [(p, roles[p.user_id]) for p in participants]


def chat_history(*, room: Room, limit: int = 100) -> list[ChatMessage]:
    """The room's last ``limit`` chat messages, oldest first."""
    latest = room.chat_messages.order_by("-created_at", "-id")[:limit]
    return list(reversed(latest))


def lobby_waiting(*, room: Room) -> list[LobbyRequest]:
    return list(room.lobby_requests.filter(status=LobbyStatus.PENDING))
