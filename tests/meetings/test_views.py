import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from meetings import services
from meetings.models import (
    Ban,
    Invite,
    Membership,
    Role,
    Room,
    invite_pk_from_token,
    invite_token,
)


def _room_urls(room, user_id: int, invite_id: int) -> dict[str, tuple[str, str]]:
    """Every room page and action: name -> (method, url)."""
    slug = room.slug
    return {
        "room": ("get", reverse("room", args=[slug])),
        "room_settings": ("get", reverse("room_settings", args=[slug])),
        "room_settings_post": ("post", reverse("room_settings", args=[slug])),
        "member_add": ("post", reverse("member_add", args=[slug])),
        "member_role": ("post", reverse("member_role", args=[slug, user_id])),
        "member_remove": ("post", reverse("member_remove", args=[slug, user_id])),
        "member_ban": ("post", reverse("member_ban", args=[slug, user_id])),
        "ban_lift": ("post", reverse("ban_lift", args=[slug, user_id])),
        "invite_new": ("post", reverse("invite_new", args=[slug])),
        "invite_revoke": ("post", reverse("invite_revoke", args=[slug, invite_id])),
    }


MODERATOR_ONLY = [
    "room_settings",
    "room_settings_post",
    "member_add",
    "member_role",
    "member_remove",
    "member_ban",
    "ban_lift",
    "invite_new",
    "invite_revoke",
]

POST_DATA = {
    "room_settings_post": {"name": "Hijacked", "max_participants": 50},
    "member_add": {"email": "x@example.org", "role": "moderator"},
    "member_role": {"role": "moderator"},
    "member_ban": {"duration": "forever"},
    "invite_new": {"role": "moderator", "lifetime": "1d"},
}


@pytest.fixture
def invite(room, owner) -> Invite:
    return services.invite_create(actor=owner, room=room)


def _snapshot(room) -> tuple:
    room.refresh_from_db()
    return (
        room.name,
        room.max_participants,
        sorted(Membership.objects.filter(room=room).values_list("user", "role")),
        sorted(Ban.objects.filter(room=room).values_list("user", flat=True)),
        sorted(Invite.objects.filter(room=room).values_list("pk", "revoked_at")),
    )


def test_anonymous_users_are_sent_to_sign_in_from_every_page(
    client, room, viewer, invite
):
    urls = _room_urls(room, viewer.pk, invite.pk)
    urls["home"] = ("get", reverse("home"))
    urls["room_create"] = ("get", reverse("room_create"))
    urls["profile"] = ("get", reverse("profile"))
    for name, (method, url) in urls.items():
        response = getattr(client, method)(url, POST_DATA.get(name, {}))
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("login") + "?next="), name


@pytest.mark.parametrize("who", ["outsider"])
def test_outsiders_get_404_everywhere_in_a_room(
    request, client, room, viewer, invite, who
):
    client.force_login(request.getfixturevalue(who))
    before = _snapshot(room)
    for name, (method, url) in _room_urls(room, viewer.pk, invite.pk).items():
        response = getattr(client, method)(url, POST_DATA.get(name, {}))
        assert response.status_code == 404, name
    assert _snapshot(room) == before


def test_banned_user_is_told_they_are_banned(client, room, banned):
    client.force_login(banned)
    response = client.get(reverse("room", args=[room.slug]))
    assert response.status_code == 403
    assert "banned you from this room for good" in response.content.decode()


def test_unknown_room_is_404(client, publisher):
    client.force_login(publisher)
    assert client.get(reverse("room", args=["aaa-bbbb-ccc"])).status_code == 404


@pytest.mark.parametrize("who", ["publisher", "viewer"])
def test_members_cannot_use_moderator_pages_or_actions(
    request, client, room, viewer, invite, who
):
    client.force_login(request.getfixturevalue(who))
    before = _snapshot(room)
    urls = _room_urls(room, viewer.pk, invite.pk)
    for name in MODERATOR_ONLY:
        method, url = urls[name]
        response = getattr(client, method)(url, POST_DATA.get(name, {}))
        assert response.status_code == 403, name
    assert _snapshot(room) == before


