"""Consumer tests run the real consumer through Channels' WebsocketCommunicator,
once on the in-memory channel layer and once on Redis (modules opt in with
``pytestmark = pytest.mark.usefixtures("channel_layer")``)."""

from __future__ import annotations

import os
import uuid

import pytest
from channels.layers import channel_layers

from signaling import presence
from signaling.bridge import set_media
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
                "BACKEND": "signaling.layers.RedisChannelLayer",
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
    set_media(None)


class RecordingBridge:
    """A stand-in for the media server: records what signaling asks of it
    (the real SFU's side of these calls is tested in tests/sfu)."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    async def join(self, *, room_id, participant_id, session, address, allowed):
        self.calls.append(("join", participant_id, allowed))

    async def set_allowed(self, *, room_id, participant_id, allowed):
        self.calls.append(("set_allowed", participant_id, allowed))

    async def end_share(self, *, room_id, participant_id):
        self.calls.append(("end_share", participant_id))

    async def leave(self, *, room_id, participant_id):
        self.calls.append(("leave", participant_id))

    async def close_room(self, *, room_id):
        self.calls.append(("close_room", room_id))

    def allowed(self, participant_id: str) -> frozenset[str] | None:
        """What the SFU was last told this participant may publish."""
        sets = [
            call[-1]
            for call in self.calls
            if call[0] in ("join", "set_allowed") and call[1] == participant_id
        ]
        return sets[-1] if sets else None


@pytest.fixture
def bridge():
    double = RecordingBridge()
    set_media(double)
    return double


@pytest.fixture
async def pair(room, owner, publisher):
    first, second = RoomClient(owner, room), RoomClient(publisher, room)
    await first.join()
    await second.join()
    await first.recv("participant_joined")
    yield first, second
    await first.close()
    await second.close()
