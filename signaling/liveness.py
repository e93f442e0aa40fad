"""A connection's liveness: pings, the silence timeout, and the renewal of
its presence lease (meetings.services.presence), in one loop per connection."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async
from django.conf import settings

from meetings import services

if TYPE_CHECKING:
    from signaling.consumers import RoomConsumer

log = logging.getLogger(__name__)


async def keep_alive(consumer: RoomConsumer) -> None:
    """Ping after SIGNALING_PING_INTERVAL of silence; close after
    SIGNALING_PING_TIMEOUT without hearing anything; renew the presence lease
    every third of MEETING_PRESENCE_LEASE."""
    loop = asyncio.get_running_loop()
    interval = settings.SIGNALING_PING_INTERVAL
    timeout = settings.SIGNALING_PING_TIMEOUT
    renew_every = settings.MEETING_PRESENCE_LEASE / 3
    pinged_at = 0.0
    renewed_at = loop.time()
    while True:
        await asyncio.sleep(min(1.0, interval / 2, renew_every))
        silent = loop.time() - consumer.last_heard
        if silent >= timeout:
            await consumer.refuse(
                "timeout", "No answer from your browser: disconnected."
            )
            return
        if silent >= interval and pinged_at < consumer.last_heard:
            pinged_at = loop.time()
            await consumer.send_json({"type": "ping"})
        if loop.time() - renewed_at >= renew_every:
            renewed_at = loop.time()
            if not await _renew_lease(consumer):
                await consumer.refuse(
                    "timeout", "The server lost track of your connection."
                )
                return


async def _renew_lease(consumer: RoomConsumer) -> bool:
    """False when this connection no longer holds its participant (it was
    let go by a sweep, e.g. after the database was away for too long)."""
    try:
        if consumer.state == "joined":
            return await database_sync_to_async(services.participant_renew_lease)(
                participant_id=consumer.participant.pk,
                channel_name=consumer.channel_name,
            )
        if consumer.state == "lobby":
            await database_sync_to_async(services.lobby_request_renew_lease)(
                request_id=consumer.lobby_request.pk
            )
    except Exception:  # the database is away: try again next time
        log.exception("room connection %s: lease not renewed", consumer.channel_name)
    return True
