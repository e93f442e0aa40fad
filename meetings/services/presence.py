"""Entering and leaving a meeting: admission, the lobby, joins, reconnects
within the grace period, and departures (the meeting ends with the last).

Every function runs in one transaction; the caller sends channel-layer events
after it returns, so nobody is told of a change that did not commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from meetings import events
from meetings.errors import InvalidOperation, Refused
from meetings.models import (
    Attendance,
    LeftReason,
    LobbyRequest,
    LobbyStatus,
    Meeting,
    ModerationKind,
    Participant,
    Room,
)
from meetings.selectors import Denial, RoomAccess, room_access_for
from meetings.services.base import log_action, require_moderator


def _grace() -> timedelta:
    return timedelta(seconds=settings.MEETING_RECONNECT_GRACE)


def _live_lease() -> timedelta:
    """How long a live connection's presence lasts without renewal.

    The connection renews it every third of MEETING_PRESENCE_LEASE, so a
    participant whose process dies is let go at most this long after its
    last renewal: within the grace period when the lease is no longer.
    """
    return max(_grace(), timedelta(seconds=settings.MEETING_PRESENCE_LEASE))


def _open_meeting(room: Room) -> Meeting | None:
    return Meeting.objects.filter(room=room, ended_at__isnull=True).first()


def _present(meeting: Meeting):
    return Participant.objects.filter(
        meeting=meeting, left_at__isnull=True, removed=False
    )


def _lapsed(**filters: object):
    """Participants still present whose lease has run out."""
    return Participant.objects.filter(
        left_at__isnull=True, lease_expires_at__lt=timezone.now(), **filters
    )


def _refusal_for_denial(access: RoomAccess) -> Refused:
    if access.denial == Denial.SIGN_IN:
        return Refused("Sign in to join this meeting.", code="sign_in_required")
    if access.denial == Denial.BANNED:
        return Refused(access.ban_message, code="banned")
    return Refused(
        "You are not a member of this room. Ask a moderator for an invite link.",
        code="not_member",
    )


# Entering


@dataclass(frozen=True)
class Admission:
    """The verdict on someone knocking: may they in, and must they wait?"""

    room: Room
    access: RoomAccess
    wait_in_lobby: bool


def participant_admission(*, user: User, slug: str) -> Admission:
    """Check a connection before it is accepted. Raises ``Refused``."""
    room = Room.objects.filter(slug=slug).first()
    if room is None:
        raise Refused("There is no room at this address.", code="not_found")
    access = room_access_for(user=user, room=room)
    if not access.can_join:
        raise _refusal_for_denial(access)
    meeting = _open_meeting(room)
    participant = (
        Participant.objects.filter(meeting=meeting, user=user).first()
        if meeting
        else None
    )
    _check_entry(room, access, meeting, participant)
    return Admission(
        room=room,
        access=access,
        wait_in_lobby=_needs_lobby(room, access, meeting, user),
    )


def _check_entry(
    room: Room,
    access: RoomAccess,
    meeting: Meeting | None,
    participant: Participant | None,
) -> None:
    if participant is not None and participant.removed:
        raise Refused(
            "A moderator removed you from this meeting. You can join its next meeting.",
            code="removed",
        )
    if participant is not None and participant.is_present:
        return  # coming back within the grace period: locks and limits don't apply
    if room.is_locked and not access.can_moderate:
        raise Refused(
            "This room is locked: only moderators can join right now. Ask one to unlock it.",
            code="locked",
        )
    seated = _present(meeting).exclude(lease_expires_at__lt=timezone.now())
    if meeting is not None and seated.count() >= room.max_participants:
        raise Refused(
            f"This meeting is full ({room.max_participants} people). Try again later, "
            "or ask a moderator to raise the limit.",
            code="full",
        )


def _needs_lobby(
    room: Room, access: RoomAccess, meeting: Meeting | None, user: User
) -> bool:
    if not room.lobby_enabled or access.can_moderate:
        return False
    if meeting is None:
        return True
    if _present(meeting).filter(user=user).exists():
        return False
    return not LobbyRequest.objects.filter(
        room=room, user=user, meeting=meeting, status=LobbyStatus.ADMITTED
    ).exists()


@dataclass(frozen=True)
class JoinResult:
    participant: Participant
    meeting: Meeting
    # True when the participant came back within the grace period: the others
    # never saw them leave, and their state (mutes, hand) is as it was.
    resumed: bool
    # The channel of an earlier live connection of the same user, now replaced.
    replaced_channel: str = ""
    # Participants whose grace period ran out unnoticed (their process died).
    expired: list[Participant] = field(default_factory=list)


def participant_join(*, user: User, room: Room, channel_name: str) -> JoinResult:
    """Enter the room's meeting, starting one if none is running."""
    with transaction.atomic():
        # One join at a time per room: the size limit and "one open meeting"
        # must hold when two people arrive together.
        room = Room.objects.select_for_update().get(pk=room.pk)
        access = room_access_for(user=user, room=room)
        if not access.can_join:
            raise _refusal_for_denial(access)
        expired = _expire_stale(room)
        meeting = _open_meeting(room)
        participant = None
        if meeting is not None:
            participant = Participant.objects.filter(meeting=meeting, user=user).first()
        _check_entry(room, access, meeting, participant)
        if _needs_lobby(room, access, meeting, user):
            raise Refused("Wait for a moderator to let you in.", code="lobby_required")
        if meeting is None:
            meeting = Meeting.objects.create(room=room)
        resumed = participant is not None and participant.is_present
        replaced = ""
        if participant is None:
            participant = Participant(
                room=room, meeting=meeting, user=user, display_name=user.display_name
            )
        elif resumed:
            if participant.channel_name != channel_name:
                replaced = participant.channel_name
        else:  # left earlier in this meeting and is back
            participant.left_at = None
            participant.joined_at = timezone.now()
        if not resumed:
            _stay_begin(meeting, user)
        participant.display_name = user.display_name
        participant.channel_name = channel_name
        participant.disconnected_at = None
        participant.lease_expires_at = timezone.now() + _live_lease()
        participant.save()
        events.publish(
            events.ParticipantJoined(
                room_id=room.pk,
                participant_id=participant.pk,
                resumed=resumed,
                replaced_channel=replaced,
            )
        )
    return JoinResult(
        participant=participant,
        meeting=meeting,
        resumed=resumed,
        replaced_channel=replaced,
        expired=expired,
    )


