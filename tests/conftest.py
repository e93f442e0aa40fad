"""The shared cast: a room with an owner, a moderator, a publisher, a viewer,
an outsider and a banned member (healthchecks' owner/member/outsider, grown to
our roles)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from django.conf import settings
from django.core.cache import cache

from accounts.models import User
from meetings import services
from meetings.models import Ban, Membership, Role, Room

PASSWORD = "a-long-test-password-42"


def pytest_configure() -> None:
    # Real hashing costs ~0.3 s per user and proves nothing here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh_limits() -> None:
    """The per-address limits (sign-up, password reset, guests) count in the
    cache, which outlives a test: each test starts from zero."""
    cache.clear()


@pytest.fixture
def make_user(db) -> Callable[..., User]:
    def make(display_name: str | None = None, **extra: object) -> User:
        n = next(_ids)
        name = display_name or f"User {n}"
        email = extra.pop("email", f"{name.lower().replace(' ', '.')}.{n}@example.org")
        return User.objects.create_user(
            email=email, password=PASSWORD, display_name=name, **extra
        )

    return make


@pytest.fixture
def owner(make_user) -> User:
    return make_user("Olivia Owner")


@pytest.fixture
def room(owner) -> Room:
    return services.room_create(owner=owner, name="Team call")


def _member(make_user, room: Room, name: str, role: Role) -> User:
    user = make_user(name)
    Membership.objects.create(room=room, user=user, role=role)
    return user


@pytest.fixture
def moderator(make_user, room) -> User:
    return _member(make_user, room, "Mona Moderator", Role.MODERATOR)


@pytest.fixture
def publisher(make_user, room) -> User:
    return _member(make_user, room, "Pablo Publisher", Role.PUBLISHER)


@pytest.fixture
def viewer(make_user, room) -> User:
    return _member(make_user, room, "Vera Viewer", Role.VIEWER)


@pytest.fixture
def outsider(make_user) -> User:
    return make_user("Otto Outsider")


@pytest.fixture
def banned(make_user, room, owner) -> User:
    user = _member(make_user, room, "Bruno Banned", Role.PUBLISHER)
    Ban.objects.create(room=room, user=user, created_by=owner)
    return user


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser(
        email="root@example.org", password=PASSWORD, display_name="Ada Admin"
    )
