"""Every page, in a real Chromium, on a laptop and a phone: it renders without
errors, nothing overflows sideways, and a screenshot is kept to look at."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from meetings import services
from meetings.models import (
    Attendance,
    ChatMessage,
    Meeting,
    Role,
    invite_token,
)
from tests.conftest import PASSWORD
from tests.e2e.conftest import VIEWPORTS, csp_watch

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scene(owner, room, moderator, publisher, viewer, banned, outsider, superuser):
    """A room with some history, so pages show real content."""
    services.room_create(
        owner=owner, name="Quarterly planning with the whole department"
    )
    services.room_create(owner=publisher, name="1:1 Pablo / Olivia", lobby_enabled=True)
    services.invite_create(actor=owner, room=room, role=Role.VIEWER, max_uses=5)
    services.room_set_locked(actor=owner, room=room, locked=True)
    start = timezone.now() - timedelta(minutes=40)
    meeting = Meeting.objects.create(
        room=room, started_at=start, ended_at=timezone.now()
    )
    Attendance.objects.create(meeting=meeting, user=owner, joined_at=start)
    ChatMessage.objects.create(
        room=room, meeting=meeting, author=publisher, author_name="Pablo", body="Hi all"
    )
    invite = services.invite_create(actor=owner, room=room)
    return {"room": room, "invite": invite}


def _sign_in(page, base: str, email: str) -> None:
    page.goto(base + reverse("login"))
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + reverse("home"))


def _check(
    page, url: str, name: str, size: str, shots, expect_status: int = 200
) -> None:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    failed: list[str] = []
    page.on(
        "response",
        lambda r: (
            failed.append(r.url) if "/static/" in r.url and r.status >= 400 else None
        ),
    )
    response = page.goto(url)
    assert response.status == expect_status, f"{name}: HTTP {response.status}"
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{name} at {size} scrolls sideways by {overflow}px"
    assert not failed, f"{name}: static files failed to load: {failed}"
    # Pages that answer 4xx log that status to the console; nothing else may.
    unexpected = [e for e in errors if "status of 4" not in e]
    assert not unexpected, f"{name}: console errors {unexpected}"
    page.screenshot(path=str(shots / f"{name}-{size}.png"), full_page=True)


@pytest.mark.parametrize("size", VIEWPORTS)
def test_signed_out_pages(browser, live_server, screenshot_dir, size, db):
    width, height = VIEWPORTS[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    for name, path in {
        "login": reverse("login"),
        "signup": reverse("signup"),
        "password-reset": reverse("password_reset"),
        "password-reset-done": reverse("password_reset_done"),
        "admin-login": reverse("admin:login"),
    }.items():
        _check(page, live_server.url + path, name, size, screenshot_dir)
    context.close()


def test_sign_up_through_the_pages(browser, live_server, screenshot_dir, db):
    """The e-mailed link, read from the test outbox, finishes the sign-up
    and goes where the person was heading."""
    base = live_server.url
    width, height = VIEWPORTS["laptop"]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    target = reverse("room_create")
    _check(
        page,
        f"{base}{reverse('signup')}?next={target}",
        "signup",
        "laptop",
        screenshot_dir,
    )
    page.fill("input[name=email]", "nina@example.org")
    page.click("button[type=submit]")
    page.wait_for_url(base + reverse("signup_sent"))
    assert "Check your inbox: we sent a link to finish signing up" in page.content()
    page.screenshot(path=str(screenshot_dir / "signup-sent-laptop.png"))
    link = re.search(r"http://\S+/accounts/signup/finish/\S+/", mail.outbox[-1].body)[0]
    _check(page, link, "signup-finish", "laptop", screenshot_dir)
    page.fill("input[name=display_name]", "Nina Newcomer")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + target)
    assert "Welcome to Parley, Nina Newcomer" in page.content()
    _check(page, link, "signup-link-used", "laptop", screenshot_dir, 410)
    context.close()


def test_lockout_page(browser, live_server, screenshot_dir, owner):
    base = live_server.url
    width, height = VIEWPORTS["phone"]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(base + reverse("login"))
    for _ in range(5):
        page.fill("input[name=username]", owner.email)
        page.fill("input[name=password]", "not-the-password")
        page.click("button[type=submit]")
        page.wait_for_load_state()
    assert "Too many failed sign-ins. Wait 15 minutes" in page.content()
    page.screenshot(path=str(screenshot_dir / "locked-out-phone.png"), full_page=True)
    page.get_by_role("link", name="Reset your password").click()
    page.wait_for_url(base + reverse("password_reset"))
    context.close()


def test_the_csp_watch_catches_inline_code(browser, live_server, db):
    """The guard every browser test runs under does see a violation."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(live_server.url + reverse("login"))
    page.evaluate(
        """() => {
          const s = document.createElement("script");
          s.textContent = "window.ran = true";
          document.head.append(s);
          document.body.insertAdjacentHTML("beforeend", "<p style='color:red'>x</p>");
        }"""
    )
    page.wait_for_timeout(200)
    assert page.evaluate("window.ran") is None
    context.close()
    caught = list(csp_watch.violations)
    csp_watch.violations.clear()
    assert any("script-src" in v for v in caught), caught
    assert any("style-src" in v for v in caught), caught


