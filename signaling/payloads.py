"""How rooms, participants, chat and lobby requests look on the wire."""

from __future__ import annotations

from meetings.models import ChatMessage, LobbyRequest, Participant, Role, Room


def participant(p: Participant, role: Role | str) -> dict:
    return {
        "id": p.public_id,
        "name": p.display_name,
        "role": str(role),
        "audio": p.audio_on,
        "video": p.video_on,
        "screen": p.screen_on,
        "hand": p.hand_raised,
        "audio_hard_muted": p.audio_hard_muted,
        "video_hard_muted": p.video_hard_muted,
        "connected": bool(p.channel_name),
        "guest": p.user.is_guest,
    }


def room(r: Room) -> dict:
    return {
        "slug": r.slug,
        "name": r.name,
        "locked": r.is_locked,
        "lobby": r.lobby_enabled,
        "chat": r.chat_enabled,
        "max_participants": r.max_participants,
    }


def chat(m: ChatMessage) -> dict:
    return {
        "id": m.pk,
        "author": m.author_name,
        "text": m.body,
        "sent_at": m.created_at.isoformat(),
    }


def lobby_request(r: LobbyRequest) -> dict:
    return {
        "id": r.public_id,
        "name": r.display_name,
        "since": r.created_at.isoformat(),
    }
