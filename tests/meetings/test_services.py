from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from meetings import services
from meetings.errors import InvalidOperation, InviteUnusable, NotAllowed
from meetings.models import (
    Ban,
    Invite,
    Membership,
    ModerationAction,
    ModerationKind,
    Role,
    invite_token,
)
from meetings.selectors import room_access_for


def _log(room) -> list[tuple[str, int | None]]:
    return list(
        ModerationAction.objects.filter(room=room)
        .order_by("id")
        .values_list("action", "target_id")
    )


NON_MODERATORS = ["publisher", "viewer", "outsider", "banned"]


# room_create


def test_room_create_makes_the_owner_a_moderator_member(owner):
    room = services.room_create(
        owner=owner, name="  Design review  ", lobby_enabled=True
    )
    assert room.name == "Design review"
    assert room.lobby_enabled
    assert Membership.objects.get(room=room, user=owner).role == Role.MODERATOR


def test_room_create_refuses_a_blank_name(owner):
    with pytest.raises(InvalidOperation):
        services.room_create(owner=owner, name="   ")


# room_update_settings


def test_moderator_changes_settings_and_each_change_is_logged(room, moderator):
    services.room_update_settings(
        actor=moderator,
        room=room,
        is_locked=True,
        max_participants=20,
        name="Team call",
    )
    room.refresh_from_db()
    assert room.is_locked and room.max_participants == 20
    assert _log(room) == [("lock", None), ("update_settings", None)]
    services.room_set_locked(actor=moderator, room=room, locked=False)
    assert _log(room)[-1] == ("unlock", None)


def test_settings_that_do_not_change_write_nothing(room, moderator):
    services.room_update_settings(actor=moderator, room=room, name=room.name)
    assert _log(room) == []


@pytest.mark.parametrize("who", NON_MODERATORS)
def test_only_moderators_change_settings(request, room, who):
    with pytest.raises(NotAllowed):
        services.room_update_settings(
            actor=request.getfixturevalue(who), room=room, is_locked=True
        )
    room.refresh_from_db()
    assert not room.is_locked
    assert _log(room) == []


def test_invalid_settings_are_refused(room, owner):
    with pytest.raises(ValidationError):
        services.room_update_settings(actor=owner, room=room, max_participants=500)
    with pytest.raises(InvalidOperation):
        services.room_update_settings(actor=owner, room=room, owner=None)
    room.refresh_from_db()
    assert room.max_participants == 12


def test_superuser_moderates_any_room(room, superuser):
    services.room_set_locked(actor=superuser, room=room, locked=True)
    room.refresh_from_db()
    assert room.is_locked


# memberships


def test_membership_add_by_email_any_case(room, moderator, outsider):
    membership = services.membership_add(
        actor=moderator, room=room, email=outsider.email.upper(), role=Role.VIEWER
    )
    assert membership.user == outsider and membership.role == Role.VIEWER
    assert room_access_for(user=outsider, room=room).role == Role.VIEWER


def test_membership_add_explains_unknown_addresses(room, moderator):
    with pytest.raises(InvalidOperation, match="invite link"):
        services.membership_add(
            actor=moderator, room=room, email="nobody@example.org", role=Role.VIEWER
        )


def test_membership_add_refuses_existing_members(room, moderator, publisher):
    with pytest.raises(InvalidOperation, match="already"):
        services.membership_add(
            actor=moderator, room=room, email=publisher.email, role=Role.VIEWER
        )


def test_membership_set_role_changes_access_and_is_logged(room, moderator, publisher):
    services.membership_set_role(
        actor=moderator, room=room, user=publisher, role=Role.VIEWER
    )
    assert not room_access_for(user=publisher, room=room).can_publish
    assert _log(room) == [("set_role", publisher.pk)]


def test_membership_set_role_to_the_same_role_logs_nothing(room, moderator, publisher):
    services.membership_set_role(
        actor=moderator, room=room, user=publisher, role=Role.PUBLISHER
    )
    assert _log(room) == []


def test_owner_cannot_be_demoted(room, owner, moderator):
    with pytest.raises(InvalidOperation):
        services.membership_set_role(
            actor=moderator, room=room, user=owner, role=Role.VIEWER
        )
    assert room_access_for(user=owner, room=room).can_moderate


@pytest.mark.parametrize("who", NON_MODERATORS)
def test_only_moderators_change_roles(request, room, who, viewer):
    with pytest.raises(NotAllowed):
        services.membership_set_role(
            actor=request.getfixturevalue(who),
            room=room,
            user=viewer,
            role=Role.MODERATOR,
        )
    assert Membership.objects.get(room=room, user=viewer).role == Role.VIEWER


def test_membership_remove(room, moderator, publisher):
    services.membership_remove(actor=moderator, room=room, user=publisher)
    assert not room_access_for(user=publisher, room=room).can_join
    assert _log(room) == [("remove_member", publisher.pk)]


def test_owner_cannot_be_removed(room, owner, moderator):
    with pytest.raises(InvalidOperation):
        services.membership_remove(actor=moderator, room=room, user=owner)


def test_publisher_cannot_remove_members(room, publisher, viewer):
    with pytest.raises(NotAllowed):
        services.membership_remove(actor=publisher, room=room, user=viewer)
    assert Membership.objects.filter(room=room, user=viewer).exists()


# invites


