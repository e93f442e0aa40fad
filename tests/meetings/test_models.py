import re
from datetime import timedelta

import pytest
from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from meetings.models import (
    SLUG_PATTERN,
    Attendance,
    Ban,
    ChatMessage,
    Invite,
    Meeting,
    Membership,
    Role,
    Room,
    generate_room_slug,
    invite_pk_from_token,
    invite_token,
)


def _violates(**create) -> None:
    model = create.pop("model")
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.create(**create)


def test_room_slugs_are_readable_and_unguessable():
    slugs = {generate_room_slug() for _ in range(500)}
    assert len(slugs) == 500
    assert all(re.fullmatch(SLUG_PATTERN, s) for s in slugs)


def test_room_gets_a_slug_and_url(room):
    assert re.fullmatch(SLUG_PATTERN, room.slug)
    assert room.get_absolute_url() == f"/r/{room.slug}/"


@pytest.mark.parametrize("size", [0, 1, 101])
def test_room_size_is_bounded(owner, size):
    _violates(model=Room, owner=owner, name="x", max_participants=size)


def test_room_needs_a_name(owner):
    _violates(model=Room, owner=owner, name="")


def test_room_screen_share_policy_is_checked(owner):
    _violates(model=Room, owner=owner, name="x", screen_share_policy="anyone")


def test_one_membership_per_user_and_room(room, publisher):
    _violates(model=Membership, room=room, user=publisher, role=Role.VIEWER)


def test_membership_role_is_checked(room, outsider):
    _violates(model=Membership, room=room, user=outsider, role="admin")


def test_a_room_has_at_most_one_open_meeting(room):
    Meeting.objects.create(room=room)
    _violates(model=Meeting, room=room)
    # ...but any number of ended ones.
    Meeting.objects.filter(room=room).update(ended_at=timezone.now())
    Meeting.objects.create(room=room)


def test_meeting_cannot_end_before_it_starts(room):
    now = timezone.now()
    _violates(
        model=Meeting, room=room, started_at=now, ended_at=now - timedelta(seconds=1)
    )


def test_attendance_cannot_end_before_it_starts(room, publisher):
    meeting = Meeting.objects.create(room=room)
    now = timezone.now()
    _violates(
        model=Attendance,
        meeting=meeting,
        user=publisher,
        joined_at=now,
        left_at=now - timedelta(seconds=1),
    )


def test_chat_message_needs_a_body(room, publisher):
    _violates(model=ChatMessage, room=room, author=publisher, author_name="P", body="")


def test_one_ban_row_per_user_and_room(room, banned, owner):
    _violates(model=Ban, room=room, user=banned, created_by=owner)


def test_active_bans_exclude_expired_ones(room, publisher, viewer, owner):
    now = timezone.now()
    Ban.objects.create(room=room, user=publisher, until=now - timedelta(seconds=1))
    Ban.objects.create(room=room, user=viewer, until=now + timedelta(hours=1))
    assert list(Ban.objects.active().values_list("user", flat=True)) == [viewer.pk]


def _invite(room, **kw) -> Invite:
    kw.setdefault("expires_at", timezone.now() + timedelta(days=1))
    return Invite.objects.create(room=room, **kw)


def test_invite_uses_cannot_pass_the_limit(room):
    invite = _invite(room, max_uses=1, use_count=1)
    invite.use_count = 2
    with pytest.raises(IntegrityError), transaction.atomic():
        invite.save()


def test_invite_limit_must_be_positive(room):
    with pytest.raises(IntegrityError), transaction.atomic():
        _invite(room, max_uses=0)


def test_invite_says_why_it_cannot_be_used(room):
    assert _invite(room).unusable_reason() is None
    assert "expired" in _invite(room, expires_at=timezone.now()).unusable_reason()
    assert "used up" in _invite(room, max_uses=2, use_count=2).unusable_reason()
    assert "withdrawn" in _invite(room, revoked_at=timezone.now()).unusable_reason()


def test_invite_token_names_its_invite_and_resists_tampering(room):
    invite = _invite(room)
    token = invite_token(invite)
    assert invite_pk_from_token(token) == invite.pk
    assert (
        invite_pk_from_token(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
        is None
    )
    assert invite_pk_from_token("not-a-token") is None
    # A token signed by us for another purpose does not open invites.
    assert invite_pk_from_token(signing.dumps({"invite": invite.pk})) is None
