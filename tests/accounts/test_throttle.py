"""Sign-up and password reset send e-mail: limited per client address and per
target address, with a plain 429 past the limit, and nothing sent."""

import pytest
from django.core import mail
from django.test import RequestFactory
from django.urls import reverse

from accounts.models import User
from accounts.throttle import client_ip

FORMS = ["signup", "password_reset"]


@pytest.fixture
def limits(settings):
    settings.ACCOUNT_EMAILS_PER_IP = 4
    settings.ACCOUNT_EMAILS_PER_ADDRESS = 2


def _ask(client, form, email, ip="10.0.0.1"):
    return client.post(reverse(form), {"email": email}, REMOTE_ADDR=ip)


@pytest.mark.parametrize("form", FORMS)
def test_one_address_gets_a_few_emails_an_hour(client, make_user, limits, form):
    make_user("Grace", email="grace@example.org")
    for ip in ("10.0.0.1", "10.0.0.2"):
        assert _ask(client, form, "grace@example.org", ip).status_code == 302
    response = _ask(client, form, "GRACE@example.org", "10.0.0.3")
    assert response.status_code == 429
    assert "Nothing was sent" in response.content.decode()
    assert len(mail.outbox) == 2
    # Other addresses are not affected.
    assert _ask(client, form, "ada@example.org", "10.0.0.3").status_code == 302


@pytest.mark.parametrize("form", FORMS)
def test_one_client_can_ask_a_few_times_an_hour(client, db, limits, form):
    for n in range(4):
        assert _ask(client, form, f"person{n}@example.org").status_code == 302
    response = _ask(client, form, "person9@example.org")
    assert response.status_code == 429
    assert "Wait an hour" in response.content.decode()
    # Another client still can.
    assert _ask(client, form, "person9@example.org", "10.0.0.2").status_code == 302


def test_past_the_limit_sign_up_sends_and_creates_nothing(client, db, limits):
    for _ in range(2):
        _ask(client, "signup", "grace@example.org")
    sent = len(mail.outbox)
    assert _ask(client, "signup", "grace@example.org").status_code == 429
    assert len(mail.outbox) == sent
    assert not User.objects.exists()


def test_the_limit_says_the_same_for_new_and_registered_addresses(
    client, make_user, limits
):
    make_user("Grace", email="grace@example.org")
    answers = []
    for email in ("grace@example.org", "ada@example.org"):
        for _ in range(2):
            _ask(client, "signup", email, "10.0.0.9")
        response = _ask(client, "signup", email, "10.0.0.8")
        answers.append((response.status_code, response.content))
    assert answers[0] == answers[1]
    assert answers[0][0] == 429


def test_invalid_forms_do_not_count(client, db, limits):
    for _ in range(10):
        client.post(reverse("signup"), {"email": "nonsense"}, REMOTE_ADDR="10.0.0.1")
    assert _ask(client, "signup", "grace@example.org").status_code == 302


def _request(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_client_ip_is_the_connection_without_a_trusted_proxy(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(_request("192.0.2.1", "203.0.113.5")) == "192.0.2.1"


@pytest.mark.parametrize(
    "proxies, forwarded, expected",
    [
        # The client may send its own X-Forwarded-For: only the entries our
        # proxies appended (from the right) are believed.
        (1, "203.0.113.5", "203.0.113.5"),
        (1, "6.6.6.6, 203.0.113.5", "203.0.113.5"),
        (2, "6.6.6.6, 203.0.113.5, 10.0.0.2", "203.0.113.5"),
        (1, "2001:db8::1", "2001:db8::1"),
        # Misconfigured: too few entries, or not an address.
        (2, "203.0.113.5", "192.0.2.1"),
        (1, "", "192.0.2.1"),
        (1, "6.6.6.6, not-an-ip", "192.0.2.1"),
    ],
)
def test_client_ip_behind_trusted_proxies(settings, proxies, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    assert client_ip(_request("192.0.2.1", forwarded)) == expected