@pytest.mark.parametrize(
    "who", ["owner", "moderator", "publisher", "viewer", "superuser"]
)
def test_room_page_says_who_you_are_and_your_role(request, client, room, who):
    user = request.getfixturevalue(who)
    client.force_login(user)
    page = client.get(reverse("room", args=[room.slug])).content.decode()
    # Each role's label, as everywhere people read it.
    expected_role = {"publisher": "Participant", "viewer": "Viewer"}.get(
        who, "Moderator"
    )
    # The pre-call block: the call's own room controls (hidden until a
    # moderator joins) link to the settings page for everyone.
    precall = page.split('<section id="precall"')[1].split('<section id="lobby"')[0]
    assert user.display_name in precall
    assert f">{expected_role}</span>" in precall
    assert ("Room settings" in precall) is (expected_role == "Moderator")


def test_home_lists_my_rooms_with_my_role(client, room, viewer, make_user):
    services.room_create(owner=make_user(), name="Not mine")
    client.force_login(viewer)
    page = client.get(reverse("home")).content.decode()
    assert "Team call" in page and "Not mine" not in page
    assert "badge-viewer" in page


def test_home_shows_a_helpful_empty_state(client, outsider):
    client.force_login(outsider)
    assert "Create your first room" in client.get(reverse("home")).content.decode()


def test_create_room_makes_me_its_moderator(client, outsider):
    client.force_login(outsider)
    response = client.post(
        reverse("room_create"), {"name": "Book club", "max_participants": 8}
    )
    room = Room.objects.get(name="Book club")
    assert response["Location"] == room.get_absolute_url()
    assert room.owner == outsider and room.max_participants == 8


def test_create_room_shows_errors(client, outsider):
    client.force_login(outsider)
    response = client.post(reverse("room_create"), {"name": "", "max_participants": 1})
    assert response.status_code == 200
    assert not Room.objects.filter(owner=outsider).exists()
    assert "errors" in response.content.decode()


