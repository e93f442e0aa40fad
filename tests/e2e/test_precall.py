"""The pre-call page in a real Chromium, on a laptop and a phone: "Join now"
is on the first screen, the check's summary tells the truth while the checks
run, and someone removed from the running meeting is told so instead of
being offered to join."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from meetings import services
from tests.e2e.conftest import VIEWPORTS
from tests.e2e.meeting import wait_until
from tests.e2e.test_pages import _sign_in

pytestmark = pytest.mark.django_db(transaction=True)

# Installed before the page's scripts: every state of the check's summary
# and network rows that the page ever showed (after each batch of DOM
# changes, which is what can reach the screen), so a state that lasts a
# moment is caught as well as one that stays.
WATCH_CHECKS = """
window.__checkStates = [];
new MutationObserver(() => {
  const summary = document.getElementById("checks-summary");
  if (!summary) return;
  const rows = [...document.querySelectorAll("#network-results td")];
  const state = {
    summary: summary.textContent.trim(),
    testing: rows.some((td) => td.textContent.includes("Testing")),
  };
  const last = window.__checkStates.at(-1);
  if (!last || last.summary !== state.summary || last.testing !== state.testing) {
    window.__checkStates.push(state);
  }
}).observe(document, { subtree: true, childList: true, characterData: true });
"""

CHECKS_DONE = (
    "!document.getElementById('network-retry').disabled"
    " && document.querySelectorAll('#network-results td').length > 0"
    " && ![...document.querySelectorAll('#network-results td')]"
    ".some((td) => td.textContent.includes('Testing'))"
    " && document.querySelector('#camera-select option[value]:not([value=\"\"])')"
)


def _open(browser, live_server, user, room, size, errors, *, init_script=""):
    width, height = VIEWPORTS[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    context.add_init_script(WATCH_CHECKS)
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    _sign_in(page, live_server.url, user.email)
    page.goto(live_server.url + reverse("room", args=[room.slug]))
    return context, page


def _on_first_screen(page, selector: str) -> None:
    """``selector`` is wholly inside the viewport, the page not scrolled."""
    assert page.evaluate("window.scrollY") == 0
    box = page.locator(selector).bounding_box()
    viewport = page.viewport_size
    assert box is not None, f"{selector} is not shown"
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], box
    assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"], (
        f"{selector} ends at {box['y'] + box['height']:.0f}px, below the "
        f"{viewport['height']}px screen"
    )


@pytest.mark.parametrize("size", VIEWPORTS)
def test_join_now_is_on_the_first_screen_and_the_summary_waits_for_the_checks(
    browser, live_server, screenshot_dir, size, room, publisher
):
    errors: list[str] = []
    context, page = _open(browser, live_server, publisher, room, size, errors)
    # Before anything is known, and before any click (a click would scroll).
    _on_first_screen(page, "#join-button")
    page.screenshot(path=str(screenshot_dir / f"precall-starting-{size}.png"))
    wait_until(page, CHECKS_DONE)
    time.sleep(0.3)  # the last summary update lands
    _on_first_screen(page, "#join-button")
    page.screenshot(path=str(screenshot_dir / f"precall-{size}.png"))
    page.screenshot(
        path=str(screenshot_dir / f"precall-full-{size}.png"), full_page=True
    )

    states = page.evaluate("window.__checkStates")
    assert any(s["testing"] for s in states), f"never saw the test run: {states}"
    lies = [s for s in states if s["testing"] and "all good" in s["summary"]]
    assert not lies, f"'all good' while the network was still being tested: {states}"
    assert "all good" in states[-1]["summary"], states
    assert page.locator("#join-button").is_enabled()
    context.close()
    assert not errors, errors


@pytest.mark.parametrize("size", VIEWPORTS)
def test_join_now_stays_on_the_first_screen_under_every_notice(
    browser, live_server, screenshot_dir, size, owner, viewer
):
    """A viewer, in a locked room with a lobby and a long name: the most
    the page ever puts above the button."""
    room = services.room_create(
        owner=owner,
        name="Quarterly planning with the whole department and guests",
        lobby_enabled=True,
    )
    room.memberships.create(user=viewer, role="viewer")
    services.room_set_locked(actor=owner, room=room, locked=True)
    errors: list[str] = []
    context, page = _open(browser, live_server, viewer, room, size, errors)
    wait_until(page, CHECKS_DONE.split(" && document.querySelector")[0])
    _on_first_screen(page, "#join-button")
    page.screenshot(path=str(screenshot_dir / f"precall-notices-{size}.png"))
    context.close()
    assert not errors, errors


# The camera, microphone and device list answer only after a while, as on a
# slow machine or while the browser asks for permission.
SLOW_DEVICES = """
const devices = navigator.mediaDevices;
for (const name of ["getUserMedia", "enumerateDevices"]) {
  const native = devices[name].bind(devices);
  devices[name] = (...args) =>
    new Promise((resolve) => setTimeout(resolve, 2000)).then(() => native(...args));
}
"""


@pytest.mark.parametrize("size", VIEWPORTS)
def test_until_the_devices_are_known_the_page_says_it_is_looking(
    browser, live_server, screenshot_dir, size, room, publisher
):
    errors: list[str] = []
    context, page = _open(
        browser, live_server, publisher, room, size, errors, init_script=SLOW_DEVICES
    )
    assert page.get_attribute(".preview", "data-video") == "pending"
    assert page.text_content("#preview-off") == "Looking for your camera…"
    for select, text in {
        "#camera-select": "Looking for cameras…",
        "#mic-select": "Looking for microphones…",
        "#speaker-select": "Looking for speakers…",
    }.items():
        assert page.locator(select).is_disabled()
        assert page.text_content(select) == text
    assert "all good" not in page.text_content("#checks-summary")
    _on_first_screen(page, "#join-button")
    page.screenshot(path=str(screenshot_dir / f"precall-looking-{size}.png"))

    wait_until(page, CHECKS_DONE)
    assert page.get_attribute(".preview", "data-video") == "on"
    assert page.locator("#camera-select").is_enabled()
    assert "all good" in page.text_content("#checks-summary")
    context.close()
    assert not errors, errors


@pytest.mark.parametrize("size", VIEWPORTS)
def test_a_failed_check_is_counted_and_shown(
    browser, live_server, screenshot_dir, size, room, publisher
):
    """The ICE servers cannot be fetched: the collapsed check says so and
    opens itself, and "Join now" stays where it was."""
    errors: list[str] = []
    offline = (
        "const native = window.fetch;"
        "window.fetch = (url, ...rest) => String(url).includes('ice-servers')"
        " ? Promise.reject(new Error('offline')) : native(url, ...rest);"
    )
    context, page = _open(
        browser, live_server, publisher, room, size, errors, init_script=offline
    )
    wait_until(page, CHECKS_DONE)
    assert page.text_content("#checks-summary") == "· 1 to look at"
    assert page.get_attribute("#checks", "open") is not None
    assert "found no way to connect" in page.text_content("#network-advice")
    _on_first_screen(page, "#join-button")
    page.screenshot(path=str(screenshot_dir / f"precall-failed-{size}.png"))
    context.close()
    assert not errors, errors


@pytest.fixture
def removed(room, owner, publisher):
    """Olivia's meeting runs; she removed Pablo from it."""
    services.participant_join(user=owner, room=room, channel_name="owner")
    pablo = services.participant_join(user=publisher, room=room, channel_name="p")
    services.participant_remove(
        actor=owner, room=room, target_id=pablo.participant.public_id
    )
    return publisher


@pytest.mark.parametrize("size", VIEWPORTS)
def test_someone_removed_who_reloads_is_told_and_not_offered_to_join(
    browser, live_server, screenshot_dir, size, room, removed
):
    errors: list[str] = []
    context, page = _open(browser, live_server, removed, room, size, errors)
    notice = page.get_by_text("A moderator removed you from this meeting")
    notice.wait_for()
    _on_first_screen(page, "#precall-removed")
    assert page.locator("#join-button").count() == 0
    page.wait_for_timeout(500)  # the page script has run, and must cope
    page.screenshot(path=str(screenshot_dir / f"precall-removed-{size}.png"))
    context.close()
    assert not errors, errors
