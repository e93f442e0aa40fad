"""Every page carries the Content-Security-Policy and the Permissions-Policy:
signed out, signed in, the room, errors and the admin."""

import pytest
from django.core.cache import cache
from django.urls import reverse

from accounts.services import signup_token
from config.middleware import permissions_policy
from meetings import services
from meetings.models import invite_token

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: blob:; media-src 'self' blob: mediastream:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def _assert_headers(response, name: str) -> None:
    policy = response.get("Content-Security-Policy", "")
    assert sorted(policy.split("; ")) == sorted(CSP.split("; ")), name
    features = response.get("Permissions-Policy", "")
    for wanted in (
        "camera=(self)",
        "microphone=(self)",
        "display-capture=(self)",
        "geolocation=()",
        "payment=()",
        "usb=()",
    ):
        assert wanted in features.split(", "), f"{name}: {features}"


def test_signed_out_pages(client, db):
    token = signup_token(email="new@example.org")
    pages = {
        name: reverse(name)
        for name in ("login", "signup", "signup_sent", "password_reset")
    }
    pages["signup-finish"] = reverse("signup_finish", args=[token])
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, name
        _assert_headers(response, name)
    bad_link = client.get(reverse("signup_finish", args=["forged"]))
    assert bad_link.status_code == 400
    _assert_headers(bad_link, "signup link error")
    _assert_headers(client.get(reverse("home")), "home redirect")
    _assert_headers(client.get("/no/such/page/"), "404")


def test_signed_in_and_room_pages(client, room, owner, banned):
    client.force_login(owner)
    invite = services.invite_create(actor=owner, room=room)
    pages = {
        "home": reverse("home"),
        "room-create": reverse("room_create"),
        "room": reverse("room", args=[room.slug]),
        "room-settings": reverse("room_settings", args=[room.slug]),
        "profile": reverse("profile"),
        "password-change": reverse("password_change"),
        "invite": reverse("invite_accept", args=[invite_token(invite)]),
    }
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, name
        _assert_headers(response, name)
    client.force_login(banned)
    response = client.get(reverse("room", args=[room.slug]))
    assert response.status_code == 403
    _assert_headers(response, "403")


def test_admin_pages(client, superuser, room):
    client.force_login(superuser)
    for url in (
        reverse("admin:login"),
        reverse("admin:index"),
        reverse("admin:meetings_room_changelist"),
        reverse("admin:meetings_room_change", args=[room.pk]),
        reverse("admin:accounts_user_changelist"),
        reverse("admin:axes_accessattempt_changelist"),
    ):
        response = client.get(url)
        assert response.status_code in (200, 302), url
        _assert_headers(response, url)


def test_lockout_and_throttle_pages(client, make_user, settings):
    user = make_user()
    settings.AXES_FAILURE_LIMIT = 1
    response = client.post(
        reverse("login"), {"username": user.email, "password": "wrong"}
    )
    assert response.status_code == 429
    _assert_headers(response, "locked out")
    settings.ACCOUNT_EMAILS_PER_ADDRESS = 1
    cache.clear()
    for expected in (302, 429):
        response = client.post(reverse("signup"), {"email": "x@example.org"})
        assert response.status_code == expected
    _assert_headers(response, "throttled")
    cache.clear()


def test_the_policy_is_read_from_settings_per_response(client, db, settings):
    settings.PERMISSIONS_POLICY = {"camera": [], "fullscreen": ["self", "*"]}
    response = client.get(reverse("login"))
    assert response["Permissions-Policy"] == "camera=(), fullscreen=(self *)"


@pytest.mark.parametrize(
    "features, header",
    [
        ({"camera": ["self"]}, "camera=(self)"),
        ({"usb": []}, "usb=()"),
        (
            {"camera": ["self", "https://meet.example.org"], "midi": []},
            'camera=(self "https://meet.example.org"), midi=()',
        ),
    ],
)
def test_permissions_policy_syntax(features, header):
    assert permissions_policy(features) == header
