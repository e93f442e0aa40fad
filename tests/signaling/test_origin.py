"""The WebSocket origin check of the deployed application (config/asgi.py):
only our own page's exact origin (scheme, host, port) opens a socket."""

import pytest
from channels.db import database_sync_to_async as db
from channels.testing import WebsocketCommunicator

from config.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


async def _opens(
    room,
    *,
    origin: str | None,
    host: str = "localhost:8000",
    scheme: str = "ws",
    extra: list[tuple[bytes, bytes]] | None = None,
    cookie: bytes | None = None,
) -> bool:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookie:
        headers.append((b"cookie", cookie))
    headers += extra or []
    socket = WebsocketCommunicator(
        application, f"/ws/rooms/{room.slug}/", headers=headers
    )
    socket.scope["scheme"] = scheme
    connected, _ = await socket.connect()
    await socket.disconnect()
    return connected


async def test_same_origin_is_accepted_with_the_session_cookie(room, publisher, client):
    await db(client.force_login)(publisher)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    assert await _opens(room, origin="http://localhost:8000", cookie=cookie)


@pytest.mark.parametrize(
    "origin, host, scheme",
    [
        ("http://localhost:8000", "localhost:8000", "ws"),
        ("https://localhost", "localhost", "wss"),
        ("http://127.0.0.1:8000", "127.0.0.1:8000", "ws"),
        ("http://[::1]:8000", "[::1]:8000", "ws"),
        # Default ports: the browser leaves them out, a client may not.
        ("https://localhost", "localhost:443", "wss"),
        ("HTTP://LocalHost:8000", "localhost:8000", "ws"),
    ],
)
async def test_own_origin_is_accepted(room, origin, host, scheme):
    assert await _opens(room, origin=origin, host=host, scheme=scheme)


async def test_another_port_of_the_same_host_is_refused(room):
    assert not await _opens(room, origin="http://localhost:8001")
    assert not await _opens(room, origin="http://localhost")


async def test_http_and_https_must_match_ws_and_wss(room):
    assert not await _opens(room, origin="https://localhost:8000", scheme="ws")
    assert not await _opens(room, origin="http://localhost:8000", scheme="wss")


async def test_another_host_is_refused(room):
    assert not await _opens(room, origin="https://evil.example")
    assert not await _opens(room, origin="http://evil.localhost:8000")


async def test_a_host_outside_allowed_hosts_is_refused_even_if_it_matches(room):
    """DNS rebinding: evil.example pointed at our address sends a matching
    Host, but it is not one of our names."""
    assert not await _opens(
        room, origin="http://evil.example:8000", host="evil.example:8000"
    )


@pytest.mark.parametrize(
    "origin", [None, "", "null", "http://localhost:8000/path", "localhost:8000"]
)
async def test_missing_or_malformed_origin_is_refused(room, origin):
    assert not await _opens(room, origin=origin)


async def test_missing_host_is_refused(room):
    socket = WebsocketCommunicator(
        application,
        f"/ws/rooms/{room.slug}/",
        headers=[(b"origin", b"http://localhost:8000")],
    )
    connected, _ = await socket.connect()
    assert not connected


async def test_trusted_origin_is_accepted(room, settings):
    """Behind a proxy that rewrites Host: CSRF_TRUSTED_ORIGINS vouches."""
    settings.CSRF_TRUSTED_ORIGINS = ["https://meet.example.org"]
    assert await _opens(room, origin="https://meet.example.org", host="127.0.0.1:8000")
    assert not await _opens(
        room, origin="https://meet.example.org:8443", host="127.0.0.1:8000"
    )
    assert not await _opens(
        room, origin="http://meet.example.org", host="127.0.0.1:8000"
    )


async def test_trusted_origin_wildcards_work_as_for_csrf(room, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.example.org"]
    assert await _opens(room, origin="https://meet.example.org", host="backend")
    assert not await _opens(room, origin="https://meet.example.com", host="backend")


async def test_forwarded_proto_is_honoured_only_when_trusted(room, settings):
    behind_tls = [(b"x-forwarded-proto", b"https")]
    settings.TRUST_X_FORWARDED_PROTO = False
    assert not await _opens(
        room, origin="https://localhost", host="localhost", extra=behind_tls
    )
    settings.TRUST_X_FORWARDED_PROTO = True
    assert await _opens(
        room, origin="https://localhost", host="localhost", extra=behind_tls
    )
    assert not await _opens(
        room, origin="http://localhost", host="localhost", extra=behind_tls
    )


async def test_allowed_hosts_is_read_per_connection(room, settings):
    settings.ALLOWED_HOSTS = ["meet.example.org"]
    assert not await _opens(room, origin="http://localhost:8000")
    assert await _opens(room, origin="http://meet.example.org", host="meet.example.org")
