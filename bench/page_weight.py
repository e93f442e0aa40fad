"""How much of our own JavaScript and CSS the room page loads.

Opens a room in Chromium against a real server, joins the call (so the
modules loaded on joining count too), and adds up every script and
stylesheet fetched from /static/, uncompressed and gzipped. The budget is
150 KB uncompressed.

    .venv/bin/python -m bench.page_weight
"""

from __future__ import annotations

import gzip
import os
import sys

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from bench.report import update_section
from tests.e2e.conftest import CHROMIUM, CHROMIUM_FLAGS
from tests.e2e.meeting import Site

BUDGET = 150 * 1024


def measure() -> list[tuple[str, int, int]]:
    from playwright.sync_api import sync_playwright

    site = Site()
    files: dict[str, bytes] = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
            )
            context = browser.new_context()
            context.add_cookies(
                [
                    {
                        "name": "sessionid",
                        "value": site.sessions["Olivia"],
                        "url": site.base,
                    }
                ]
            )
            page = context.new_page()

            def keep(response) -> None:
                path = response.url.split(site.base, 1)[-1].split("?")[0]
                if path.startswith("/static/") and path.endswith((".js", ".css")):
                    files[path] = response.body()

            page.on("response", keep)
            page.goto(site.url("duo"))
            page.click("#join-button")
            page.wait_for_selector("#call:not([hidden]) .tile.self")
            page.wait_for_load_state("networkidle")
            browser.close()
    finally:
        site.stop()
    return sorted(
        (
            (path, len(body), len(gzip.compress(body, 9)))
            for path, body in files.items()
        ),
        key=lambda row: -row[1],
    )


def main() -> int:
    rows = measure()
    total = sum(size for _, size, _ in rows)
    zipped = sum(size for _, _, size in rows)
    lines = [
        "## Room page weight (`bench/page_weight.py`)",
        "",
        "Our own JavaScript and CSS that the room page loads, through joining a",
        "call, as Chromium fetched it. Budget: 150 KB uncompressed.",
        "",
        "| file | bytes | gzipped |",
        "|---|---|---|",
        *(f"| `{path}` | {size:,} | {gz:,} |" for path, size, gz in rows),
        f"| **total ({len(rows)} files)** | **{total:,}** ({total / 1024:.1f} KB)"
        f" | **{zipped:,}** |",
        "",
        f"{total / BUDGET:.0%} of the budget.",
    ]
    body = "\n".join(lines)
    print(body)
    update_section("page-weight", body)
    return 0 if total <= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
