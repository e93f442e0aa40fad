"""Errors the domain raises, each with a message fit to show the user."""


class MeetingError(Exception):
    """Base: ``str(error)`` is plain text for the person who caused it."""

    code = "invalid"


class NotAllowed(MeetingError):
    """The actor lacks the role or capability for this operation."""

    code = "forbidden"


class InvalidOperation(MeetingError):
    """The operation makes no sense in the current state (e.g. demoting the owner)."""

    code = "invalid"


class InviteUnusable(MeetingError):
    """The invite is unknown, forged, expired, used up or withdrawn."""

    code = "invite_unusable"
