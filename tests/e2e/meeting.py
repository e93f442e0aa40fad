"""Helpers for browser tests of real meetings: a daphne server with the SFU in
process, people joining in their own browser contexts, and media proven by
getStats() on the receiving side."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tests.e2e.proxy import CuttableProxy
from tests.servers import SIGN_IN, Deployment

SEED = (
    SIGN_IN
    + """
import json, sys
from accounts.models import User
from meetings import services
from meetings.models import Membership

spec = json.loads(sys.stdin.read())
owner = User.objects.create_user(email="olivia@example.org", display_name="Olivia")
people = [owner] + [
    User.objects.create_user(email=f"{name.lower()}@example.org", display_name=name)
    for name in spec["names"]
]
rooms = {}
for name in spec["rooms"]:
    room = services.room_create(
        owner=owner, name=name.title(), lobby_enabled=name == "lobby"
    )
    for user in people[1:]:
        Membership.objects.create(room=room, user=user, role="publisher")
    rooms[name] = room.slug
sessions = {user.display_name: session_key_for(user) for user in people}
print(json.dumps({"rooms": rooms, "sessions": sessions}))
"""
)

REPORTS = """
import json, sys
from meetings.models import PrecallReport

spec = json.loads(sys.stdin.read())
reports = PrecallReport.objects.filter(user__display_name=spec["name"])
print(json.dumps([
    {"room": r.room.slug, "browser": r.browser, "devices": r.devices,
     "permissions": r.permissions, "capabilities": r.capabilities,
     "candidate_kinds": r.candidate_kinds, "problems": r.problems}
    for r in reports
]))
"""

# Installed before any page script runs: keeps every peer connection and
# WebSocket the page makes, so tests can read stats and drop the socket. The
# app itself has no test hooks.
INSTRUMENT = """
(() => {
  window.__pcs = [];
  window.__sockets = [];
  const NativePC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends NativePC {
    constructor(...args) { super(...args); window.__pcs.push(this); }
  };
  const NativeWS = window.WebSocket;
  window.WebSocket = class extends NativeWS {
    constructor(...args) { super(...args); window.__sockets.push(this); }
  };
})();
"""

# Per inbound RTP stream (peer connection and stats id), the remote track id
# it carries (mic-<id>, cam-<id>, screen-<id>) and a counter that grows while
# media arrives: decoded frames for video, received packets for audio
# (received samples would grow on concealment alone). A track can arrive on
# several streams: after a rebuild, or shared again on a reused m-section (a
# new SSRC, whose counter starts from zero while the old stream's vanishes).
READ_COUNTERS = """
async () => {
  const counters = {};
  for (const [i, pc] of window.__pcs.entries()) {
    if (pc.connectionState === "closed") continue;
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type !== "inbound-rtp" || !s.trackIdentifier) return;
      const value = s.kind === "video" ? (s.framesDecoded || 0) : (s.packetsReceived || 0);
      counters[`${i}/${s.id}`] = [s.trackIdentifier, value];
    });
  }
  return counters;
}
"""

# What a failed test shows of each page: every peer connection's states, its
# transceivers and what flows each way, so a CI failure says where media
# stopped (never offered, never connected, a camera that gives no frames, or
# no packets on a connected transceiver).
DESCRIBE = """
async () => {
  const out = [];
  for (const pc of window.__pcs) {
    const flows = {};
    if (pc.connectionState !== "closed") {
      (await pc.getStats()).forEach((s) => {
        if (s.type === "inbound-rtp") {
          flows[`in ${s.mid}`] = {
            track: s.trackIdentifier, packets: s.packetsReceived,
            decoded: s.framesDecoded, keyframes: s.keyFramesDecoded,
            pli: s.pliCount, nack: s.nackCount,
          };
        } else if (s.type === "outbound-rtp") {
          flows[`out ${s.mid}`] = {
            packets: s.packetsSent, encoded: s.framesEncoded,
            keyframes: s.keyFramesEncoded, pli: s.pliCount,
            limited: s.qualityLimitationReason, active: s.active,
          };
        }
      });
    }
    out.push({
      state: `${pc.connectionState}/${pc.iceConnectionState}/${pc.signalingState}`,
      transceivers: pc.getTransceivers().map((t) =>
        `${t.mid}:${t.receiver.track.kind}:${t.currentDirection}` +
        (t.sender.track ? `:sending ${t.sender.track.readyState}` +
          `${t.sender.track.muted ? " muted" : ""}` : "")),
      flows,
    });
  }
  return out;
}
"""

VIDEO_FRAMES = 10  # decoded frames that prove video flows
AUDIO_PACKETS = 25  # Opus packets (20 ms each) that prove audio flows


@dataclass
class Person:
    name: str
    context: object
    page: object
    errors: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.page.get_attribute(".tile.self", "data-participant")

    def counters(self) -> dict[str, list]:
        """Per inbound stream: [track id, counter] (see READ_COUNTERS)."""
        return self.page.evaluate(READ_COUNTERS)

    def stats(self) -> dict[str, int]:
        """Per track id, its counters summed over the streams that carry it."""
        totals: dict[str, int] = {}
        for track, value in self.counters().values():
            totals[track] = totals.get(track, 0) + value
        return totals

    def describe(self) -> list[dict]:
        return self.page.evaluate(DESCRIBE)

    def open_connections(self) -> int:
        return self.page.evaluate(
            "window.__pcs.filter((pc) => pc.connectionState !== 'closed').length"
        )


class Site:
    """A Parley server, seeded with Olivia (owner of every room) and members."""

    names = ("Pablo", "Nina", "Sam", "Lee")
    rooms = (
        "duo",
        "trio",
        "chat",
        "mute",
        "screen",
        "lobby",
        "switch",
        "reconnect",
        "shots",
        "reshare",
        "ban",
        "hands",
    )

    def __init__(self, extra_env: dict[str, str] | None = None) -> None:
        # INFO: the SFU's lines (published, offered, first frame in and out)
        # are what a failed test prints to show where media stopped.
        self.deployment = Deployment(
            extra_env={"LOG_LEVEL": "INFO", **(extra_env or {})}
        )
        self.deployment.migrate()
        seeded = self.deployment.run_script(
            SEED, {"names": list(self.names), "rooms": list(self.rooms)}
        )
        self.slugs = seeded["rooms"]
        self.sessions = seeded["sessions"]
        port = self.deployment.start(1)[0]
        # Browsers reach the server through a proxy whose connections a
        # test can cut.
        self.proxy = CuttableProxy(port)
        self.base = f"http://127.0.0.1:{self.proxy.port}"

    def url(self, room: str) -> str:
        return f"{self.base}/r/{self.slugs[room]}/"

    def settings_url(self, room: str) -> str:
        return f"{self.base}/r/{self.slugs[room]}/settings/"

    def signed_in(self, browser, name: str, *, viewport=(1280, 800)):
        """A new browser context signed in as ``name``."""
        width, height = viewport
        context = browser.new_context(viewport={"width": width, "height": height})
        context.add_cookies(
            [{"name": "sessionid", "value": self.sessions[name], "url": self.base}]
        )
        return context

    def open(
        self, browser, name: str, room: str, *, viewport=(1280, 800), init_script=""
    ) -> Person:
        """Open the room's pre-call page as ``name``."""
        context = self.signed_in(browser, name, viewport=viewport)
        context.add_init_script(INSTRUMENT)
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        person = Person(name=name, context=context, page=page)
        page.on(
            "console",
            lambda m: person.errors.append(m.text) if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: person.errors.append(str(e)))
        page.goto(self.url(room))
        return person

    def join(self, browser, name: str, room: str, **kwargs) -> Person:
        """Open the room and press "Join now"; wait until in the call."""
        person = self.open(browser, name, room, **kwargs)
        person.page.click("#join-button")
        person.page.wait_for_selector("#call:not([hidden]) .tile.self")
        return person

    def precall_reports(self, name: str) -> list[dict]:
        """What the pre-call checks of ``name`` saved, newest first."""
        return self.deployment.run_script(REPORTS, {"name": name})

    def stop(self) -> None:
        self.proxy.close()
        self.deployment.stop()

    def log(self) -> str:
        logs = sorted(self.deployment.tmp.glob("daphne-*.log"))
        return "".join(p.read_text() for p in logs)


