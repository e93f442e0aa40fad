"""What the SFU holds: rooms, and in each the peers of its participants."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

from sfu.down import Downlink
from sfu.guard import CandidateCounter
from sfu.speaker import SpeakerDetector
from sfu.tracks import DownTrack, UpTrack
from sfu.up import Uplink

# Sources a subscriber is not even offered while they may not be forwarded:
# a screen tile appears only for a share people may see. A microphone or a
# camera that may not be forwarded stays offered, silent, so that lifting a
# moderator's stop needs no renegotiation.
WITHHELD_WHILE_BLOCKED = frozenset({"screen"})


@dataclass
class Peer:
    """One media session of a participant: ``up`` (the client publishes)
    and ``down`` (the SFU offers everyone else's tracks)."""

    id: str
    room: Room
    # Where the SFU's messages to this participant go, through ``deliver``.
    address: str
    down: RTCPeerConnection
    downlink: Downlink
    uplink: Uplink
    # Names this peer's offers; an answer must echo it. A reconnect makes a
    # new peer with a new session, so an answer to the old peer's offer (it
    # can arrive on the new connection) is recognised and dropped.
    session: str = ""
    # ICE candidates each connection has named (trickled and in SDP).
    up_candidates: CandidateCounter | None = None
    down_candidates: CandidateCounter | None = None
    negotiating: bool = False
    renegotiate: bool = False
    offer_scheduled: bool = False

    @property
    def up(self) -> RTCPeerConnection | None:
        return self.uplink.pc

    @property
    def published(self) -> dict[str, UpTrack]:
        return self.uplink.published

    @property
    def subscriptions(self) -> dict[str, tuple[RTCRtpTransceiver, DownTrack]]:
        return self.downlink.subscriptions


@dataclass
class Room:
    id: int
    peers: dict[str, Peer] = field(default_factory=dict)
    speakers: SpeakerDetector = field(default_factory=SpeakerDetector)
    speaker_task: asyncio.Task | None = None

    def tracks(self) -> list[UpTrack]:
        """Every live published track."""
        return [up for peer in self.peers.values() for up in peer.uplink.tracks()]

    def offered(self) -> list[UpTrack]:
        """The tracks subscribers are offered."""
        return [up for up in self.tracks() if is_offered(up)]


def is_offered(up: UpTrack) -> bool:
    """Do subscribers get an m-section for ``up``?"""
    return up.forwarding or up.source not in WITHHELD_WHILE_BLOCKED
