"""Two daphne processes sharing PostgreSQL and Redis, as in production: people
connected to different processes see each other and each other's chat."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
import websockets

from tests.servers import Deployment, recv_type, ws_headers, ws_url
from tests.signaling.conftest import REDIS_URL, _redis_reachable

# Its servers use their own database: the PostgreSQL pass would repeat it.
pytestmark = pytest.mark.own_servers


def _services_or_skip() -> None:
    problems = []
    if reason := _redis_reachable():
        problems.append(f"Redis: {reason}")
    try:
        import psycopg

        from tests.servers import POSTGRES_ADMIN_URL

        psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3).close()
    except Exception as exc:
        problems.append(f"PostgreSQL: {exc}")
    if problems:
        message = "; ".join(problems)
        if os.environ.get("CI"):
            pytest.fail(f"needed services are not reachable: {message}")
        pytest.skip(f"needed services are not reachable: {message}")


@pytest.fixture(scope="module")
def two_servers():
    _services_or_skip()
    with Deployment(database="postgres", redis_url=REDIS_URL) as deployment:
        seeded = deployment.prepare(members=1)
        ports = deployment.start(2)
        yield ports, seeded


async def test_presence_and_chat_cross_between_processes(two_servers):
    (port_a, port_b), seeded = two_servers
    slug, (owner_key, member_key) = seeded["slug"], seeded["sessions"]
    async with (
        websockets.connect(
            ws_url(port_a, slug), additional_headers=ws_headers(port_a, owner_key)
        ) as a,
        websockets.connect(
            ws_url(port_b, slug), additional_headers=ws_headers(port_b, member_key)
        ) as b,
    ):
        await a.send(json.dumps({"type": "hello", "version": 1}))
        welcome_a = await recv_type(a, "welcome")
        assert [p["name"] for p in welcome_a["participants"]] == ["Owner"]

        await b.send(json.dumps({"type": "hello", "version": 1}))
        welcome_b = await recv_type(b, "welcome")
        # Presence comes from the shared database...
        assert sorted(p["name"] for p in welcome_b["participants"]) == [
            "Member 0",
            "Owner",
        ]
        # ...and events cross processes through Redis.
        joined = await recv_type(a, "participant_joined")
        assert joined["participant"]["name"] == "Member 0"

        await b.send(json.dumps({"type": "chat_send", "text": "from B"}))
        assert (await recv_type(a, "chat_message"))["message"]["text"] == "from B"
        await a.send(json.dumps({"type": "chat_send", "text": "from A"}))
        assert (await recv_type(b, "chat_message"))["message"]["text"] == "from A"

        await b.send(json.dumps({"type": "hand", "raised": True}))
        update = await recv_type(a, "participant_updated")
        assert update["participant"]["hand"] is True

        # Idle longer than redis-py 8's default 5 s read timeout: the layer
        # must still deliver (django/channels_redis#422).
        await asyncio.sleep(6.5)
        await a.send(json.dumps({"type": "chat_send", "text": "after a pause"}))
        assert (await recv_type(b, "chat_message"))["message"][
            "text"
        ] == "after a pause"

        await b.send(json.dumps({"type": "leave"}))
        left = await recv_type(a, "participant_left")
        assert left["id"] == welcome_b["you"]["id"]
