"""What happened: meetings, attendance, chat and the moderation log."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from meetings.models.rooms import Room


class Meeting(models.Model):
    """One occurrence of a room: from the first person in to the last out."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="meetings")
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            # A room hosts at most one meeting at a time; this also settles the
            # race of two first participants arriving together.
            models.UniqueConstraint(
                fields=["room"],
                condition=models.Q(ended_at__isnull=True),
                name="meetings_meeting_one_open_per_room",
            ),
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True)
                | models.Q(ended_at__gte=models.F("started_at")),
                name="meetings_meeting_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.room} at {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.ended_at is None

    @property
    def duration(self) -> timedelta | None:
        return None if self.ended_at is None else self.ended_at - self.started_at


class LeftReason(models.TextChoices):
    LEFT = "left", "Left"
    DROPPED = "dropped", "Connection lost"
    REMOVED = "removed", "Removed by a moderator"
    BANNED = "banned", "Banned"
    NOT_MEMBER = "not_member", "No longer a member"
    ENDED = "ended", "Meeting ended"


class Attendance(models.Model):
    """One stay of one user in one meeting (reconnects are merged into it)."""

    meeting = models.ForeignKey(
        Meeting, on_delete=models.CASCADE, related_name="attendances"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attendances"
    )
    joined_at = models.DateTimeField(default=timezone.now)
    left_at = models.DateTimeField(null=True, blank=True)
    left_reason = models.CharField(
        "why they left", max_length=12, choices=LeftReason.choices, blank=True
    )

    class Meta:
        ordering = ["meeting", "joined_at"]
        verbose_name_plural = "attendance"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(left_at__isnull=True)
                | models.Q(left_at__gte=models.F("joined_at")),
                name="meetings_attendance_leaves_after_join",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.meeting}"


CHAT_MESSAGE_MAX_LENGTH = 2000


class ChatMessage(models.Model):
    room = models.ForeignKey(
        Room, on_delete=models.CASCADE, related_name="chat_messages"
    )
    meeting = models.ForeignKey(
        Meeting,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="chat_messages",
    )
    # The author's name is kept with the message so history reads the same
    # after an account is deleted or renamed.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    author_name = models.CharField(max_length=80)
    body = models.TextField(max_length=CHAT_MESSAGE_MAX_LENGTH)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The sender's own id for the message: a message sent again after a
    # reconnect (its acknowledgement was lost) is stored once.
    client_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(body=""), name="meetings_chat_has_body"
            ),
            models.UniqueConstraint(
                fields=["room", "author", "client_id"],
                condition=~models.Q(client_id=""),
                name="meetings_chat_once_per_client_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.author_name}: {self.body[:40]}"


class ModerationKind(models.TextChoices):
    MUTE_AUDIO = "mute_audio", "Muted audio"
    ALLOW_UNMUTE = "allow_unmute", "Allowed to unmute"
    STOP_VIDEO = "stop_video", "Stopped video"
    STOP_SCREEN = "stop_screen", "Stopped screen share"
    MUTE_ALL = "mute_all", "Muted everyone"
    REMOVE = "remove", "Removed from meeting"
    BAN = "ban", "Banned from room"
    UNBAN = "unban", "Lifted ban"
    LOCK = "lock", "Locked room"
    UNLOCK = "unlock", "Unlocked room"
    END_MEETING = "end_meeting", "Ended meeting"
    SET_ROLE = "set_role", "Changed role"
    REMOVE_MEMBER = "remove_member", "Removed member"
    ADMIT = "admit", "Admitted from lobby"
    DENY = "deny", "Denied from lobby"
    UPDATE_SETTINGS = "update_settings", "Changed room settings"
    REVOKE_INVITE = "revoke_invite", "Withdrew invite link"


class ModerationAction(models.Model):
    """An append-only log of what moderators did (read-only in the admin)."""

    room = models.ForeignKey(
        Room, on_delete=models.CASCADE, related_name="moderation_actions"
    )
    meeting = models.ForeignKey(
        Meeting, on_delete=models.SET_NULL, null=True, blank=True
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    target = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    action = models.CharField(max_length=20, choices=ModerationKind.choices)
    detail = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(action__in=ModerationKind.values),
                name="meetings_moderation_action_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.actor} {self.get_action_display().lower()} in {self.room}"
