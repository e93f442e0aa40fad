"""What support needs to help someone whose camera, microphone or network
does not work: the result of their pre-call check."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from meetings.models.rooms import Room


class CandidateKind(models.TextChoices):
    """How a browser can reach the media server, best first."""

    HOST = "host", "Direct (host)"
    SRFLX = "srflx", "Through NAT (STUN)"
    RELAY_UDP = "relay-udp", "Relay over UDP (TURN)"
    RELAY_TCP = "relay-tcp", "Relay over TCP (TURN)"
    RELAY_TLS = "relay-tls", "Relay over TLS (TURN)"


class PrecallReport(models.Model):
    """One run of the pre-call check, as the browser saw it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="precall_reports",
    )
    room = models.ForeignKey(
        Room, on_delete=models.SET_NULL, null=True, related_name="precall_reports"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    user_agent = models.CharField(max_length=400, blank=True)
    browser = models.CharField(max_length=80, blank=True)
    # {"videoinput": ["FaceTime HD"], "audioinput": [...], "audiooutput": [...]}
    devices = models.JSONField(default=dict, blank=True)
    # {"camera": "granted|denied|prompt|unknown", "microphone": ...}
    permissions = models.JSONField(default=dict, blank=True)
    # {"secure_context": true, "get_user_media": true, ...}
    capabilities = models.JSONField(default=dict, blank=True)
    # Sorted subset of CandidateKind values that gathered at least one candidate.
    candidate_kinds = models.JSONField(default=list, blank=True)
    problems = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.user} at {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def can_connect(self) -> bool:
        return bool(self.candidate_kinds)
