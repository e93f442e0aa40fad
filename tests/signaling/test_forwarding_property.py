"""What the SFU forwards follows the database, whichever way a change comes.

A stateful property test: Hypothesis drives random sequences of what people
do over the WebSocket (join, leave, drop and come back, open a second tab,
moderate) and what the room's owner does on the web pages (settings, roles,
members, bans), against the real consumer, the real services and a real
in-process SFU. After every step, once the news has had time to travel:

- the database says what a model of the rules predicts (who is in the
  meeting, roles, bans, hard mutes, what each person may publish);
- for everyone in the meeting with a live connection, the SFU applies
  exactly what the database allows (``sfu.allowed_sources`` equals
  ``selectors.allowed_sources``); for someone whose connection dropped
  (within the grace period), the SFU forwards no more than that; for
  everyone else, the SFU has no peer;
- every connection that was put out ended with the close code that says why,
  and refused joins were refused with the right one;
- nothing crashed (no ``internal`` error, nothing logged as an error).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async as db
from channels.layers import channel_layers
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from hosting.embedded import make_sfu
from meetings import selectors, services
from meetings.models import Ban, Meeting, Membership, Participant, Room
from signaling import consumers, effects, presence
from signaling.bridge import set_media
from signaling.protocol import CLOSE_CODES
from tests.signaling.client import RoomClient

pytestmark = pytest.mark.django_db(transaction=True)

OWNER = "owner"
OTHERS = ("ann", "ben", "cat")
PEOPLE = (OWNER, *OTHERS)
ROLES = ("moderator", "publisher", "viewer")
POLICIES = ("publishers", "moderators")
BAN_LENGTHS = ("1h", "1d", "7d", "forever")

# How long news may take to reach the SFU, and one read from a socket.
CONVERGE_WITHIN = 3.0
READ_TIMEOUT = 5.0


def _fmt(sources: frozenset[str] | None) -> str:
    return "no peer" if sources is None else "{" + ", ".join(sorted(sources)) + "}"


# The model: what the database should say


@dataclass
class Model:
    """The rules as this test reads them (selectors, services/presence.py)."""

    # Membership role; the owner is always a moderator member.
    roles: dict[str, str | None]
    banned: set[str] = field(default_factory=set)
    locked: bool = False
    policy: str = "publishers"
    chat: bool = True
    viewers_chat: bool = True
    # In the running meeting (with a live connection, or dropped and
    # within the grace period). The meeting runs while anyone is present.
    present: set[str] = field(default_factory=set)
    # Put out of the running meeting: cannot come back until the next one.
    removed: set[str] = field(default_factory=set)
    # Hard mutes, which stay with a participant for the whole meeting.
    muted_audio: set[str] = field(default_factory=set)
    muted_video: set[str] = field(default_factory=set)
    # Everyone's public id in the running meeting (present or not).
    pids: dict[str, str] = field(default_factory=dict)

    def role(self, who: str) -> str | None:
        if who == OWNER:
            return "moderator"
        return None if who in self.banned else self.roles[who]

    def moderates(self, who: str) -> bool:
        return self.role(who) == "moderator"

    def allowed(self, who: str) -> frozenset[str]:
        role = self.role(who)
        publish = role in ("moderator", "publisher")
        share = role == "moderator" or (
            role == "publisher" and self.policy == "publishers"
        )
        sources = set()
        if publish and who not in self.muted_audio:
            sources.add("mic")
        if publish and who not in self.muted_video:
            sources.add("cam")
        if share and who not in self.muted_video:
            sources.add("screen")
        return frozenset(sources)

    def refusal(self, who: str) -> str | None:
        """Why ``who`` may not join now (``_check_entry``), if they may not."""
        if self.role(who) is None:
            return "banned" if who in self.banned else "not_member"
        if who in self.removed:
            return "removed"
        if who in self.present:
            return None  # back within the grace period, or a second tab
        if self.locked and not self.moderates(who):
            return "locked"
        return None

    def put_out(self, who: str) -> None:
        """Removed, banned or no longer a member: out, until the next meeting."""
        self.removed.add(who)
        self.leave(who)

    def leave(self, who: str) -> None:
        self.present.discard(who)
        if not self.present:  # the last one out ends the meeting
            self.present.clear()
            self.removed.clear()
            self.muted_audio.clear()
            self.muted_video.clear()
            self.pids.clear()


# The database, as it is


@dataclass
class Snapshot:
    room: Room
    present: dict[str, Participant]
    allowed: dict[str, frozenset[str]]
    roles: dict[str, str | None]
    banned: set[str]
    open_meetings: int


# Connections


class Crashes(logging.Handler):
    """Whatever is logged as an error while the machine runs."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({record.exc_info[1]!r})"
        self.records.append(text)


