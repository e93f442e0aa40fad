"""Moderation that reaches a live meeting, as the people in it see it: a ban
made on the room's settings page puts the person out at once, and a
moderator lowers someone's raised hand."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.e2e.meeting import Site, media_of, wait_for_media, wait_until

pytestmark = pytest.mark.e2e

# Seconds within which the people concerned must see a moderator's action.
AT_ONCE = 3.0
FEW_SECONDS = 5.0


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    site = Site()
    yield site
    site.stop()


def test_a_ban_on_the_settings_page_puts_the_person_out_of_the_meeting(
    people, site, browser, screenshot_dir
):
    pablo = people("Pablo", "ban")
    nina = people("Nina", "ban")
    wait_for_media(nina, media_of(pablo))
    wait_for_media(pablo, media_of(nina))
    pablo_id = pablo.id
    pablo_tile = f'#grid .tile[data-participant="{pablo_id}"]'
    nina.page.click("#people-button")
    expect(nina.page.locator("#people-count")).to_have_text("2")

    # Olivia, the owner, is not in the meeting: she bans Pablo from the
    # room's settings page, in a browser of her own.
    settings = site.signed_in(browser, "Olivia").new_page()
    try:
        settings.goto(site.settings_url("ban"))
        row = settings.locator("tr", has_text="pablo@example.org")
        row.locator("summary", has_text="Ban…").click()
        row.locator("select[name=duration]").select_option("1d")
        row.locator("input[name=reason]").fill("Shouting")
        started = time.monotonic()
        row.get_by_role("button", name="Ban Pablo").click()

        # Pablo sees why he is out, at once, and no way back in.
        ended = pablo.page.locator("#ended")
        expect(ended).to_be_visible(timeout=AT_ONCE * 1000)
        out_after = time.monotonic() - started
        expect(ended.locator(".card")).to_be_in_viewport(ratio=1)
        expect(pablo.page.locator("#ended-title")).to_have_text(
            "You are banned from this room"
        )
        expect(pablo.page.locator("#ended-message")).to_contain_text(
            "banned you from this room"
        )
        expect(pablo.page.locator("#rejoin")).to_be_hidden()
        expect(pablo.page.locator("#call")).to_be_hidden()
        pablo.page.screenshot(path=str(screenshot_dir / "room-banned-laptop.png"))
        # His camera and microphone are released, his connections closed.
        wait_until(
            pablo.page, "window.__pcs.every((pc) => pc.connectionState === 'closed')"
        )

        # Nina sees him leave: his tile goes, the count drops.
        expect(nina.page.locator(pablo_tile)).to_have_count(
            0, timeout=FEW_SECONDS * 1000
        )
        expect(nina.page.locator("#people-count")).to_have_text("1")
        expect(nina.page.locator("#people-button .control-label")).to_have_text(
            "People (1)"
        )
        expect(
            nina.page.locator(f'#people-list [data-participant="{pablo_id}"]')
        ).to_have_count(0)
        left_after = time.monotonic() - started
        assert out_after < AT_ONCE and left_after < FEW_SECONDS, (out_after, left_after)

        # The settings page says so, and lists the ban.
        expect(settings.locator("body")).to_contain_text(
            "Pablo is banned from this room."
        )
        expect(settings.locator(".ban-list")).to_contain_text("Shouting")
    finally:
        settings.context.close()

    # He cannot come back: the room page itself refuses him, saying why.
    response = pablo.page.reload()
    assert response.status == 403
    expect(pablo.page.locator("body")).to_contain_text(
        "A moderator has banned you from this room until"
    )
    pablo.page.screenshot(path=str(screenshot_dir / "room-banned-reload-laptop.png"))
    pablo.errors[:] = [e for e in pablo.errors if "status of 403" not in e]


def test_a_moderator_lowers_a_raised_hand(people, screenshot_dir):
    olivia = people("Olivia", "hands")
    nina = people("Nina", "hands")
    nina_id = nina.id
    raised = f'.tile.hand[data-participant="{nina_id}"]'
    nina.page.keyboard.press("h")
    for page in (olivia.page, nina.page):
        page.wait_for_selector(raised)
    olivia.page.click("#people-button")
    row = olivia.page.locator(f'#people-list [data-participant="{nina_id}"]')
    expect(row.locator(".raised")).to_be_visible()
    olivia.page.screenshot(path=str(screenshot_dir / "room-raised-hand-laptop.png"))

    row.get_by_role("button", name="Lower hand: Nina").click()
    for page in (olivia.page, nina.page):
        expect(page.locator(raised)).to_have_count(0, timeout=FEW_SECONDS * 1000)
    expect(row.locator(".raised")).to_have_count(0)
    expect(row.get_by_role("button", name="Lower hand: Nina")).to_have_count(0)
    nina.page.wait_for_selector(".toast >> text=A moderator lowered your hand.")
    expect(nina.page.locator("#hand-button .control-label")).to_have_text("Raise hand")

    # Her own button knows: one press raises it again for everyone.
    nina.page.keyboard.press("h")
    for page in (olivia.page, nina.page):
        page.wait_for_selector(raised)
    expect(row.get_by_role("button", name="Lower hand: Nina")).to_be_visible()
