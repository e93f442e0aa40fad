import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
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
    assert rows[0] == [
        "room",
        "meeting started",
        "name",
        "e-mail",
        "guest",
        "joined",
        "left",
        "why they left",
    ]
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
    assert rows[0] == ["room", "time", "author", "message", "guest"]
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


# Writes from the admin go through the services: the same checks, the same
# moderation log (with the admin as actor), the same news for a live meeting.


@pytest.fixture
def staff(make_user):
    """Staff with every model permission on rooms, members and bans, but
    moderator of no room."""
    user = make_user("Sam Staff", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="meetings",
            content_type__model__in=["room", "membership", "ban"],
        )
    )
    return user


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def _log(room) -> list[tuple]:
    return list(
        ModerationAction.objects.filter(room=room)
        .order_by("pk")
        .values_list("action", "actor_id", "target_id", "detail")
    )


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _url(model, view, *args) -> str:
    return reverse(f"admin:meetings_{model._meta.model_name}_{view}", args=args)


def _room_data(room, extra_members=(), **changes) -> dict:
    """The room change form as the admin renders it, with the memberships
    inline (prefix ``memberships``); ``changes`` override fields, and keys
    like ``memberships-0-role`` reach into the inline."""
    data = {
        "name": room.name,
        "max_participants": room.max_participants,
        "screen_share_policy": room.screen_share_policy,
    }
    for flag in ("is_locked", "lobby_enabled", "chat_enabled", "viewers_may_chat"):
        if getattr(room, flag):
            data[flag] = "on"
    memberships = list(room.memberships.order_by("pk"))
    for i, membership in enumerate(memberships):
        data[f"memberships-{i}-id"] = membership.pk
        data[f"memberships-{i}-room"] = room.pk
        data[f"memberships-{i}-user"] = membership.user_id
        data[f"memberships-{i}-role"] = membership.role
    for j, (user, role) in enumerate(extra_members, start=len(memberships)):
        data[f"memberships-{j}-id"] = ""
        data[f"memberships-{j}-room"] = room.pk
        data[f"memberships-{j}-user"] = user.pk
        data[f"memberships-{j}-role"] = role
    data |= {
        "memberships-TOTAL_FORMS": len(memberships) + len(extra_members),
        "memberships-INITIAL_FORMS": len(memberships),
        "memberships-MIN_NUM_FORMS": 0,
        "memberships-MAX_NUM_FORMS": 1000,
    }
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def _inline_index(room, user) -> int:
    return list(
        room.memberships.order_by("pk").values_list("user_id", flat=True)
    ).index(user.pk)


