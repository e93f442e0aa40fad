"""A test client for the room WebSocket: Channels' WebsocketCommunicator with
the protocol's conveniences."""

from __future__ import annotations

import json

from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from signaling.routing import websocket_urlpatterns

ROUTER = URLRouter(websocket_urlpatterns)


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
        return message

    async def send(self, message: dict) -> None:
        await self.ws.send_to(text_data=json.dumps(message))

    async def send_raw(self, text: str) -> None:
        await self.ws.send_to(text_data=text)

    async def recv(self, expect: str | None = None, *, timeout: float = 3) -> dict:
        """The next message (server pings skipped); with ``expect``, the next
        one of that type, failing if something else comes first."""
        while True:
            output = await self.ws.receive_output(timeout)
            assert output["type"] == "websocket.send", f"got {output}"
            message = json.loads(output["text"])
            self.seen.append(message)
            if message["type"] == "ping":
                continue
            if expect is not None:
                assert message["type"] == expect, f"expected {expect}, got {message}"
            return message

    async def recv_until(self, expect: str, *, timeout: float = 3) -> dict:
        """Skip other messages until one of type ``expect`` arrives."""
        while True:
            message = await self.recv(timeout=timeout)
            if message["type"] == expect:
                return message

    async def error(self, code: str) -> dict:
        message = await self.recv("error")
        assert message["code"] == code, message
        assert message["message"]
        return message

    async def closed(self, code: int, *, timeout: float = 3) -> None:
        while True:
            output = await self.ws.receive_output(timeout)
            if output["type"] == "websocket.close":
                assert output.get("code") == code, output
                # The browser would answer with its own disconnect: do the
                # same, so the consumer finishes instead of waiting on the layer.
                await self.ws.disconnect(code)
                return
            self.seen.append(json.loads(output["text"]))

    async def silent(self, timeout: float = 0.2) -> bool:
        return await self.ws.receive_nothing(timeout)

    async def close(self) -> None:
        await self.ws.disconnect()
