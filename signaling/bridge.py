"""Where signaling finds this process's media server.

Signaling sees only the contract of ``sfu/api.py``; which server it gets
(the SFU in this process, a client of the SFU worker, none) is chosen by the
hosting app (``hosting/``), which installs its factory at start-up.
"""

from __future__ import annotations

from collections.abc import Callable

from sfu.api import MediaServer, NoMediaServer
from signaling import events

_server: MediaServer | None = None
_factory: Callable[[], MediaServer] = NoMediaServer


def get_media() -> MediaServer:
    """The media server of this process, made on first use (inside the event
    loop, which an in-process SFU needs)."""
    global _server
    if _server is None:
        _server = _factory()
    return _server


def made_media() -> MediaServer | None:
    """The media server if one was made (``hosting.lifespan`` closes it when
    the process stops)."""
    return _server


def set_media_factory(factory: Callable[[], MediaServer]) -> None:
    """How this process makes its media server (config/asgi.py installs
    ``hosting.factory.make_media_server``); the next ``get_media`` uses it."""
    global _factory, _server
    _factory, _server = factory, None


def set_media(server: MediaServer | None) -> None:
    """Install a media server directly (tests)."""
    global _server
    _server = server


async def media_lost() -> None:
    """The media server went away: every participant here is told."""
    await events.to_group(events.process_group(), "media.lost")


async def media_restored() -> None:
    """The media server is back (a new process: it knows no one). Every
    participant here starts a new media session."""
    await events.to_group(events.process_group(), "media.restart")
