"""Every channel-layer message Parley sends goes through here.

Two kinds travel:

- ``room.message``: a protocol message for the browsers of a room (or of
  its moderators), passed on as it is;
- ``conn.*`` and ``media.*``: news for one connection about its own
  situation (removed, refreshed rights, a message from the SFU…). Channels
  dispatches each type to the consumer method of the same name
  (``conn.removed`` → ``RoomConsumer.conn_removed``).

Group names derive from ids, so they are ASCII and short whatever the room
is called.
"""

from __future__ import annotations

import secrets

from channels.layers import get_channel_layer

# Names this server process: its connections form a group, so that news
# that concerns every connection here (the media server went away or came
# back) reaches each one once.
_PROCESS = secrets.token_hex(8)


def room_group(room_id: int) -> str:
    return f"room.{room_id}"


def moderators_group(room_id: int) -> str:
    return f"room.{room_id}.moderators"


def process_group() -> str:
    return f"process.{_PROCESS}"


def user_group(user_id: int) -> str:
    """Every connection of one user, in any room."""
    return f"user.{user_id}"


async def broadcast(room_id: int, payload: dict, *, exclude: str = "") -> None:
    """To everyone in the meeting (``exclude``: a channel that already knows)."""
    await get_channel_layer().group_send(
        room_group(room_id),
        {"type": "room.message", "payload": payload, "exclude": exclude},
    )


async def to_moderators(room_id: int, payload: dict) -> None:
    await get_channel_layer().group_send(
        moderators_group(room_id),
        {"type": "room.message", "payload": payload, "exclude": ""},
    )


async def to_connection(channel_name: str, event_type: str, /, **data: object) -> None:
    """Tell one connection of a change in its own situation (``conn.*``)."""
    if channel_name:
        await get_channel_layer().send(channel_name, {"type": event_type, **data})


async def to_group(group: str, event_type: str, /, **data: object) -> None:
    """Tell every connection of a group (a room's, a user's, a session's)."""
    await get_channel_layer().group_send(group, {"type": event_type, **data})


async def relay(channel_name: str, message: dict) -> None:
    """The SFU's way to one browser: by its connection's channel name, which
    the SFU was given when the participant joined (no lookup per message)."""
    await to_connection(channel_name, "media.message", message=message)
