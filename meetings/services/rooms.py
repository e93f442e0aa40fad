"""Writes about rooms, members, invites and bans.

Writes that span models. Views and the WebSocket consumer both call these,
so every rule is enforced once, on the server, whoever asks.

Every function is keyword-only and named ``<entity>_<action>``. Functions that
act for a moderator take ``actor`` and check it with the access rule
themselves: a caller cannot forget to.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from meetings import events
from meetings.errors import InvalidOperation, InviteUnusable, NotAllowed
from meetings.models import (
    Ban,
    Invite,
    Membership,
    ModerationKind,
    Participant,
    Role,
    Room,
    ScreenSharePolicy,
)
from meetings.selectors import (
    Denial,
    guest_of,
    invite_from_token,
    room_access_for,
)
from meetings.selectors import invite_for_sharing as _shareable_invite
from meetings.services.base import log_action as _log
from meetings.services.base import require_moderator as _require_moderator
from meetings.services.presence import _leave, _open_meeting, _present

INVITE_MAX_LIFETIME = timedelta(days=30)


def room_create(
    *,
    owner: User,
    name: str,
    lobby_enabled: bool = False,
    max_participants: int = 12,
    screen_share_policy: str = ScreenSharePolicy.PUBLISHERS,
    chat_enabled: bool = True,
    viewers_may_chat: bool = True,
) -> Room:
    """Create a room; its owner becomes its first moderator."""
    if owner.is_guest:
        raise NotAllowed("Guests cannot create rooms. Create an account first.")
    name = name.strip()
    if not name:
        raise InvalidOperation("Give the room a name.")
    with transaction.atomic():
        # A fresh slug colliding is a one-in-10^14 event, but cheap to survive.
        for _attempt in range(5):
            try:
                with transaction.atomic():
                    room = Room.objects.create(
                        owner=owner,
                        name=name,
                        lobby_enabled=lobby_enabled,
                        max_participants=max_participants,
                        screen_share_policy=screen_share_policy,
                        chat_enabled=chat_enabled,
                        viewers_may_chat=viewers_may_chat,
                    )
                break
            except IntegrityError:
                if _attempt == 4:
                    raise
        Membership.objects.create(room=room, user=owner, role=Role.MODERATOR)
    return room


def room_delete(*, room: Room) -> None:
    """Delete a room with its history, and the guests who could enter only
    it: an account that can get in nowhere is not kept. The caller checks
    that no meeting is running (the admin does)."""
    with transaction.atomic():
        guests = list(
            User.objects.filter(is_guest=True, guest__room=room).values_list(
                "pk", flat=True
            )
        )
        room.delete()
        User.objects.filter(pk__in=guests, is_guest=True).delete()


def room_update_settings(*, actor: User, room: Room, **changes: object) -> Room:
    """Change a room's policy; each change is written to the moderation log."""
    _require_moderator(actor, room)
    unknown = set(changes) - set(Room.SETTINGS_FIELDS)
    if unknown:
        raise InvalidOperation(f"Unknown room settings: {', '.join(sorted(unknown))}.")
    changed = [f for f, v in changes.items() if getattr(room, f) != v]
    if not changed:
        return room
    with transaction.atomic():
        for field in changed:
            setattr(room, field, changes[field])
        room.full_clean()
        room.save(update_fields=[*changed, "updated_at"])
        if "is_locked" in changed:
            kind = ModerationKind.LOCK if room.is_locked else ModerationKind.UNLOCK
            _log(room=room, actor=actor, action=kind)
        others = [f for f in changed if f != "is_locked"]
        if others:
            _log(
                room=room,
                actor=actor,
                action=ModerationKind.UPDATE_SETTINGS,
                detail=", ".join(f"{f}={getattr(room, f)}" for f in others),
            )
        if "screen_share_policy" in changed:
            _stop_forbidden_media(room)
        events.publish(events.RoomChanged(room_id=room.pk, fields=tuple(changed)))
    return room


def _present_as(room: Room, user: User) -> Participant | None:
    """``user``'s place in the room's running meeting, locked, if they have one."""
    meeting = _open_meeting(room)
    if meeting is None:
        return None
    return _present(meeting).filter(user=user).select_for_update().first()