@pytest.mark.parametrize("who", ["owner", "moderator", "superuser"])
def test_moderators_change_settings(request, client, room, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get(reverse("room_settings", args=[room.slug])).status_code == 200
    response = client.post(
        reverse("room_settings", args=[room.slug]),
        {
            "name": "Renamed",
            "max_participants": 30,
            "is_locked": "on",
            "screen_share_policy": "moderators",
            "chat_enabled": "on",
        },
    )
    assert response.status_code == 302
    room.refresh_from_db()
    assert (room.name, room.max_participants, room.is_locked) == ("Renamed", 30, True)
    assert room.viewers_may_chat is False


def test_settings_form_errors_are_shown_and_nothing_changes(client, room, owner):
    client.force_login(owner)
    response = client.post(
        reverse("room_settings", args=[room.slug]),
        {
            "name": "Renamed",
            "max_participants": 1000,
            "screen_share_policy": "publishers",
        },
    )
    assert response.status_code == 200
    room.refresh_from_db()
    assert room.name == "Team call"


def test_moderator_manages_members_from_the_settings_page(
    client, room, moderator, outsider, viewer
):
    client.force_login(moderator)
    slug = room.slug
    client.post(
        reverse("member_add", args=[slug]), {"email": outsider.email, "role": "viewer"}
    )
    assert Membership.objects.get(room=room, user=outsider).role == Role.VIEWER
    client.post(reverse("member_role", args=[slug, viewer.pk]), {"role": "publisher"})
    assert Membership.objects.get(room=room, user=viewer).role == Role.PUBLISHER
    client.post(reverse("member_remove", args=[slug, outsider.pk]))
    assert not Membership.objects.filter(room=room, user=outsider).exists()
    client.post(
        reverse("member_ban", args=[slug, viewer.pk]),
        {"duration": "1d", "reason": "rude"},
    )
    ban = Ban.objects.get(room=room, user=viewer)
    assert ban.until > timezone.now() + timedelta(hours=23)
    page = client.get(reverse("room_settings", args=[slug])).content.decode()
    assert "rude" in page and "Lift ban" in page
    client.post(reverse("ban_lift", args=[slug, viewer.pk]))
    assert not Ban.objects.filter(room=room).exists()


def test_domain_errors_become_messages_on_the_settings_page(
    client, room, moderator, owner
):
    client.force_login(moderator)
    response = client.post(
        reverse("member_role", args=[room.slug, owner.pk]),
        {"role": "viewer"},
        follow=True,
    )
    assert "always one of its moderators" in response.content.decode()


def test_moderator_creates_sees_and_withdraws_invite_links(client, room, moderator):
    client.force_login(moderator)
    response = client.post(
        reverse("invite_new", args=[room.slug]),
        {"role": "viewer", "lifetime": "1h", "max_uses": 3},
        follow=True,
    )
    invite = Invite.objects.get(room=room)
    assert (invite.role, invite.max_uses) == ("viewer", 3)
    assert _invites_linked(response.content.decode()) == {invite.pk}
    client.post(reverse("invite_revoke", args=[room.slug, invite.pk]))
    invite.refresh_from_db()
    assert invite.revoked_at is not None
    page = client.get(reverse("room_settings", args=[room.slug])).content.decode()
    assert _invites_linked(page) == set()


def _invites_linked(page: str) -> set[int]:
    """The invites a page links to. A token carries the time it was signed,
    so the same invite's link differs from one second to the next."""
    tokens = re.findall(r"http://testserver/invite/([^/\s\"<]+)/", page)
    return {invite_pk_from_token(token) for token in tokens}


def test_moderator_actions_refuse_get(client, room, moderator):
    client.force_login(moderator)
    assert client.get(reverse("invite_new", args=[room.slug])).status_code == 405


def test_invite_link_shows_the_room_then_joins_on_confirm(
    client, room, owner, outsider
):
    invite = services.invite_create(actor=owner, room=room, role=Role.VIEWER)
    url = reverse("invite_accept", args=[invite_token(invite)])
    client.force_login(outsider)
    page = client.get(url).content.decode()
    assert "Team call" in page and "Olivia Owner invited you" in page
    assert not Membership.objects.filter(user=outsider).exists()
    response = client.post(url)
    assert response["Location"] == room.get_absolute_url()
    assert Membership.objects.get(room=room, user=outsider).role == Role.VIEWER


def test_unusable_invite_links_explain_what_to_do(client, room, owner, outsider):
    client.force_login(outsider)
    response = client.get(reverse("invite_accept", args=["forged"]))
    assert response.status_code == 410
    assert "ask for a new one" in response.content.decode()
    invite = services.invite_create(actor=owner, room=room)
    Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now())
    response = client.post(reverse("invite_accept", args=[invite_token(invite)]))
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    assert not Membership.objects.filter(user=outsider).exists()


def test_banned_user_following_an_invite_is_refused(client, room, owner, banned):
    invite = services.invite_create(actor=owner, room=room)
    client.force_login(banned)
    response = client.post(reverse("invite_accept", args=[invite_token(invite)]))
    assert response.status_code == 403
    assert "banned" in response.content.decode()


def test_anonymous_invite_follower_can_sign_up_and_come_back(client, room, owner):
    invite = services.invite_create(actor=owner, room=room)
    url = reverse("invite_accept", args=[invite_token(invite)])
    login_page = client.get(url, follow=True).content.decode()
    assert "Create an account" in login_page
    client.post(reverse("signup"), {"email": "newcomer@example.org", "next": url})
    link = re.search(
        r"http://testserver(/accounts/signup/finish/\S+/)", mail.outbox[0].body
    )[1]
    response = client.post(
        link,
        {
            "display_name": "Nina Newcomer",
            "password1": "a-long-test-password-42",
            "password2": "a-long-test-password-42",
        },
    )
    assert response["Location"] == url
    client.post(url)
    assert Membership.objects.filter(
        room=room, user__email="newcomer@example.org"
    ).exists()


def test_forms_are_csrf_protected(room, owner):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(reverse("room_settings", args=[room.slug]), {"name": "x"})
    assert response.status_code == 403