# A stay that ended this way and resumes within the grace period is one stay.
_RESUMABLE = (LeftReason.LEFT, LeftReason.DROPPED)


def _stay_begin(meeting: Meeting, user: User) -> None:
    """Open the user's attendance in the meeting: a new row, or their last
    one again when they left or dropped less than the grace period ago (a
    reload leaves as the page goes and joins as it comes back: one stay,
    not two)."""
    last = (
        Attendance.objects.filter(meeting=meeting, user=user)
        .order_by("-joined_at", "-pk")
        .first()
    )
    if (
        last is not None
        and last.left_at is not None
        and last.left_reason in _RESUMABLE
        and last.left_at >= timezone.now() - _grace()
    ):
        last.left_at = None
        last.left_reason = ""
        last.save(update_fields=["left_at", "left_reason"])
    else:
        Attendance.objects.create(meeting=meeting, user=user)


def _expire_stale(room: Room) -> list[Participant]:
    """Let go of this room's participants whose lease has run out, before
    counting seats (the sweep does the same for every room, every second or
    so; this makes a join never wait for it)."""
    return [
        _leave(participant, reason=LeftReason.DROPPED).participant
        for participant in _lapsed(room=room)
    ]


# Leaving


@dataclass(frozen=True)
class LeaveResult:
    participant: Participant
    meeting_ended: bool
    # The connection the participant had, if any, to tell it they are out.
    last_channel: str = ""


