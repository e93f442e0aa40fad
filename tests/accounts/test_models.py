import pytest
from django.contrib.auth import authenticate
from django.db import IntegrityError, transaction

from accounts.models import User


def test_email_is_normalised_to_lower_case(db):
    user = User.objects.create_user(
        email="Ada@Example.ORG", password="x", display_name="Ada"
    )
    assert user.email == "ada@example.org"


def test_email_is_unique_whatever_its_case(db):
    User.objects.create_user(email="ada@example.org", password="x", display_name="Ada")
    with pytest.raises(IntegrityError), transaction.atomic():
        # Bypass the manager's normalisation: the database itself must refuse.
        User.objects.bulk_create([User(email="ADA@example.org", display_name="Other")])


def test_display_name_is_required(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(email="x@example.org", password="x", display_name="")


def test_sign_in_ignores_the_case_of_the_address(make_user, rf):
    user = make_user("Ada", email="ada@example.org")
    # With a request, as sign-in pages pass it: the lockout backend needs one.
    request = rf.post("/accounts/login/")
    assert (
        authenticate(
            request, username="ADA@Example.org", password="a-long-test-password-42"
        )
        == user
    )


def test_superuser_flags(db):
    admin = User.objects.create_superuser(
        email="a@example.org", password="x", display_name="A"
    )
    assert admin.is_staff and admin.is_superuser
    with pytest.raises(ValueError):
        User.objects.create_superuser(
            email="b@example.org", password="x", display_name="B", is_staff=False
        )


def test_str_and_names(make_user):
    user = make_user("Ada Lovelace", email="ada@example.org")
    assert str(user) == "Ada Lovelace <ada@example.org>"
    assert user.get_full_name() == user.get_short_name() == "Ada Lovelace"
