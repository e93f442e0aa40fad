"""Real meetings in real Chromium against a real daphne server with the SFU in
process. Media counts only when the receiving page decodes it (getStats)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import VIEWPORTS
from tests.e2e.meeting import (
    Site,
    growth,
    media_of,
    wait_for_media,
    wait_until,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    site = Site()
    yield site
    site.stop()


def test_two_people_see_and_hear_each_other(people, site):
    olivia = people("Olivia", "duo")
    pablo = people("Pablo", "duo")
    wait_for_media(olivia, media_of(pablo))
    wait_for_media(pablo, media_of(olivia))
    # Each sees the other's name on a tile.
    assert olivia.page.locator(".tile:not(.self) .tile-name").inner_text() == "Pablo"
    assert pablo.page.locator(".tile:not(.self) .tile-name").inner_text() == "Olivia"
    # Support can see what Pablo's pre-call check found.
    report = site.precall_reports("Pablo")[0]
    assert report["room"] == site.slugs["duo"]
    assert report["browser"].startswith("Chrome")
    assert "fake_device_0" in report["devices"]["videoinput"]
    assert report["permissions"]["camera"] == "granted"
    assert report["capabilities"]["get_user_media"] is True
    assert "host" in report["candidate_kinds"]


def test_a_third_person_is_seen_by_all_within_five_seconds(people):
    olivia = people("Olivia", "trio")
    pablo = people("Pablo", "trio")
    wait_for_media(olivia, media_of(pablo))
    nina = people.open("Nina", "trio")
    nina.page.wait_for_selector("#precall-title")
    started = time.monotonic()
    nina.page.click("#join-button")
    nina.page.wait_for_selector("#call:not([hidden]) .tile.self")
    remaining = 5.0 - (time.monotonic() - started)
    wait_for_media(nina, media_of(olivia) + media_of(pablo), timeout=remaining)
    wait_for_media(olivia, media_of(nina), timeout=5.0 - (time.monotonic() - started))
    wait_for_media(pablo, media_of(nina), timeout=5.0 - (time.monotonic() - started))
    for person in (olivia, pablo, nina):
        assert person.page.locator("#grid .tile").count() == 3


def test_chat_reaches_everyone_and_survives_a_reload(people):
    olivia = people("Olivia", "chat")
    pablo = people("Pablo", "chat")
    nina = people("Nina", "chat")
    olivia.page.keyboard.press("c")
    olivia.page.fill("#chat-input", "Agenda: budget, then hiring")
    olivia.page.keyboard.press("Enter")
    olivia.page.wait_for_selector("#chat-log .chat-message.mine:not(.pending)")
    for person in (pablo, nina):
        # Closed chat: the message is counted as unread.
        person.page.wait_for_selector("#chat-unread:not([hidden])")
        assert person.page.inner_text("#chat-unread") == "1"
        person.page.click("#chat-button")
        message = person.page.locator("#chat-log .chat-message").last
        assert "Agenda: budget, then hiring" in message.inner_text()
        assert "Olivia" in message.inner_text()
        assert person.page.locator("#chat-unread").is_hidden()
    pablo.page.reload()
    pablo.page.click("#join-button")
    pablo.page.wait_for_selector("#call:not([hidden])")
    pablo.page.click("#chat-button")
    log = pablo.page.locator("#chat-log")
    assert "Agenda: budget, then hiring" in log.inner_text()
    assert pablo.page.locator("#chat-log time").first.get_attribute("datetime")


def test_moderator_mute_is_enforced_and_shown(people, screenshot_dir):
    olivia = people("Olivia", "mute")
    pablo = people("Pablo", "mute")
    nina = people("Nina", "mute")
    pablo_mic = f"mic-{pablo.id}"
    wait_for_media(olivia, [pablo_mic])
    wait_for_media(nina, [pablo_mic])

    olivia.page.click("#people-button")
    olivia.page.click(f'.person[data-participant="{pablo.id}"] >> text=Mute')

    mic = pablo.page.locator("#mic-button")
    pablo.page.wait_for_selector("#ask-unmute:not([hidden])")
    assert mic.get_attribute("aria-disabled") == "true"
    assert "Muted by moderator" in mic.inner_text()
    pablo.page.screenshot(path=str(screenshot_dir / "room-hard-muted-laptop.png"))
    olivia.page.screenshot(
        path=str(screenshot_dir / "room-moderator-people-laptop.png")
    )
    time.sleep(1)  # packets already in flight
    assert growth(olivia, pablo_mic, 2) == 0
    assert growth(nina, pablo_mic, 2) == 0

    # Pablo cannot unmute, by button or shortcut; his microphone stays off.
    mic.click(force=True)  # aria-disabled: Playwright would wait for it
    pablo.page.locator("body").press("m")
    pablo.page.wait_for_selector(".toast >> text=A moderator muted you")
    assert "Muted by moderator" in mic.inner_text()
    assert (
        pablo.page.evaluate(
            "window.__pcs.some((pc) => pc.getSenders().some("
            "(s) => s.track && s.track.kind === 'audio' && s.track.enabled))"
        )
        is False
    )
    assert growth(nina, pablo_mic, 2) == 0

    # He asks; the moderator is told and allows it; then he can unmute.
    pablo.page.click("#ask-unmute")
    olivia.page.wait_for_selector(".toast >> text=Pablo asks to unmute")
    olivia.page.click(".toast >> text=Allow")
    pablo.page.wait_for_selector("#ask-unmute", state="hidden")
    mic.click()
    wait_for_media(nina, [pablo_mic])


def test_screen_share_arrives_as_its_own_video(people, screenshot_dir):
    olivia = people("Olivia", "screen")
    pablo = people("Pablo", "screen")
    wait_for_media(pablo, media_of(olivia))
    olivia.page.click("#screen-button")
    pablo.page.wait_for_selector(f'#stage [data-screen="{olivia.id}"]')
    wait_for_media(pablo, [f"screen-{olivia.id}", f"cam-{olivia.id}"])
    assert "Olivia’s screen" in pablo.page.inner_text("#stage")
    pablo.page.screenshot(path=str(screenshot_dir / "room-screen-share-laptop.png"))
    # Stopping takes it off the stage.
    olivia.page.click("#screen-button")
    pablo.page.wait_for_selector("#stage", state="hidden")


# The stage tile's own <video> renders frames of a live track.
STAGE_FRAMES = """
(id) => {
  const video = document.querySelector(`#stage [data-screen="${id}"] video`);
  const track = video?.srcObject?.getVideoTracks()[0];
  if (!track || track.readyState !== "live") return -1;
  return video.getVideoPlaybackQuality().totalVideoFrames;
}
"""


def test_sharing_the_screen_again_reaches_the_others_again(people, screenshot_dir):
    # The sharer's browser reuses its screen transceiver (stop: no track and
    # inactive; again: sendonly with the new track), and the SFU the
    # receivers' m-section: each new share must play like the first. A
    # moderator's stop ends the share it stops, not the next one.
    olivia = people("Olivia", "reshare")  # moderator: the room's owner
    pablo = people("Pablo", "reshare")
    wait_for_media(olivia, media_of(pablo))
    screen, tile = f"screen-{pablo.id}", f'#stage [data-screen="{pablo.id}"]'

    def share(shot: str = "") -> None:
        pablo.page.click("#screen-button >> text=Share screen")
        pablo.page.wait_for_selector("#screen-button >> text=Stop sharing")
        olivia.page.wait_for_selector(tile)
        wait_for_media(olivia, [screen, f"cam-{pablo.id}"])
        # The stage's tile shows it: its own video renders new frames.
        before = olivia.page.evaluate(STAGE_FRAMES, pablo.id)
        wait_until(olivia.page, f"({STAGE_FRAMES})({pablo.id!r}) > {before + 5}")
        assert olivia.page.locator("#stage .tile").count() == 1
        assert "Pablo’s screen" in olivia.page.inner_text("#stage")
        if shot:
            olivia.page.screenshot(path=str(screenshot_dir / shot))

    def ended(which: str) -> None:
        pablo.page.wait_for_selector("#screen-button >> text=Share screen")
        olivia.page.wait_for_selector("#stage", state="hidden")
        assert olivia.page.locator("#stage .tile").count() == 0
        time.sleep(1)  # frames already in flight
        assert growth(olivia, screen, 1.5) == 0, f"the {which} share still arrives"

    share()
    pablo.page.click("#screen-button >> text=Stop sharing")
    ended("first")

    share("room-screen-shared-again-laptop.png")
    olivia.page.click("#people-button")
    olivia.page.click('#people-list >> role=button[name="Stop sharing: Pablo"]')
    pablo.page.wait_for_selector(".toast >> text=A moderator stopped your screen share")
    ended("second")
    olivia.page.keyboard.press("Escape")

    share()
    # The camera went on throughout.
    wait_for_media(olivia, [f"cam-{pablo.id}"])


def test_lobby_admits_and_denies(people, screenshot_dir):
    olivia = people("Olivia", "lobby")
    pablo = people.open("Pablo", "lobby")
    pablo.page.click("#join-button")
    pablo.page.wait_for_selector("#lobby:not([hidden])")
    # Nothing of the room reaches the lobby.
    assert pablo.page.locator("#call").is_hidden()
    assert pablo.page.locator("#people-list li").count() == 0
    assert pablo.page.locator("#chat-log li").count() == 0
    assert pablo.open_connections() == 0

    olivia.page.wait_for_selector(".toast >> text=Pablo is waiting in the lobby")
    olivia.page.click("#people-button")
    pablo.page.screenshot(path=str(screenshot_dir / "lobby-waiting-laptop.png"))
    olivia.page.screenshot(path=str(screenshot_dir / "room-moderator-lobby-laptop.png"))
    olivia.page.click('#lobby-list >> role=button[name="Admit Pablo"]')
    pablo.page.wait_for_selector("#call:not([hidden]) .tile.self")
    wait_for_media(pablo, media_of(olivia))

    nina = people.open("Nina", "lobby")
    nina.page.click("#join-button")
    nina.page.wait_for_selector("#lobby:not([hidden])")
    olivia.page.click('#lobby-list >> role=button[name="Deny Nina"]')
    nina.page.wait_for_selector("#ended:not([hidden])")
    assert nina.page.inner_text("#ended-title") == "You were not let in"
    nina.page.screenshot(path=str(screenshot_dir / "lobby-denied-laptop.png"))
    assert nina.page.inner_text("#ended-message").strip()
    assert nina.page.locator(".toast").count() == 0  # said once, on the card
    # She may ask again; until the cool-down ends the server says how long.
    nina.page.click("#rejoin >> text=Ask again")
    nina.page.click("#join-button")
    nina.page.wait_for_selector("#ended:not([hidden])")
    assert "You can ask again in" in nina.page.inner_text("#ended-message")
    assert olivia.page.locator("#lobby-list li").count() == 0


def test_switching_camera_keeps_video_flowing(people):
    olivia = people("Olivia", "switch")
    pablo = people("Pablo", "switch")
    olivia_cam = f"cam-{olivia.id}"
    wait_for_media(pablo, [olivia_cam])
    connections = olivia.open_connections()
    sockets = olivia.page.evaluate("window.__sockets.length")
    label = (
        "document.querySelector('.tile.self video').srcObject.getVideoTracks()[0].label"
    )
    before = olivia.page.evaluate(label)

    assert before == "fake_device_0"

    olivia.page.click("#devices-button")
    # fake_device_1 is a depth camera, which Chrome does not encode.
    olivia.page.select_option("#call-camera", label="fake_device_2")
    wait_until(olivia.page, f"{label} !== {before!r}")
    wait_for_media(pablo, [olivia_cam])
    # The switch reused the connection: no new peer connection, no new socket.
    assert olivia.open_connections() == connections
    assert olivia.page.evaluate("window.__sockets.length") == sockets
    sent = olivia.page.evaluate(
        "window.__pcs.flatMap((pc) => pc.getSenders()).filter((s) => s.track"
        " && s.track.kind === 'video').map((s) => s.track.label)"
    )
    assert sent == [olivia.page.evaluate(label)]


def test_dropped_websocket_reconnects_and_media_flows_again(people, site):
    olivia = people("Olivia", "reconnect")
    pablo = people("Pablo", "reconnect")
    wait_for_media(pablo, media_of(olivia))
    wait_for_media(olivia, media_of(pablo))
    olivia_id = olivia.id

    # Every signaling connection is reset at once, Pablo's too; media runs
    # over UDP and does not go through the proxy.
    assert site.proxy.cut() >= 2
    for person in (olivia, pablo):
        person.page.wait_for_selector("#call-status >> text=Reconnecting…")
    for person in (olivia, pablo):
        wait_until(person.page, "window.__sockets.length === 2")
        person.page.wait_for_selector("#call-status >> text=Reconnected.")
    wait_for_media(pablo, media_of(olivia))
    wait_for_media(olivia, media_of(pablo))
    # Still the same meeting and the same people: nobody left.
    assert olivia.id == olivia_id
    assert pablo.page.locator("#grid .tile").count() == 2
    assert olivia.page.locator("#grid .tile").count() == 2


def test_screenshots_of_precall_and_a_three_person_room(people, screenshot_dir):
    for size, viewport in VIEWPORTS.items():
        page = people.open("Lee", "shots", viewport=viewport).page
        # The check stays folded when it finds nothing to look at: its rows
        # are there, not shown.
        page.wait_for_selector("#network-results [data-kind=host]", state="attached")
        _assert_fits(page)
        page.screenshot(
            path=str(screenshot_dir / f"precall-{size}.png"), full_page=True
        )
        page.context.close()
    olivia = people("Olivia", "shots")
    pablo = people("Pablo", "shots")
    wait_for_media(olivia, media_of(pablo))
    for size, viewport in VIEWPORTS.items():
        nina = people("Nina", "shots", viewport=viewport)
        wait_for_media(nina, media_of(olivia) + media_of(pablo))
        olivia.page.keyboard.press("c")
        olivia.page.fill("#chat-input", f"Welcome, Nina ({size})")
        olivia.page.keyboard.press("Enter")
        nina.page.click("#chat-button")
        nina.page.wait_for_selector(f"#chat-log >> text=Welcome, Nina ({size})")
        nina.page.fill("#chat-input", "Thanks! Glad to be here.")
        _assert_fits(nina.page)
        nina.page.screenshot(path=str(screenshot_dir / f"room-chat-{size}.png"))
        nina.page.click("#chat-button")
        nina.page.click("#people-button")
        nina.page.screenshot(path=str(screenshot_dir / f"room-people-{size}.png"))
        nina.page.keyboard.press("Escape")
        nina.page.wait_for_selector("#side", state="hidden")
        _assert_fits(nina.page)
        nina.page.screenshot(path=str(screenshot_dir / f"room-grid-{size}.png"))
        olivia.page.keyboard.press("c")
        nina.page.click("#leave-button")
        nina.page.wait_for_selector("#ended:not([hidden])")
        nina.context.close()


def _assert_fits(page) -> None:
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')]"
        ".filter((e) => e.getBoundingClientRect().right"
        " > document.documentElement.clientWidth + 1)"
        ".slice(0, 5)"
        ".map((e) => `${e.tagName}#${e.id}.${e.className}: ${e.textContent.slice(0, 200)}`)"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px: {wide}"
