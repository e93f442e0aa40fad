"""Consumer tests run the real consumer through Channels' WebsocketCommunicator,
once on the in-memory channel layer and once on Redis (modules opt in with
``pytestmark = pytest.mark.usefixtures("channel_layer")``)."""

from __future__ import annotations

import os
import uuid

import pytest
from channels.layers import channel_layers

from signaling import presence
from signaling.bridge import set_bridge
from tests.signaling.client import RoomClient

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_reachable() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # any failure means "not here"
        return str(exc)
    return None


@pytest.fixture(params=["memory", "redis"])
def channel_layer(request, settings):
    if request.param == "redis":
        problem = _redis_reachable()
        if problem:
            if os.environ.get("CI"):
                pytest.fail(f"Redis at {REDIS_URL} is not reachable: {problem}")
            pytest.skip(f"Redis at {REDIS_URL} is not reachable: {problem}")
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    # As config/settings.py sets it for production.
                    "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                    "capacity": 1000,
                    # A prefix per test keeps tests from hearing each other.
                    "prefix": f"test-{uuid.uuid4().hex[:8]}",
                },
            }
        }
    else:
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels.layers.InMemoryChannelLayer",
                "CONFIG": {"capacity": 1000},
            }
        }
    channel_layers.backends.clear()
    yield request.param
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def fast_timings(settings):
    settings.MEETING_RECONNECT_GRACE = 0.3
    settings.SIGNALING_PING_INTERVAL = 20
    settings.SIGNALING_PING_TIMEOUT = 45


@pytest.fixture(autouse=True)
async def stop_the_sweeper():
    """The presence sweeper runs for as long as its event loop: the test's."""
    yield
    await presence.stop_sweeper()


@pytest.fixture(autouse=True)
def no_bridge_leftovers():
    yield
    set_bridge(None)


@pytest.fixture
async def pair(room, owner, publisher):
    first, second = RoomClient(owner, room), RoomClient(publisher, room)
    await first.join()
    await second.join()
    await first.recv("participant_joined")
    yield first, second
    await first.close()
    await second.close()
