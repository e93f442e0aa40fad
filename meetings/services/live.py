"""What happens during a meeting: entering (lobby included), leaving, chat,
media state and the moderator's controls over participants.

Every function re-reads the actor's rights from the database (roles change
live, settings change from the web pages) and runs in one transaction; the
caller sends the channel-layer events after it returns, so nobody is told of a
change that did not commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from meetings.errors import InvalidOperation, NotAllowed, Refused
from meetings.models import (
    CHAT_MESSAGE_MAX_LENGTH,
    Attendance,
    ChatMessage,
    LobbyRequest,
    LobbyStatus,
    Meeting,
    ModerationKind,
    Participant,
    Role,
    Room,
)
from meetings.selectors import Denial, RoomAccess, room_access_for
from meetings.services.base import log_action, require_moderator
from meetings.services.rooms import membership_set_role, user_ban

MEDIA_KINDS = ("audio", "video", "screen")
_MUTE_ACTIONS = {
    "audio": ModerationKind.MUTE_AUDIO,
    "video": ModerationKind.STOP_VIDEO,
    "screen": ModerationKind.STOP_SCREEN,
}


def _grace() -> timedelta:
    return timedelta(seconds=settings.MEETING_RECONNECT_GRACE)


def _open_meeting(room: Room) -> Meeting | None:
    return Meeting.objects.filter(room=room, ended_at__isnull=True).first()


def _present(meeting: Meeting):
    return Participant.objects.filter(
        meeting=meeting, left_at__isnull=True, removed=False
    )


def _refusal_for_denial(access: RoomAccess) -> Refused:
    if access.denial == Denial.SIGN_IN:
        return Refused("Sign in to join this meeting.", code="sign_in_required")
    if access.denial == Denial.BANNED:
        until = (
            f"until {timezone.localtime(access.banned_until):%d %b %Y, %H:%M}"
            if access.banned_until
            else "for good"
        )
        return Refused(
            f"A moderator has banned you from this room {until}.", code="banned"
        )
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
    if meeting is not None and _present(meeting).count() >= room.max_participants:
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
            Attendance.objects.create(meeting=meeting, user=user)
        participant.display_name = user.display_name
        participant.channel_name = channel_name
        participant.disconnected_at = None
        participant.save()
    return JoinResult(
        participant=participant,
        meeting=meeting,
        resumed=resumed,
        replaced_channel=replaced,
        expired=expired,
    )


def _expire_stale(room: Room) -> list[Participant]:
    """Let go of participants disconnected for longer than the grace period.

    Normally the process that saw the disconnect does this when the grace
    period ends; this catches those whose process stopped in between.
    """
    cutoff = timezone.now() - _grace()
    stale = Participant.objects.filter(
        room=room, left_at__isnull=True, channel_name="", disconnected_at__lt=cutoff
    )
    return [_leave(participant).participant for participant in stale]


# Leaving


@dataclass(frozen=True)
class LeaveResult:
    participant: Participant
    meeting_ended: bool
    # The connection the participant had, if any, to tell it they are out.
    last_channel: str = ""


def _leave(participant: Participant, *, removed: bool = False) -> LeaveResult:
    last_channel = participant.channel_name
    participant.mark_left(removed=removed)
    participant.save()
    Attendance.objects.filter(
        meeting=participant.meeting_id, user=participant.user_id, left_at__isnull=True
    ).update(left_at=participant.left_at)
    meeting = participant.meeting
    ended = False
    if not _present(meeting).exists():
        meeting.ended_at = timezone.now()
        meeting.save(update_fields=["ended_at"])
        _cancel_lobby(meeting.room)
        ended = True
    return LeaveResult(
        participant=participant, meeting_ended=ended, last_channel=last_channel
    )


def participant_disconnected(*, participant_id: int, channel_name: str) -> bool:
    """A connection dropped: keep the participant for the grace period.

    Returns False when that connection had already been replaced or had left.
    """
    return bool(
        Participant.objects.filter(
            pk=participant_id, channel_name=channel_name, left_at__isnull=True
        ).update(channel_name="", disconnected_at=timezone.now())
    )


def participant_expire(*, participant_id: int) -> LeaveResult | None:
    """After the grace period: leave, unless the participant came back."""
    with transaction.atomic():
        participant = (
            Participant.objects.select_for_update()
            .filter(
                pk=participant_id,
                left_at__isnull=True,
                channel_name="",
                disconnected_at__lte=timezone.now() - _grace() + timedelta(seconds=0.5),
            )
            .select_related("meeting__room")
            .first()
        )
        return _leave(participant) if participant else None


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
    replaced (its request is cancelled)."""
    with transaction.atomic():
        LobbyRequest.objects.filter(
            room=room, user=user, status=LobbyStatus.PENDING
        ).update(status=LobbyStatus.CANCELLED, decided_at=timezone.now())
        return LobbyRequest.objects.create(
            room=room,
            user=user,
            display_name=user.display_name,
            channel_name=channel_name,
        )


