"""ICE servers for a browser, with short-lived TURN credentials.

coturn's ``use-auth-secret`` scheme: the username is ``<expiry>:<user id>`` and
the password is base64(HMAC-SHA1(secret, username)). coturn recomputes the
password itself, so the secret never leaves the server and a leaked credential
stops working at its expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from django.conf import settings


def turn_credentials(
    *, user_id: int, secret: str, ttl: int, now: float | None = None
) -> tuple[str, str]:
    expiry = int(now if now is not None else time.time()) + ttl
    username = f"{expiry}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers_for(*, user_id: int) -> list[dict]:
    """The ``iceServers`` list for RTCPeerConnection, for one signed-in user."""
    servers: list[dict] = []
    if settings.STUN_URLS:
        servers.append({"urls": list(settings.STUN_URLS)})
    if settings.TURN_URLS:
        username, credential = turn_credentials(
            user_id=user_id,
            secret=settings.TURN_SECRET,
            ttl=settings.TURN_CREDENTIAL_TTL,
        )
        servers.append(
            {
                "urls": list(settings.TURN_URLS),
                "username": username,
                "credential": credential,
            }
        )
    return servers
