"""A guest's session opens their room and nothing else.

The access rule already gives a guest nothing in other rooms; this keeps them
off the rest of the site too (the room list, creating rooms, the profile,
password pages, the admin), so that a session made from a shared link is
worth no more than the link. Allowed: their room's pages (``/r/<slug>/…``:
the meeting, its pre-call check and, if their role allows, its moderator
pages, each checking the access rule), invite links, sign-out, the ICE
servers the meeting asks for, and static files. Anything else sends them
back to their room (GET) or is refused (other methods).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect
from django.urls import Resolver404, resolve

from meetings.selectors import guest_of

# Pages that serve no room but that a guest needs.
GUEST_PAGES = frozenset({"invite_accept", "logout", "ice_servers"})


class GuestScopeMiddleware:
    """After ``AuthenticationMiddleware``: it needs ``request.user``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        # Static files first: no need to load the session for them.
        static = urlsplit(settings.STATIC_URL or "").path
        if static.strip("/") and path.startswith(static):
            return self.get_response(request)
        user = request.user
        if not user.is_authenticated or not user.is_guest:
            return self.get_response(request)
        guest = guest_of(user)
        if guest is None:
            # A guest whose room is gone belongs nowhere: end the session.
            logout(request)
            return redirect(settings.LOGIN_URL)
        room_path = guest.room.get_absolute_url()
        if path.startswith(room_path) or _page_name(path) in GUEST_PAGES:
            return self.get_response(request)
        if request.method in ("GET", "HEAD"):
            return redirect(room_path)
        return HttpResponseForbidden(
            "Guests can only take part in the meeting they were invited to."
        )


def _page_name(path: str) -> str | None:
    # The full name: the admin has a "logout" of its own.
    try:
        return resolve(path).view_name
    except Resolver404:
        return None