# Why someone left, as the room is told; these put them out of the meeting.
PUT_OUT = ("removed", "banned", "not_member")


def _leave(participant: Participant, *, reason: str = LeftReason.LEFT) -> LeaveResult:
    """End a stay; ``reason`` is a ``LeftReason`` (the room hears
    ``dropped`` as ``left``)."""
    reason = LeftReason(reason)
    last_channel = participant.channel_name
    participant.mark_left(removed=reason in PUT_OUT)
    participant.save()
    Attendance.objects.filter(
        meeting=participant.meeting_id, user=participant.user_id, left_at__isnull=True
    ).update(left_at=participant.left_at, left_reason=reason)
    meeting = participant.meeting
    ended = False
    if not _present(meeting).exists():
        meeting.ended_at = timezone.now()
        meeting.save(update_fields=["ended_at"])
        _cancel_lobby(meeting.room)
        ended = True
    events.publish(
        events.ParticipantLeft(
            room_id=participant.room_id,
            public_id=participant.public_id,
            channel=last_channel,
            reason=reason.value,
            meeting_ended=ended,
        )
    )
    return LeaveResult(
        participant=participant, meeting_ended=ended, last_channel=last_channel
    )


def participant_disconnected(*, participant_id: int, channel_name: str) -> bool:
    """A connection dropped: keep the participant for the grace period.

    Returns False when that connection had already been replaced or had left.
    """
    now = timezone.now()
    with transaction.atomic():
        dropped = (
            Participant.objects.filter(
                pk=participant_id, channel_name=channel_name, left_at__isnull=True
            )
            .select_for_update()
            .first()
        )
        if dropped is None:
            return False
        dropped.channel_name = ""
        dropped.disconnected_at = now
        dropped.lease_expires_at = now + _grace()
        dropped.save(
            update_fields=["channel_name", "disconnected_at", "lease_expires_at"]
        )
        events.publish(
            events.ParticipantChanged(
                room_id=dropped.room_id, participant_id=dropped.pk
            )
        )
    return True


def participant_renew_lease(*, participant_id: int, channel_name: str) -> bool:
    """The live connection is still there. False when this connection no
    longer holds the participant (it left, was let go or was replaced)."""
    return bool(
        Participant.objects.filter(
            pk=participant_id, channel_name=channel_name, left_at__isnull=True
        ).update(lease_expires_at=timezone.now() + _live_lease())
    )


@dataclass(frozen=True)
class Lapsed:
    """What one sweep let go of."""

    left: list[LeaveResult]
    lobby: list[LobbyRequest]


def presence_expire_lapsed() -> Lapsed:
    """Let go of everyone, in every room, whose lease has run out: people
    who dropped and did not come back within the grace period, and those
    whose server process died without seeing them go. Any process may run
    this; row locks keep two from letting go of the same person twice."""
    left = []
    for participant_id in _lapsed().values_list("pk", flat=True):
        with transaction.atomic():
            participant = (
                _lapsed(pk=participant_id)
                .select_for_update()
                .select_related("meeting__room")
                .first()
            )
            if participant is not None:
                # Whether the drop was seen or the process died unseen, the
                # connection was lost: nobody left on purpose.
                left.append(_leave(participant, reason=LeftReason.DROPPED))
    lobby = []
    for request in LobbyRequest.objects.filter(
        status=LobbyStatus.PENDING, lease_expires_at__lt=timezone.now()
    ):
        if lobby_request_cancel(request_id=request.pk):
            lobby.append(request)
    return Lapsed(left=left, lobby=lobby)


def participant_leave(*, participant_id: int, channel_name: str) -> LeaveResult | None:
    """Leave on purpose, at once (no grace period)."""
    with transaction.atomic():
        participant = (
            Participant.objects.select_for_update()
            .filter(pk=participant_id, channel_name=channel_name, left_at__isnull=True)
            .select_related("meeting__room")
            .first()
        )
        return _leave(participant) if participant else None


# The lobby


