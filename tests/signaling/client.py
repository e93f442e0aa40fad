"""A test client for the room WebSocket: Channels' WebsocketCommunicator with
the protocol's conveniences."""

from __future__ import annotations

import asyncio
import json
from collections import deque

from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from signaling.routing import websocket_urlpatterns

ROUTER = URLRouter(websocket_urlpatterns)
# How long a client waits for what it expects. Generous: a passing test
# waits only as long as the message takes, and in CI two test stages share
# two cores. A communicator that times out cancels the application, so a
# short wait turns a slow disconnect into lost clean-up.
WAIT = 10.0


class RoomClient:
    def __init__(self, user, room_or_slug, *, application=ROUTER, headers=None) -> None:
        slug = getattr(room_or_slug, "slug", room_or_slug)
        self.user = user
        self.ws = WebsocketCommunicator(
            application, f"/ws/rooms/{slug}/", headers=headers
        )
        if application is ROUTER:
            self.ws.scope["user"] = user
        self.welcome: dict | None = None
        self.seen: list[dict] = []
        # Messages read ahead by settle(), for recv() to hand out first.
        self.ahead: deque[dict] = deque()

    @property
    def id(self) -> str:
        return self.welcome["you"]["id"]

    async def open(self) -> bool:
        connected, _ = await self.ws.connect()
        return connected

    async def join(self, *, expect: str = "welcome") -> dict:
        assert await self.open()
        await self.send({"type": "hello", "version": 1})
        message = await self.recv(expect)
        if expect == "welcome":
            self.welcome = message
            await self.settle()
        return message

    async def settle(self) -> None:
        """Wait until the server has finished with what was sent so far (it
        handles a connection's messages one at a time, so its pong comes
        after): a test's next database write then races nothing."""
        await self.send({"type": "ping"})
        read = []
        while True:
            output = await self.ws.receive_output(3)
            assert output["type"] == "websocket.send", f"got {output}"
            message = json.loads(output["text"])
            if message["type"] == "pong":
                break
            read.append(message)
        self.ahead.extend(read)

    async def send(self, message: dict) -> None:
        await self.ws.send_to(text_data=json.dumps(message))

    async def send_raw(self, text: str) -> None:
        await self.ws.send_to(text_data=text)

    async def recv(self, expect: str | None = None, *, timeout: float = WAIT) -> dict:
        """The next message (server pings skipped); with ``expect``, the next
        one of that type, failing if something else comes first."""
        while True:
            if self.ahead:
                message = self.ahead.popleft()
            else:
                output = await self.ws.receive_output(timeout)
                assert output["type"] == "websocket.send", f"got {output}"
                message = json.loads(output["text"])
            self.seen.append(message)
            if message["type"] == "ping":
                continue
            if expect is not None:
                assert message["type"] == expect, f"expected {expect}, got {message}"
            return message

    async def recv_until(self, expect: str, *, timeout: float = WAIT) -> dict:
        """Skip other messages until one of type ``expect`` arrives, within
        ``timeout`` in all (a stream of pongs must not wait forever)."""
        deadline = asyncio.get_running_loop().time() + timeout
        skipped: list[str] = []
        while True:
            left = deadline - asyncio.get_running_loop().time()
            try:
                if left <= 0:
                    raise TimeoutError
                message = await self.recv(timeout=left)
            except TimeoutError:
                raise AssertionError(
                    f"no {expect} within {timeout} s; skipped {skipped}"
                ) from None
            if message["type"] == expect:
                return message
            skipped.append(message["type"])

    async def error(self, code: str) -> dict:
        message = await self.recv("error")
        assert message["code"] == code, message
        assert message["message"]
        return message

    async def closed(self, code: int, *, timeout: float = WAIT) -> None:
        self.seen.extend(self.ahead)
        self.ahead.clear()
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = max(0.0, deadline - asyncio.get_running_loop().time())
            output = await self.ws.receive_output(left)
            if output["type"] == "websocket.close":
                assert output.get("code") == code, output
                # The browser would answer with its own disconnect: do the
                # same, so the consumer finishes instead of waiting on the
                # layer. Channels' default of 1 s cancelled a loaded
                # consumer before it recorded the drop (as in close()), and
                # the room never heard of it: daphne gives 10 s.
                await self.ws.disconnect(code, timeout=WAIT)
                return
            self.seen.append(json.loads(output["text"]))

    async def silent(self, timeout: float = 0.2) -> bool:
        return not self.ahead and await self.ws.receive_nothing(timeout)

    async def close(self) -> None:
        """Close (once: a test may close a fixture's client early)."""
        if not getattr(self, "_closed", False):
            self._closed = True
            # Channels' default of 1 s cancels a consumer still recording
            # the departure on a loaded machine, and nobody hears of it.
            await self.ws.disconnect(timeout=WAIT)
