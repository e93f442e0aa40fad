from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from meetings.models import Ban, Role, ScreenSharePolicy
from meetings.selectors import Denial, room_access_for, rooms_for_user

# who -> (role, denial, can_publish, can_share_screen, can_chat, can_moderate)
MATRIX = {
    "owner": (Role.MODERATOR, None, True, True, True, True),
    "superuser": (Role.MODERATOR, None, True, True, True, True),
    "moderator": (Role.MODERATOR, None, True, True, True, True),
    "publisher": (Role.PUBLISHER, None, True, True, True, False),
    "viewer": (Role.VIEWER, None, False, False, True, False),
    "outsider": (None, Denial.NOT_MEMBER, False, False, False, False),
    "banned": (None, Denial.BANNED, False, False, False, False),
    "anonymous": (None, Denial.SIGN_IN, False, False, False, False),
}


@pytest.mark.parametrize("who", MATRIX)
def test_access_matrix(request, room, who):
    user = AnonymousUser() if who == "anonymous" else request.getfixturevalue(who)
    access = room_access_for(user=user, room=room)
    role, denial, publish, screen, chat, moderate = MATRIX[who]
    assert access.role == role
    assert access.denial == denial
    assert access.can_join is (role is not None)
    assert access.can_publish is publish
    assert access.can_share_screen is screen
    assert access.can_chat is chat
    assert access.can_moderate is moderate


def test_ban_that_has_expired_no_longer_applies(room, publisher, owner):
    Ban.objects.create(
        room=room,
        user=publisher,
        created_by=owner,
        until=timezone.now() - timedelta(minutes=1),
    )
    assert room_access_for(user=publisher, room=room).role == Role.PUBLISHER


def test_timed_ban_reports_when_it_ends(room, publisher, owner):
    until = timezone.now() + timedelta(hours=1)
    Ban.objects.create(room=room, user=publisher, created_by=owner, until=until)
    access = room_access_for(user=publisher, room=room)
    assert access.denial == Denial.BANNED
    assert access.banned_until == until


def test_owner_keeps_access_even_with_a_ban_row(room, owner):
    Ban.objects.create(room=room, user=owner, created_by=owner)
    assert room_access_for(user=owner, room=room).can_moderate


def test_deactivated_user_gets_nothing(room, publisher):
    publisher.is_active = False
    publisher.save()
    assert not room_access_for(user=publisher, room=room).can_join


def test_moderators_only_screen_share_policy(room, publisher, moderator):
    room.screen_share_policy = ScreenSharePolicy.MODERATORS
    room.save()
    assert not room_access_for(user=publisher, room=room).can_share_screen
    assert room_access_for(user=publisher, room=room).can_publish
    assert room_access_for(user=moderator, room=room).can_share_screen


def test_chat_off_applies_to_everyone_including_moderators(room, moderator, viewer):
    room.chat_enabled = False
    room.save()
    assert not room_access_for(user=moderator, room=room).can_chat
    assert not room_access_for(user=viewer, room=room).can_chat


def test_viewers_may_be_kept_out_of_chat(room, viewer, publisher):
    room.viewers_may_chat = False
    room.save()
    assert not room_access_for(user=viewer, room=room).can_chat
    assert room_access_for(user=publisher, room=room).can_chat


def test_rooms_for_user_lists_owned_and_member_rooms_with_role(
    room, publisher, make_user
):
    from meetings import services

    other = services.room_create(owner=publisher, name="Publisher's own")
    services.room_create(owner=make_user(), name="Someone else's")
    rooms = {r.name: r.membership_role for r in rooms_for_user(user=publisher)}
    assert rooms == {"Team call": "publisher", "Publisher's own": "moderator"}
    assert other.slug


def test_rooms_for_user_hides_rooms_the_user_is_banned_from(room, banned):
    assert list(rooms_for_user(user=banned)) == []
