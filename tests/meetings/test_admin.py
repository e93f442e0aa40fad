import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from meetings import services
from meetings.models import (
    Attendance,
    Ban,
    ChatMessage,
    Invite,
    LobbyRequest,
    Meeting,
    Membership,
    ModerationAction,
    PrecallReport,
    Room,
)

MODELS = [
    Room,
    Membership,
    Invite,
    Meeting,
    Attendance,
    ChatMessage,
    ModerationAction,
    Ban,
    PrecallReport,
]


@pytest.fixture
def history(room, owner, publisher, banned):
    """A meeting with attendance, chat and moderation, as the admin sees it."""
    start = timezone.now() - timedelta(hours=1)
    meeting = Meeting.objects.create(
        room=room, started_at=start, ended_at=timezone.now()
    )
    Attendance.objects.create(
        meeting=meeting, user=owner, joined_at=start, left_at=timezone.now()
    )
    Attendance.objects.create(meeting=meeting, user=publisher)
    ChatMessage.objects.create(
        room=room, meeting=meeting, author=publisher, author_name="Pablo", body="hello"
    )
    ChatMessage.objects.create(
        room=room,
        meeting=meeting,
        author=publisher,
        author_name="Pablo",
        body='=HYPERLINK("x")',
    )
    services.invite_create(actor=owner, room=room)
    live = services.participant_join(user=publisher, room=room, channel_name="c1")
    services.room_set_locked(actor=owner, room=room, locked=True)
    LobbyRequest.objects.create(room=room, user=owner, display_name="Olivia")
    services.precall_report_save(
        user=publisher,
        room=room,
        report={
            "devices": {"videoinput": ["FaceTime HD"]},
            "candidate_kinds": ["host"],
        },
        user_agent="Mozilla/5.0 Chrome/131.0.0.0 Safari/537.36",
    )
    assert live.participant.is_connected
    return meeting


@pytest.fixture
def admin_client(client, superuser):
    client.force_login(superuser)
    return client


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_model_has_a_working_list_search_and_detail(admin_client, history, model):
    info = (model._meta.app_label, model._meta.model_name)
    assert (
        admin_client.get(reverse("admin:{}_{}_changelist".format(*info))).status_code
        == 200
    )
    assert (
        admin_client.get(
            reverse("admin:{}_{}_changelist".format(*info)), {"q": "Pablo"}
        ).status_code
        == 200
    )
    obj = model.objects.first()
    assert (
        admin_client.get(
            reverse("admin:{}_{}_change".format(*info), args=[obj.pk])
        ).status_code
        == 200
    )


def test_users_admin_lists_and_creates_users(admin_client, history):
    assert (
        admin_client.get(
            reverse("admin:accounts_user_changelist"), {"q": "Pablo"}
        ).status_code
        == 200
    )
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "new@example.org",
            "display_name": "New",
            "usable_password": "true",
            "password1": "a-long-test-password-42",
            "password2": "a-long-test-password-42",
        },
    )
    assert response.status_code == 302
    from accounts.models import User

    assert User.objects.filter(email="new@example.org").exists()


def test_room_admin_shows_memberships_inline(admin_client, room, publisher):
    page = admin_client.get(
        reverse("admin:meetings_room_change", args=[room.pk])
    ).content.decode()
    assert "Pablo Publisher" in page and "memberships-TOTAL_FORMS" in page


def _export(admin_client, model, ids) -> list[list[str]]:
    info = (model._meta.app_label, model._meta.model_name)
    action = f"export_{'attendance' if model is Attendance else 'chat'}_csv"
    response = admin_client.post(
        reverse("admin:{}_{}_changelist".format(*info)),
        {"action": action, "_selected_action": ids},
    )
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_attendance_exports_as_csv(admin_client, history):
    rows = _export(
        admin_client, Attendance, list(Attendance.objects.values_list("pk", flat=True))
    )
    assert rows[0] == ["room", "meeting started", "name", "e-mail", "joined", "left"]
    # Pablo's stay in the earlier meeting and in the one running now.
    assert sorted(r[2] for r in rows[1:]) == [
        "Olivia Owner",
        "Pablo Publisher",
        "Pablo Publisher",
    ]


def test_chat_exports_as_csv_without_spreadsheet_formulas(admin_client, history):
    rows = _export(
        admin_client,
        ChatMessage,
        list(ChatMessage.objects.values_list("pk", flat=True)),
    )
    assert rows[0] == ["room", "time", "author", "message"]
    bodies = [r[3] for r in rows[1:]]
    assert "hello" in bodies and '\'=HYPERLINK("x")' in bodies


def test_moderation_log_is_read_only(admin_client, history):
    action = ModerationAction.objects.first()
    change_url = reverse("admin:meetings_moderationaction_change", args=[action.pk])
    assert admin_client.post(change_url, {"detail": "tampered"}).status_code == 403
    assert (
        admin_client.get(reverse("admin:meetings_moderationaction_add")).status_code
        == 403
    )
    delete_url = reverse("admin:meetings_moderationaction_delete", args=[action.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    action.refresh_from_db()
    assert action.detail != "tampered"


def test_staff_without_permissions_sees_no_rooms(client, make_user, room):
    client.force_login(make_user(is_staff=True))
    assert client.get(reverse("admin:meetings_room_changelist")).status_code == 403


def test_members_cannot_reach_the_admin(client, publisher):
    client.force_login(publisher)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and "login" in response["Location"]
