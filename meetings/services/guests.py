"""Guests: people who join by an invite link with just a name.

A guest is an ordinary user (``is_guest``) with a ``Guest`` row that ties
them to the invite's room, so the lobby, locks, size limits, mutes, removal,
bans, attendance and chat treat them exactly as anyone: they are one more
member. The access rule (``selectors.room_access_for``) gives them nothing
in any other room.
"""

from __future__ import annotations

import secrets

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import User, display_name_clean
from meetings.errors import GuestsNotAllowed, InvalidOperation
from meetings.models import Guest
from meetings.services.rooms import invite_accept, invite_resolve

# RFC 2606 reserves .invalid: nothing is ever delivered there, so no mail a
# guest's account might trigger can reach anyone.
GUEST_EMAIL_DOMAIN = "guest.invalid"


def guest_name_clean(display_name: str) -> str:
    """The name as others will see it, or ``InvalidOperation`` saying why not
    (the rule every display name follows)."""
    try:
        return display_name_clean(display_name)
    except ValidationError as exc:
        raise InvalidOperation(exc.messages[0]) from None


def guest_join(*, token: str, display_name: str) -> User:
    """A new guest of the invite's room, a member with the invite's role.

    Counts one use of the invite, under the same row lock as any acceptance
    (``invite_accept``): when two people take the last use at once, one is
    refused and nothing of theirs is kept. Whether the guest may enter the
    meeting now (locked, full, lobby) is decided when they join, as for anyone.
    """
    name = guest_name_clean(display_name)
    invite = invite_resolve(token=token)
    room = invite.room
    if not room.guests_allowed:
        raise GuestsNotAllowed(
            f"“{room.name}” is open only to people with an account. Sign in, or "
            "create an account, to accept this invite."
        )
    with transaction.atomic():
        user = User.objects.create_user(
            email=f"guest-{secrets.token_hex(12)}@{GUEST_EMAIL_DOMAIN}",
            password=None,  # unusable: a guest never signs in with a password
            display_name=name,
            is_guest=True,
        )
        invite_accept(user=user, token=token)
        Guest.objects.create(user=user, room=room, invite=invite)
    return user
