"""Domain events: what changed in a room, announced once the change commits.

Every service that changes something a live meeting must hear of publishes
an event here, inside its transaction; listeners run after the commit (or
not at all, on a rollback), so nobody is told of a change that did not
happen. Whoever made the change (a page, the admin, the WebSocket, a sweep
of lapsed leases) takes the same path: signaling listens (see
``signaling/effects.py``) and turns each event into protocol messages, into
control of the live connections and into what the SFU forwards.

Events carry ids, not model instances: a listener reads what it needs as it
is after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    room_id: int


@dataclass(frozen=True)
class RoomChanged(Event):
    """Room settings (lock, lobby, size, screen sharing, chat) changed."""

    fields: tuple[str, ...]


@dataclass(frozen=True)
class AccessChanged(Event):
    """A user's rights in the room changed: a role, a membership, a ban."""

    user_id: int


@dataclass(frozen=True)
class ParticipantJoined(Event):
    participant_id: int
    # Back within the grace period: the others never saw them leave.
    resumed: bool
    # An earlier live connection of the same user, which this one replaces.
    replaced_channel: str = ""


@dataclass(frozen=True)
class ParticipantChanged(Event):
    """Media state, hand, connection or a moderator's mute changed."""

    participant_id: int


@dataclass(frozen=True)
class MediaStopped(Event):
    """A moderator stopped someone's ``kind`` of media (audio, video, screen)."""

    participant_id: int
    kind: str


@dataclass(frozen=True)
class MediaAllowed(Event):
    """A moderator lets someone turn ``kind`` (audio, video) on again."""

    participant_id: int
    kind: str


@dataclass(frozen=True)
class ParticipantLeft(Event):
    public_id: str
    # The connection they had ("" if none), to close it when they were put out.
    channel: str
    # A LeftReason: left, dropped (let go after a drop; the room hears
    # "left"), removed, banned, not_member.
    reason: str
    meeting_ended: bool


@dataclass(frozen=True)
class MeetingEnded(Event):
    """A moderator ended the meeting; these lobby connections were waiting."""

    lobby_channels: tuple[str, ...]
    # Who ended it, as everyone in the meeting knows them ("" if unknown).
    ended_by: str = ""


@dataclass(frozen=True)
class ChatPosted(Event):
    message_id: int
    # The author's connection, which has its acknowledgement instead.
    author_channel: str


@dataclass(frozen=True)
class UnmuteRequested(Event):
    participant_id: int


@dataclass(frozen=True)
class LobbyKnocked(Event):
    request_id: int


@dataclass(frozen=True)
class LobbyResolved(Event):
    request_id: int
    channel: str
    # admitted, denied or cancelled
    status: str


Listener = Callable[[Event], None]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def unsubscribe(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def publish(event: Event) -> None:
    """Announce ``event`` once the current transaction commits (at once
    outside one). A failing listener is logged: the change has happened,
    and the others must still hear of it."""
    transaction.on_commit(lambda: _deliver(event))


def _deliver(event: Event) -> None:
    for listener in list(_listeners):
        try:
            listener(event)
        except Exception:
            log.exception("%s failed on %r", listener, event)
