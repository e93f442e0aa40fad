"""The sweep: every server process lets go of participants whose presence
lease has run out (the rooms hear of it through meetings.events).

Leases (meetings.services.presence) are renewed by live connections. A
participant who dropped and did not come back within the grace period, and
one whose server process died without noticing anything, both end here, in
whichever process sweeps first; the row locks of the service make sure
nobody is let go twice.
"""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async
from django.conf import settings

from meetings import services

log = logging.getLogger(__name__)

# One sweeper per event loop (tests run a loop per test; a server, one).
_sweepers: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


def sweep_interval() -> float:
    # Often enough that a departure is seen soon after the grace period
    # ends; one cheap query each time.
    return min(2.0, max(0.05, settings.MEETING_RECONNECT_GRACE / 2))


async def sweep_once() -> int:
    """Let go of everyone whose lease has run out; return how many. The
    rooms and the SFU hear of it from the service's events."""
    lapsed = await database_sync_to_async(services.presence_expire_lapsed)()
    return len(lapsed.left) + len(lapsed.lobby)


async def _sweep_forever() -> None:
    # At once first: a process that starts after another died has its
    # participants to let go.
    while True:
        try:
            await sweep_once()
        except Exception:  # a database hiccup must not end the sweeping
            log.exception("presence sweep failed; trying again")
        await asyncio.sleep(sweep_interval())


def ensure_sweeper() -> None:
    """Start this process's sweeper, once (daphne has no start-up hook)."""
    loop = asyncio.get_running_loop()
    task = _sweepers.get(loop)
    if task is None or task.done():
        _sweepers[loop] = loop.create_task(_sweep_forever())


async def stop_sweeper() -> None:
    task = _sweepers.pop(asyncio.get_running_loop(), None)
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
