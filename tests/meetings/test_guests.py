"""Guests: people who join by an invite link with just a name.

A guest is a user with ``is_guest`` and a ``Guest`` row naming their room.
These tests drive the real pages, services and meeting socket (real
database, no mocks): joining, refusals, the one-room scope of a guest's
session, bans, removals and the admin's records.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async as db
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from meetings import services
from meetings.errors import GuestsNotAllowed, InvalidOperation, NotAllowed, Refused
from meetings.models import (
    Attendance,
    ChatMessage,
    Guest,
    Invite,
    Membership,
    ModerationAction,
    ModerationKind,
    Role,
    Room,
    invite_pk_from_token,
    invite_token,
)
from meetings.selectors import room_access_for
from signaling.protocol import CLOSE_CODES
from tests.meetings.test_admin import _room_data
from tests.signaling.client import ROUTER, RoomClient
from tests.signaling.conftest import (  # noqa: F401 (fixtures)
    channel_layer,
    fast_timings,
    no_bridge_leftovers,
    stop_the_sweeper,
)

# The meeting socket as deployed, minus the origin check: the session cookie
# decides who is asking.
SOCKET_APP = AuthMiddlewareStack(ROUTER)


@pytest.fixture
def open_room(room, owner) -> Room:
    """The shared room, taking guests."""
    return services.room_update_settings(actor=owner, room=room, guests_allowed=True)


@pytest.fixture
def invite(open_room, owner) -> Invite:
    return services.invite_create(actor=owner, room=open_room, role=Role.VIEWER)


def _link(invite: Invite) -> str:
    return reverse("invite_accept", args=[invite_token(invite)])


def _join_as_guest(invite: Invite, name: str = "Gina Guest") -> Client:
    """A browser that followed the link and typed a name, as a person would."""
    browser = Client()
    response = browser.post(_link(invite), {"display_name": name})
    assert response.status_code == 302, response.content.decode()
    assert response["Location"] == invite.room.get_absolute_url()
    return browser


def _guest(name: str = "Gina Guest") -> User:
    return User.objects.get(is_guest=True, display_name=name)


def _socket(browser: Client, room: Room) -> RoomClient:
    cookie = browser.cookies["sessionid"].value
    return RoomClient(
        None,
        room,
        application=SOCKET_APP,
        headers=[(b"cookie", f"sessionid={cookie}".encode())],
    )


async def _refused(socket: RoomClient, code: str) -> None:
    assert await socket.open()
    await socket.error(code)
    await socket.closed(CLOSE_CODES[code])


# Joining


def test_visitor_sees_who_invited_them_where_and_a_name_field(client, invite):
    link = _link(invite)
    page = client.get(link).content.decode()
    assert "Olivia Owner invited you to “Team call”" in page
    assert 'id="guest-name"' in page and 'name="display_name"' in page
    assert 'id="guest-join"' in page and "Join as guest" in page
    assert f'href="{reverse("login")}?{urlencode({"next": link})}"' in page


def test_guest_joins_by_the_link_with_a_name_and_gets_the_invites_role(client, invite):
    browser = _join_as_guest(invite)
    guest = _guest()
    assert guest.email.endswith("@guest.invalid")
    assert not guest.has_usable_password()
    assert Guest.objects.get(user=guest).room == invite.room
    assert Guest.objects.get(user=guest).invite == invite
    assert Membership.objects.get(room=invite.room, user=guest).role == Role.VIEWER
    invite.refresh_from_db()
    assert invite.use_count == 1
    # Signed in: straight on to the room page and its pre-call check.
    page = browser.get(invite.room.get_absolute_url())
    assert page.status_code == 200
    assert 'id="precall"' in page.content.decode()


def test_guest_name_is_checked(invite):
    token = invite_token(invite)
    for bad in ("", "   ", "x" * 81, "Gina\nGuest"):
        with pytest.raises(InvalidOperation):
            services.guest_join(token=token, display_name=bad)
    assert services.guest_join(token=token, display_name="  Gina  ").display_name == (
        "Gina"
    )
    assert User.objects.filter(is_guest=True).count() == 1


def test_guest_join_form_shows_a_bad_name_and_creates_nobody(client, invite):
    response = client.post(_link(invite), {"display_name": "   "})
    assert response.status_code == 200
    assert 'class="errors"' in response.content.decode()
    assert not User.objects.filter(is_guest=True).exists()


def test_guests_from_one_address_are_limited_per_hour(invite, settings):
    settings.GUESTS_PER_IP = 2
    _join_as_guest(invite, "First")
    _join_as_guest(invite, "Second")
    response = Client().post(_link(invite), {"display_name": "Third"})
    assert response.status_code == 429
    assert "Too many guests joined from your network" in response.content.decode()
    assert not User.objects.filter(display_name="Third").exists()


def test_guest_takes_a_use_and_a_used_up_link_refuses_the_next(owner, open_room):
    invite = services.invite_create(actor=owner, room=open_room, max_uses=1)
    _join_as_guest(invite)
    response = Client().post(_link(invite), {"display_name": "Late Larry"})
    assert response.status_code == 410
    assert "used up" in response.content.decode()
    assert User.objects.filter(is_guest=True).count() == 1


def test_room_without_guests_names_room_and_inviter_and_offers_accounts(
    client, room, owner
):
    invite = services.invite_create(actor=owner, room=room)
    link = _link(invite)
    page = client.get(link).content.decode()
    assert "Olivia Owner invited you to “Team call”" in page
    assert 'id="guest-name"' not in page
    back = urlencode({"next": link})
    assert f'href="{reverse("login")}?{back}"' in page and "Sign in" in page
    assert f'href="{reverse("signup")}?{back}"' in page
    assert "Create an account" in page
    # Sign-up keeps the way back (through its e-mailed link, tested in accounts).
    signup = client.get(f"{reverse('signup')}?{back}").content.decode()
    assert f'name="next" value="{link}"' in signup
    response = client.post(link, {"display_name": "Gina Guest"})
    assert response.status_code == 403
    assert "Olivia Owner invited you to “Team call”" in response.content.decode()
    assert not User.objects.filter(is_guest=True).exists()
    with pytest.raises(GuestsNotAllowed):
        services.guest_join(token=invite_token(invite), display_name="Gina")


def test_signed_in_guest_opening_their_link_again_goes_straight_in(invite):
    browser = _join_as_guest(invite)
    response = browser.get(_link(invite))
    assert response["Location"] == invite.room.get_absolute_url()
    assert User.objects.filter(is_guest=True).count() == 1
    invite.refresh_from_db()
    assert invite.use_count == 1


def test_guest_of_another_room_is_signed_out_and_starts_afresh(invite, make_user):
    browser = _join_as_guest(invite)
    other_owner = make_user("Omar Other")
    other = services.room_create(owner=other_owner, name="Trio")
    services.room_update_settings(actor=other_owner, room=other, guests_allowed=True)
    other_invite = services.invite_create(actor=other_owner, room=other)
    page = browser.get(_link(other_invite)).content.decode()
    assert "Omar Other invited you to “Trio”" in page and 'id="guest-join"' in page
    # The old guest's session is over: their room is no longer open to it.
    assert browser.get(invite.room.get_absolute_url())["Location"].startswith(
        reverse("login")
    )
    browser.post(_link(other_invite), {"display_name": "Gina Again"})
    assert Guest.objects.get(user=_guest("Gina Again")).room == other


def test_member_accepting_sees_no_message_above_the_call(client, invite, outsider):
    client.force_login(outsider)
    response = client.post(_link(invite))
    assert response["Location"] == invite.room.get_absolute_url()
    assert list(get_messages(response.wsgi_request)) == []
    assert Membership.objects.get(room=invite.room, user=outsider).role == Role.VIEWER


def test_creating_a_room_adds_no_message_above_the_call(client, outsider):
    client.force_login(outsider)
    response = client.post(
        reverse("room_create"), {"name": "Book club", "max_participants": 8}
    )
    assert list(get_messages(response.wsgi_request)) == []


# Sessions


def test_forged_or_tampered_session_cookie_signs_nobody_in(invite):
    browser = _join_as_guest(invite)
    real = browser.cookies["sessionid"].value
    room_page = invite.room.get_absolute_url()
    for cookie in (real[:-1] + ("a" if real[-1] != "a" else "b"), "x" * 32, ""):
        forger = Client()
        forger.cookies["sessionid"] = cookie
        response = forger.get(room_page)
        assert response.status_code == 302, cookie
        assert response["Location"].startswith(reverse("login")), cookie


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("channel_layer")
async def test_tampered_session_cookie_opens_no_meeting_socket(invite):
    browser = await sync_to_async(_join_as_guest)(invite)
    real = browser.cookies["sessionid"].value
    browser.cookies["sessionid"] = real[:-2] + "zz"
    await _refused(_socket(browser, invite.room), "sign_in_required")


# One room only


@pytest.fixture
def other_room(make_user) -> Room:
    return services.room_create(owner=make_user("Omar Other"), name="Elsewhere")


def test_guest_has_no_access_to_another_room_even_as_a_member(invite, other_room):
    _join_as_guest(invite)
    guest = _guest()
    with pytest.raises(InvalidOperation):  # not by e-mail: a guest has no account
        services.membership_add(
            actor=other_room.owner, room=other_room, email=guest.email, role="viewer"
        )
    with pytest.raises(InvalidOperation):  # nor by the admin's way
        services.membership_set_role(
            actor=other_room.owner, room=other_room, user=guest, role=Role.MODERATOR
        )
    # Even a membership row written some other way gives them nothing.
    Membership.objects.create(room=other_room, user=guest, role=Role.MODERATOR)
    assert not room_access_for(user=guest, room=other_room).can_join
    assert room_access_for(user=guest, room=invite.room).role == Role.VIEWER


def test_guest_session_cannot_open_another_rooms_pages(invite, other_room):
    browser = _join_as_guest(invite)
    Membership.objects.create(room=other_room, user=_guest(), role=Role.MODERATOR)
    own = invite.room.get_absolute_url()
    assert browser.get(other_room.get_absolute_url())["Location"] == own
    settings_page = reverse("room_settings", args=[other_room.slug])
    assert browser.get(settings_page)["Location"] == own
    precall = browser.post(
        reverse("room_precall", args=[other_room.slug]),
        "{}",
        content_type="application/json",
    )
    assert precall.status_code == 403
    assert not other_room.precall_reports.exists()
    # Its own room's pre-call check works.
    mine = browser.post(
        reverse("room_precall", args=[invite.room.slug]),
        "{}",
        content_type="application/json",
    )
    assert mine.status_code == 201


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("channel_layer")
async def test_guest_socket_opens_only_their_rooms_meeting(invite, other_room):
    browser = await sync_to_async(_join_as_guest)(invite)
    guest = await db(_guest)()
    await db(Membership.objects.create)(
        room=other_room, user=guest, role=Role.MODERATOR
    )
    await _refused(_socket(browser, other_room), "not_member")
    socket = _socket(browser, invite.room)
    welcome = await socket.join()
    assert welcome["you"]["role"] == "viewer"
    assert welcome["participants"][0]["name"] == "Gina Guest"
    assert welcome["participants"][0]["guest"] is True
    await socket.close()


@pytest.mark.parametrize(
    "path",
    ["/", "/rooms/new/", "/accounts/profile/", "/admin/", "/accounts/password_change/"],
)
def test_guest_is_sent_back_to_their_room_from_the_rest_of_the_site(invite, path):
    browser = _join_as_guest(invite)
    response = browser.get(path)
    assert response.status_code == 302
    assert response["Location"] == invite.room.get_absolute_url()


def test_guest_cannot_create_rooms_or_change_their_profile(invite):
    browser = _join_as_guest(invite)
    created = browser.post(
        reverse("room_create"), {"name": "Mine", "max_participants": 4}
    )
    assert created.status_code == 403
    profile = browser.post(reverse("profile"), {"display_name": "Someone Else"})
    assert profile.status_code == 403
    assert not Room.objects.filter(name="Mine").exists()
    assert _guest().display_name == "Gina Guest"
    with pytest.raises(NotAllowed):
        services.room_create(owner=_guest(), name="Mine")


def test_guest_keeps_what_the_meeting_page_needs(invite):
    browser = _join_as_guest(invite)
    assert browser.get(reverse("ice_servers")).status_code == 200
    assert browser.get(_link(invite)).status_code == 302  # back into the room
    signed_out = browser.post(reverse("logout"))
    assert signed_out.status_code == 302
    assert browser.get(invite.room.get_absolute_url())["Location"].startswith(
        reverse("login")
    )


def test_guests_obey_lock_size_and_lobby_like_anyone(invite, owner, publisher):
    room = invite.room
    _join_as_guest(invite)
    guest = _guest()
    services.room_set_locked(actor=owner, room=room, locked=True)
    with pytest.raises(Refused) as refused:
        services.participant_admission(user=guest, slug=room.slug)
    assert refused.value.code == "locked"
    services.room_update_settings(
        actor=owner, room=room, is_locked=False, max_participants=2
    )
    services.participant_join(user=owner, room=room, channel_name="c-owner")
    services.participant_join(user=publisher, room=room, channel_name="c-pub")
    with pytest.raises(Refused) as refused:
        services.participant_admission(user=guest, slug=room.slug)
    assert refused.value.code == "full"


# Bans and removals


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("channel_layer")
async def test_banned_guest_is_put_out_refused_and_their_link_withdrawn(invite, owner):
    browser = await sync_to_async(_join_as_guest)(invite)
    guest = await db(_guest)()
    socket = _socket(browser, invite.room)
    await socket.join()
    await db(services.user_ban)(actor=owner, room=invite.room, user=guest)
    removed = await socket.recv_until("removed")
    assert removed["reason"] == "banned"
    await socket.closed(CLOSE_CODES["banned"])
    # The socket, the page and the link all refuse them now.
    await _refused(_socket(browser, invite.room), "banned")
    page = await sync_to_async(browser.get)(invite.room.get_absolute_url())
    assert page.status_code == 403
    again = await sync_to_async(browser.get)(_link(invite))
    assert again.status_code == 403 and "banned" in again.content.decode()
    # Nobody can come back as a new guest by the same link.
    await db(invite.refresh_from_db)()
    assert invite.revoked_at is not None
    fresh = await sync_to_async(Client().post)(
        _link(invite), {"display_name": "Gina Again"}
    )
    assert fresh.status_code == 410
    logged = await db(list)(
        ModerationAction.objects.filter(room_id=invite.room_id).values_list(
            "action", "actor"
        )
    )
    assert (ModerationKind.BAN, owner.pk) in logged
    assert (ModerationKind.REVOKE_INVITE, owner.pk) in logged


def test_banning_one_guest_keeps_the_others_who_came_by_the_link(invite, owner):
    first = _join_as_guest(invite, "Gina Guest")
    second = _join_as_guest(invite, "Hugo Guest")
    services.user_ban(actor=owner, room=invite.room, user=_guest("Gina Guest"))
    assert first.get(invite.room.get_absolute_url()).status_code == 403
    assert second.get(invite.room.get_absolute_url()).status_code == 200
    # Their withdrawn link still takes them back to their meeting.
    assert second.get(_link(invite))["Location"] == invite.room.get_absolute_url()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("channel_layer")
async def test_removed_guest_opening_the_link_again_is_still_out(invite, owner):
    browser = await sync_to_async(_join_as_guest)(invite)
    owner_in = RoomClient(owner, invite.room)
    await owner_in.join()
    socket = _socket(browser, invite.room)
    await socket.join()
    await db(services.participant_remove)(
        actor=owner, room=invite.room, target_id=socket.id
    )
    assert (await socket.recv_until("removed"))["reason"] == "removed"
    await socket.closed(CLOSE_CODES["removed"])
    # Same link, same person: back to the room page, not a new guest ...
    again = await sync_to_async(browser.get)(_link(invite))
    assert again["Location"] == invite.room.get_absolute_url()
    assert await db(User.objects.filter(is_guest=True).count)() == 1
    # ... and this meeting still keeps them out.
    await _refused(_socket(browser, invite.room), "removed")
    await owner_in.close()


def test_guest_taken_off_the_members_is_out_until_a_link_brings_them_back(
    invite, owner
):
    browser = _join_as_guest(invite)
    services.membership_remove(actor=owner, room=invite.room, user=_guest())
    assert browser.get(invite.room.get_absolute_url()).status_code == 404
    # As for anyone removed from the members, a working link lets them in again.
    assert browser.get(_link(invite))["Location"] == invite.room.get_absolute_url()
    assert browser.get(invite.room.get_absolute_url()).status_code == 200


# The meeting page's "Copy invite link"


def _invite_named(url: str) -> int | None:
    """The invite an absolute invite URL leads to (its token is signed with a
    timestamp, so the same invite's URL differs from one second to the next)."""
    prefix = "http://testserver/invite/"
    assert url.startswith(prefix), url
    return invite_pk_from_token(url.removeprefix(prefix).rstrip("/"))


def _invite_link(client: Client, room: Room, **headers: str):
    return client.post(reverse("invite_link", args=[room.slug]), **headers)


def test_moderator_gets_a_participant_link_and_the_same_one_again(
    client, open_room, moderator
):
    client.force_login(moderator)
    first = _invite_link(client, open_room)
    assert first.status_code == 201
    body = first.json()
    invite = Invite.objects.get(room=open_room, created_by=moderator)
    assert _invite_named(body["url"]) == invite.pk
    assert body == {
        "url": body["url"],
        "role": "publisher",
        "role_label": "Participant",
        "expires_at": invite.expires_at.isoformat(),
        "guests_allowed": True,
    }
    assert invite.max_uses is None
    assert timedelta(days=6, hours=23) < invite.expires_at - timezone.now()
    second = _invite_link(client, open_room)
    assert second.status_code == 200
    assert _invite_named(second.json()["url"]) == invite.pk
    assert Invite.objects.filter(room=open_room).count() == 1


def test_a_link_about_to_expire_is_not_handed_out_again(client, room, moderator):
    client.force_login(moderator)
    old = services.invite_create(
        actor=moderator, room=room, expires_in=timedelta(hours=2)
    )
    body = _invite_link(client, room).json()
    assert _invite_named(body["url"]) not in (None, old.pk)
    assert body["guests_allowed"] is False


def test_invite_link_is_for_moderators_only(client, room, publisher, outsider):
    assert _invite_link(client, room).status_code == 403  # signed out
    client.force_login(publisher)
    refused = _invite_link(client, room)
    assert refused.status_code == 403 and refused.json()["error"]
    client.force_login(outsider)
    assert _invite_link(client, room).status_code == 404
    assert _invite_link(client, room).json() == {"error": "No such room."}
    assert client.get(reverse("invite_link", args=[room.slug])).status_code == 405
    assert not Invite.objects.filter(room=room).exists()


def test_invite_link_needs_the_csrf_header(room, owner):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    assert _invite_link(browser, room).status_code == 403
    browser.get(reverse("room", args=[room.slug]))  # sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    assert _invite_link(browser, room, HTTP_X_CSRFTOKEN=token).status_code == 201


# Accessible names on the settings page


def test_each_role_menu_on_the_settings_page_has_its_own_label(client, room, owner):
    client.force_login(owner)
    page = client.get(reverse("room_settings", args=[room.slug])).content.decode()
    assert 'id="id_role"' not in page
    for menu in ("invite-role", "member-role"):
        assert page.count(f'id="{menu}"') == 1
        assert page.count(f'<label for="{menu}">') == 1


# The admin's records


@pytest.fixture
def admin_client(client, superuser) -> Client:
    client.force_login(superuser)
    return client


def _csv(admin_client: Client, model: type, action: str) -> list[dict[str, str]]:
    info = (model._meta.app_label, model._meta.model_name)
    response = admin_client.post(
        reverse("admin:{}_{}_changelist".format(*info)),
        {
            "action": action,
            "_selected_action": list(model.objects.values_list("pk", flat=True)),
        },
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_guests_are_marked_in_the_attendance_and_chat_exports(
    admin_client, invite, owner
):
    _join_as_guest(invite)
    guest = _guest()
    room = invite.room
    services.participant_join(user=owner, room=room, channel_name="c-owner")
    services.participant_join(user=guest, room=room, channel_name="c-guest")
    services.chat_post(user=owner, room=room, text="welcome")
    services.chat_post(user=guest, room=room, text="hello from a guest")
    assert Attendance.objects.count() == 2 and ChatMessage.objects.count() == 2

    attendance = _csv(admin_client, Attendance, "export_attendance_csv")
    by_name = {row["name"]: row for row in attendance}
    assert by_name["Gina Guest"]["guest"] == "yes"
    assert by_name["Gina Guest"]["e-mail"] == ""  # made up: nobody reads it
    assert by_name["Olivia Owner"]["guest"] == ""

    chat = _csv(admin_client, ChatMessage, "export_chat_csv")
    by_author = {row["author"]: row for row in chat}
    assert by_author["Gina Guest"]["guest"] == "yes"
    assert by_author["Olivia Owner"]["guest"] == ""


def test_admin_lists_filter_and_show_guests(admin_client, invite, owner):
    _join_as_guest(invite)
    guest = _guest()
    services.participant_join(user=guest, room=invite.room, channel_name="c-guest")
    services.user_ban(actor=owner, room=invite.room, user=guest)
    users = admin_client.get(
        reverse("admin:accounts_user_changelist"), {"is_guest__exact": "1"}
    ).content.decode()
    assert "Gina Guest" in users and "Olivia Owner" not in users
    change = admin_client.get(
        reverse("admin:accounts_user_change", args=[guest.pk])
    ).content.decode()
    assert "Guest in room" in change and invite.room.slug in change
    for model in ("membership", "attendance", "participant", "ban"):
        page = admin_client.get(
            reverse(f"admin:meetings_{model}_changelist"),
            {"user__is_guest__exact": "1"},
        )
        assert page.status_code == 200, model
        assert "column-is_guest" in page.content.decode(), model
        assert "Gina Guest" in page.content.decode(), model
    members = admin_client.get(
        reverse("admin:meetings_membership_changelist"),
        {"user__is_guest__exact": "1"},
    ).content.decode()
    assert "Gina Guest" in members and "Olivia Owner" not in members


def test_admin_turns_guests_on_for_a_room_through_the_service(
    admin_client, superuser, room
):
    change = reverse("admin:meetings_room_change", args=[room.pk])
    response = admin_client.post(change, _room_data(room, guests_allowed="on"))
    assert response.status_code == 302, response.content.decode()[:2000]
    room.refresh_from_db()
    assert room.guests_allowed
    assert ModerationAction.objects.filter(
        room=room,
        actor=superuser,
        action=ModerationKind.UPDATE_SETTINGS,
        detail="guests_allowed=True",
    ).exists()


def test_deleting_a_room_deletes_its_guests_and_no_one_else(invite, publisher):
    _join_as_guest(invite)
    room = invite.room
    services.room_delete(room=room)
    assert not User.objects.filter(is_guest=True).exists()
    assert User.objects.filter(pk=publisher.pk).exists()
    assert not Room.objects.filter(pk=room.pk).exists()