@pytest.mark.parametrize("size", VIEWPORTS)
def test_signed_in_pages(
    browser, live_server, screenshot_dir, size, scene, owner, outsider
):
    width, height = VIEWPORTS[size]
    base = live_server.url
    room = scene["room"]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    _sign_in(page, base, owner.email)
    pages = {
        "home": reverse("home"),
        "room-create": reverse("room_create"),
        "room": reverse("room", args=[room.slug]),
        "room-settings": reverse("room_settings", args=[room.slug]),
        "profile": reverse("profile"),
        "password-change": reverse("password_change"),
        "invite-invalid": (reverse("invite_accept", args=["forged-token"]), 410),
        "not-found": (reverse("room", args=["zzz-zzzz-zzz"]), 404),
    }
    for name, target in pages.items():
        path, status = target if isinstance(target, tuple) else (target, 200)
        _check(page, base + path, name, size, screenshot_dir, status)
    context.close()

    # The same pages as others see them.
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    _sign_in(page, base, outsider.email)
    _check(page, base + reverse("home"), "home-empty", size, screenshot_dir)
    invite_url = base + reverse("invite_accept", args=[invite_token(scene["invite"])])
    _check(page, invite_url, "invite-accept", size, screenshot_dir)
    page.click("text=Join the room")
    page.wait_for_url(base + room.get_absolute_url())
    _check(page, base + room.get_absolute_url(), "room-publisher", size, screenshot_dir)
    context.close()


@pytest.mark.parametrize("size", VIEWPORTS)
def test_banned_and_admin_pages(
    browser, live_server, screenshot_dir, size, scene, banned, superuser
):
    width, height = VIEWPORTS[size]
    base = live_server.url
    room = scene["room"]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    _sign_in(page, base, banned.email)
    _check(
        page,
        base + room.get_absolute_url(),
        "forbidden-banned",
        size,
        screenshot_dir,
        403,
    )
    context.close()
    if size != "laptop":
        return  # Django's admin is its own responsive design; check it once.
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    _sign_in(page, base, superuser.email)
    for name, path in {
        "admin-index": reverse("admin:index"),
        "admin-rooms": reverse("admin:meetings_room_changelist"),
        "admin-room": reverse("admin:meetings_room_change", args=[room.pk]),
        "admin-moderation": reverse("admin:meetings_moderationaction_changelist"),
        "admin-attendance": reverse("admin:meetings_attendance_changelist"),
        "admin-users": reverse("admin:accounts_user_changelist"),
        "admin-user": reverse("admin:accounts_user_change", args=[superuser.pk]),
        "admin-user-add": reverse("admin:accounts_user_add"),
        "admin-access-attempts": reverse("admin:axes_accessattempt_changelist"),
    }.items():
        _check(page, base + path, name, size, screenshot_dir)
    context.close()
