"""A server process dies mid-meeting (kill -9, or SIGTERM on a restart) with
someone who never comes back: the next process shows them as left within the
grace period, frees their seat and ends their attendance."""

from __future__ import annotations

import json
import signal
import time

import pytest
import websockets

from tests.servers import Deployment, recv_type, ws_headers, ws_url
from tests.signaling.test_two_processes import _services_or_skip

# Its servers use their own database: the PostgreSQL pass would repeat it.
pytestmark = pytest.mark.own_servers

GRACE = 4  # seconds; MEETING_PRESENCE_LEASE is the same
SWEEP = 2  # the sweep runs at most every 2 s


async def _join(port: int, slug: str, session: str):
    ws = await websockets.connect(
        ws_url(port, slug), additional_headers=ws_headers(port, session)
    )
    await ws.send(json.dumps({"type": "hello", "version": 1}))
    return ws, await recv_type(ws, "welcome")


ATTENDANCE = """
import json
from meetings.models import Attendance, Participant

print(json.dumps({
    "open_attendance": Attendance.objects.filter(left_at__isnull=True).count(),
    "present": list(
        Participant.objects.filter(left_at__isnull=True).values_list(
            "display_name", flat=True
        )
    ),
}))
"""


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["kill", "term"])
async def test_a_participant_of_a_dead_process_is_let_go_by_the_next(how):
    _services_or_skip()
    env = {
        "MEETING_RECONNECT_GRACE": str(GRACE),
        "MEETING_PRESENCE_LEASE": str(GRACE),
        "SFU_MODE": "none",
    }
    with Deployment(database="postgres", extra_env=env) as deployment:
        seeded = deployment.prepare(members=1, max_participants=2)
        slug, (owner_key, member_key) = seeded["slug"], seeded["sessions"]
        (first,) = deployment.start(1)
        owner, _ = await _join(first, slug, owner_key)
        member, member_welcome = await _join(first, slug, member_key)
        member_id = member_welcome["you"]["id"]
        await recv_type(owner, "participant_joined")

        deployment.processes[0].send_signal(how)
        died_at = time.monotonic()
        deployment.processes[0].wait(timeout=15)
        for ws in (owner, member):
            ws.transport.abort()  # the member never returns

        # The owner's browser reconnects to the next process.
        second = deployment.start(1)[-1]
        owner, welcome = await _join(second, slug, owner_key)
        if member_id in [p["id"] for p in welcome["participants"]]:
            left = await recv_type(owner, "participant_left", timeout=GRACE + SWEEP + 5)
            assert left["id"] == member_id
        gone_after = time.monotonic() - died_at
        print(f"\n{how.name}: shown as left {gone_after:.1f} s after the process died")
        assert gone_after <= GRACE + SWEEP + 1

        state = deployment.run_script(ATTENDANCE, {})
        assert state["present"] == ["Owner"]
        assert state["open_attendance"] == 1  # the owner's; the member's ended
        # The member's seat is free: a two-seat room takes the member again.
        again, welcome = await _join(second, slug, member_key)
        assert sorted(p["name"] for p in welcome["participants"]) == [
            "Member 0",
            "Owner",
        ]
        await again.close()
        await owner.close()