def test_room_policy_change_goes_through_the_service(admin_client, superuser, room):
    response = admin_client.post(
        _url(Room, "change", room.pk),
        _room_data(room, is_locked="on", max_participants=20, chat_enabled=None),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    room.refresh_from_db()
    assert room.is_locked and room.max_participants == 20 and not room.chat_enabled
    assert _log(room) == [
        ("lock", superuser.pk, None, ""),
        (
            "update_settings",
            superuser.pk,
            None,
            "max_participants=20, chat_enabled=False",
        ),
    ]


def test_room_rename_is_logged_and_owner_cannot_change(
    admin_client, superuser, room, owner, outsider
):
    response = admin_client.post(
        _url(Room, "change", room.pk),
        _room_data(room, name="Board call", owner=outsider.pk),
    )
    assert response.status_code == 302
    room.refresh_from_db()
    assert room.name == "Board call" and room.owner == owner
    assert _log(room) == [("update_settings", superuser.pk, None, "name=Board call")]


def test_saving_an_unchanged_room_writes_nothing(admin_client, room):
    response = admin_client.post(_url(Room, "change", room.pk), _room_data(room))
    assert response.status_code == 302
    assert _log(room) == []


def test_adding_a_room_uses_room_create(admin_client, superuser, outsider):
    response = admin_client.post(
        _url(Room, "add"),
        {
            "name": "Support desk",
            "owner": outsider.pk,
            "is_locked": "on",
            "max_participants": 4,
            "screen_share_policy": "moderators",
            "chat_enabled": "on",
            "memberships-TOTAL_FORMS": 0,
            "memberships-INITIAL_FORMS": 0,
            "memberships-MIN_NUM_FORMS": 0,
            "memberships-MAX_NUM_FORMS": 1000,
        },
    )
    assert response.status_code == 302
    room = Room.objects.get(name="Support desk")
    assert room.owner == outsider and room.is_locked and room.max_participants == 4
    assert not room.viewers_may_chat
    # room_create made the owner a moderator; the lock is the admin's act.
    assert list(room.memberships.values_list("user_id", "role")) == [
        (outsider.pk, "moderator")
    ]
    assert _log(room) == [("lock", superuser.pk, None, "")]


def test_adding_a_room_with_inline_members(
    admin_client, superuser, outsider, make_user
):
    guest = make_user("Gina Guest")
    response = admin_client.post(
        _url(Room, "add"),
        {
            "name": "Standup",
            "owner": outsider.pk,
            "max_participants": 12,
            "screen_share_policy": "publishers",
            "memberships-TOTAL_FORMS": 1,
            "memberships-INITIAL_FORMS": 0,
            "memberships-MIN_NUM_FORMS": 0,
            "memberships-MAX_NUM_FORMS": 1000,
            "memberships-0-user": guest.pk,
            "memberships-0-role": "viewer",
        },
    )
    assert response.status_code == 302
    room = Room.objects.get(name="Standup")
    assert dict(room.memberships.values_list("user_id", "role")) == {
        outsider.pk: "moderator",
        guest.pk: "viewer",
    }
    assert _log(room) == [("set_role", superuser.pk, guest.pk, "viewer")]


def test_room_inline_adds_changes_and_removes_members(
    admin_client, superuser, room, publisher, viewer, outsider
):
    data = _room_data(
        room,
        extra_members=[(outsider, "viewer")],
        **{
            f"memberships-{_inline_index(room, publisher)}-role": "moderator",
            f"memberships-{_inline_index(room, viewer)}-DELETE": "on",
        },
    )
    response = admin_client.post(_url(Room, "change", room.pk), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    roles = dict(room.memberships.values_list("user_id", "role"))
    assert roles[publisher.pk] == "moderator"
    assert viewer.pk not in roles
    assert roles[outsider.pk] == "viewer"
    assert _log(room) == [
        ("remove_member", superuser.pk, viewer.pk, ""),
        ("set_role", superuser.pk, publisher.pk, "moderator"),
        ("set_role", superuser.pk, outsider.pk, "viewer"),
    ]


def test_room_inline_cannot_change_whose_membership_it_is(
    admin_client, room, publisher, outsider
):
    data = _room_data(
        room, **{f"memberships-{_inline_index(room, publisher)}-user": outsider.pk}
    )
    assert admin_client.post(_url(Room, "change", room.pk), data).status_code == 302
    assert room.memberships.filter(user=publisher).exists()
    assert not room.memberships.filter(user=outsider).exists()
    assert _log(room) == []


@pytest.mark.parametrize(
    "change",
    [{"role": "viewer"}, {"DELETE": "on"}],
    ids=["demote", "remove"],
)
def test_room_inline_refuses_to_demote_or_remove_the_owner(
    admin_client, room, owner, publisher, change
):
    i = _inline_index(room, owner)
    data = _room_data(
        room,
        is_locked="on",
        **{f"memberships-{_inline_index(room, publisher)}-role": "viewer"},
        **{f"memberships-{i}-{key}": value for key, value in change.items()},
    )
    response = admin_client.post(_url(Room, "change", room.pk), data)
    assert response.status_code == 200
    page = response.content.decode()
    assert "The owner" in page and "errornote" in page
    assert "changed successfully" not in page
    # The whole save was undone, the room's other changes with it.
    room.refresh_from_db()
    assert not room.is_locked
    assert dict(room.memberships.values_list("user_id", "role")) == {
        owner.pk: "moderator",
        publisher.pk: "publisher",
    }
    assert _log(room) == []


def test_membership_admin_adds_and_changes_roles(
    admin_client, superuser, room, outsider
):
    response = admin_client.post(
        _url(Membership, "add"),
        {"room": room.pk, "user": outsider.pk, "role": "viewer"},
    )
    assert response.status_code == 302
    membership = Membership.objects.get(room=room, user=outsider)
    assert membership.role == "viewer"
    assert response["Location"] == _url(Membership, "changelist")

    response = admin_client.post(
        _url(Membership, "change", membership.pk),
        # Room and user are read-only on change: posting others does nothing.
        {"role": "publisher", "room": 999, "user": superuser.pk},
    )
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == "publisher" and membership.user == outsider
    assert _log(room) == [
        ("set_role", superuser.pk, outsider.pk, "viewer"),
        ("set_role", superuser.pk, outsider.pk, "publisher"),
    ]


def test_membership_admin_refuses_a_second_membership(admin_client, room, publisher):
    response = admin_client.post(
        _url(Membership, "add"),
        {"room": room.pk, "user": publisher.pk, "role": "moderator"},
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert Membership.objects.get(room=room, user=publisher).role == "publisher"
    assert _log(room) == []


def test_membership_admin_refuses_to_demote_the_owner(admin_client, room, owner):
    membership = Membership.objects.get(room=room, user=owner)
    response = admin_client.post(
        _url(Membership, "change", membership.pk), {"role": "viewer"}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "The owner of a room is always one of its moderators." in page
    assert "changed successfully" not in page
    membership.refresh_from_db()
    assert membership.role == "moderator"
    assert _log(room) == []


def test_membership_admin_removes_a_member(admin_client, superuser, room, publisher):
    membership = Membership.objects.get(room=room, user=publisher)
    response = admin_client.post(
        _url(Membership, "delete", membership.pk), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert _log(room) == [("remove_member", superuser.pk, publisher.pk, "")]


def test_membership_admin_refuses_to_remove_the_owner(admin_client, room, owner):
    membership = Membership.objects.get(room=room, user=owner)
    url = _url(Membership, "delete", membership.pk)
    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert response["Location"] == _url(Membership, "change", membership.pk)
    assert _messages(response) == ["The owner cannot be removed from their own room."]
    assert Membership.objects.filter(pk=membership.pk).exists()
    assert _log(room) == []


def _bulk_delete(client, model, objs, confirm=True):
    data = {"action": "delete_selected", "_selected_action": [o.pk for o in objs]}
    if confirm:
        data["post"] = "yes"
    return client.post(_url(model, "changelist"), data)


def test_bulk_delete_of_memberships_asks_then_removes_each(
    admin_client, superuser, room, publisher, viewer
):
    chosen = list(Membership.objects.filter(user__in=[publisher, viewer]))
    confirm = _bulk_delete(admin_client, Membership, chosen, confirm=False)
    assert confirm.status_code == 200 and "Are you sure" in confirm.content.decode()
    assert Membership.objects.filter(pk__in=[m.pk for m in chosen]).count() == 2

    response = _bulk_delete(admin_client, Membership, chosen)
    assert response.status_code == 302
    assert _messages(response) == ["Successfully deleted 2 memberships."]
    assert not Membership.objects.filter(pk__in=[m.pk for m in chosen]).exists()
    assert sorted(_log(room)) == sorted(
        [
            ("remove_member", superuser.pk, publisher.pk, ""),
            ("remove_member", superuser.pk, viewer.pk, ""),
        ]
    )


def test_bulk_delete_with_the_owner_deletes_nothing(
    admin_client, room, owner, publisher
):
    chosen = list(Membership.objects.filter(room=room))
    response = _bulk_delete(admin_client, Membership, chosen)
    assert response.status_code == 302
    [message] = _messages(response)
    assert message.startswith("Nothing was deleted.")
    assert "The owner cannot be removed from their own room." in message
    assert Membership.objects.filter(room=room).count() == len(chosen)
    assert _log(room) == []


def _ban_data(room, user, until=None, reason=""):
    return {
        "room": room.pk,
        "user": user.pk,
        "until_0": f"{until:%Y-%m-%d}" if until else "",
        "until_1": f"{until:%H:%M:%S}" if until else "",
        "reason": reason,
    }


def test_ban_admin_bans_through_the_service(admin_client, superuser, room, publisher):
    until = timezone.localtime() + timedelta(days=2)
    response = admin_client.post(
        _url(Ban, "add"), _ban_data(room, publisher, until, "spam")
    )
    assert response.status_code == 302
    ban = Ban.objects.get(room=room, user=publisher)
    assert ban.created_by == superuser and ban.reason == "spam"
    assert ban.until.replace(microsecond=0) == until.replace(microsecond=0)
    [(action, actor, target, detail)] = _log(room)
    assert (action, actor, target) == ("ban", superuser.pk, publisher.pk)
    assert detail.endswith(": spam")

    response = admin_client.post(
        _url(Ban, "change", ban.pk),
        {"until_0": "", "until_1": "", "reason": "spam, again"},
    )
    assert response.status_code == 302
    ban.refresh_from_db()
    assert ban.until is None and ban.reason == "spam, again"
    assert _log(room)[-1] == (
        "ban",
        superuser.pk,
        publisher.pk,
        "for good: spam, again",
    )


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("owner", "The owner and administrators cannot be banned."),
        ("past", "A ban must end in the future."),
    ],
)
def test_ban_admin_shows_the_services_refusal(
    admin_client, room, owner, publisher, who, expected
):
    if who == "owner":
        data = _ban_data(room, owner)
    else:
        data = _ban_data(room, publisher, timezone.localtime() - timedelta(hours=1))
    response = admin_client.post(_url(Ban, "add"), data)
    assert response.status_code == 200
    assert expected in response.content.decode()
    assert not Ban.objects.filter(room=room).exists()
    assert _log(room) == []


def test_ban_admin_lifts_bans_one_or_many(
    admin_client, superuser, room, banned, make_user
):
    ban = Ban.objects.get(room=room, user=banned)
    response = admin_client.post(
        _url(Ban, "delete", ban.pk), {"post": "yes"}, follow=True
    )
    assert "was deleted successfully" in response.content.decode()
    assert not Ban.objects.filter(pk=ban.pk).exists()
    assert _log(room) == [("unban", superuser.pk, banned.pk, "")]

    others = [make_user(f"Troll {n}") for n in range(2)]
    for troll in others:
        services.user_ban(actor=superuser, room=room, user=troll)
    response = _bulk_delete(admin_client, Ban, list(Ban.objects.filter(room=room)))
    assert _messages(response) == ["Successfully deleted 2 bans."]
    assert not Ban.objects.filter(room=room).exists()
    assert [row[0] for row in _log(room)[-2:]] == ["unban", "unban"]


def test_staff_moderator_writes_as_themselves(client, staff, room, publisher):
    Membership.objects.create(room=room, user=staff, role="moderator")
    client.force_login(staff)
    response = client.post(
        _url(Room, "change", room.pk), _room_data(room, lobby_enabled="on")
    )
    assert response.status_code == 302
    membership = Membership.objects.get(room=room, user=publisher)
    response = client.post(
        _url(Membership, "change", membership.pk), {"role": "viewer"}
    )
    assert response.status_code == 302
    assert _log(room) == [
        ("update_settings", staff.pk, None, "lobby_enabled=True"),
        ("set_role", staff.pk, publisher.pk, "viewer"),
    ]


def test_staff_who_do_not_moderate_the_room_only_look(staff_client, room, publisher):
    page = staff_client.get(_url(Room, "change", room.pk))
    assert page.status_code == 200
    text = page.content.decode()
    assert "View room" in text and 'name="_save"' not in text
    assert "you are not a moderator of “Team call”" in text

    response = staff_client.post(
        _url(Room, "change", room.pk), _room_data(room, is_locked="on")
    )
    assert response.status_code == 403
    membership = Membership.objects.get(room=room, user=publisher)
    response = staff_client.post(
        _url(Membership, "change", membership.pk), {"role": "viewer"}
    )
    assert response.status_code == 403
    room.refresh_from_db()
    membership.refresh_from_db()
    assert not room.is_locked and membership.role == "publisher"
    assert _log(room) == []


def test_staff_who_do_not_moderate_the_room_are_told_why(
    staff_client, room, publisher, outsider, banned
):
    # Where the room is chosen in the form, the service's check answers.
    response = staff_client.post(
        _url(Membership, "add"),
        {"room": room.pk, "user": outsider.pk, "role": "viewer"},
    )
    assert response.status_code == 200
    assert "Only a moderator of this room can do that." in response.content.decode()
    response = staff_client.post(_url(Ban, "add"), _ban_data(room, publisher))
    assert response.status_code == 200
    assert "Only a moderator of this room can do that." in response.content.decode()

    response = _bulk_delete(
        staff_client, Membership, list(Membership.objects.filter(user=publisher))
    )
    assert _messages(response) == [
        "Nothing was deleted: you are not a moderator of “Team call”. "
        "Only superusers and a room's owner and moderators may change the room, "
        "its members and its bans, here as on the room's own pages."
    ]
    response = _bulk_delete(staff_client, Ban, list(Ban.objects.filter(room=room)))
    assert _messages(response)[0].startswith("Nothing was deleted")

    assert not Membership.objects.filter(user=outsider).exists()
    assert Membership.objects.filter(user=publisher).exists()
    assert Ban.objects.filter(room=room, user=banned).exists()
    assert not Ban.objects.filter(user=publisher).exists()
    assert _log(room) == []


def test_staff_create_rooms_only_for_themselves(staff_client, staff, outsider):
    base = {
        "name": "Mine",
        "max_participants": 12,
        "screen_share_policy": "publishers",
        "memberships-TOTAL_FORMS": 0,
        "memberships-INITIAL_FORMS": 0,
        "memberships-MIN_NUM_FORMS": 0,
        "memberships-MAX_NUM_FORMS": 1000,
    }
    response = staff_client.post(_url(Room, "add"), {**base, "owner": outsider.pk})
    assert response.status_code == 200
    assert "Only a superuser can create a room for someone else" in (
        response.content.decode()
    )
    assert not Room.objects.filter(name="Mine").exists()
    response = staff_client.post(_url(Room, "add"), {**base, "owner": staff.pk})
    assert response.status_code == 302
    assert Room.objects.get(name="Mine").owner == staff


def test_a_room_with_a_running_meeting_is_not_deleted(admin_client, room):
    Meeting.objects.create(room=room)
    response = admin_client.post(_url(Room, "delete", room.pk), {"post": "yes"})
    assert response.status_code == 302
    assert response["Location"] == _url(Room, "change", room.pk)
    assert "a meeting is running in “Team call”" in _messages(response)[0]
    response = _bulk_delete(admin_client, Room, [room])
    assert "a meeting is running in “Team call”" in _messages(response)[0]
    assert Room.objects.filter(pk=room.pk).exists()


def test_a_room_without_a_meeting_is_deleted(admin_client, room):
    now = timezone.now()
    Meeting.objects.create(room=room, started_at=now, ended_at=now)
    response = admin_client.post(_url(Room, "delete", room.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Room.objects.filter(pk=room.pk).exists()
