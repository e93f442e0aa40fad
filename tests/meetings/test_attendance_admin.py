"""The admin's meeting and attendance pages: durations people can read, and
why each stay ended (list, the meeting's inline, the CSV export)."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from meetings import services
from meetings.admin import duration_text
from meetings.models import Attendance, LeftReason, Meeting


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


def _meeting(room, length: timedelta) -> Meeting:
    end = timezone.now()
    return Meeting.objects.create(room=room, started_at=end - length, ended_at=end)


@pytest.mark.parametrize(
    ("length", "text"),
    [
        (timedelta(hours=1, minutes=5, seconds=3, microseconds=412), "1 h 05 min"),
        (timedelta(hours=26, minutes=40), "26 h 40 min"),
        (timedelta(minutes=4, seconds=12, microseconds=999_999), "4 min 12 s"),
        (timedelta(minutes=10, seconds=7), "10 min 07 s"),
        (timedelta(seconds=12, microseconds=5), "12 s"),
        (timedelta(0), "0 s"),
    ],
)
def test_durations_read_in_hours_minutes_and_seconds(length, text):
    assert duration_text(length) == text


def test_meeting_list_and_page_show_the_duration_without_microseconds(
    admin_client, room
):
    long = _meeting(room, timedelta(hours=1, minutes=5, microseconds=123_456))
    _meeting(room, timedelta(minutes=4, seconds=12, microseconds=654_321))
    listing = admin_client.get(
        reverse("admin:meetings_meeting_changelist")
    ).content.decode()
    assert "1 h 05 min" in listing and "4 min 12 s" in listing
    assert "123456" not in listing and "654321" not in listing
    page = admin_client.get(
        reverse("admin:meetings_meeting_change", args=[long.pk])
    ).content.decode()
    assert "1 h 05 min" in page


@pytest.fixture
def ended(room, owner, publisher):
    """Pablo was removed, then Olivia ended the meeting."""
    services.participant_join(user=owner, room=room, channel_name="c1")
    pablo = services.participant_join(user=publisher, room=room, channel_name="c2")
    services.participant_remove(
        actor=owner, room=room, target_id=pablo.participant.public_id
    )
    services.meeting_end(actor=owner, room=room)
    return Meeting.objects.get(room=room)


def test_attendance_list_and_meeting_inline_say_why_each_stay_ended(
    admin_client, ended
):
    listing = admin_client.get(
        reverse("admin:meetings_attendance_changelist")
    ).content.decode()
    assert "Removed by a moderator" in listing and "Meeting ended" in listing
    filtered = admin_client.get(
        reverse("admin:meetings_attendance_changelist"),
        {"left_reason__exact": LeftReason.REMOVED},
    ).content.decode()
    assert "Pablo Publisher" in filtered and "Olivia Owner" not in filtered
    page = admin_client.get(
        reverse("admin:meetings_meeting_change", args=[ended.pk])
    ).content.decode()
    assert "Removed by a moderator" in page and "Meeting ended" in page


def test_attendance_csv_has_the_reason_column(admin_client, ended):
    response = admin_client.post(
        reverse("admin:meetings_attendance_changelist"),
        {
            "action": "export_attendance_csv",
            "_selected_action": list(Attendance.objects.values_list("pk", flat=True)),
        },
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][-1] == "why they left"
    assert sorted((row[2], row[-1]) for row in rows[1:]) == [
        ("Olivia Owner", "Meeting ended"),
        ("Pablo Publisher", "Removed by a moderator"),
    ]