@dataclass(eq=False)
class Tab:
    """One browser tab's socket: a RoomClient read by hand, because the
    server may close it at any time."""

    who: str
    client: RoomClient
    crashes: list[str]
    # None: must stay open; otherwise the code the server must close it with.
    expect: int | None = None
    # The code the server closed it with, once it has.
    closed: int | None = None
    number: int = field(default_factory=itertools.count(1).__next__)

    def __str__(self) -> str:
        return f"{self.who}'s tab #{self.number}"

    async def read(self) -> dict | None:
        """The next message from the server; None once it has closed."""
        output = await self.client.ws.receive_output(READ_TIMEOUT)
        if output["type"] == "websocket.close":
            self.closed = output.get("code", 1000)
            # As a browser does: answer the close, so the consumer ends.
            await self.client.ws.disconnect(self.closed, timeout=READ_TIMEOUT)
            return None
        assert output["type"] == "websocket.send", output
        message = json.loads(output["text"])
        self.client.seen.append(message)
        if message["type"] == "error" and message["code"] == "internal":
            self.crashes.append(f"{self} was told of an internal error: {message}")
        return message

    async def drain(self) -> list[dict]:
        """Ping, and read what came until the pong (or the close): the
        server has then handled what this tab sent."""
        if self.closed is not None:
            return []
        await self.client.send({"type": "ping"})
        got = []
        while (message := await self.read()) is not None:
            if message["type"] == "pong":
                break
            got.append(message)
        return got

    async def hang_up(self) -> None:
        """The browser goes away without a word (a drop)."""
        await self.client.ws.disconnect(timeout=READ_TIMEOUT)


async def _cancel_the_rest() -> None:
    """What still runs on the example's loop (the effects' sender, the
    sweeper, the SFU's timers) ends with it."""
    this = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not this]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@dataclass
class Cast:
    users: dict
    browser: Client  # the owner's, signed in


