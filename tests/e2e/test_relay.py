"""The relay path, proven with a real coturn: the pre-call network test finds
relay candidates with the short-lived credentials Parley issues, and a meeting
whose browsers may only use the relay still decodes everyone's media."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.e2e.meeting import Site, media_of, report_failure, wait_for_media
from tests.servers import free_port

pytestmark = pytest.mark.e2e

TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"

# Makes every peer connection in the page relay-only, as on a network that
# lets nothing but the TURN server through.
RELAY_ONLY = """
(() => {
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(config = {}, ...rest) {
      super({ ...config, iceTransportPolicy: "relay" }, ...rest);
    }
  };
})();
"""


def _host_address() -> str:
    # coturn relays to the SFU's host candidates, which are on the machine's
    # own interface (aioice leaves loopback out): use the same address.
    from aioice.ice import get_host_addresses

    return get_host_addresses(use_ipv4=True, use_ipv6=False)[0]


@pytest.fixture(scope="module")
def coturn(tmp_path_factory) -> Iterator[dict]:
    if not os.path.exists(TURNSERVER):
        message = "coturn is not installed (make test installs it)."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    address, port, secret = _host_address(), free_port(), secrets.token_hex(16)
    log = tmp_path_factory.mktemp("coturn") / "turnserver.log"
    process = subprocess.Popen(
        [
            TURNSERVER,
            "-n",
            f"--listening-ip={address}",
            f"--relay-ip={address}",
            f"--listening-port={port}",
            "--min-port=49200",
            "--max-port=49400",
            "--use-auth-secret",
            f"--static-auth-secret={secret}",
            "--realm=parley.test",
            "--fingerprint",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--simple-log",
            f"--log-file={log}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    _wait_for_tcp(address, port, process)
    yield {"address": address, "port": port, "secret": secret, "log": log}
    process.terminate()
    process.wait(timeout=10)


def _wait_for_tcp(address: str, port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"turnserver exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex((address, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("turnserver did not start")


@pytest.fixture(scope="module")
def relay_site(coturn) -> Iterator[Site]:
    server = f"{coturn['address']}:{coturn['port']}"
    site = Site(
        extra_env={
            "STUN_URLS": f"stun:{server}",
            "TURN_URLS": f"turn:{server}?transport=udp,turn:{server}?transport=tcp",
            "TURN_SECRET": coturn["secret"],
        }
    )
    yield site
    site.stop()


@pytest.fixture
def opened(relay_site, request):
    people = []
    yield people
    if getattr(request.node, "call_failed", False):
        report_failure(people, relay_site)
    for person in people:
        person.context.close()
    errors = {p.name: p.errors for p in people if p.errors}
    assert not errors, f"errors in the pages: {errors}"


def test_network_test_finds_the_relay_over_udp_and_tcp(browser, relay_site, opened):
    person = relay_site.open(browser, "Lee", "duo")
    opened.append(person)
    page = person.page
    # The check is folded while it finds nothing to look at: open it, as a
    # person who wants the details does.
    checks = page.locator("#checks")
    if checks.get_attribute("open") is None:
        checks.locator("summary").click()
    page.wait_for_selector("#network-results [data-kind=host]")
    results = {
        row.get_attribute("data-kind"): row.locator("td").inner_text()
        for row in page.locator("#network-results tr").all()
    }
    assert results == {
        "host": "Works",
        # No NAT here: Chrome drops a STUN answer that equals a host address.
        "srflx": "Not needed: no NAT in the way",
        "relay-udp": "Works",
        "relay-tcp": "Works",
        "relay-tls": "Not set up on this server",
    }
    assert "even through strict firewalls" in page.inner_text("#network-advice")


def test_a_meeting_over_the_relay_only_carries_media(browser, relay_site, opened):
    olivia = relay_site.open(browser, "Olivia", "trio", init_script=RELAY_ONLY)
    pablo = relay_site.open(browser, "Pablo", "trio", init_script=RELAY_ONLY)
    opened.extend([olivia, pablo])
    for person in (olivia, pablo):
        person.page.click("#join-button")
        person.page.wait_for_selector("#call:not([hidden]) .tile.self")
    wait_for_media(olivia, media_of(pablo))
    wait_for_media(pablo, media_of(olivia))
    # Every connection's selected path runs through the relay.
    local_types = olivia.page.evaluate(
        """async () => {
          const types = [];
          for (const pc of window.__pcs) {
            if (pc.connectionState !== "connected") continue;
            const stats = await pc.getStats();
            stats.forEach((s) => {
              if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded")
                types.push(stats.get(s.localCandidateId).candidateType);
            });
          }
          return types;
        }"""
    )
    assert local_types and set(local_types) == {"relay"}, local_types