def lobby_request_create(*, user: User, room: Room, channel_name: str) -> LobbyRequest:
    """Wait in the lobby; an earlier waiting connection of the same user is
    replaced (its request is cancelled). Someone a moderator just turned
    away must wait LOBBY_COOL_DOWN before knocking again, however often they
    reconnect."""
    with transaction.atomic():
        denied = (
            LobbyRequest.objects.filter(
                room=room,
                user=user,
                status=LobbyStatus.DENIED,
                decided_at__gt=timezone.now() - _lobby_cool_down(),
            )
            .order_by("-decided_at")
            .first()
        )
        if denied is not None:
            wait = denied.decided_at + _lobby_cool_down() - timezone.now()
            raise Refused(
                "A moderator did not let you in. You can ask again in "
                f"{_in_words(wait)}.",
                code="lobby_denied",
            )
        for earlier in LobbyRequest.objects.filter(
            room=room, user=user, status=LobbyStatus.PENDING
        ).select_for_update():
            _resolve(earlier, LobbyStatus.CANCELLED)
        request = LobbyRequest.objects.create(
            room=room,
            user=user,
            display_name=user.display_name,
            channel_name=channel_name,
            lease_expires_at=timezone.now() + _live_lease(),
        )
        events.publish(events.LobbyKnocked(room_id=room.pk, request_id=request.pk))
        return request


def _lobby_cool_down() -> timedelta:
    return timedelta(seconds=settings.LOBBY_COOL_DOWN)


def _in_words(wait: timedelta) -> str:
    seconds = max(1, round(wait.total_seconds()))
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{round(seconds / 60)} minutes"


def _resolve(
    request: LobbyRequest, status: LobbyStatus, *, actor: User | None = None
) -> None:
    request.status = status
    request.decided_at = timezone.now()
    request.decided_by = actor
    request.save(update_fields=["status", "decided_at", "decided_by"])
    events.publish(
        events.LobbyResolved(
            room_id=request.room_id,
            request_id=request.pk,
            channel=request.channel_name,
            status=status,
        )
    )


def lobby_request_renew_lease(*, request_id: int) -> None:
    LobbyRequest.objects.filter(pk=request_id, status=LobbyStatus.PENDING).update(
        lease_expires_at=timezone.now() + _live_lease()
    )


def lobby_request_cancel(*, request_id: int) -> bool:
    """The waiting user went away. Returns False if it was already decided."""
    with transaction.atomic():
        request = (
            LobbyRequest.objects.filter(pk=request_id, status=LobbyStatus.PENDING)
            .select_for_update()
            .first()
        )
        if request is None:
            return False
        _resolve(request, LobbyStatus.CANCELLED)
    return True


def lobby_decide(
    *, actor: User, room: Room, request_id: str, admit: bool
) -> LobbyRequest:
    require_moderator(actor, room)
    with transaction.atomic():
        request = (
            LobbyRequest.objects.select_for_update()
            .filter(room=room, public_id=request_id, status=LobbyStatus.PENDING)
            .first()
        )
        if request is None:
            raise InvalidOperation(
                "That person is no longer waiting in the lobby.", code="not_found"
            )
        meeting = _open_meeting(room)
        if admit and meeting is None:
            meeting = Meeting.objects.create(room=room)
        request.meeting = meeting
        request.save(update_fields=["meeting"])
        _resolve(
            request,
            LobbyStatus.ADMITTED if admit else LobbyStatus.DENIED,
            actor=actor,
        )
        log_action(
            room=room,
            meeting=meeting,
            actor=actor,
            target=request.user,
            action=ModerationKind.ADMIT if admit else ModerationKind.DENY,
        )
    return request


def _cancel_lobby(room: Room) -> list[LobbyRequest]:
    """Cancel the room's waiting requests; return them (their connections)."""
    waiting = list(
        LobbyRequest.objects.filter(
            room=room, status=LobbyStatus.PENDING
        ).select_for_update()
    )
    for request in waiting:
        _resolve(request, LobbyStatus.CANCELLED)
    return waiting
