"""Inside a running meeting: chat, each participant's own media and hand,
and the moderators' controls over participants and the meeting.

Every function re-reads the actor's rights from the database (roles change
live, settings change from the web pages) and runs in one transaction; the
caller sends the channel-layer events after it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from meetings import events
from meetings.errors import InvalidOperation, NotAllowed
from meetings.models import (
    CHAT_MESSAGE_MAX_LENGTH,
    Attendance,
    ChatMessage,
    LeftReason,
    LobbyRequest,
    Meeting,
    ModerationKind,
    Participant,
    Role,
    Room,
)
from meetings.selectors import room_access_for
from meetings.services.base import log_action, require_moderator
from meetings.services.presence import (
    LeaveResult,
    _cancel_lobby,
    _leave,
    _open_meeting,
    _present,
)
from meetings.services.rooms import membership_set_role, user_ban

MEDIA_KINDS = ("audio", "video", "screen")
_MUTE_ACTIONS = {
    "audio": ModerationKind.MUTE_AUDIO,
    "video": ModerationKind.STOP_VIDEO,
    "screen": ModerationKind.STOP_SCREEN,
}


# Chat, media state, hands


def _changed(participant: Participant) -> None:
    events.publish(
        events.ParticipantChanged(
            room_id=participant.room_id, participant_id=participant.pk
        )
    )


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


# Per person, whatever connection they use: at most CHAT_BURST messages in
# any CHAT_WINDOW, and one request to unmute per UNMUTE_ASK_INTERVAL.
CHAT_BURST, CHAT_WINDOW = 5, timedelta(seconds=5)
UNMUTE_ASK_INTERVAL = timedelta(seconds=5)


@dataclass(frozen=True)
class ChatPost:
    message: ChatMessage
    # False when this client_id was stored already (a resend after a
    # reconnect): nobody is told twice.
    created: bool


def chat_post(*, user: User, room: Room, text: str, client_id: str = "") -> ChatPost:
    """Store a chat message once per ``client_id``; the room hears of it
    after the commit."""
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
        # Locked: one message of this person at a time, so the count and the
        # client_id check below hold when two tabs send together.
        participant = _present_participant(room, user)
        mine = ChatMessage.objects.filter(room=room, author=user)
        if client_id:
            stored = mine.filter(client_id=client_id).first()
            if stored is not None:
                return ChatPost(message=stored, created=False)
        recent = mine.filter(created_at__gt=timezone.now() - CHAT_WINDOW).count()
        if recent >= CHAT_BURST:
            raise NotAllowed(
                "You are sending messages too fast. Wait a moment.",
                code="rate_limited",
            )
        message = ChatMessage.objects.create(
            room=room,
            meeting=participant.meeting,
            author=user,
            author_name=participant.display_name,
            body=text,
            client_id=client_id,
        )
        events.publish(
            events.ChatPosted(
                room_id=room.pk,
                message_id=message.pk,
                author_channel=participant.channel_name,
            )
        )
    return ChatPost(message=message, created=True)


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
        if screen and participant.video_hard_muted:
            raise NotAllowed(
                "A moderator turned off your video, which stops screen sharing "
                "too. Ask them to allow video again.",
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
        _changed(participant)
    return participant


def participant_set_hand(*, user: User, room: Room, raised: bool) -> Participant:
    with transaction.atomic():
        participant = _present_participant(room, user)
        participant.hand_raised = raised
        participant.save(update_fields=["hand_raised"])
        _changed(participant)
    return participant


def participant_ask_to_unmute(*, user: User, room: Room) -> Participant:
    with transaction.atomic():
        participant = _present_participant(room, user)
        if not (participant.audio_hard_muted or participant.video_hard_muted):
            raise InvalidOperation(
                "No moderator has muted you: you can unmute yourself.",
                code="not_muted",
            )
        now = timezone.now()
        asked = participant.unmute_asked_at
        if asked is not None and now - asked < UNMUTE_ASK_INTERVAL:
            raise NotAllowed(
                "The moderators have been asked already.", code="rate_limited"
            )
        participant.unmute_asked_at = now
        participant.save(update_fields=["unmute_asked_at"])
        events.publish(
            events.UnmuteRequested(room_id=room.pk, participant_id=participant.pk)
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
        _hard_mute(target, kind)
        log_action(
            room=room,
            meeting=target.meeting,
            actor=actor,
            target=target.user,
            action=_MUTE_ACTIONS[kind],
        )
    return target


def _hard_mute(target: Participant, kind: str) -> None:
    # A stopped camera stops the screen share too: the server cannot tell a
    # screen from a camera sent as one, so "stop video" stops every video
    # the person sends, until a moderator allows video again.
    kinds = [kind]
    if kind == "video" and target.screen_on:
        kinds.append("screen")
    for each in kinds:
        target.hard_mute(each)
    target.save()
    _changed(target)
    for each in kinds:
        events.publish(
            events.MediaStopped(
                room_id=target.room_id, participant_id=target.pk, kind=each
            )
        )


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
        _changed(target)
        events.publish(
            events.MediaAllowed(room_id=room.pk, participant_id=target.pk, kind=kind)
        )
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
            _hard_mute(target, "audio")
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
        return _leave(target, reason=LeftReason.REMOVED)


def participant_ban(
    *, actor: User, room: Room, target_id: str, minutes: int | None, reason: str = ""
) -> Participant:
    """Keep someone out of the room (for ``minutes``, or for good); the ban
    puts them out of the meeting."""
    require_moderator(actor, room)
    with transaction.atomic():
        target = _target(room, target_id)
        _removable(actor, room, target)
        until = timezone.now() + timedelta(minutes=minutes) if minutes else None
        user_ban(actor=actor, room=room, user=target.user, until=until, reason=reason)
    return target


def participant_set_role(
    *, actor: User, room: Room, target_id: str, role: Role
) -> Participant:
    """Change a participant's role live; media their new role forbids stops."""
    with transaction.atomic():
        target = _target(room, target_id)
        membership_set_role(actor=actor, room=room, user=target.user, role=role)
    return target


def participant_lower_hand(*, actor: User, room: Room, target_id: str) -> Participant:
    """A moderator lowers someone's raised hand (answered, or forgotten)."""
    require_moderator(actor, room)
    with transaction.atomic():
        target = _target(room, target_id)
        if target.hand_raised:
            target.hand_raised = False
            target.save(update_fields=["hand_raised"])
            _changed(target)
    return target


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
        now = timezone.now()
        for participant in participants:
            participant.mark_left()
            participant.save()
        Attendance.objects.filter(meeting=meeting, left_at__isnull=True).update(
            left_at=now, left_reason=LeftReason.ENDED
        )
        lobby = _cancel_lobby(room)
        meeting.ended_at = now
        meeting.save(update_fields=["ended_at"])
        log_action(
            room=room, meeting=meeting, actor=actor, action=ModerationKind.END_MEETING
        )
        events.publish(
            events.MeetingEnded(
                room_id=room.pk,
                lobby_channels=tuple(r.channel_name for r in lobby),
                ended_by=actor.display_name,
            )
        )
    return MeetingEnd(meeting=meeting, participants=participants, lobby=lobby)
