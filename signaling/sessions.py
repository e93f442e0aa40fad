"""Meeting sockets end with the session that opened them.

A WebSocket is authenticated once, when it opens; without this, signing out,
changing the password or being deactivated would leave an open meeting
running. Each connection joins two groups: its session's and its user's.
Signing out ends the session's sockets at once; any other change to the user
makes that user's sockets check their session again, as Django checks it on
every request (``django.contrib.auth.get_user``).
"""

from __future__ import annotations

import asyncio
import hashlib
from importlib import import_module
from types import SimpleNamespace

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_save

from signaling import events


def session_group(session_key: str) -> str:
    # Group names must be short ASCII; the key itself is a secret.
    digest = hashlib.sha256(session_key.encode()).hexdigest()[:32]
    return f"session.{digest}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def session_is_valid(*, session_key: str, user_id: int) -> bool:
    """Would Django still sign this session in as this user? False once it
    was flushed (sign-out), its password hash is stale (password changed) or
    the user is inactive."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = auth.get_user(SimpleNamespace(session=store))
    return user.is_authenticated and user.pk == user_id


_pending: set[asyncio.Task] = set()


def _send(group: str, action: str) -> None:
    """Tell a group, after the commit, from sync code (views, the admin)."""

    def send() -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            async_to_sync(events.control_group)(group, action)
            return
        # Saved from async code: do not block its event loop.
        task = loop.create_task(events.control_group(group, action))
        _pending.add(task)
        task.add_done_callback(_pending.discard)

    transaction.on_commit(send)


def _on_logged_out(sender, request, user, **kwargs) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        _send(session_group(session_key), "session_ended")


def _on_user_saved(sender, instance, created, update_fields=None, **kwargs) -> None:
    if created or (update_fields is not None and set(update_fields) == {"last_login"}):
        return  # signing in changes nothing an open socket depends on
    _send(user_group(instance.pk), "check_session")


def connect_signals() -> None:
    user_logged_out.connect(_on_logged_out, dispatch_uid="signaling.logged_out")
    post_save.connect(
        _on_user_saved,
        sender=settings.AUTH_USER_MODEL,
        dispatch_uid="signaling.user_saved",
    )