def lobby_request_cancel(*, request_id: int) -> bool:
    """The waiting user went away. Returns False if it was already decided."""
    return bool(
        LobbyRequest.objects.filter(pk=request_id, status=LobbyStatus.PENDING).update(
            status=LobbyStatus.CANCELLED, decided_at=timezone.now()
        )
    )


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
        request.status = LobbyStatus.ADMITTED if admit else LobbyStatus.DENIED
        request.decided_at = timezone.now()
        request.decided_by = actor
        meeting = _open_meeting(room)
        if admit and meeting is None:
            meeting = Meeting.objects.create(room=room)
        request.meeting = meeting
        request.save()
        log_action(
            room=room,
            meeting=meeting,
            actor=actor,
            target=request.user,
            action=ModerationKind.ADMIT if admit else ModerationKind.DENY,
        )
    return request


def _cancel_lobby(room: Room) -> None:
    LobbyRequest.objects.filter(room=room, status=LobbyStatus.PENDING).update(
        status=LobbyStatus.CANCELLED, decided_at=timezone.now()
    )


# Chat, media state, hands


def _present_participant(room: Room, user: User) -> Participant:
    meeting = _open_meeting(room)
    participant = (
        _present(meeting).filter(user=user).select_for_update().first()
        if meeting
        else None
    )
    if participant is None:
        raise NotAllowed("Join the meeting first.", code="not_joined")
    return participant


def chat_post(*, user: User, room: Room, text: str) -> ChatMessage:
    """Store a chat message; it is only sent on once this returns."""
    text = text.strip()
    if not text:
        raise InvalidOperation("Type a message first.")
    if len(text) > CHAT_MESSAGE_MAX_LENGTH:
        raise InvalidOperation(
            f"Messages can be at most {CHAT_MESSAGE_MAX_LENGTH} characters. "
            "Split it in parts or share a document instead.",
            code="too_long",
        )
    with transaction.atomic():
        room = Room.objects.get(pk=room.pk)
        access = room_access_for(user=user, room=room)
        if not access.can_chat:
            raise NotAllowed("Chat is turned off for you in this room.")
        participant = _present_participant(room, user)
        return ChatMessage.objects.create(
            room=room,
            meeting=participant.meeting,
            author=user,
            author_name=participant.display_name,
            body=text,
        )


def participant_set_media(
    *,
    user: User,
    room: Room,
    audio: bool | None = None,
    video: bool | None = None,
    screen: bool | None = None,
) -> Participant:
    """The participant turns their own microphone, camera or screen on or off."""
    with transaction.atomic():
        room = Room.objects.get(pk=room.pk)
        access = room_access_for(user=user, room=room)
        participant = _present_participant(room, user)
        if (audio or video) and not access.can_publish:
            raise NotAllowed(
                "Your role in this room does not let you send audio or video."
            )
        if screen and not access.can_share_screen:
            raise NotAllowed(
                "Screen sharing is not allowed for your role in this room."
            )
        if audio and participant.audio_hard_muted:
            raise NotAllowed(
                "A moderator muted you. Use “Ask to unmute” and wait for them to allow it.",
                code="hard_muted",
            )
        if video and participant.video_hard_muted:
            raise NotAllowed(
                "A moderator turned off your camera. Ask them to allow it again.",
                code="hard_muted",
            )
        for name, value in (
            ("audio_on", audio),
            ("video_on", video),
            ("screen_on", screen),
        ):
            if value is not None:
                setattr(participant, name, value)
        participant.save()
    return participant


def participant_set_hand(*, user: User, room: Room, raised: bool) -> Participant:
    with transaction.atomic():
        participant = _present_participant(room, user)
        participant.hand_raised = raised
        participant.save(update_fields=["hand_raised"])
    return participant


def participant_ask_to_unmute(*, user: User, room: Room) -> Participant:
    with transaction.atomic():
        participant = _present_participant(room, user)
    if not (participant.audio_hard_muted or participant.video_hard_muted):
        raise InvalidOperation(
            "No moderator has muted you: you can unmute yourself.", code="not_muted"
        )
    return participant


# Moderators' controls over participants


def _target(room: Room, public_id: str) -> Participant:
    meeting = _open_meeting(room)
    target = (
        _present(meeting)
        .filter(public_id=public_id)
        .select_for_update()
        .select_related("user", "meeting")
        .first()
        if meeting
        else None
    )
    if target is None:
        raise InvalidOperation(
            "That person is no longer in the meeting.", code="not_found"
        )
    return target


