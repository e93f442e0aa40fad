"""Attendance: one row per stay, and why each stay ended."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from meetings import services
from meetings.models import Attendance, LeftReason, Participant


def _join(user, room, channel: str) -> Participant:
    return services.participant_join(
        user=user, room=room, channel_name=channel
    ).participant


def _stays(user) -> list[tuple[bool, str]]:
    """The user's attendance rows, oldest first: (still open, why it ended)."""
    return [
        (a.left_at is None, a.left_reason)
        for a in Attendance.objects.filter(user=user).order_by("joined_at", "pk")
    ]


def _lapse(participant: Participant) -> None:
    """Their lease runs out, as it does when nobody renews it."""
    Participant.objects.filter(pk=participant.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


def _drop(participant: Participant, channel: str) -> None:
    """The connection drops and the grace period passes without them."""
    services.participant_disconnected(
        participant_id=participant.pk, channel_name=channel
    )
    _lapse(participant)
    services.presence_expire_lapsed()


@pytest.fixture
def meeting_with(owner, room):
    """The owner stays in the meeting, so it goes on while others come and go."""
    _join(owner, room, "owner")
    return room


# Coming back


def test_a_reload_within_the_grace_period_keeps_one_attendance_row(
    meeting_with, publisher
):
    """A reload sends "leave" as the page goes, then joins again."""
    first = _join(publisher, meeting_with, "c1")
    services.participant_leave(participant_id=first.pk, channel_name="c1")
    _join(publisher, meeting_with, "c2")
    assert _stays(publisher) == [(True, "")]


def test_coming_back_within_the_grace_period_after_a_drop_keeps_one_row(
    meeting_with, publisher
):
    participant = _join(publisher, meeting_with, "c1")
    _drop(participant, "c1")
    assert _stays(publisher) == [(False, LeftReason.DROPPED)]
    _join(publisher, meeting_with, "c2")
    assert _stays(publisher) == [(True, "")]


def test_coming_back_after_the_grace_period_starts_a_new_row(meeting_with, publisher):
    participant = _join(publisher, meeting_with, "c1")
    services.participant_leave(participant_id=participant.pk, channel_name="c1")
    long_ago = timezone.now() - timedelta(minutes=5)
    Attendance.objects.filter(user=publisher).update(
        joined_at=long_ago, left_at=long_ago
    )
    _join(publisher, meeting_with, "c2")
    assert _stays(publisher) == [(False, LeftReason.LEFT), (True, "")]


@override_settings(MEETING_RECONNECT_GRACE=0)
def test_without_a_grace_period_every_return_is_a_new_row(meeting_with, publisher):
    participant = _join(publisher, meeting_with, "c1")
    services.participant_leave(participant_id=participant.pk, channel_name="c1")
    a_moment_ago = timezone.now() - timedelta(seconds=1)
    Attendance.objects.filter(user=publisher).update(
        joined_at=a_moment_ago, left_at=a_moment_ago
    )
    _join(publisher, meeting_with, "c2")
    assert _stays(publisher) == [(False, LeftReason.LEFT), (True, "")]


# Why a stay ended


def test_leaving_records_left(meeting_with, publisher):
    participant = _join(publisher, meeting_with, "c1")
    services.participant_leave(participant_id=participant.pk, channel_name="c1")
    assert _stays(publisher) == [(False, LeftReason.LEFT)]


def test_the_last_one_out_left_and_the_meeting_ended(room, owner):
    participant = _join(owner, room, "c1")
    result = services.participant_leave(
        participant_id=participant.pk, channel_name="c1"
    )
    assert result.meeting_ended
    assert _stays(owner) == [(False, LeftReason.LEFT)]


def test_a_removal_records_removed(meeting_with, owner, publisher):
    participant = _join(publisher, meeting_with, "c1")
    services.participant_remove(
        actor=owner, room=meeting_with, target_id=participant.public_id
    )
    assert _stays(publisher) == [(False, LeftReason.REMOVED)]


def test_a_ban_records_banned(meeting_with, owner, publisher):
    participant = _join(publisher, meeting_with, "c1")
    services.participant_ban(
        actor=owner, room=meeting_with, target_id=participant.public_id, minutes=10
    )
    assert _stays(publisher) == [(False, LeftReason.BANNED)]


def test_losing_membership_records_not_member(meeting_with, owner, publisher):
    _join(publisher, meeting_with, "c1")
    services.membership_remove(actor=owner, room=meeting_with, user=publisher)
    assert _stays(publisher) == [(False, LeftReason.NOT_MEMBER)]


def test_a_drop_past_the_grace_period_records_dropped(meeting_with, publisher):
    _drop(_join(publisher, meeting_with, "c1"), "c1")
    assert _stays(publisher) == [(False, LeftReason.DROPPED)]


def test_a_lapse_noticed_at_someone_elses_join_records_dropped(
    meeting_with, publisher, moderator
):
    """A process that died never saw the drop: the next join lets them go."""
    _lapse(_join(publisher, meeting_with, "c1"))
    _join(moderator, meeting_with, "c2")
    assert _stays(publisher) == [(False, LeftReason.DROPPED)]


def test_ending_the_meeting_records_ended_for_everyone_in_it(
    meeting_with, owner, publisher, moderator
):
    _join(publisher, meeting_with, "c1")
    dropped = _join(moderator, meeting_with, "c2")
    services.participant_disconnected(participant_id=dropped.pk, channel_name="c2")
    services.meeting_end(actor=owner, room=meeting_with)
    for user in (owner, publisher, moderator):
        assert _stays(user) == [(False, LeftReason.ENDED)]


def test_a_stay_ended_by_the_meeting_is_not_reopened(meeting_with, owner, publisher):
    """The next meeting is a new meeting, whoever comes back how soon."""
    _join(publisher, meeting_with, "c1")
    services.meeting_end(actor=owner, room=meeting_with)
    _join(publisher, meeting_with, "c2")
    assert _stays(publisher) == [(False, LeftReason.ENDED), (True, "")]
