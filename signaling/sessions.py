"""Meeting sockets end with the session that opened them.

A WebSocket is authenticated once, when it opens; without this, signing out,
changing the password or being deactivated would leave an open meeting
running. Each connection joins two groups: its session's and its user's.
Signing out ends the session's sockets at once; any other change to the user
makes that user's sockets check their session again, as Django checks it on
every request (``django.contrib.auth.get_user``).
"""

from __future__ import annotations

import hashlib
from importlib import import_module
from types import SimpleNamespace

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_save

from signaling import effects, events


def session_group(session_key: str) -> str:
    # Group names must be short ASCII; the key itself is a secret.
    digest = hashlib.sha256(session_key.encode()).hexdigest()[:32]
    return f"session.{digest}"


def session_is_valid(*, session_key: str, user_id: int) -> bool:
    """Would Django still sign this session in as this user? False once it
    was flushed (sign-out), its password hash is stale (password changed) or
    the user is inactive."""
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    user = auth.get_user(SimpleNamespace(session=store))
    return user.is_authenticated and user.pk == user_id


def _send(group: str, kind: str) -> None:
    """Tell a group, after the commit, from sync code (views, the admin)."""
    transaction.on_commit(lambda: effects.run([lambda: events.to_group(group, kind)]))


def _on_logged_out(sender, request, user, **kwargs) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        _send(session_group(session_key), "conn.session_ended")


def _on_user_saved(sender, instance, created, update_fields=None, **kwargs) -> None:
    if created or (update_fields is not None and set(update_fields) == {"last_login"}):
        return  # signing in changes nothing an open socket depends on
    _send(events.user_group(instance.pk), "conn.check_session")


def connect_signals() -> None:
    user_logged_out.connect(_on_logged_out, dispatch_uid="signaling.logged_out")
    post_save.connect(
        _on_user_saved,
        sender=settings.AUTH_USER_MODEL,
        dispatch_uid="signaling.user_saved",
    )
