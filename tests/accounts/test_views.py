import re

from django.core import mail
from django.core.management import call_command
from django.urls import reverse

from accounts.models import User
from tests.conftest import PASSWORD


def test_sign_in_and_out(client, make_user):
    user = make_user("Grace", email="grace@example.org")
    page = client.get(reverse("login")).content.decode()
    assert "Sign in to Parley" in page
    response = client.post(
        reverse("login"), {"username": "GRACE@example.org", "password": PASSWORD}
    )
    assert response["Location"] == reverse("home")
    assert client.get(reverse("home")).context["user"] == user
    client.post(reverse("logout"))
    assert client.get(reverse("home")).status_code == 302


def test_wrong_password_is_refused_with_a_message(client, make_user):
    make_user("Grace", email="grace@example.org")
    response = client.post(
        reverse("login"), {"username": "grace@example.org", "password": "wrong"}
    )
    assert response.status_code == 200
    assert "correct e-mail address and password" in response.content.decode()


def test_signed_in_user_skips_the_sign_in_page(client, make_user):
    client.force_login(make_user())
    assert client.get(reverse("login"))["Location"] == reverse("home")


def test_profile_changes_the_display_name(client, make_user):
    user = make_user("Grace")
    client.force_login(user)
    assert user.email in client.get(reverse("profile")).content.decode()
    client.post(reverse("profile"), {"display_name": "Rear Admiral Hopper"})
    user.refresh_from_db()
    assert user.display_name == "Rear Admiral Hopper"
    response = client.post(reverse("profile"), {"display_name": "   "})
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.display_name == "Rear Admiral Hopper"


def test_password_change(client, make_user):
    user = make_user()
    client.force_login(user)
    assert client.get(reverse("password_change")).status_code == 200
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "another-long-pass-99",
            "new_password2": "another-long-pass-99",
        },
    )
    assert response["Location"] == reverse("password_change_done")
    assert client.get(response["Location"]).status_code == 200
    user.refresh_from_db()
    assert user.check_password("another-long-pass-99")


def test_password_reset_by_email(client, make_user):
    user = make_user("Grace", email="grace@example.org")
    assert client.get(reverse("password_reset")).status_code == 200
    client.post(reverse("password_reset"), {"email": "GRACE@example.org"})
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "Reset your Parley password"
    link = re.search(
        r"http://testserver(/accounts/reset/\S+)", mail.outbox[0].body
    ).group(1)
    form_url = client.get(link)["Location"]
    assert "Choose a new password" in client.get(form_url).content.decode()
    client.post(
        form_url,
        {
            "new_password1": "fresh-long-password-7",
            "new_password2": "fresh-long-password-7",
        },
    )
    user.refresh_from_db()
    assert user.check_password("fresh-long-password-7")
    # The link works once.
    assert "already been used" in client.get(link, follow=True).content.decode()


def test_password_reset_does_not_reveal_unknown_addresses(client, db):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.org"})
    assert response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []


def test_ensure_superuser_creates_one_once(db, capsys, settings):
    settings.ADMIN_EMAIL = "boss@example.org"
    settings.ADMIN_PASSWORD = ""
    call_command("ensure_superuser")
    out = capsys.readouterr().out
    password = re.search(r"password: (\S+)", out).group(1)
    admin = User.objects.get(is_superuser=True)
    assert admin.email == "boss@example.org" and admin.check_password(password)
    call_command("ensure_superuser")
    assert capsys.readouterr().out == ""
    assert User.objects.count() == 1


def test_ensure_superuser_uses_the_given_password_without_printing_it(
    db, capsys, settings
):
    settings.ADMIN_PASSWORD = "given-secret-password"
    call_command("ensure_superuser")
    assert "given-secret-password" not in capsys.readouterr().out
    assert User.objects.get().check_password("given-secret-password")
