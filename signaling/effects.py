"""From a domain event to the live meeting: the one path every change takes.

``meetings.events`` calls ``on_event`` after each commit, in the thread that
committed (a page, the admin, a WebSocket handler's database thread, the
presence sweep). Each effect reads what it needs, as it is now, then sends:
protocol messages to the browsers, ``conn.*`` news to the connections
concerned (which then act on their own state: see consumers.py), and the
media server the calls that concern no single live connection.

What the SFU forwards for a live participant is pushed by that
participant's own connection (``RoomConsumer.conn_refresh``), which holds
its media session; a participant without a connection has no peer to push
to, and gets the current rights when it joins again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from collections.abc import Awaitable, Callable

from asgiref.sync import SyncToAsync

from meetings import events as domain
from meetings import selectors
from meetings.models import ChatMessage, LobbyRequest, Participant, Room
from sfu.api import MediaError
from signaling import events, payloads
from signaling.bridge import get_media

log = logging.getLogger(__name__)

Send = Callable[[], Awaitable[None]]

# What the room is told of a departure (not_member reads as a removal).
LEFT_REASON = {"removed": "removed", "banned": "banned", "not_member": "removed"}


def on_event(event: domain.Event) -> None:
    effect = EFFECTS.get(type(event))
    if effect is not None:
        run(effect(event))


def run(sends: list[Send]) -> None:
    """Send, in order, from sync code, without waiting.

    The sends go to the event loop of this thread's async caller (a
    WebSocket handler's database thread, a page under daphne) and run there
    one batch after another, in the order of the commits. Blocking for them
    could hang forever: a loop that stops (a server shutting down) would
    never run them. Without a live loop (a management command) they run on
    a loop of their own, now.
    """
    if not sends:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        loop = _caller_loop()
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(_enqueue, sends)
        else:
            asyncio.run(_send_all(sends))
        return
    _enqueue(sends)


def _caller_loop() -> asyncio.AbstractEventLoop | None:
    """The loop of the async code that called this thread (asgiref's
    sync_to_async records it), if any."""
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    return getattr(SyncToAsync.threadlocal, "main_event_loop", None)


# One queue and one sender per event loop: batches go out in commit order.
_queues: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_senders: set[asyncio.Task] = set()


def _enqueue(sends: list[Send]) -> None:
    loop = asyncio.get_running_loop()
    queue = _queues.get(loop)
    if queue is None:
        queue = _queues[loop] = asyncio.Queue()
        sender = loop.create_task(_send_forever(queue))
        _senders.add(sender)
        sender.add_done_callback(_senders.discard)
    queue.put_nowait(sends)


async def _send_forever(queue: asyncio.Queue) -> None:
    while True:
        await _send_all(await queue.get())
        queue.task_done()


async def settled() -> None:
    """Wait until this loop has sent every batch queued so far (tests)."""
    queue = _queues.get(asyncio.get_running_loop())
    if queue is not None:
        await queue.join()


async def _send_all(sends: list[Send]) -> None:
    # One failed send (Redis hiccup, media server away) must not stop the rest.
    for send in sends:
        try:
            await send()
        except MediaError as exc:
            log.warning("media server: %s not applied: %s", send, exc)
        except Exception:
            log.exception("sending %s failed", send)


# The effects: each reads (sync, after the commit) and returns the sends.


def _participant_payload(participant: Participant) -> dict:
    room = Room.objects.get(pk=participant.room_id)
    role = selectors.roles_of(room=room, users=[participant.user])[participant.user_id]
    return payloads.participant(participant, role)


def _present(participant_id: int) -> Participant | None:
    return (
        Participant.objects.filter(
            pk=participant_id, left_at__isnull=True, removed=False
        )
        .select_related("user")
        .first()
    )


def room_changed(event: domain.RoomChanged) -> list[Send]:
    room = Room.objects.get(pk=event.room_id)
    update = {"type": "room_updated", "room": payloads.room(room)}
    return [
        lambda: events.broadcast(room.pk, update),
        # Capabilities follow the policy: every connection reads its own.
        lambda: events.to_group(
            events.room_group(room.pk), "conn.refresh", room_id=room.pk
        ),
    ]


def access_changed(event: domain.AccessChanged) -> list[Send]:
    sends = [
        lambda: events.to_group(
            events.user_group(event.user_id), "conn.refresh", room_id=event.room_id
        )
    ]
    present = (
        Participant.objects.filter(
            room_id=event.room_id,
            user_id=event.user_id,
            left_at__isnull=True,
            removed=False,
            meeting__ended_at__isnull=True,
        )
        .select_related("user")
        .first()
    )
    if present is not None:  # their role shows next to their name
        update = {
            "type": "participant_updated",
            "participant": _participant_payload(present),
        }
        sends.append(lambda: events.broadcast(event.room_id, update))
    return sends


def participant_joined(event: domain.ParticipantJoined) -> list[Send]:
    participant = _present(event.participant_id)
    if participant is None:
        return []
    kind = "participant_updated" if event.resumed else "participant_joined"
    message = {"type": kind, "participant": _participant_payload(participant)}
    return [
        lambda: events.to_connection(event.replaced_channel, "conn.replaced"),
        lambda: events.broadcast(
            event.room_id, message, exclude=participant.channel_name
        ),
    ]


def participant_changed(event: domain.ParticipantChanged) -> list[Send]:
    participant = _present(event.participant_id)
    if participant is None:
        return []
    update = {
        "type": "participant_updated",
        "participant": _participant_payload(participant),
    }
    return [lambda: events.broadcast(event.room_id, update)]


def media_stopped(event: domain.MediaStopped) -> list[Send]:
    channel = _channel_of(event.participant_id)
    return [lambda: events.to_connection(channel, "conn.stopped", kind=event.kind)]


def media_allowed(event: domain.MediaAllowed) -> list[Send]:
    channel = _channel_of(event.participant_id)
    return [lambda: events.to_connection(channel, "conn.allowed", kind=event.kind)]


def _channel_of(participant_id: int) -> str:
    return (
        Participant.objects.filter(pk=participant_id)
        .values_list("channel_name", flat=True)
        .first()
        or ""
    )


def participant_left(event: domain.ParticipantLeft) -> list[Send]:
    room_id, public_id = event.room_id, event.public_id
    sends = []
    if event.reason in LEFT_REASON:
        sends.append(
            lambda: events.to_connection(
                event.channel, "conn.removed", reason=event.reason
            )
        )
    message = {
        "type": "participant_left",
        "id": public_id,
        "reason": LEFT_REASON.get(event.reason, "left"),
    }
    sends.append(lambda: events.broadcast(room_id, message))
    sends.append(lambda: get_media().leave(room_id=room_id, participant_id=public_id))
    if event.meeting_ended:
        sends.append(lambda: get_media().close_room(room_id=room_id))
    return sends


def meeting_ended(event: domain.MeetingEnded) -> list[Send]:
    room_id, ended_by = event.room_id, event.ended_by
    sends = [
        lambda: events.to_group(
            events.room_group(room_id), "conn.meeting_ended", ended_by=ended_by
        ),
        *(
            (
                lambda channel=channel: events.to_connection(
                    channel, "conn.meeting_ended", ended_by=ended_by
                )
            )
            for channel in event.lobby_channels
        ),
        lambda: get_media().close_room(room_id=room_id),
    ]
    return sends


def chat_posted(event: domain.ChatPosted) -> list[Send]:
    message = ChatMessage.objects.filter(pk=event.message_id).first()
    if message is None:
        return []
    chat = {"type": "chat_message", "message": payloads.chat(message)}
    return [lambda: events.broadcast(event.room_id, chat, exclude=event.author_channel)]


def unmute_requested(event: domain.UnmuteRequested) -> list[Send]:
    participant = _present(event.participant_id)
    if participant is None:
        return []
    request = {
        "type": "unmute_requested",
        "participant_id": participant.public_id,
        "name": participant.display_name,
    }
    return [lambda: events.to_moderators(event.room_id, request)]


def lobby_knocked(event: domain.LobbyKnocked) -> list[Send]:
    request = LobbyRequest.objects.get(pk=event.request_id)
    message = {"type": "lobby_request", "request": payloads.lobby_request(request)}
    return [lambda: events.to_moderators(event.room_id, message)]


def lobby_resolved(event: domain.LobbyResolved) -> list[Send]:
    public_id = (
        LobbyRequest.objects.filter(pk=event.request_id)
        .values_list("public_id", flat=True)
        .first()
    )
    message = {
        "type": "lobby_resolved",
        "request_id": str(public_id),
        "status": event.status,
    }
    sends = [lambda: events.to_moderators(event.room_id, message)]
    verdict = {"admitted": "conn.admitted", "denied": "conn.denied"}
    if event.status in verdict:
        sends.append(lambda: events.to_connection(event.channel, verdict[event.status]))
    return sends


EFFECTS: dict[type, Callable[..., list[Send]]] = {
    domain.RoomChanged: room_changed,
    domain.AccessChanged: access_changed,
    domain.ParticipantJoined: participant_joined,
    domain.ParticipantChanged: participant_changed,
    domain.MediaStopped: media_stopped,
    domain.MediaAllowed: media_allowed,
    domain.ParticipantLeft: participant_left,
    domain.MeetingEnded: meeting_ended,
    domain.ChatPosted: chat_posted,
    domain.UnmuteRequested: unmute_requested,
    domain.LobbyKnocked: lobby_knocked,
    domain.LobbyResolved: lobby_resolved,
}
