"""Every channel-layer message Parley sends goes through here.

Callers send only after the database commit (the services return first), so
no one hears of a change that did not happen. Group names derive from ids, so
they are ASCII and short whatever the room is called.
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


async def control(channel_name: str, action: str, **data: object) -> None:
    """Tell one connection to change its own state (removed, admitted, …)."""
    if channel_name:
        await get_channel_layer().send(
            channel_name, {"type": "room.control", "action": action, "data": data}
        )


async def control_all(room_id: int, action: str, **data: object) -> None:
    await get_channel_layer().group_send(
        room_group(room_id), {"type": "room.control", "action": action, "data": data}
    )


async def control_group(group: str, action: str, **data: object) -> None:
    """Tell every connection of a group (a user's, a session's)."""
    await get_channel_layer().group_send(
        group, {"type": "room.control", "action": action, "data": data}
    )
