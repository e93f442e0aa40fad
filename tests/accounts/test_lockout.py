"""Sign-in lockout (django-axes): five wrong passwords for one address from
one client, and even the right one is refused for 15 minutes."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.urls import reverse
from django.utils import timezone

from tests.conftest import PASSWORD

EMAIL = "grace@example.org"


@pytest.fixture
def grace(make_user):
    return make_user("Grace", email=EMAIL)


def _sign_in(client, password, *, email=EMAIL, ip="10.0.0.1", url=None):
    return client.post(
        url or reverse("login"),
        {"username": email, "password": password},
        REMOTE_ADDR=ip,
    )


def _fail(client, times, **kwargs):
    for _ in range(times):
        response = _sign_in(client, "wrong-password", **kwargs)
        assert response.status_code in (200, 429)
    return response


def test_the_right_password_is_refused_after_five_failures(client, grace):
    assert _fail(client, 4).status_code == 200
    response = _fail(client, 1)
    assert response.status_code == 429
    response = _sign_in(client, PASSWORD)
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed sign-ins. Wait 15 minutes, or reset your password." in page
    assert reverse("password_reset") in page
    assert "<html" in page and "Parley" in page  # our page, not a bare message
    assert "_auth_user_id" not in client.session


def test_the_attack_from_issue_9_is_stopped(client, grace):
    """60 wrong passwords, then the right one: refused."""
    _fail(client, 60)
    assert _sign_in(client, PASSWORD).status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_address_is_counted_whatever_its_case(client, grace):
    for email in ("GRACE@example.org", "Grace@Example.org", "grace@EXAMPLE.org"):
        _fail(client, 1, email=email)
    _fail(client, 2)
    assert _sign_in(client, PASSWORD).status_code == 429


def test_the_lock_is_per_address_and_client(client, grace, make_user):
    _fail(client, 5)
    # The same person from another network, and another person from this one.
    assert _sign_in(client, PASSWORD, ip="10.0.0.2")["Location"] == reverse("home")
    client.post(reverse("logout"))
    other = make_user("Ada", email="ada@example.org")
    response = _sign_in(client, PASSWORD, email=other.email)
    assert response["Location"] == reverse("home")


def test_success_resets_the_count(client, grace):
    _fail(client, 4)
    assert _sign_in(client, PASSWORD)["Location"] == reverse("home")
    client.post(reverse("logout"))
    _fail(client, 4)
    assert _sign_in(client, PASSWORD)["Location"] == reverse("home")


def test_the_lock_lifts_after_the_cool_off(client, grace):
    _fail(client, 5)
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - timedelta(minutes=15, seconds=5)
    )
    assert _sign_in(client, PASSWORD)["Location"] == reverse("home")


def test_limits_come_from_settings(client, grace, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.AXES_COOLOFF_TIME = timedelta(minutes=1)
    response = _fail(client, 2)
    assert response.status_code == 429
    assert "Wait 1 minute, or reset your password." in response.content.decode()


def test_the_admin_sign_in_is_locked_too(client, superuser):
    url = reverse("admin:login")
    _fail(client, 5, email=superuser.email, url=url)
    response = _sign_in(client, PASSWORD, email=superuser.email, url=url)
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert client.get(reverse("admin:index")).status_code == 302


def test_behind_a_proxy_the_forwarded_client_is_counted(client, grace, settings):
    settings.TRUSTED_PROXY_COUNT = 1

    def via_proxy(password, client_ip):
        return client.post(
            reverse("login"),
            {"username": EMAIL, "password": password},
            REMOTE_ADDR="127.0.0.1",
            HTTP_X_FORWARDED_FOR=f"1.2.3.4, {client_ip}",
        )

    for _ in range(5):
        via_proxy("wrong-password", "203.0.113.7")
    assert via_proxy(PASSWORD, "203.0.113.7").status_code == 429
    # Another client behind the same proxy is not locked out.
    assert via_proxy(PASSWORD, "203.0.113.8")["Location"] == reverse("home")
