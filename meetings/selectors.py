"""Reads. ``room_access_for`` is the one access rule: views, the WebSocket
consumer and the services all ask it, and nothing else decides who may do what.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AnonymousUser
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from accounts.models import User
from meetings.models import (
    Ban,
    ChatMessage,
    Guest,
    Invite,
    LobbyRequest,
    LobbyStatus,
    Membership,
    Participant,
    Role,
    Room,
    ScreenSharePolicy,
    invite_pk_from_token,
)

# A link copied from the meeting page must still work for a day at least:
# invitations are often read the next morning.
INVITE_SHARE_MIN_LIFE = timedelta(days=1)


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


def guest_of(user: User | AnonymousUser) -> Guest | None:
    """The ``Guest`` row of a guest (None for anyone else, or a guest whose
    row is gone, who then belongs nowhere)."""
    if not user.is_authenticated or not user.is_guest:
        return None
    try:
        return user.guest  # cached on the user after the first read
    except Guest.DoesNotExist:
        return None


def room_access_for(*, user: User | AnonymousUser, room: Room) -> RoomAccess:
    """The role and capabilities of ``user`` in ``room``.

    A guest has nothing outside the one room they joined, whatever
    memberships they were given elsewhere. Superusers and the owner are
    moderators (a ban cannot lock the owner out of their own room); an active
    ban takes everything from anyone else; members get their membership's
    role; everyone else gets nothing.
    """
    if not user.is_authenticated:
        return RoomAccess(role=None, denial=Denial.SIGN_IN)
    if not user.is_active:
        return RoomAccess(role=None, denial=Denial.SIGN_IN)
    if user.is_guest:
        guest = guest_of(user)
        if guest is None or guest.room_id != room.pk:
            return RoomAccess(role=None, denial=Denial.NOT_MEMBER)
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


def invite_from_token(*, token: str) -> Invite | None:
    """The invite a link's token names, usable or not (None when the token is
    not ours or the invite is gone)."""
    pk = invite_pk_from_token(token)
    if pk is None:
        return None
    return Invite.objects.select_related("room", "created_by").filter(pk=pk).first()


def invite_for_sharing(*, room: Room, creator: User) -> Invite | None:
    """The newest link ``creator`` made for ``room`` that a moderator may
    hand out again from the meeting page: anyone may join by it as a
    participant, as often as needed, for at least another day (so a link
    copied now still works tomorrow)."""
    now = timezone.now()
    candidates = room.invites.filter(
        created_by=creator,
        role=Role.PUBLISHER,
        max_uses__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=now + INVITE_SHARE_MIN_LIFE,
    ).order_by("-created_at")
    return candidates.first()


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


def participant_is_removed(*, room: Room, user: User) -> bool:
    """Whether a moderator put ``user`` out of the room's running meeting
    (removed, or banned since): they may not come back to this meeting."""
    return Participant.objects.filter(
        room=room, user=user, meeting__ended_at__isnull=True, removed=True
    ).exists()


def chat_history(*, room: Room, limit: int = 100) -> list[ChatMessage]:
    """The room's last ``limit`` chat messages, oldest first."""
    latest = room.chat_messages.order_by("-created_at", "-id")[:limit]
    return list(reversed(latest))


def lobby_waiting(*, room: Room) -> list[LobbyRequest]:
    return list(room.lobby_requests.filter(status=LobbyStatus.PENDING))


def allowed_sources(*, access: RoomAccess, participant: Participant) -> frozenset[str]:
    """What the SFU may forward of this participant: the sources (``mic``,
    ``cam``, ``screen``; see sfu/api.py) their role, a moderator's stops and
    the room's policy allow. A stopped camera stops the screen too: the
    server cannot tell a screen from a camera sent as one."""
    sources = set()
    if access.can_publish and not participant.audio_hard_muted:
        sources.add("mic")
    if access.can_publish and not participant.video_hard_muted:
        sources.add("cam")
    if access.can_share_screen and not participant.video_hard_muted:
        sources.add("screen")
    return frozenset(sources)


@dataclass(frozen=True)
class MediaRights:
    """What one live participant may do, read fresh from the database."""

    room: Room
    access: RoomAccess
    participant: Participant | None  # None once they are no longer present

    @property
    def allowed(self) -> frozenset[str]:
        if self.participant is None:
            return frozenset()
        return allowed_sources(access=self.access, participant=self.participant)


def media_rights(*, room_id: int, user: User, participant_id: int) -> MediaRights:
    room = Room.objects.get(pk=room_id)
    participant = Participant.objects.filter(
        pk=participant_id, left_at__isnull=True, removed=False
    ).first()
    return MediaRights(
        room=room,
        access=room_access_for(user=user, room=room),
        participant=participant,
    )
