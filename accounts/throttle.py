"""Who is asking, and how often: the client's IP address and a small limiter
on Django's cache for the forms that send e-mail (sign-up, password reset).

Sign-in has its own lockout (django-axes, configured in config/settings.py);
it takes the client's address from ``client_ip`` too, so that both agree on
who a client is behind a reverse proxy.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

# Counters are per hour: long enough to stop an e-mail flood, short enough
# that someone who mistyped their address a few times can try again soon.
WINDOW_SECONDS = 3600


def client_ip(request: HttpRequest) -> str:
    """The address of the client, as far as we can trust it.

    Without a proxy (``TRUSTED_PROXY_COUNT=0``) it is the connection's address.
    Behind N proxies that each append the address they received from to
    X-Forwarded-For, the client is the Nth entry from the right: everything
    left of it was sent by the client and can be forged. If the header is
    shorter than that, or not an address, the proxy is misconfigured and the
    connection's address is used (every client then shares one limit, which
    fails safe).
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if not proxies:
        return remote
    hops = [
        hop.strip()
        for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if hop.strip()
    ]
    if len(hops) < proxies:
        return remote
    candidate = hops[-proxies]
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return remote
    return candidate


def login_username(request: HttpRequest, credentials: dict | None) -> str:
    """The address a sign-in attempt is for, as django-axes counts it.

    Lower-cased, as sign-in itself ignores case: otherwise ``ADA@example.org``
    and ``ada@example.org`` would each get their own five tries. Our sign-in
    form and the admin's both post the address as ``username``, which is
    also the key axes gives it in ``credentials`` (AXES_USERNAME_FORM_FIELD).
    """
    source = credentials if credentials is not None else request.POST
    return str(source.get(settings.AXES_USERNAME_FORM_FIELD) or "").strip().lower()


def _hit(scope: str, kind: str, value: str, limit: int) -> bool:
    """Count one request; True while the count is within ``limit``."""
    window = int(time.time() // WINDOW_SECONDS)
    # Hashed: keys stay short and cache-safe, and addresses are not stored.
    digest = hashlib.sha256(value.encode()).hexdigest()[:32]
    key = f"throttle:{scope}:{kind}:{digest}:{window}"
    # add() then incr() is atomic on locmem and Redis alike; a key that
    # expires in between is simply started again.
    cache.add(key, 0, timeout=WINDOW_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=WINDOW_SECONDS)
        count = 1
    return count <= limit


def email_request_allowed(*, scope: str, request: HttpRequest, email: str) -> bool:
    """May this client have another e-mail sent to ``email`` for ``scope``?

    Counts the request against both limits (per client address and per
    target address) in every case, so that a flood keeps being refused.
    """
    by_ip = _hit(scope, "ip", client_ip(request), settings.ACCOUNT_EMAILS_PER_IP)
    by_address = _hit(
        scope, "address", email.lower(), settings.ACCOUNT_EMAILS_PER_ADDRESS
    )
    return by_ip and by_address


def guest_join_allowed(*, request: HttpRequest) -> bool:
    """May one more guest join from this client address this hour? A guest
    costs no e-mail, so without this one script could fill a room's list
    and the users table through one open link."""
    return _hit("guest", "ip", client_ip(request), settings.GUESTS_PER_IP)
