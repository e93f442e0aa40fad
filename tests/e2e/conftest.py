"""Playwright (Python) driving Debian's Chromium, with fake media devices and
the flags below (see docs/browser.md). Screenshots go to artifacts/screenshots/ (ignored by
git) so that a person can look at every page."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Playwright's sync API keeps an event loop in this thread; Django would then
# refuse ORM calls from the test body, which are safe here (one thread).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    # Three fake cameras: 0 gives I420, 1 a depth format (Y16) that encoders
    # refuse, 2 MJPEG. Switching cameras mid-call is tested from 0 to 2.
    "--use-fake-device-for-media-stream=device-count=3",
    "--use-fake-ui-for-media-stream",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    # getDisplayMedia picks the (fake) screen without a picker.
    "--auto-select-desktop-capture-source=Entire screen",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

# Installed in every page before its own scripts: a Content-Security-Policy
# violation (an inline script or style, a blocked connection) is logged as an
# error that names the directive and what was blocked, so that the
# no_csp_violations fixture sees it even where Chromium's own message is terse.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(
    `Content Security Policy violation: ${e.effectiveDirective} blocked ` +
    `${e.blockedURI || "inline code"} at ${e.sourceFile || location.href}:` +
    `${e.lineNumber} (${(e.sample || "").slice(0, 80)})`
  );
}, true);
"""
VIEWPORTS = {"laptop": (1280, 800), "phone": (390, 844)}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


class CspWatch:
    """Collects CSP violations (and Permissions-Policy header errors) from
    every browser context the tests create."""

    def __init__(self) -> None:
        self.violations: list[str] = []

    def attach(self, context) -> None:
        context.add_init_script(CSP_LISTENER)
        context.on("console", self._on_console)

    def _on_console(self, message) -> None:
        # Chromium's own reports of a blocked resource, our listener's, and a
        # Permissions-Policy header it cannot read ("Unrecognized feature").
        if any(
            marker in message.text
            for marker in ("Content Security Policy", "Permissions-Policy")
        ):
            url = (message.location or {}).get("url", "")
            self.violations.append(f"{url}: {message.text}")


csp_watch = CspWatch()


def _watching_csp(browser) -> None:
    """Every context made by ``browser.new_context`` reports to ``csp_watch``."""
    native = browser.new_context

    def new_context(*args, **kwargs):
        context = native(*args, **kwargs)
        csp_watch.attach(context)
        return context

    browser.new_context = new_context


@pytest.fixture(autouse=True)
def no_csp_violations() -> Iterator[None]:
    """Fails a browser test on any Content-Security-Policy violation in any
    page it opened (Parley's pages and the admin run under a strict CSP:
    no inline scripts, styles or event handlers)."""
    csp_watch.violations.clear()
    yield
    found, csp_watch.violations[:] = list(csp_watch.violations), []
    if found:
        pytest.fail(
            "Content-Security-Policy violations:\n" + "\n".join(found), pytrace=False
        )


# Module scope: Playwright's sync API keeps an event loop running in this
# thread while it is started, and the async tests that follow need the thread.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (make test installs it)."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
        )
        _watching_csp(browser)
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    # Kept on the item so that fixtures can tell, at teardown, whether the
    # test itself failed (and then print what the pages were doing).
    report = yield
    if report.when == "call":
        item.call_failed = report.failed
    return report


@pytest.fixture
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def people(browser, site, request):
    """Opens people's pages in the module's ``site``: ``people(name, room)``
    joins the meeting, ``people.open(name, room)`` stops at the pre-call
    page. Closes them after the test, and fails it if a page logged an error
    (a test that expects one removes it from ``person.errors``)."""
    from tests.e2e.meeting import report_failure

    opened = []

    def join(name: str, room: str, **kwargs):
        person = site.join(browser, name, room, **kwargs)
        opened.append(person)
        return person

    def open_only(name: str, room: str, **kwargs):
        person = site.open(browser, name, room, **kwargs)
        opened.append(person)
        return person

    join.open = open_only
    yield join
    if getattr(request.node, "call_failed", False):
        report_failure(opened, site)
    errors = {p.name: p.errors for p in opened if p.errors}
    for person in opened:
        person.context.close()
    assert not errors, f"errors in the pages: {errors}"