def report_failure(people: list[Person], site: Site, *, log_lines: int = 60) -> None:
    """Print what each open page's connections carry, and the end of the
    server's log: shown with a failed test's output."""
    for person in people:
        try:
            described = person.describe()
        except Exception as exc:  # a closed or crashed page still gets a line
            described = f"(cannot read: {exc})"
        print(f"--- {person.name} ({person.page.url}): {described}")
    print(f"--- server log, last {log_lines} lines:")
    print("\n".join(site.log().splitlines()[-log_lines:]))


def wait_until(page, expression: str, *, timeout: float = 15.0) -> None:
    """Poll ``expression`` until it is true. Playwright's wait_for_function
    compiles its predicate inside the page, which the Content-Security-Policy
    (no 'unsafe-eval') rightly forbids; evaluate() goes through DevTools."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        time.sleep(0.1)


def wait_for_media(
    person: Person, tracks: list[str], *, timeout: float = 15.0
) -> dict[str, int]:
    """Wait until every track in ``tracks`` is flowing to ``person``: its
    counters grow by a clear margin. Returns the growth per track."""
    start = person.counters()
    deadline = time.monotonic() + timeout
    while True:
        now = person.counters()
        grown = _growth(start, now)
        missing = [t for t in tracks if grown.get(t, 0) < _margin(t)]
        if not missing:
            return grown
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{person.name} receives no media on {missing} "
                f"(counters then {start}, now {now})"
            )
        time.sleep(0.25)


def growth(person: Person, track: str, seconds: float) -> int:
    """How much ``track``'s counters grow at ``person`` in ``seconds``."""
    before = person.counters()
    time.sleep(seconds)
    return _growth(before, person.counters()).get(track, 0)


def _growth(before: dict[str, list], now: dict[str, list]) -> dict[str, int]:
    # Per stream: a new one counts from zero, one that went away counts nothing.
    grown: dict[str, int] = {}
    for key, (track, value) in now.items():
        then = before[key][1] if key in before else 0
        grown[track] = grown.get(track, 0) + max(0, value - then)
    return grown


def media_of(person: Person) -> list[str]:
    """The tracks others receive from ``person`` while camera and mic are on."""
    return [f"cam-{person.id}", f"mic-{person.id}"]


def _margin(track: str) -> int:
    return AUDIO_PACKETS if track.startswith("mic-") else VIDEO_FRAMES
