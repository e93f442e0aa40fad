"""Closing this process's media server when the process stops: its peer
connections close properly (DTLS close_notify, RTCP BYE), so browsers learn
at once that media ended instead of after ICE consent runs out.

Two ways, since servers differ:

- ``lifespan``: the ASGI lifespan protocol, for servers that speak it
  (uvicorn, hypercorn);
- ``close_media_when_daphne_stops``: daphne (4.2) sends no lifespan events,
  so a Twisted "before shutdown" trigger does it there. daphne runs
  Twisted's asyncio reactor on the event loop the media server lives on,
  and its SIGTERM and SIGINT handlers stop the reactor, which fires the
  trigger and waits for it.
"""

from __future__ import annotations

import asyncio
import logging

from signaling.bridge import made_media

log = logging.getLogger(__name__)


async def close_media() -> None:
    """Close the media server, if this process made one."""
    server = made_media()
    if server is None:
        return
    try:
        await server.close()
    except Exception:  # shutting down: say so, and let the rest stop too
        log.exception("closing the media server")
    else:
        log.info("media server closed")


async def lifespan(scope: dict, receive, send) -> None:
    """The ASGI application for ``scope["type"] == "lifespan"``."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            # The media server is made on first use, in the loop it serves.
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await close_media()
            await send({"type": "lifespan.shutdown.complete"})
            return


def close_media_when_daphne_stops() -> None:
    """Have daphne's reactor close the media server before it stops. Under
    another server, this registers a trigger that never fires."""
    from twisted.internet import defer, reactor

    def before_shutdown() -> defer.Deferred:
        return defer.Deferred.fromFuture(asyncio.ensure_future(close_media()))

    reactor.addSystemEventTrigger("before", "shutdown", before_shutdown)