def _stop_forbidden_media(room: Room, users: list[User] | None = None) -> None:
    """After a change of role or policy: what someone may no longer send is
    off, and they are told a moderator stopped it."""
    meeting = _open_meeting(room)
    if meeting is None:
        return
    present = _present(meeting).select_for_update().select_related("user")
    if users is not None:
        present = present.filter(user__in=users)
    for participant in present:
        access = room_access_for(user=participant.user, room=room)
        stopped = []
        if not access.can_publish:
            stopped += [
                k for k in ("audio", "video") if getattr(participant, f"{k}_on")
            ]
            participant.audio_on = participant.video_on = False
        if not access.can_share_screen and participant.screen_on:
            stopped.append("screen")
            participant.screen_on = False
        if stopped:
            participant.save(update_fields=["audio_on", "video_on", "screen_on"])
            events.publish(
                events.ParticipantChanged(
                    room_id=room.pk, participant_id=participant.pk
                )
            )
        if "screen" in stopped:
            events.publish(
                events.MediaStopped(
                    room_id=room.pk, participant_id=participant.pk, kind="screen"
                )
            )


def room_set_locked(*, actor: User, room: Room, locked: bool) -> Room:
    return room_update_settings(actor=actor, room=room, is_locked=locked)


def membership_add(*, actor: User, room: Room, email: str, role: Role) -> Membership:
    """Add an existing account to the room by e-mail address."""
    _require_moderator(actor, room)
    # A guest's address is made up and has no account behind it.
    user = User.objects.filter(
        email__iexact=email.strip(), is_active=True, is_guest=False
    ).first()
    if user is None:
        raise InvalidOperation(
            "No one has an account with that address. Create an invite link and "
            "send it to them instead."
        )
    if Membership.objects.filter(room=room, user=user).exists():
        raise InvalidOperation(f"{user.display_name} is already a member of this room.")
    with transaction.atomic():
        membership = Membership.objects.create(room=room, user=user, role=role)
        _log(
            room=room,
            actor=actor,
            action=ModerationKind.SET_ROLE,
            target=user,
            detail=role,
        )
        events.publish(events.AccessChanged(room_id=room.pk, user_id=user.pk))
    return membership


def membership_set_role(
    *, actor: User, room: Room, user: User, role: Role
) -> Membership:
    """Give ``user`` a new role in ``room`` (creating the membership if needed)."""
    _require_moderator(actor, room)
    if user.pk == room.owner_id and role != Role.MODERATOR:
        raise InvalidOperation("The owner of a room is always one of its moderators.")
    _refuse_foreign_guest(user, room)
    with transaction.atomic():
        membership, created = Membership.objects.select_for_update().get_or_create(
            room=room, user=user, defaults={"role": role}
        )
        if not created and membership.role == role:
            return membership
        membership.role = role
        membership.save(update_fields=["role"])
        _log(
            room=room,
            actor=actor,
            action=ModerationKind.SET_ROLE,
            target=user,
            detail=role,
        )
        _stop_forbidden_media(room, [user])
        events.publish(events.AccessChanged(room_id=room.pk, user_id=user.pk))
    return membership


def _refuse_foreign_guest(user: User, room: Room) -> None:
    """A guest belongs to the one room they joined: a membership anywhere else
    would give them nothing (the access rule ignores it) and mislead."""
    guest = guest_of(user)
    if user.is_guest and (guest is None or guest.room_id != room.pk):
        raise InvalidOperation(
            f"{user.display_name} is a guest of another room and cannot be a "
            "member of this one."
        )


def membership_remove(*, actor: User, room: Room, user: User) -> None:
    _require_moderator(actor, room)
    if user.pk == room.owner_id:
        raise InvalidOperation("The owner cannot be removed from their own room.")
    with transaction.atomic():
        deleted, _ = Membership.objects.filter(room=room, user=user).delete()
        if deleted:
            _log(
                room=room, actor=actor, action=ModerationKind.REMOVE_MEMBER, target=user
            )
            # No longer a member, so no longer in the meeting (an admin
            # keeps their way in: they need no membership).
            present = _present_as(room, user)
            if (
                present is not None
                and not room_access_for(user=user, room=room).can_join
            ):
                _leave(present, reason="not_member")
            events.publish(events.AccessChanged(room_id=room.pk, user_id=user.pk))


def invite_create(
    *,
    actor: User,
    room: Room,
    role: Role = Role.PUBLISHER,
    expires_in: timedelta = timedelta(days=7),
    max_uses: int | None = None,
) -> Invite:
    _require_moderator(actor, room)
    if not timedelta(minutes=5) <= expires_in <= INVITE_MAX_LIFETIME:
        raise InvalidOperation("An invite must last between 5 minutes and 30 days.")
    if max_uses is not None and max_uses < 1:
        raise InvalidOperation("An invite must allow at least one use.")
    return Invite.objects.create(
        room=room,
        role=role,
        created_by=actor,
        expires_at=timezone.now() + expires_in,
        max_uses=max_uses,
    )


# How long a link copied from the meeting page lasts.
SHARED_INVITE_LIFETIME = timedelta(days=7)