class ForwardingMachine(RuleBasedStateMachine):
    """One example: a new room, SFU, channel layer and event loop; its steps
    run one after another on that loop, each waiting until the server has
    handled what it sent (a pong, an HTTP response) but not for the news
    (effects, conn.* messages), which the invariant waits for."""

    def __init__(self, cast: Cast) -> None:
        super().__init__()
        self.users = cast.users
        self.browser = cast.browser
        self.loop = asyncio.new_event_loop()
        self.crashes = Crashes()
        logging.getLogger().addHandler(self.crashes)
        # Each example has its own channel layer, bound to its own loop.
        channel_layers.backends.clear()
        self.room: Room | None = None
        self.sfu = None
        self.model: Model | None = None
        # Each person's live tab in the meeting.
        self.live: dict[str, Tab] = {}
        # Tabs to watch: open ones, and those the server must still close.
        self.tabs: list[Tab] = []
        self.ws_crashes: list[str] = []
        # Every public id each person had, in any meeting of this example.
        self.pids: dict[str, set[str]] = {who: set() for who in PEOPLE}
        self.steps: list[str] = []
        self.unchecked = 0

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    # Setting up and tearing down

    @initialize(
        roles=st.tuples(*[st.sampled_from(ROLES)] * len(OTHERS)),
        joined=st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=4, unique=True),
    )
    def open_room(self, roles: tuple[str, ...], joined: list[str]) -> None:
        """A room with the owner and three members, and a meeting some of
        them are in already."""
        self.room = services.room_create(owner=self.users[OWNER], name="Team call")
        members = dict(zip(OTHERS, roles, strict=True))
        for who, role in members.items():
            Membership.objects.create(room=self.room, user=self.users[who], role=role)
        self.model = Model(roles={OWNER: "moderator", **members})
        self.sfu = make_sfu()
        set_media(self.sfu)
        self.log(f"room: {', '.join(f'{w} {r}' for w, r in members.items())}")
        for who in joined:
            self.run(self._open_tab(who))

    def teardown(self) -> None:
        try:
            if self.room is not None:
                self.run(self._close_everything())
        finally:
            logging.getLogger().removeHandler(self.crashes)
            set_media(None)
            self.run(_cancel_the_rest())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()
            channel_layers.backends.clear()

    async def _close_everything(self) -> None:
        for tab in {*self.live.values(), *self.tabs}:
            if tab.closed is None:
                # A failed step may have left it in any state.
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await tab.hang_up()
        await effects.settled()

        def end_meeting() -> None:
            room = Room.objects.get(pk=self.room.pk)
            if Meeting.objects.filter(room=room, ended_at__isnull=True).exists():
                services.meeting_end(actor=self.users[OWNER], room=room)

        await db(end_meeting)()
        await effects.settled()
        await presence.stop_sweeper()
        await self.sfu.close()

    def log(self, step: str) -> None:
        self.steps.append(step)

    # The invariant

    @invariant()
    def sfu_applies_what_the_database_allows(self) -> None:
        if self.unchecked:
            self.unchecked -= 1
            return
        self.run(self._converge())

    async def _converge(self) -> None:
        """Wait (a bounded time) until everything agrees; fail listing what
        does not."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONVERGE_WITHIN
        while True:
            for _ in range(2):
                await effects.settled()
                for tab in list(self.tabs):
                    await tab.drain()
            snapshot = await db(self._snapshot)()
            problems = self._differences(snapshot)
            if not problems:
                self.tabs = [tab for tab in self.tabs if tab.closed is None]
                return
            if loop.time() >= deadline:
                raise AssertionError(
                    f"Not so after {CONVERGE_WITHIN} s:\n  "
                    + "\n  ".join(problems)
                    + "\nSteps:\n  "
                    + "\n  ".join(self.steps)
                )
            await asyncio.sleep(0.05)

    def _snapshot(self) -> Snapshot:
        room = Room.objects.get(pk=self.room.pk)
        who_is = {user.pk: who for who, user in self.users.items()}
        present = {
            who_is[p.user_id]: p
            for p in Participant.objects.filter(
                room=room,
                meeting__ended_at__isnull=True,
                left_at__isnull=True,
                removed=False,
            )
        }
        allowed = {
            who: selectors.allowed_sources(
                access=selectors.room_access_for(user=self.users[who], room=room),
                participant=participant,
            )
            for who, participant in present.items()
        }
        roles = dict.fromkeys(PEOPLE) | {
            who_is[user]: role
            for user, role in Membership.objects.filter(room=room).values_list(
                "user", "role"
            )
        }
        banned = {
            who_is[user]
            for user in Ban.objects.active()
            .filter(room=room)
            .values_list("user", flat=True)
        }
        open_meetings = Meeting.objects.filter(room=room, ended_at__isnull=True)
        return Snapshot(
            room=room,
            present=present,
            allowed=allowed,
            roles=roles,
            banned=banned,
            open_meetings=open_meetings.count(),
        )

    def _differences(self, db: Snapshot) -> list[str]:
        model, problems = self.model, []
        # The database says what the rules say.
        if set(db.present) != model.present:
            problems.append(
                f"in the meeting: the database has {sorted(db.present)}, "
                f"the rules {sorted(model.present)}"
            )
        if db.open_meetings != (1 if model.present else 0):
            problems.append(f"{db.open_meetings} open meetings")
        if db.roles != model.roles:
            problems.append(f"roles: database {db.roles}, rules {model.roles}")
        if db.banned != model.banned:
            problems.append(f"banned: database {db.banned}, rules {model.banned}")
        room = (
            db.room.is_locked,
            db.room.screen_share_policy,
            db.room.chat_enabled,
            db.room.viewers_may_chat,
        )
        expected = (model.locked, model.policy, model.chat, model.viewers_chat)
        if room != expected:
            problems.append(f"room (locked, policy, chat…): {room}, rules {expected}")
        for who, participant in db.present.items():
            if who not in model.present:
                continue
            if db.allowed[who] != model.allowed(who):
                problems.append(
                    f"{who}: the database allows {_fmt(db.allowed[who])}, "
                    f"the rules {_fmt(model.allowed(who))}"
                )
            if participant.public_id != model.pids.get(who):
                problems.append(f"{who}: public id {participant.public_id}")
            if bool(participant.channel_name) != (who in self.live):
                problems.append(
                    f"{who}: connection {participant.channel_name!r} in the "
                    f"database, live tab: {who in self.live}"
                )
        # The SFU applies what the database allows.
        for who in PEOPLE:
            participant = db.present.get(who)
            for pid in sorted(self.pids[who]):
                got = self.sfu.allowed_sources(self.room.pk, pid)
                current = participant is not None and participant.public_id == pid
                if current and who in self.live:
                    if got != db.allowed[who]:
                        problems.append(
                            f"{who}: the SFU applies {_fmt(got)}, the database "
                            f"allows {_fmt(db.allowed[who])}"
                        )
                elif current:
                    # Dropped, within the grace period: no connection is
                    # there to push news to a peer, so none may forward more
                    # than the database allows (see the last test).
                    if got and not got <= db.allowed[who]:
                        problems.append(
                            f"{who} (dropped): the SFU applies {_fmt(got)}, the "
                            f"database allows {_fmt(db.allowed[who])}"
                        )
                elif got is not None:
                    problems.append(
                        f"{who} ({pid}) is not in the meeting, yet the SFU has "
                        f"a peer allowed {_fmt(got)}"
                    )
        # Tabs end as they should.
        for tab in self.tabs:
            if tab.closed != tab.expect:
                want = "open" if tab.expect is None else f"closed {tab.expect}"
                got = "open" if tab.closed is None else f"closed {tab.closed}"
                problems.append(f"{tab}: {got}, expected {want}")
        return problems + self.ws_crashes + self.crashes.records

    # Entering and leaving, over the WebSocket

    def _absent(self) -> list[str]:
        return [who for who in PEOPLE if who not in self.live]

    def _dropped(self) -> list[str]:
        return sorted(self.model.present - set(self.live))

    @precondition(lambda self: len(self.live) < len(PEOPLE))
    @rule(data=st.data())
    def join(self, data) -> None:
        """Open the meeting in a tab: a first join, a return within the
        grace period, or a refusal."""
        who = data.draw(st.sampled_from(self._absent()), label="who")
        self.run(self._open_tab(who))

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def second_tab(self, data) -> None:
        """The same person opens the meeting again: the new tab replaces
        the old."""
        who = data.draw(st.sampled_from(sorted(self.live)), label="who")
        self.run(self._open_tab(who))

    async def _open_tab(self, who: str) -> None:
        model = self.model
        refusal = model.refusal(who)
        returning = who in model.present
        client = RoomClient(self.users[who], self.room)
        tab = Tab(who, client, self.ws_crashes)
        assert await client.open()
        if refusal is not None:
            self.log(f"{who} joins: refused, {refusal}")
            error = await tab.read()
            assert error is not None and error["type"] == "error", error
            assert error["code"] == refusal, (error, self.steps)
            assert await tab.read() is None
            assert tab.closed == CLOSE_CODES[refusal], (tab.closed, self.steps)
            return
        await client.send({"type": "hello", "version": 1})
        welcome = await tab.read()
        assert welcome is not None and welcome["type"] == "welcome", (
            welcome,
            self.steps,
        )
        assert welcome["resumed"] is returning
        await tab.drain()  # its media has joined the SFU
        old = self.live.get(who)
        if old is not None:
            old.expect = CLOSE_CODES["replaced"]
        self.log(f"{who} joins{' again' if returning else ''} ({tab})")
        model.present.add(who)
        model.pids[who] = welcome["you"]["id"]
        self.pids[who].add(welcome["you"]["id"])
        self.live[who] = tab
        self.tabs.append(tab)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def leave(self, data) -> None:
        who = data.draw(st.sampled_from(sorted(self.live)), label="who")
        self.log(f"{who} leaves")
        tab = self.live.pop(who)
        tab.expect = 1000
        self.run(self._leave(tab))
        self.model.leave(who)

    async def _leave(self, tab: Tab) -> None:
        await tab.client.send({"type": "leave"})
        while await tab.read() is not None:
            pass

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def drop(self, data) -> None:
        """The socket goes away without a word: the participant stays for
        the grace period."""
        who = data.draw(st.sampled_from(sorted(self.live)), label="who")
        self.log(f"{who} drops")
        tab = self.live.pop(who)
        self.tabs.remove(tab)
        self.run(tab.hang_up())

    @precondition(lambda self: self._dropped())
    @rule(data=st.data())
    def grace_ends(self, data) -> None:
        """A dropped participant does not come back in time: the sweep lets
        them go."""
        who = data.draw(st.sampled_from(self._dropped()), label="who")
        self.log(f"{who}'s grace period ends")
        self.run(self._lapse(who))
        self.model.leave(who)

    async def _lapse(self, who: str) -> None:
        await db(
            Participant.objects.filter(
                room=self.room, user=self.users[who], left_at__isnull=True
            ).update
        )(lease_expires_at=timezone.now() - timedelta(seconds=1))
        await presence.sweep_once()

    @precondition(lambda self: self.live and not self.unchecked)
    @rule()
    def hurry(self) -> None:
        """The next two steps follow each other without waiting for the
        news of the first to arrive."""
        self.log("(no waiting between the next two steps)")
        self.unchecked = 2

    # Moderating, over the WebSocket

    def _actor(self, data) -> str:
        """Someone with a live tab: a moderator, mostly."""
        live = sorted(self.live)
        moderators = [who for who in live if self.model.moderates(who)]
        anyone = st.sampled_from(live)
        if moderators:
            anyone = st.sampled_from(moderators) | anyone
        return data.draw(anyone, label="actor")

    def _target(self, data) -> str:
        """Someone in the meeting, mostly; or someone who was."""
        anyone = st.sampled_from(sorted(self.model.pids))
        if self.model.present:
            anyone = st.sampled_from(sorted(self.model.present)) | anyone
        return data.draw(anyone, label="target")

    def _moderate(self, actor: str, message: dict, refusal: str | None) -> None:
        """Send a moderator's message; it is refused with ``refusal``."""
        self.log(
            f"{actor} sends {message}" + (f": refused, {refusal}" if refusal else "")
        )
        tab = self.live[actor]

        async def send() -> list[dict]:
            await tab.client.send(message)
            return await tab.drain()

        errors = [m["code"] for m in self.run(send()) if m["type"] == "error"]
        assert errors == ([refusal] if refusal else []), (errors, self.steps)

    def _may_act_on(self, actor: str, target: str) -> str | None:
        if not self.model.moderates(actor):
            return "forbidden"
        if target not in self.model.present:
            return "not_found"
        return None

    @precondition(lambda self: self.live)
    @rule(data=st.data(), kind=st.sampled_from(("audio", "video", "screen")))
    def ws_mute(self, data, kind: str) -> None:
        actor, target = self._actor(data), self._target(data)
        refusal = self._may_act_on(actor, target)
        message = {"type": "mod_mute", "participant_id": self.model.pids[target]}
        self._moderate(actor, {**message, "kind": kind}, refusal)
        if refusal is None and kind != "screen":
            getattr(self.model, f"muted_{kind}").add(target)

    @precondition(lambda self: self.live)
    @rule(data=st.data(), kind=st.sampled_from(("audio", "video")))
    def ws_allow(self, data, kind: str) -> None:
        actor, target = self._actor(data), self._target(data)
        refusal = self._may_act_on(actor, target)
        message = {"type": "mod_allow", "participant_id": self.model.pids[target]}
        self._moderate(actor, {**message, "kind": kind}, refusal)
        if refusal is None:
            getattr(self.model, f"muted_{kind}").discard(target)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def ws_mute_all(self, data) -> None:
        actor = self._actor(data)
        refusal = None if self.model.moderates(actor) else "forbidden"
        self._moderate(actor, {"type": "mod_mute_all"}, refusal)
        if refusal is None:
            self.model.muted_audio |= self.model.present - {actor}

    @precondition(lambda self: self.live)
    @rule(data=st.data(), role=st.sampled_from(ROLES))
    def ws_set_role(self, data, role: str) -> None:
        actor, target = self._actor(data), self._target(data)
        model = self.model
        if target not in model.present:
            refusal = "not_found"
        elif not model.moderates(actor):
            refusal = "forbidden"
        elif target == OWNER and role != "moderator":
            refusal = "invalid"
        else:
            refusal = None
        message = {"type": "mod_set_role", "participant_id": model.pids[target]}
        self._moderate(actor, {**message, "role": role}, refusal)
        if refusal is None and target != OWNER:
            model.roles[target] = role

    def _removal_refused(self, actor: str, target: str) -> str | None:
        refusal = self._may_act_on(actor, target)
        if refusal is None and target in (actor, OWNER):
            return "invalid"
        return refusal

    def _put_out(self, who: str, code: str) -> None:
        tab = self.live.pop(who, None)
        if tab is not None:
            tab.expect = CLOSE_CODES[code]
        self.model.put_out(who)

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def ws_remove(self, data) -> None:
        actor, target = self._actor(data), self._target(data)
        refusal = self._removal_refused(actor, target)
        message = {"type": "mod_remove", "participant_id": self.model.pids[target]}
        self._moderate(actor, message, refusal)
        if refusal is None:
            self._put_out(target, "removed")

    @precondition(lambda self: self.live)
    @rule(data=st.data(), minutes=st.sampled_from((None, 60)))
    def ws_ban(self, data, minutes: int | None) -> None:
        actor, target = self._actor(data), self._target(data)
        refusal = self._removal_refused(actor, target)
        message = {"type": "mod_ban", "participant_id": self.model.pids[target]}
        self._moderate(actor, {**message, "minutes": minutes}, refusal)
        if refusal is None:
            self.model.banned.add(target)
            self._put_out(target, "banned")

    @precondition(lambda self: self.live)
    @rule(data=st.data(), locked=st.booleans())
    def ws_lock(self, data, locked: bool) -> None:
        actor = self._actor(data)
        refusal = None if self.model.moderates(actor) else "forbidden"
        self._moderate(actor, {"type": "mod_lock", "locked": locked}, refusal)
        if refusal is None:
            self.model.locked = locked

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def ws_end_meeting(self, data) -> None:
        actor = self._actor(data)
        refusal = None if self.model.moderates(actor) else "forbidden"
        self._moderate(actor, {"type": "mod_end_meeting"}, refusal)
        if refusal is None:
            for who in list(self.live):
                self.live.pop(who).expect = CLOSE_CODES["meeting_ended"]
            for who in list(self.model.present):
                self.model.leave(who)

    # The owner, on the web pages

    def _post(self, name: str, data: dict, *, who: str | None = None) -> int:
        args = [self.room.slug] + ([self.users[who].pk] if who else [])
        post = sync_to_async(self.browser.post)
        response = self.run(post(reverse(name, args=args), data))
        return response.status_code

    @rule(
        locked=st.booleans(),
        policy=st.sampled_from(POLICIES),
        chat=st.booleans(),
        viewers_chat=st.booleans(),
    )
    def page_settings(
        self, locked: bool, policy: str, chat: bool, viewers_chat: bool
    ) -> None:
        self.log(
            f"page: settings locked={locked} screen={policy} chat={chat} "
            f"viewers_chat={viewers_chat}"
        )
        form = {
            "name": "Team call",
            "max_participants": 12,
            "screen_share_policy": policy,
            # Checkboxes: sent when ticked (the lobby stays off).
            **({"is_locked": "on"} if locked else {}),
            **({"chat_enabled": "on"} if chat else {}),
            **({"viewers_may_chat": "on"} if viewers_chat else {}),
        }
        assert self._post("room_settings", form) == 302
        model = self.model
        model.locked, model.policy = locked, policy
        model.chat, model.viewers_chat = chat, viewers_chat

    @rule(who=st.sampled_from(PEOPLE), role=st.sampled_from(ROLES))
    def page_role(self, who: str, role: str) -> None:
        self.log(f"page: {who} becomes {role}")
        member = self.model.roles[who] is not None
        status = self._post("member_role", {"role": role}, who=who)
        assert status == (302 if member else 404), (status, self.steps)
        if member and who != OWNER:
            self.model.roles[who] = role

    @rule(who=st.sampled_from(PEOPLE))
    def page_remove_member(self, who: str) -> None:
        self.log(f"page: {who} is no longer a member")
        member = self.model.roles[who] is not None
        status = self._post("member_remove", {}, who=who)
        assert status == (302 if member else 404), (status, self.steps)
        if member and who != OWNER:
            self.model.roles[who] = None
            if who in self.model.present:
                self._put_out(who, "not_member")

    @rule(who=st.sampled_from(PEOPLE), length=st.sampled_from(BAN_LENGTHS))
    def page_ban(self, who: str, length: str) -> None:
        self.log(f"page: {who} is banned ({length})")
        member = self.model.roles[who] is not None
        data = {"duration": length, "reason": "property test"}
        status = self._post("member_ban", data, who=who)
        assert status == (302 if member else 404), (status, self.steps)
        if member and who != OWNER:
            self.model.banned.add(who)
            if who in self.model.present:
                self._put_out(who, "banned")

    @rule(who=st.sampled_from(OTHERS))
    def page_lift_ban(self, who: str) -> None:
        self.log(f"page: {who}'s ban is lifted")
        assert self._post("ban_lift", {}, who=who) == 302
        self.model.banned.discard(who)

    @rule(who=st.sampled_from(OTHERS), role=st.sampled_from(ROLES))
    def page_add_member(self, who: str, role: str) -> None:
        self.log(f"page: {who} is added as {role}")
        data = {"email": self.users[who].email, "role": role}
        assert self._post("member_add", data) == 302
        if self.model.roles[who] is None:
            self.model.roles[who] = role


