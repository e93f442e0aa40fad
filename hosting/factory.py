"""This process's media server, as ``settings.SFU_MODE`` says."""

from __future__ import annotations

from django.conf import settings

from sfu.api import MediaServer, NoMediaServer


def make_media_server() -> MediaServer:
    """Called once, on first use, inside the event loop (an embedded SFU
    needs it; ``signaling.bridge.get_media``)."""
    if settings.SFU_MODE == "embedded":
        from hosting.embedded import make_sfu

        return make_sfu()
    if settings.SFU_MODE == "worker":
        from hosting.worker import WorkerClient

        return WorkerClient()
    return NoMediaServer()