def participant_hard_mute(
    *, actor: User, room: Room, target_id: str, kind: str
) -> Participant:
    """Mute audio, stop video or stop screen sharing; audio and video stay off
    until a moderator allows them again."""
    require_moderator(actor, room)
    if kind not in MEDIA_KINDS:
        raise InvalidOperation(f"Unknown kind of media {kind!r}.")
    with transaction.atomic():
        target = _target(room, target_id)
        target.hard_mute(kind)
        target.save()
        log_action(
            room=room,
            meeting=target.meeting,
            actor=actor,
            target=target.user,
            action=_MUTE_ACTIONS[kind],
        )
    return target


def participant_allow(
    *, actor: User, room: Room, target_id: str, kind: str
) -> Participant:
    """Lift a hard mute: the participant may turn that media on again."""
    require_moderator(actor, room)
    if kind not in ("audio", "video"):
        raise InvalidOperation("Only audio and video can be allowed again.")
    with transaction.atomic():
        target = _target(room, target_id)
        setattr(target, f"{kind}_hard_muted", False)
        target.save()
        log_action(
            room=room,
            meeting=target.meeting,
            actor=actor,
            target=target.user,
            action=ModerationKind.ALLOW_UNMUTE,
            detail=kind,
        )
    return target


def meeting_mute_all(*, actor: User, room: Room) -> list[Participant]:
    """Hard-mute the audio of everyone present but the moderator who asks."""
    require_moderator(actor, room)
    with transaction.atomic():
        meeting = _open_meeting(room)
        if meeting is None:
            raise InvalidOperation("No meeting is running.")
        targets = list(_present(meeting).exclude(user=actor).select_for_update())
        for target in targets:
            target.hard_mute("audio")
            target.save()
        log_action(
            room=room, meeting=meeting, actor=actor, action=ModerationKind.MUTE_ALL
        )
    return targets


def _removable(actor: User, room: Room, target: Participant) -> None:
    if target.user_id == actor.pk:
        raise InvalidOperation("You cannot remove yourself; leave the meeting instead.")
    if target.user_id == room.owner_id or target.user.is_superuser:
        raise InvalidOperation("The owner and administrators cannot be removed.")


def participant_remove(*, actor: User, room: Room, target_id: str) -> LeaveResult:
    """Remove someone from this meeting; they cannot come back until the next."""
    require_moderator(actor, room)
    with transaction.atomic():
        target = _target(room, target_id)
        _removable(actor, room, target)
        log_action(
            room=room,
            meeting=target.meeting,
            actor=actor,
            target=target.user,
            action=ModerationKind.REMOVE,
        )
        return _leave(target, removed=True)


def participant_ban(
    *, actor: User, room: Room, target_id: str, minutes: int | None, reason: str = ""
) -> LeaveResult:
    """Remove someone and keep them out of the room (for ``minutes``, or for good)."""
    require_moderator(actor, room)
    with transaction.atomic():
        target = _target(room, target_id)
        _removable(actor, room, target)
        until = timezone.now() + timedelta(minutes=minutes) if minutes else None
        user_ban(actor=actor, room=room, user=target.user, until=until, reason=reason)
        return _leave(target, removed=True)


def participant_set_role(
    *, actor: User, room: Room, target_id: str, role: Role
) -> tuple[Participant, RoomAccess]:
    """Change a participant's role live; media their new role forbids stops."""
    with transaction.atomic():
        target = _target(room, target_id)
        membership_set_role(actor=actor, room=room, user=target.user, role=role)
        access = room_access_for(user=target.user, room=Room.objects.get(pk=room.pk))
        if not access.can_publish:
            target.audio_on = target.video_on = False
        if not access.can_share_screen:
            target.screen_on = False
        target.save()
    return target, access


@dataclass(frozen=True)
class MeetingEnd:
    meeting: Meeting
    participants: list[Participant]
    lobby: list[LobbyRequest]


def meeting_end(*, actor: User, room: Room) -> MeetingEnd:
    """End the meeting for everyone; waiting lobby requests end with it."""
    require_moderator(actor, room)
    with transaction.atomic():
        meeting = (
            Meeting.objects.select_for_update()
            .filter(room=room, ended_at__isnull=True)
            .first()
        )
        if meeting is None:
            raise InvalidOperation("No meeting is running.")
        participants = list(_present(meeting))
        lobby = list(LobbyRequest.objects.filter(room=room, status=LobbyStatus.PENDING))
        now = timezone.now()
        for participant in participants:
            participant.mark_left()
            participant.save()
        Attendance.objects.filter(meeting=meeting, left_at__isnull=True).update(
            left_at=now
        )
        _cancel_lobby(room)
        meeting.ended_at = now
        meeting.save(update_fields=["ended_at"])
        log_action(
            room=room, meeting=meeting, actor=actor, action=ModerationKind.END_MEETING
        )
    return MeetingEnd(meeting=meeting, participants=participants, lobby=lobby)
