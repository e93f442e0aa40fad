"""Rooms and who may enter them: roles, memberships, invites and bans."""

from __future__ import annotations

import secrets
import string
from datetime import datetime

from django.conf import settings
from django.core import signing
from django.db import models
from django.urls import reverse
from django.utils import timezone

SLUG_PATTERN = r"[a-z]{3}-[a-z]{4}-[a-z]{3}"


def generate_room_slug() -> str:
    """An unguessable, readable room address such as ``abc-defg-hij``.

    Ten random letters carry about 47 bits: nobody finds a room by guessing,
    and the room page refuses outsiders anyway.
    """
    letters = [secrets.choice(string.ascii_lowercase) for _ in range(10)]
    return "-".join(("".join(letters[:3]), "".join(letters[3:7]), "".join(letters[7:])))


class Role(models.TextChoices):
    """Ordered from most to least powerful; see ``Role.rank``."""

    MODERATOR = "moderator", "Moderator"
    # Called "Participant" wherever people read it: in a meeting, one who
    # sends audio and video is simply taking part.
    PUBLISHER = "publisher", "Participant"
    VIEWER = "viewer", "Viewer"

    @property
    def rank(self) -> int:
        return {"moderator": 3, "publisher": 2, "viewer": 1}[self.value]


class ScreenSharePolicy(models.TextChoices):
    PUBLISHERS = "publishers", "Participants and moderators"
    MODERATORS = "moderators", "Moderators only"


class Room(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(
        max_length=12, unique=True, default=generate_room_slug, editable=False
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_rooms"
    )
    is_locked = models.BooleanField(
        "locked", default=False, help_text="Only moderators may join a locked room."
    )
    lobby_enabled = models.BooleanField(
        "lobby",
        default=False,
        help_text="Participants wait until a moderator admits them.",
    )
    max_participants = models.PositiveSmallIntegerField(
        default=12, help_text="Between 2 and 100 people at once."
    )
    screen_share_policy = models.CharField(
        "who may share their screen",
        max_length=20,
        choices=ScreenSharePolicy.choices,
        default=ScreenSharePolicy.PUBLISHERS,
    )
    guests_allowed = models.BooleanField(
        "guests",
        default=False,
        help_text=(
            "People with an invite link may join with just a name, without an account."
        ),
    )
    chat_enabled = models.BooleanField("chat", default=True)
    viewers_may_chat = models.BooleanField(
        "viewers may chat", default=True, help_text="Only applies when chat is on."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # What a room's moderators may change: the settings page offers exactly
    # these, and room_update_settings() accepts nothing else.
    SETTINGS_FIELDS = (
        "name",
        "is_locked",
        "lobby_enabled",
        "guests_allowed",
        "max_participants",
        "screen_share_policy",
        "chat_enabled",
        "viewers_may_chat",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_participants__gte=2, max_participants__lte=100),
                name="meetings_room_max_participants_range",
            ),
            models.CheckConstraint(
                condition=~models.Q(name=""), name="meetings_room_has_name"
            ),
            models.CheckConstraint(
                condition=models.Q(screen_share_policy__in=ScreenSharePolicy.values),
                name="meetings_room_screen_share_policy_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("room", args=[self.slug])


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.PUBLISHER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["room", "user"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "room"], name="meetings_membership_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values),
                name="meetings_membership_role_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.room} as {self.role}"


class Invite(models.Model):
    """A link that makes whoever follows it (signed in) a member with ``role``.

    The link carries a signed token naming this row, so ids cannot be forged
    or enumerated; expiry, use limit and revocation are checked here.
    """

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="invites")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.PUBLISHER)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    max_uses = models.PositiveIntegerField(
        null=True, blank=True, help_text="Leave empty for no limit."
    )
    use_count = models.PositiveIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_uses__isnull=True)
                | models.Q(use_count__lte=models.F("max_uses")),
                name="meetings_invite_uses_within_limit",
            ),
            models.CheckConstraint(
                condition=models.Q(max_uses__isnull=True) | models.Q(max_uses__gte=1),
                name="meetings_invite_max_uses_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values),
                name="meetings_invite_role_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Invite to {self.room} as {self.role}"

    def unusable_reason(self, now: datetime | None = None) -> str | None:
        """Why this invite cannot be used now, in words for the person holding it."""
        now = now or timezone.now()
        ask_again = "Ask the person who sent it for a new one."
        if self.revoked_at is not None:
            return (
                "This invite was withdrawn. Ask the person who sent it for a new one."
            )
        if self.expires_at <= now:
            return f"This invite has expired. {ask_again}"
        if self.max_uses is not None and self.use_count >= self.max_uses:
            return f"This invite has been used up. {ask_again}"
        return None

    @property
    def is_usable(self) -> bool:
        return self.unusable_reason() is None


class BanQuerySet(models.QuerySet["Ban"]):
    def active(self, now: datetime | None = None) -> BanQuerySet:
        now = now or timezone.now()
        return self.filter(models.Q(until__isnull=True) | models.Q(until__gt=now))


class Ban(models.Model):
    """Keeps a user out of a room until ``until`` (forever when empty)."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="bans")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    until = models.DateTimeField(
        null=True, blank=True, help_text="Empty means for good."
    )
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = BanQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["room", "user"], name="meetings_ban_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} banned from {self.room}"

    def is_active(self, now: datetime | None = None) -> bool:
        return self.until is None or self.until > (now or timezone.now())


class Guest(models.Model):
    """Someone who joined by an invite link with just a name.

    A guest is a user without an e-mail address or password (``is_guest``),
    signed in by a session cookie, so lobby, mutes, removal, bans, attendance
    and chat work for them as for anyone. This row scopes them: a guest can
    enter ``room`` and nothing else, and ``invite`` is the link they came by,
    withdrawn when they are banned.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="guest"
    )
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="guests")
    invite = models.ForeignKey(
        Invite, on_delete=models.SET_NULL, null=True, blank=True, related_name="guests"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user.display_name} (guest in {self.room})"


INVITE_SALT = "parley.meetings.invite"


def invite_token(invite: Invite) -> str:
    """The signed token that goes into an invite link."""
    return signing.dumps({"invite": invite.pk}, salt=INVITE_SALT, compress=True)


def invite_pk_from_token(token: str) -> int | None:
    """The invite id a token names, or None when it was not signed by us."""
    try:
        data = signing.loads(token, salt=INVITE_SALT)
    except signing.BadSignature:
        return None
    pk = data.get("invite") if isinstance(data, dict) else None
    return pk if isinstance(pk, int) else None