@pytest.fixture
def cast(owner, make_user) -> Cast:
    users = {
        OWNER: owner,
        "ann": make_user("Ann Ash"),
        "ben": make_user("Ben Birch"),
        "cat": make_user("Cat Cedar"),
    }
    browser = Client()
    browser.force_login(owner)
    return Cast(users=users, browser=browser)


@pytest.mark.usefixtures("channel_layer")
def test_the_sfu_applies_what_the_database_allows(cast, settings, monkeypatch):
    # Long enough that nobody's grace period ends by itself during an
    # example: the machine ends it (grace_ends) when it chooses.
    settings.MEETING_RECONNECT_GRACE = 30
    # The machine pings every tab after every step, far above what a browser
    # sends; the flood limit has its own tests.
    monkeypatch.setattr(consumers, "MESSAGE_BURST", 100_000)
    run_state_machine_as_test(
        lambda: ForwardingMachine(cast),
        settings=hypothesis_settings(
            max_examples=20,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


# What the property found


async def _until(check, within: float = CONVERGE_WITHIN) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_a_mute_reaches_the_sfu_while_the_participant_reconnects(
    room, owner, moderator, settings
):
    """Found by the machine above, shrunk to: the owner and a moderator
    join; the moderator's socket drops; the owner mutes everyone. The
    dropped participant's peer kept forwarding their microphone for the
    grace period: news of their rights reaches live connections only."""
    settings.MEETING_RECONNECT_GRACE = 30  # the default
    sfu = make_sfu()
    set_media(sfu)
    owner_tab, dropped = RoomClient(owner, room), RoomClient(moderator, room)
    try:
        await owner_tab.join()
        await dropped.join()
        assert sfu.allowed_sources(room.pk, dropped.id) == {"mic", "cam", "screen"}
        await dropped.close()
        await owner_tab.send({"type": "mod_mute_all"})
        await owner_tab.settle()
        await effects.settled()

        def database_allows() -> frozenset[str]:
            participant = Participant.objects.get(public_id=dropped.id)
            access = selectors.room_access_for(user=moderator, room=room)
            return selectors.allowed_sources(access=access, participant=participant)

        allowed = await db(database_allows)()
        assert allowed == {"cam", "screen"}
        # No peer, or one that forwards no more than the database allows.
        applied = lambda: sfu.allowed_sources(room.pk, dropped.id)  # noqa: E731
        assert await _until(lambda: (applied() or frozenset()) <= allowed), (
            f"the SFU applies {_fmt(applied())}, the database allows {_fmt(allowed)}"
        )
    finally:
        await owner_tab.close()
        await sfu.close()
