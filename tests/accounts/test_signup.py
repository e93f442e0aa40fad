"""Sign-up by e-mailed link: the page never tells whether an address is
registered; the e-mail tells its owner."""

import re
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail, signing
from django.urls import reverse

from accounts import services
from accounts.models import User
from tests.conftest import PASSWORD

FINISH = {
    "display_name": "  Grace Hopper ",
    "password1": PASSWORD,
    "password2": PASSWORD,
}


def _link(message) -> str:
    return re.search(r"http://testserver(/accounts/signup/finish/\S+/)", message.body)[
        1
    ]


def _comparable(response) -> tuple:
    return (
        response.status_code,
        sorted(response.headers.items()),
        response.content,
        dict(response.cookies.items()),
    )


def test_signup_page_asks_only_for_the_address(client, db):
    page = client.get(reverse("signup")).content.decode()
    assert 'name="email"' in page
    assert 'name="password1"' not in page


def test_response_is_the_same_for_new_and_registered_addresses(client, make_user):
    make_user("Grace", email="grace@example.org")
    registered = client.post(reverse("signup"), {"email": "Grace@Example.org"})
    new = client.post(reverse("signup"), {"email": "ada@example.org"})
    assert _comparable(registered) == _comparable(new)
    assert registered["Location"] == reverse("signup_sent")
    page = client.get(registered["Location"]).content.decode()
    assert "Check your inbox: we sent a link to finish signing up" in page
    assert User.objects.count() == 1


def test_signup_does_the_same_work_for_new_and_registered_addresses(client, make_user):
    """Timing: no password hashing on either branch, one e-mail each."""
    make_user("Grace", email="grace@example.org")
    with mock.patch("django.contrib.auth.hashers.make_password") as hashing:
        client.post(reverse("signup"), {"email": "grace@example.org"})
        client.post(reverse("signup"), {"email": "ada@example.org"})
    hashing.assert_not_called()
    assert len(mail.outbox) == 2


def test_registered_address_gets_a_you_already_have_an_account_email(client, make_user):
    make_user("Grace", email="grace@example.org")
    client.post(reverse("signup"), {"email": "GRACE@example.org", "next": "/r/x/"})
    (message,) = mail.outbox
    assert message.to == ["grace@example.org"]
    assert "You already have a Parley account; sign in or reset your password" in (
        message.body
    )
    assert "http://testserver/accounts/login/?next=%2Fr%2Fx%2F" in message.body
    assert "http://testserver/accounts/password_reset/" in message.body
    assert "/signup/finish/" not in message.body


def test_the_link_creates_the_account_and_signs_in(client, db):
    client.post(reverse("signup"), {"email": "Grace@Example.org"})
    (message,) = mail.outbox
    assert message.to == ["grace@example.org"]
    assert message.subject == "Finish signing up to Parley"
    link = _link(message)
    page = client.get(link).content.decode()
    assert "grace@example.org" in page and 'name="password1"' in page
    response = client.post(link, FINISH)
    assert response["Location"] == reverse("home")
    user = User.objects.get()
    assert (user.email, user.display_name) == ("grace@example.org", "Grace Hopper")
    assert user.check_password(PASSWORD)
    home = client.get(reverse("home"))
    assert home.context["user"] == user
    assert "Welcome to Parley, Grace Hopper" in home.content.decode()


def test_the_link_works_once(client, db):
    client.post(reverse("signup"), {"email": "grace@example.org"})
    link = _link(mail.outbox[0])
    client.post(link, FINISH)
    client.post(reverse("logout"))
    for response in (client.get(link), client.post(link, FINISH)):
        assert response.status_code == 410
        page = response.content.decode()
        assert "already been used" in page
        assert reverse("login") in page and reverse("password_reset") in page
    assert User.objects.count() == 1


