"""Joining as people do it the first time: the owner straight after creating a
room, an invitee straight after accepting a link, a guest with just a name.
What they must get is the meeting with every control on the screen, and media
both ways (issue 12)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import VIEWPORTS
from tests.e2e.meeting import (
    INSTRUMENT,
    Person,
    Site,
    growth,
    media_of,
    wait_for_media,
    wait_until,
)
from tests.servers import SIGN_IN

pytestmark = pytest.mark.e2e

# Rooms of this module's own, each with a participant invite made by Olivia;
# True: the room takes guests.
ROOMS = {"guests": True, "members": False, "inmeeting": False}
ROOMS.update({f"accepted-{size}": False for size in VIEWPORTS})
# People with an account who are members of none of these rooms.
NEWCOMERS = ("Quinn", "Rita", "Tess")

SEED = (
    SIGN_IN
    + """
import json, sys
from datetime import timedelta
from accounts.models import User
from meetings import services
from meetings.models import Role, invite_token

spec = json.loads(sys.stdin.read())
olivia = User.objects.get(email="olivia@example.org")
out = {"rooms": {}, "invites": {}, "sessions": {}}
for name in spec["newcomers"]:
    user = User.objects.create_user(email=f"{name.lower()}@example.org", display_name=name)
    out["sessions"][name] = session_key_for(user)
for name, guests in spec["rooms"].items():
    room = services.room_create(owner=olivia, name=name.title())
    if guests:
        room = services.room_update_settings(actor=olivia, room=room, guests_allowed=True)
    invite = services.invite_create(
        actor=olivia, room=room, role=Role.PUBLISHER, expires_in=timedelta(days=1)
    )
    out["rooms"][name] = room.slug
    out["invites"][name] = invite_token(invite)
