"""WebSockets from our own pages only: an exact Origin check.

A browser opens a WebSocket to any site with that site's cookies, and the
handshake is not subject to CORS: without this check another site could join
meetings as our signed-in user (cross-site WebSocket hijacking). Channels'
AllowedHostsOriginValidator compares only the host name, so a page on another
port of the same host (or plain http next to https) passed. Here the Origin
must be exactly the origin of the page that opened the socket: the scheme that
matches ws/wss, and the host and port of the Host header, a host that is in
ALLOWED_HOSTS. An origin listed in CSRF_TRUSTED_ORIGINS is accepted too, as it
is for form posts (a proxy that changes the host or scheme).

Settings are read per connection, not at import, so tests can change them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


def _canonical(scheme: str, netloc: str) -> tuple[str, str, str] | None:
    """(scheme, host, port) with the default port filled in, or None."""
    scheme = scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return None
    host, port = split_domain_port(netloc.lower())
    if not host:
        return None
    return scheme, host, port or _DEFAULT_PORTS[scheme]


def _page_scheme(scope: dict) -> str:
    """http or https: the scheme of the page that may open this socket."""
    scheme = scope.get("scheme", "ws")
    if settings.TRUST_X_FORWARDED_PROTO:
        forwarded = _header(scope, b"x-forwarded-proto")
        if forwarded:
            # As Django reads it: the first value, set by our own proxy.
            scheme = forwarded.split(",", 1)[0].strip().lower()
    return "https" if scheme in ("https", "wss") else "http"


def _is_trusted(origin: str) -> bool:
    """Listed in CSRF_TRUSTED_ORIGINS, with Django's ``*.`` subdomain rule."""
    parsed = urlsplit(origin)
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        if "*" in trusted:
            wanted = urlsplit(trusted)
            if parsed.scheme == wanted.scheme and is_same_domain(
                parsed.netloc, wanted.netloc.lstrip("*")
            ):
                return True
        elif origin == trusted.lower():
            return True
    return False


def origin_allowed(scope: dict) -> bool:
    origin = (_header(scope, b"origin") or "").lower()
    if not origin or origin == "null":
        return False
    if _is_trusted(origin):
        return True
    parsed = urlsplit(origin)
    if parsed.path or parsed.query or parsed.fragment or parsed.username:
        return False
    claimed = _canonical(parsed.scheme, parsed.netloc)
    host = _header(scope, b"host")
    if claimed is None or not host:
        return False
    page = _canonical(_page_scheme(scope), host)
    return page == claimed and validate_host(page[1], settings.ALLOWED_HOSTS)


class SameOriginValidator:
    """ASGI middleware: refuses (HTTP 403 on the handshake) any WebSocket
    whose Origin is not our own page's; other connection types pass."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