def invite_for_sharing(*, actor: User, room: Room) -> tuple[Invite, bool]:
    """The link a moderator copies from the meeting page, and whether it is
    new: the newest they made that still serves (``selectors.
    invite_for_sharing``), else a participant link for a week with no use
    limit. Copying twice gives the same link, and the settings page does not
    fill up with copies."""
    _require_moderator(actor, room)
    invite = _shareable_invite(room=room, creator=actor)
    if invite is not None:
        return invite, False
    invite = invite_create(
        actor=actor, room=room, role=Role.PUBLISHER, expires_in=SHARED_INVITE_LIFETIME
    )
    return invite, True


def invite_revoke(*, actor: User, invite: Invite, why: str = "") -> None:
    """Withdraw an invite link: it lets nobody else in (who came by it stays)."""
    _require_moderator(actor, invite.room)
    with transaction.atomic():
        withdrawn = Invite.objects.filter(pk=invite.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if withdrawn:
            role = Role(invite.role).label.lower()
            _log(
                room=invite.room,
                actor=actor,
                action=ModerationKind.REVOKE_INVITE,
                detail=f"{role} link #{invite.pk}" + (f": {why}" if why else ""),
            )


def invite_resolve(*, token: str) -> Invite:
    """The usable invite a link's token names, or ``InviteUnusable`` saying why not."""
    invite = invite_from_token(token=token)
    if invite is None:
        raise InviteUnusable(
            "This invite link is not valid. Check that you copied all of it, or ask "
            "for a new one."
        )
    reason = invite.unusable_reason()
    if reason:
        raise InviteUnusable(reason)
    return invite


def invite_accept(*, user: User, token: str) -> Membership:
    """Make ``user`` a member through an invite link.

    A member is never demoted by an invite, and an invite that changes nothing
    is not counted as used. A banned user cannot get back in through a link.
    """
    invite = invite_resolve(token=token)
    room = invite.room
    with transaction.atomic():
        # Lock the invite so two people cannot both take its last use.
        invite = Invite.objects.select_for_update().get(pk=invite.pk)
        reason = invite.unusable_reason()
        if reason:
            raise InviteUnusable(reason)
        if room_access_for(user=user, room=room).denial == Denial.BANNED:
            raise NotAllowed(
                "You are banned from this room, so this invite cannot let you in."
            )
        membership = (
            Membership.objects.select_for_update().filter(room=room, user=user).first()
        )
        invited_role = Role(invite.role)
        if membership is not None and Role(membership.role).rank >= invited_role.rank:
            return membership
        if membership is None:
            membership = Membership.objects.create(
                room=room, user=user, role=invited_role
            )
        else:
            membership.role = invited_role
            membership.save(update_fields=["role"])
        Invite.objects.filter(pk=invite.pk).update(use_count=F("use_count") + 1)
        events.publish(events.AccessChanged(room_id=room.pk, user_id=user.pk))
    return membership


def user_ban(
    *,
    actor: User,
    room: Room,
    user: User,
    until: datetime | None = None,
    reason: str = "",
) -> Ban:
    """Keep ``user`` out of ``room`` until ``until`` (for good when None)."""
    _require_moderator(actor, room)
    if user.pk == room.owner_id or user.is_superuser:
        raise InvalidOperation("The owner and administrators cannot be banned.")
    if user.pk == actor.pk:
        raise InvalidOperation("You cannot ban yourself.")
    if until is not None and until <= timezone.now():
        raise InvalidOperation("A ban must end in the future.")
    with transaction.atomic():
        ban, _ = Ban.objects.update_or_create(
            room=room,
            user=user,
            defaults={"until": until, "reason": reason[:200], "created_by": actor},
        )
        detail = f"until {until:%Y-%m-%d %H:%M %Z}" if until else "for good"
        if reason:
            detail += f": {reason}"
        _log(
            room=room,
            actor=actor,
            action=ModerationKind.BAN,
            target=user,
            detail=detail,
        )
        # Out of the meeting at once, wherever the ban was made.
        present = _present_as(room, user)
        if present is not None:
            _leave(present, reason="banned")
        # A banned guest could come straight back as a new guest by the
        # same link: it stops working (those who came by it stay).
        guest = guest_of(user)
        if guest is not None and guest.room_id == room.pk and guest.invite:
            invite_revoke(
                actor=actor,
                invite=guest.invite,
                why=f"{user.display_name}, a guest who came by it, was banned",
            )
        events.publish(events.AccessChanged(room_id=room.pk, user_id=user.pk))
    return ban


def ban_lift(*, actor: User, room: Room, user: User) -> None:
    _require_moderator(actor, room)
    with transaction.atomic():
        deleted, _ = Ban.objects.filter(room=room, user=user).delete()
        if deleted:
            _log(room=room, actor=actor, action=ModerationKind.UNBAN, target=user)
            events.publish(events.AccessChanged(room_id=room.pk, user_id=user.pk))