print(json.dumps(out))
"""
)

# Where each visible control of the meeting toolbar is, against the window,
# read without scrolling anything: Playwright scrolls to what it clicks, so
# a toolbar pushed below the window would pass every click.
TOOLBAR_PLACEMENT = """
() => {
  const vw = window.innerWidth, vh = window.innerHeight;
  const shown = [], outside = [];
  for (const el of document.querySelectorAll(
      "footer.controls button, footer.controls a, footer.controls summary")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;  // hidden, or inside a closed menu
    const name = el.id || el.getAttribute("aria-label") || el.textContent.trim();
    shown.push(name);
    if (r.left < 0 || r.top < 0 || r.right > vw + 0.5 || r.bottom > vh + 0.5) {
      outside.push(`${name} at ${Math.round(r.left)},${Math.round(r.top)}-` +
                   `${Math.round(r.right)},${Math.round(r.bottom)}`);
    }
  }
  // The call fills the window: a page message anywhere in it is over the
  // call or pushes it (toasts are not page messages).
  const overlapping = [...document.querySelectorAll(".messages, .message")]
    .filter((m) => {
      const r = m.getBoundingClientRect();
      return r.width > 0 && r.height > 0 && r.bottom > 0 && r.top < vh;
    })
    .map((m) => m.textContent.trim());
  return {
    shown, outside, overlapping,
    scrolled: window.scrollY,
    window: [vw, vh],
    grid: document.querySelector("#grid").getBoundingClientRect().bottom <= vh + 0.5,
  };
}
"""


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    site = Site()
    seeded = site.deployment.run_script(
        SEED, {"rooms": ROOMS, "newcomers": list(NEWCOMERS)}
    )
    site.slugs.update(seeded["rooms"])
    site.sessions.update(seeded["sessions"])
    site.invites = {
        room: f"{site.base}/invite/{token}/"
        for room, token in seeded["invites"].items()
    }
    yield site
    site.stop()


@pytest.fixture
def visitors(browser, people) -> Iterator[object]:
    """Browser contexts with no account, closed after the test."""
    contexts = []

    def new(viewport=(1280, 800)):
        context = browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]}
        )
        context.add_init_script(INSTRUMENT)
        contexts.append(context)
        return context

    yield new
    for context in contexts:
        context.close()


def assert_every_control_on_screen(page, label: str) -> None:
    placed = page.evaluate(TOOLBAR_PLACEMENT)
    assert {"mic-button", "cam-button", "leave-button"} <= set(placed["shown"]), (
        label,
        placed,
    )
    assert placed["outside"] == [], (label, placed)
    assert placed["overlapping"] == [], (label, placed)
    assert placed["scrolled"] == 0, (label, placed)
    assert placed["grid"], (label, placed)


def enter_call(page) -> None:
    """Press "Join now" from the pre-call page and wait until in the call."""
    page.click("#join-button")
    page.wait_for_selector("#call:not([hidden]) .tile.self")


@pytest.mark.parametrize("size", VIEWPORTS)
def test_the_owners_first_join_after_creating_a_room_has_every_control_on_screen(
    browser, site, size, screenshot_dir
):
    viewport = VIEWPORTS[size]
    context = site.signed_in(browser, "Olivia", viewport=viewport)
    try:
        page = context.new_page()
        page.goto(f"{site.base}/rooms/new/")
        page.fill("input[name=name]", f"Weekly {size}")
        page.get_by_role("button", name="Create room").click()
        page.wait_for_url(f"{site.base}/r/*/")
        page.screenshot(
            path=str(screenshot_dir / f"first-join-owner-precall-{size}.png")
        )
        # "Join now" is on the first screen of the pre-call page as well.
        expect(page.locator("#join-button")).to_be_in_viewport(ratio=1)
        enter_call(page)
        page.screenshot(path=str(screenshot_dir / f"first-join-owner-call-{size}.png"))
        assert_every_control_on_screen(page, f"owner, {size}")
    finally:
        context.close()


@pytest.mark.parametrize("size", VIEWPORTS)
def test_an_invitees_first_join_after_accepting_has_every_control_on_screen(
    browser, site, size, screenshot_dir
):
    viewport = VIEWPORTS[size]
    name = {"laptop": "Quinn", "phone": "Rita"}[size]
    context = site.signed_in(browser, name, viewport=viewport)
    try:
        page = context.new_page()
        page.goto(site.invites[f"accepted-{size}"])
        expect(page.get_by_text("Olivia invited you")).to_be_visible()
        page.get_by_role("button", name="Join the room").click()
        page.wait_for_url(site.url(f"accepted-{size}"))
        enter_call(page)
        page.screenshot(path=str(screenshot_dir / f"first-join-invitee-{size}.png"))
        assert_every_control_on_screen(page, f"invitee, {size}")
    finally:
        context.close()


def test_a_guest_joins_with_a_name_is_moderated_and_cannot_come_back(
    people, site, visitors, screenshot_dir
):
    olivia = people("Olivia", "guests")
    # The guest is on a phone: the most common way to follow a link.
    context = visitors(VIEWPORTS["phone"])
    page = context.new_page()
    guest = Person(name="Gail", context=context, page=page)
    page.on("pageerror", lambda e: guest.errors.append(str(e)))
    page.goto(site.invites["guests"])
    expect(page.get_by_text("Olivia invited you")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "guest-invite-phone.png"))
    page.fill("#guest-name", "Gail")
    page.click("#guest-join")
    page.wait_for_url(site.url("guests"))
    enter_call(page)
    assert_every_control_on_screen(page, "guest, phone")
    page.screenshot(path=str(screenshot_dir / "guest-in-call-phone.png"))

    # Media both ways, decoded on each side.
    wait_for_media(olivia, media_of(guest))
    wait_for_media(guest, media_of(olivia))

    # Olivia sees Gail marked as a guest, mutes her, and the mute holds.
    olivia.page.click("#people-button")
    gail_row = olivia.page.locator(
        f'#people-list .person[data-participant="{guest.id}"]'
    )
    expect(gail_row).to_contain_text("Guest")
    gail_row.get_by_role("button", name="Mute").click()
    expect(page.locator("#mic-button")).to_have_attribute("aria-disabled", "true")
    time.sleep(1)  # packets already in flight
    assert growth(olivia, f"mic-{guest.id}", 2) == 0

    # Olivia removes Gail: she is out, with the reason.
    gail_row.locator("summary").click()
    gail_row.get_by_role("button", name="Remove").click()
    olivia.page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    expect(page.locator("#ended")).to_be_visible(timeout=5000)
    expect(page.locator("#ended")).to_contain_text("removed you")
    page.screenshot(path=str(screenshot_dir / "guest-removed-phone.png"))

    # The same link, in the same browser, does not bring her back into this
    # meeting: no way to join, and the reason.
    page.goto(site.invites["guests"])
    page.wait_for_url(site.url("guests"))
    expect(page.get_by_text("removed you from this meeting")).to_be_visible()
    expect(page.locator("#join-button")).to_have_count(0)
    page.screenshot(path=str(screenshot_dir / "guest-link-again-phone.png"))
    expect(olivia.page.locator("#people-count")).to_have_text("1")
    assert not guest.errors, guest.errors


def test_without_guests_the_link_names_room_and_inviter_and_asks_for_an_account(
    site, visitors, screenshot_dir
):
    page = visitors().new_page()
    page.goto(site.invites["members"])
    expect(page.locator("h1")).to_have_text("Olivia invited you to “Members”")
    expect(page.locator("#guest-name")).to_have_count(0)
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    expect(page.get_by_role("link", name="Create an account")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "invite-members-only-laptop.png"))


def test_a_moderator_invites_and_turns_the_lobby_on_from_inside_the_meeting(
    people, site, browser, screenshot_dir
):
    olivia = people("Olivia", "inmeeting")
    page = olivia.page
    page.click("#people-button")
    page.click("#copy-invite")
    link = page.locator("#invite-link")
    wait_until(
        page, "document.querySelector('#invite-link').value.includes('/invite/')"
    )
    url = link.input_value()
    toggle = page.locator("#lobby-toggle")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    page.screenshot(path=str(screenshot_dir / "in-meeting-invite-laptop.png"))

    # Tess, who has an account but was never in this room, follows the link.
    context = site.signed_in(browser, "Tess")
    try:
        tess = context.new_page()
        tess.goto(url)
        tess.get_by_role("button", name="Join the room").click()
        tess.wait_for_url(site.url("inmeeting"))
        tess.click("#join-button")
        expect(tess.locator("#lobby")).to_be_visible()
        expect(page.locator("#lobby-list")).to_contain_text("Tess")
    finally:
        context.close()