def test_invite_create_and_accept_grants_the_role(room, moderator, outsider):
    invite = services.invite_create(
        actor=moderator, room=room, role=Role.VIEWER, expires_in=timedelta(hours=1)
    )
    membership = services.invite_accept(user=outsider, token=invite_token(invite))
    assert membership.role == Role.VIEWER
    invite.refresh_from_db()
    assert invite.use_count == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"expires_in": timedelta(minutes=1)},
        {"expires_in": timedelta(days=31)},
        {"max_uses": 0},
    ],
)
def test_invite_create_checks_its_limits(room, moderator, kwargs):
    with pytest.raises(InvalidOperation):
        services.invite_create(actor=moderator, room=room, **kwargs)


@pytest.mark.parametrize("who", NON_MODERATORS)
def test_only_moderators_create_invites(request, room, who):
    with pytest.raises(NotAllowed):
        services.invite_create(actor=request.getfixturevalue(who), room=room)
    assert not Invite.objects.exists()


def test_invite_use_limit_is_enforced(room, moderator, make_user):
    invite = services.invite_create(actor=moderator, room=room, max_uses=1)
    token = invite_token(invite)
    services.invite_accept(user=make_user(), token=token)
    late = make_user()
    with pytest.raises(InviteUnusable, match="used up"):
        services.invite_accept(user=late, token=token)
    assert not room_access_for(user=late, room=room).can_join


def test_expired_invite_is_refused(room, moderator, outsider):
    invite = services.invite_create(actor=moderator, room=room)
    Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now())
    with pytest.raises(InviteUnusable, match="expired"):
        services.invite_accept(user=outsider, token=invite_token(invite))


def test_revoked_invite_is_refused(room, moderator, outsider):
    invite = services.invite_create(actor=moderator, room=room)
    services.invite_revoke(actor=moderator, invite=invite)
    with pytest.raises(InviteUnusable, match="withdrawn"):
        services.invite_accept(user=outsider, token=invite_token(invite))


def test_publisher_cannot_revoke_invites(room, moderator, publisher):
    invite = services.invite_create(actor=moderator, room=room)
    with pytest.raises(NotAllowed):
        services.invite_revoke(actor=publisher, invite=invite)
    invite.refresh_from_db()
    assert invite.revoked_at is None


@pytest.mark.parametrize("token", ["", "garbage", "eyJpbnZpdGUiOjF9:1abc:forged"])
def test_forged_invite_tokens_are_refused(room, outsider, token):
    with pytest.raises(InviteUnusable, match="not valid"):
        services.invite_accept(user=outsider, token=token)


def test_banned_user_cannot_rejoin_through_an_invite(room, moderator, banned):
    invite = services.invite_create(actor=moderator, room=room)
    with pytest.raises(NotAllowed):
        services.invite_accept(user=banned, token=invite_token(invite))
    invite.refresh_from_db()
    assert invite.use_count == 0


def test_invite_never_demotes_and_is_not_used_up_by_members(room, moderator):
    invite = services.invite_create(actor=moderator, room=room, role=Role.VIEWER)
    membership = services.invite_accept(user=moderator, token=invite_token(invite))
    assert membership.role == Role.MODERATOR
    invite.refresh_from_db()
    assert invite.use_count == 0


def test_invite_promotes_a_viewer(room, moderator, viewer):
    invite = services.invite_create(actor=moderator, room=room, role=Role.PUBLISHER)
    services.invite_accept(user=viewer, token=invite_token(invite))
    assert room_access_for(user=viewer, room=room).can_publish


# bans


def test_ban_locks_a_member_out_and_lift_lets_them_back(room, moderator, publisher):
    services.user_ban(actor=moderator, room=room, user=publisher, reason="spam")
    assert not room_access_for(user=publisher, room=room).can_join
    services.ban_lift(actor=moderator, room=room, user=publisher)
    assert room_access_for(user=publisher, room=room).role == Role.PUBLISHER
    assert _log(room) == [("ban", publisher.pk), ("unban", publisher.pk)]


def test_timed_ban_is_recorded_with_its_end(room, moderator, publisher):
    until = timezone.now() + timedelta(days=1)
    ban = services.user_ban(actor=moderator, room=room, user=publisher, until=until)
    assert ban.until == until
    action = ModerationAction.objects.get(action=ModerationKind.BAN)
    assert action.detail.startswith("until ")


def test_banning_again_updates_the_one_ban(room, moderator, banned):
    services.user_ban(
        actor=moderator,
        room=room,
        user=banned,
        until=timezone.now() + timedelta(hours=1),
    )
    assert Ban.objects.filter(room=room, user=banned).count() == 1
    assert Ban.objects.get(room=room, user=banned).until is not None


@pytest.mark.parametrize("target", ["owner", "superuser", "moderator"])
def test_owner_admins_and_self_cannot_be_banned(request, room, moderator, target):
    with pytest.raises(InvalidOperation):
        services.user_ban(
            actor=moderator, room=room, user=request.getfixturevalue(target)
        )
    assert not Ban.objects.exists()


def test_ban_must_end_in_the_future(room, moderator, publisher):
    with pytest.raises(InvalidOperation):
        services.user_ban(
            actor=moderator, room=room, user=publisher, until=timezone.now()
        )


@pytest.mark.parametrize("who", ["publisher", "viewer", "outsider"])
def test_only_moderators_ban_and_lift(request, room, who, banned, make_user):
    actor = request.getfixturevalue(who)
    with pytest.raises(NotAllowed):
        services.user_ban(actor=actor, room=room, user=make_user())
    with pytest.raises(NotAllowed):
        services.ban_lift(actor=actor, room=room, user=banned)
    assert list(Ban.objects.values_list("user", flat=True)) == [banned.pk]