def test_the_same_link_submitted_twice_at_once_creates_one_account(client, db):
    claim = services.SignupClaim(email="grace@example.org", next_url="")
    services.user_signup(claim=claim, display_name="Grace", password=PASSWORD)
    with pytest.raises(services.SignupLinkError) as error:
        services.user_signup(claim=claim, display_name="Grace", password=PASSWORD)
    assert error.value.reason == "used"
    assert User.objects.count() == 1


def _token_made_ago(age: timedelta, email: str = "grace@example.org") -> str:
    made = signing.b62_encode(int(time.time() - age.total_seconds()))
    with mock.patch.object(signing.TimestampSigner, "timestamp", return_value=made):
        return services.signup_token(email=email)


def test_a_link_works_for_24_hours(client, db):
    token = _token_made_ago(timedelta(hours=23, minutes=50))
    assert client.get(reverse("signup_finish", args=[token])).status_code == 200


def test_an_expired_link_says_to_ask_for_a_new_one(client, db):
    link = reverse(
        "signup_finish", args=[_token_made_ago(timedelta(hours=24, minutes=1))]
    )
    response = client.get(link)
    assert response.status_code == 410
    page = response.content.decode()
    assert "This link has expired" in page
    assert "work for 24 hours" in page and reverse("signup") in page
    assert client.post(link, FINISH).status_code == 410
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        lambda token: token[: len(token) // 2],
        lambda token: "not-a-token",
    ],
    ids=["tampered", "truncated", "garbage"],
)
def test_a_tampered_link_says_what_to_do(client, db, mangle):
    client.post(reverse("signup"), {"email": "grace@example.org"})
    token = _link(mail.outbox[0]).split("/")[-2]
    link = reverse("signup_finish", args=[mangle(token)])
    response = client.get(link)
    assert response.status_code == 400
    page = response.content.decode()
    assert "This link does not work" in page and "Copy the whole link" in page
    assert client.post(link, FINISH).status_code == 400
    assert not User.objects.exists()


def test_a_link_for_another_address_cannot_be_forged(client, db):
    """Only SECRET_KEY signs links: another salt's signature is refused."""
    forged = signing.TimestampSigner(salt="other").sign_object(
        {"e": "mallory@example.org", "n": ""}
    )
    assert client.get(reverse("signup_finish", args=[forged])).status_code == 400


def test_next_survives_the_whole_flow(client, db):
    target = "/invite/some-token/"
    page = client.get(reverse("signup") + f"?next={target}").content.decode()
    assert f'value="{target}"' in page
    client.post(reverse("signup"), {"email": "grace@example.org", "next": target})
    response = client.post(_link(mail.outbox[0]), FINISH)
    assert response["Location"] == target


def test_an_offsite_next_is_dropped(client, db):
    client.post(
        reverse("signup"),
        {"email": "grace@example.org", "next": "https://evil.example/"},
    )
    assert "evil" not in mail.outbox[0].body
    response = client.post(_link(mail.outbox[0]), FINISH)
    assert response["Location"] == reverse("home")


def test_weak_or_mismatched_passwords_are_refused(client, db):
    client.post(reverse("signup"), {"email": "grace@example.org"})
    link = _link(mail.outbox[0])
    response = client.post(link, {**FINISH, "password2": "different"})
    assert response.status_code == 200
    response = client.post(
        link, {**FINISH, "password1": "12345678", "password2": "12345678"}
    )
    assert "too common" in response.content.decode()
    response = client.post(
        link,
        {**FINISH, "password1": "grace@example.org", "password2": "grace@example.org"},
    )
    assert "too similar" in response.content.decode()
    assert not User.objects.exists()


def test_an_invalid_address_is_refused_without_email(client, db):
    response = client.post(reverse("signup"), {"email": "not an address"})
    assert response.status_code == 200
    assert "valid email address" in response.content.decode()
    assert mail.outbox == []


def test_signed_in_people_skip_sign_up(client, make_user):
    client.force_login(make_user())
    assert client.get(reverse("signup"))["Location"] == reverse("home")
