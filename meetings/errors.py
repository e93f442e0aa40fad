"""Errors the domain raises, each with a stable code and a message fit to show
the person who caused it (the wire protocol passes both on)."""


class MeetingError(Exception):
    """Base: ``str(error)`` is plain text for the user; ``code`` is stable."""

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class NotAllowed(MeetingError):
    """The actor lacks the role or capability for this operation."""

    code = "forbidden"


class InvalidOperation(MeetingError):
    """The operation makes no sense in the current state (e.g. demoting the owner)."""

    code = "invalid"


class InviteUnusable(MeetingError):
    """The invite is unknown, forged, expired, used up or withdrawn."""

    code = "invite_unusable"


class GuestsNotAllowed(MeetingError):
    """The invite's room takes only people with accounts, not guests."""

    code = "guests_not_allowed"


class Refused(MeetingError):
    """Someone may not enter the meeting now; ``code`` says why (``locked``,
    ``full``, ``removed``, ``banned``, ``not_member``, ``lobby_required``…)."""

    code = "refused"
