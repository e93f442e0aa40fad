"""Who is in a meeting right now, and who waits in the lobby.

Presence lives in the database, not in channel-layer groups (which cannot be
listed), so every server process sees the same participant list.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from meetings.models.records import Meeting
from meetings.models.rooms import Room


def new_public_id() -> str:
    """The id a participant or lobby request has on the wire: random, so that
    ids reveal nothing and cannot be guessed from one another."""
    return secrets.token_urlsafe(9)


class Participant(models.Model):
    """One user's presence in one meeting, across reconnects.

    A user has one row per meeting: a reconnect, or a rejoin after leaving,
    reuses it, so hard mutes and removal hold for the whole meeting.
    """

    public_id = models.CharField(max_length=16, unique=True, default=new_public_id)
    room = models.ForeignKey(
        Room, on_delete=models.CASCADE, related_name="participants"
    )
    meeting = models.ForeignKey(
        Meeting, on_delete=models.CASCADE, related_name="participants"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    display_name = models.CharField(max_length=80)
    # The Channels channel of the live connection; empty while disconnected.
    channel_name = models.CharField(max_length=200, blank=True)
    joined_at = models.DateTimeField(default=timezone.now)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    # Presence is a lease: the live connection renews it, and a participant
    # whose lease has run out is let go by any server process. That is what
    # ends the stay of someone whose process died (kill, crash, restart)
    # without ever seeing the disconnect.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)
    removed = models.BooleanField(default=False)
    audio_on = models.BooleanField(default=False)
    video_on = models.BooleanField(default=False)
    screen_on = models.BooleanField(default=False)
    hand_raised = models.BooleanField(default=False)
    # When they last asked the moderators to unmute them (asking is limited
    # per person, not per connection: reconnecting does not reset it).
    unmute_asked_at = models.DateTimeField(null=True, blank=True)
    audio_hard_muted = models.BooleanField(default=False)
    video_hard_muted = models.BooleanField(default=False)

    class Meta:
        ordering = ["joined_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["meeting", "user"], name="meetings_participant_once_per_meeting"
            ),
            # A hard mute is a state the participant cannot be in while sending.
            models.CheckConstraint(
                condition=~models.Q(audio_on=True, audio_hard_muted=True),
                name="meetings_participant_hard_mute_silences_audio",
            ),
            models.CheckConstraint(
                condition=~models.Q(video_on=True, video_hard_muted=True),
                name="meetings_participant_hard_stop_stops_video",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} in {self.meeting}"

    @property
    def is_present(self) -> bool:
        return self.left_at is None and not self.removed

    @property
    def is_connected(self) -> bool:
        return self.is_present and bool(self.channel_name)

    def hard_mute(self, kind: str) -> None:
        """Silence one kind of media and keep it silenced until allowed."""
        if kind == "audio":
            self.audio_on, self.audio_hard_muted = False, True
        elif kind == "video":
            self.video_on, self.video_hard_muted = False, True
        elif kind == "screen":
            self.screen_on = False
        else:
            raise ValueError(f"unknown media kind {kind!r}")

    def mark_left(self, *, removed: bool = False) -> None:
        self.left_at = timezone.now()
        self.channel_name = ""
        self.removed = self.removed or removed
        self.audio_on = self.video_on = self.screen_on = self.hand_raised = False


class LobbyStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    ADMITTED = "admitted", "Admitted"
    DENIED = "denied", "Denied"
    CANCELLED = "cancelled", "Left before a decision"


class LobbyRequest(models.Model):
    """A user waiting to be let into a room with the lobby on.

    Admission is for one meeting: the admitted user may reconnect to it without
    waiting again, but the next meeting has its own lobby.
    """

    public_id = models.CharField(max_length=16, unique=True, default=new_public_id)
    room = models.ForeignKey(
        Room, on_delete=models.CASCADE, related_name="lobby_requests"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    display_name = models.CharField(max_length=80)
    channel_name = models.CharField(max_length=200, blank=True)
    # Renewed by the waiting connection, as a participant's lease is.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=LobbyStatus.choices, default=LobbyStatus.PENDING
    )
    meeting = models.ForeignKey(
        Meeting, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["room", "user"],
                condition=models.Q(status="pending"),
                name="meetings_lobby_one_pending_per_user",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=LobbyStatus.values),
                name="meetings_lobby_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} waiting for {self.room}"
