"""The SFU: rooms of peers, each with an ``up`` connection (the client offers
and publishes) and a ``down`` connection (the SFU offers everyone else's
tracks). Only one side ever offers on each, so offers never collide; adding
or removing a subscription renegotiates ``down`` only.

The API (``join``, ``publish``, ``answer``, ``candidate``, ``set_muted``,
``leave``, ``close_room``, ``stats``) is documented in docs/protocol.md
and used by signaling through a bridge. Nothing here imports Django.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.exceptions import InvalidStateError
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from aiortc.sdp import candidate_from_sdp

from sfu.down import Downlink
from sfu.forwarding import CODECS, install, tap_receiver
from sfu.forwarding import prefer_codec as _prefer_codec
from sfu.guard import (
    CandidateCounter,
    CandidatePolicy,
    Rejected,
    check_answer,
    check_offer,
)
from sfu.speaker import SpeakerDetector
from sfu.tracks import DownTrack, UpTrack

log = logging.getLogger(__name__)

# deliver(participant_id, message): a protocol message to one participant.
Deliver = Callable[[str, dict], Awaitable[None]]

SPEAKER_TICK = 0.2


class SfuError(Exception):
    """A request the SFU cannot honour (unknown room or peer, bad SDP)."""


def msid_track_ids(sdp: str) -> dict[str, str]:
    """The msid track id of each m-section, by mid.

    aiortc takes a track id from ``a=msid`` only when the stream is listed in
    ``a=msid-semantic: WMS``, and Chrome lists only some of its streams there
    (a screen share's stream is left out), so the SFU reads them itself.
    """
    ids: dict[str, str] = {}
    for section in sdp.split("\nm=")[1:]:
        mid = track_id = ""
        for line in section.splitlines():
            if line.startswith("a=mid:"):
                mid = line[len("a=mid:") :].strip()
            elif line.startswith("a=msid:") and " " in line:
                track_id = line.split()[1]
        if mid and track_id:
            ids[mid] = track_id
    return ids


@dataclass
class Peer:
    id: str
    room: Room
    deliver: Deliver
    down: RTCPeerConnection
    downlink: Downlink
    up: RTCPeerConnection | None = None
    screen_track_id: str = ""
    up_track_ids: dict[str, str] = field(default_factory=dict)  # by mid
    published: dict[str, UpTrack] = field(default_factory=dict)  # by source
    muted: set[str] = field(default_factory=set)  # enforced: audio, video, screen
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
    def subscriptions(self) -> dict[str, tuple[RTCRtpTransceiver, DownTrack]]:
        return self.downlink.subscriptions


@dataclass
class Room:
    id: int
    peers: dict[str, Peer] = field(default_factory=dict)
    speakers: SpeakerDetector = field(default_factory=SpeakerDetector)
    speaker_task: asyncio.Task | None = None

    def tracks(self) -> list[UpTrack]:
        return [
            t for p in self.peers.values() for t in p.published.values() if not t.ended
        ]


class SFU:
    """Rooms of peers. One peer's failure stays its own: a connection that
    closes or fails takes its peer out of the room at once, and an error in
    one peer's negotiation drops that peer, never another's request."""

    def __init__(
        self,
        *,
        ice_servers: list[RTCIceServer] | None = None,
        announced_address: str = "",
        candidate_policy: CandidatePolicy | None = None,
    ) -> None:
        install()  # before the first connection: see sfu.consent
        self.ice_servers = ice_servers or []
        # Which addresses clients may make the SFU send to (sfu.guard).
        self.candidate_policy = candidate_policy or CandidatePolicy.default()
        self.announced_address = announced_address
        self.rooms: dict[int, Room] = {}
        self.peer_connections: set[RTCPeerConnection] = set()
        # Tasks started from event callbacks: held so they are not collected.
        self._tasks: set[asyncio.Task] = set()

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # Lifecycle

    def _new_pc(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(
            RTCConfiguration(
                iceServers=self.ice_servers,
                # aiortc's default bundle policy mis-routes the second and
                # later m-lines of one kind; one transport for all is right.
                bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
            )
        )
        self.peer_connections.add(pc)
        return pc

    def _watch(self, peer: Peer, pc: RTCPeerConnection, name: str) -> None:
        """Take ``peer`` out of its room as soon as ``pc`` closes or fails.

        A closed tab closes its connections (or they fail when consent
        expires) long before signaling gives up on the participant; until
        then nobody may subscribe through, or offer on, a dead connection.
        aiortc marks a closing connection's signaling state ``closed`` first
        and its connection state only once it has stopped, so both count.
        """

        def on_signaling_state() -> None:
            if pc.signalingState == "closed":
                self._lost(peer, f"{name} connection closed")

        def on_connection_state() -> None:
            state = pc.connectionState
            log.info("%s %s connectionState %s", peer.id, name, state)
            if state in ("failed", "closed"):
                self._lost(peer, f"{name} connection {state}")
            if state == "closed":
                self.peer_connections.discard(pc)

        # Plain functions, run as the state changes (a coroutine would run
        # later, when the state may have moved on).
        pc.on("signalingstatechange", on_signaling_state)
        pc.on("connectionstatechange", on_connection_state)

    def _lost(self, peer: Peer, why: str) -> None:
        # A peer that has left or was replaced is being closed already.
        if self._is_current(peer):
            log.warning("%s: %s; out of room %s", peer.id, why, peer.room.id)
            self._drop(peer)

    def _drop(self, peer: Peer) -> None:
        """Take ``peer`` out of its room now and close its connections. The
        participant is without media until signaling joins it again."""
        self._remove_peer(peer.room, peer)
        self._spawn(self._close_connections(peer))

    async def join(
        self, *, room_id: int, participant_id: str, session: str, deliver: Deliver
    ) -> None:
        """Add a participant; they will be offered everyone's tracks on ``down``.

        A participant already here (a reconnect) is replaced. State changes
        happen before any ``await``: joins, leaves and publishes of several
        participants interleave, and none may see another half done.
        """
        room = self.rooms.get(room_id)
        if room is None:
            room = self.rooms[room_id] = Room(id=room_id)
            room.speaker_task = asyncio.get_running_loop().create_task(
                self._speakers(room)
            )
        replaced = room.peers.get(participant_id)
        down = self._new_pc()
        peer = Peer(
            id=participant_id,
            room=room,
            deliver=deliver,
            down=down,
            downlink=Downlink(down, participant_id),
            session=session,
            up_candidates=self.candidate_policy.counter(),
            down_candidates=self.candidate_policy.counter(),
        )
        self._watch(peer, down, "down")
        room.peers[participant_id] = peer
        if replaced is not None:
            self._remove_peer(room, replaced)  # after: the room is never empty
        for up in room.tracks():
            self._subscribe(peer, up)
        if replaced is not None:
            await self._close_connections(replaced)
        if peer.subscriptions:
            await self._offer_down(peer)

    def _peer(self, room_id: int, participant_id: str) -> Peer:
        room = self.rooms.get(room_id)
        peer = room.peers.get(participant_id) if room else None
        if peer is None:
            raise SfuError(f"{participant_id} has not joined room {room_id}")
        return peer

    async def leave(self, *, room_id: int, participant_id: str) -> None:
        room = self.rooms.get(room_id)
        peer = room.peers.get(participant_id) if room else None
        if peer is None:
            return
        self._remove_peer(room, peer)
        await self._close_connections(peer)

    async def close_room(self, *, room_id: int) -> None:
        room = self.rooms.get(room_id)
        if room is None:
            return
        self._end_room(room)
        peers = list(room.peers.values())
        for peer in peers:
            self._remove_peer(room, peer, renegotiate=False)
        for peer in peers:
            await self._close_connections(peer)

    async def close(self) -> None:
        """Close every room and peer connection (process shutdown)."""
        for room_id in list(self.rooms):
            await self.close_room(room_id=room_id)
        for pc in list(self.peer_connections):
            await pc.close()
        self.peer_connections.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _end_room(self, room: Room) -> None:
        if self.rooms.get(room.id) is room:
            del self.rooms[room.id]
        if room.speaker_task:
            room.speaker_task.cancel()

    def _remove_peer(self, room: Room, peer: Peer, *, renegotiate: bool = True) -> None:
        """Take ``peer`` out of the room at once: its tracks end for the
        others, its subscriptions stop. Its connections are closed after.
        The last one out ends the room."""
        if room.peers.get(peer.id) is peer:
            del room.peers[peer.id]
        room.speakers.forget(peer.id)
        for up in list(peer.published.values()):
            self._unpublish(room, up, renegotiate=renegotiate)
        peer.published.clear()
        peer.downlink.stop()
        if not room.peers:
            self._end_room(room)

    async def _close_connections(self, peer: Peer) -> None:
        for pc in (peer.up, peer.down):
            if pc is None:
                continue
            try:
                await pc.close()
            except Exception:  # one bad close must not keep the rest open
                log.exception("%s: closing a connection", peer.id)
            self.peer_connections.discard(pc)

    def _is_current(self, peer: Peer) -> bool:
        """False once ``peer`` has left or been replaced by a reconnect."""
        return peer.room.peers.get(peer.id) is peer

    # Publishing (up)

    async def publish(
        self, *, room_id: int, participant_id: str, sdp: str, screen_track_id: str = ""
    ) -> str:
        """Apply the client's offer on ``up``; return the SFU's answer."""
        peer = self._peer(room_id, participant_id)
        previous = peer.up.remoteDescription if peer.up is not None else None
        try:
            sdp = check_offer(
                sdp,
                policy=self.candidate_policy,
                counter=peer.up_candidates,
                previous=previous.sdp if previous is not None else None,
            )
        except Rejected as exc:
            raise SfuError(str(exc)) from exc
        peer.screen_track_id = screen_track_id
        peer.up_track_ids = msid_track_ids(sdp)
        if peer.up is None:
            peer.up = self._new_pc()
            self._watch(peer, peer.up, "up")
            peer.up.on("track", lambda track: self._on_up_track(peer, track))
        up = peer.up
        try:
            await up.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            for transceiver in up.getTransceivers():
                if transceiver.kind in CODECS:
                    _prefer_codec(transceiver)
            if self._is_current(peer):
                self._end_unsent_tracks(peer)
            await up.setLocalDescription(await up.createAnswer())
        except InvalidStateError as exc:
            raise SfuError(f"{participant_id}'s connection has closed") from exc
        except Exception as exc:
            # The guard lets through only what aiortc takes; if it ever does
            # not, the sender alone hears of it.
            log.warning("%s: aiortc refused a checked offer", peer.id, exc_info=True)
            raise SfuError(f"unusable offer: {exc}") from exc
        if not self._is_current(peer):
            raise SfuError(f"{participant_id} left while publishing")
        return self._announce(up.localDescription.sdp)

    def _on_up_track(self, peer: Peer, track) -> None:
        if not self._is_current(peer):
            return  # replaced while its offer was being applied
        transceiver = next(
            t for t in peer.up.getTransceivers() if t.receiver.track is track
        )
        receiver = transceiver.receiver
        track_id = peer.up_track_ids.get(transceiver.mid, track.id)
        if track.kind == "audio":
            source = "mic"
        else:
            source = "screen" if track_id == peer.screen_track_id else "cam"
        old = peer.published.get(source)
        if old is not None and not old.ended:
            self._unpublish(peer.room, old)
        up = UpTrack(
            owner_id=peer.id,
            kind=track.kind,
            source=source,
            send_pli=receiver._send_rtcp_pli,
        )
        up.receiver = receiver
        up.muted = self._kind_of(source) in peer.muted
        tap_receiver(
            receiver,
            kind=track.kind,
            on_frame=up.on_frame,
            on_packet=up.on_packet,
            on_loss=up.on_loss,
        )
        peer.published[source] = up
        log.info("%s publishes %s", peer.id, up.id)
        # A copy: a subscriber that fails here leaves the room meanwhile.
        for other in list(peer.room.peers.values()):
            if other is not peer and self._subscribe(other, up):
                self._schedule_offer(other)

    def _end_unsent_tracks(self, peer: Peer) -> None:
        """Tracks the client stopped sending (e.g. a screen share ended)."""
        for transceiver in peer.up.getTransceivers():
            direction = getattr(transceiver, "_offerDirection", None)
            if direction in ("recvonly", "sendrecv"):
                continue
            for up in list(peer.published.values()):
                if getattr(up, "receiver", None) is transceiver.receiver:
                    self._unpublish(peer.room, up)

    def _unpublish(self, room: Room, up: UpTrack, *, renegotiate: bool = True) -> None:
        """End ``up`` for everyone; subscribers are offered the change."""
        owner = room.peers.get(up.owner_id)
        if owner is not None and owner.published.get(up.source) is up:
            del owner.published[up.source]
        up.end()
        for other in room.peers.values():
            if other.downlink.unsubscribe(up) and renegotiate:
                self._schedule_offer(other)

    # Subscribing (down)

    def _subscribe(self, peer: Peer, up: UpTrack) -> bool:
        """Subscribe ``peer`` to ``up``; True if its down offer must change.
        If that fails, ``peer`` alone pays: it is dropped, and the caller (a
        publisher, a joiner) carries on."""
        if up.id in peer.subscriptions or up.owner_id == peer.id:
            return False
        try:
            peer.downlink.subscribe(up)
        except Exception:
            log.exception("%s: cannot subscribe to %s; dropped", peer.id, up.id)
            self._drop(peer)
            return False
        return True

    def _schedule_offer(self, peer: Peer) -> None:
        """Offer once for all the tracks subscribed in this turn of the event
        loop (a publisher's microphone and camera arrive together): one
        round trip instead of an offer per track."""
        if peer.offer_scheduled:
            return
        peer.offer_scheduled = True

        async def offer() -> None:
            peer.offer_scheduled = False
            await self._offer_down(peer)

        self._spawn(offer())

    async def _offer_down(self, peer: Peer) -> None:
        """Offer ``peer`` its down connection as it is now. Never raises: a
        peer that cannot be offered to (its connection or signaling is gone)
        is dropped, and whoever caused the offer is not disturbed."""
        if not self._is_current(peer):
            return
        if peer.negotiating:
            peer.renegotiate = True
            return
        peer.negotiating, peer.renegotiate = True, False
        try:
            offer = await peer.down.createOffer()
            peer.downlink.offered()
            await peer.down.setLocalDescription(offer)
            log.info("%s is offered %s", peer.id, sorted(peer.subscriptions))
            if not self._is_current(peer):
                return  # replaced while the offer was made: the new peer gets its own
            await peer.deliver(
                peer.id,
                {
                    "type": "sfu_offer",
                    "pc": "down",
                    "sdp": self._announce(peer.down.localDescription.sdp),
                    "session": peer.session,
                },
            )
        except Exception:
            if self._is_current(peer):
                log.exception("%s: the down offer failed; dropped", peer.id)
                self._drop(peer)
            else:
                log.info("%s: offer abandoned, the peer has gone", peer.id)

    async def answer(
        self, *, room_id: int, participant_id: str, sdp: str, session: str
    ) -> None:
        """The client's answer to our ``down`` offer, made in ``session``."""
        peer = self._peer(room_id, participant_id)
        if session != peer.session:
            # It answers an offer to this participant's previous peer: the
            # m-sections might even line up, and would then be wrongly applied.
            log.info("%s: dropped an answer from an earlier session", peer.id)
            return
        if peer.down.signalingState != "have-local-offer":
            raise SfuError("no down offer is waiting for an answer")
        try:
            sdp = check_answer(
                sdp,
                offer=peer.down.localDescription.sdp,
                policy=self.candidate_policy,
                counter=peer.down_candidates,
            )
        except Rejected as exc:
            raise SfuError(str(exc)) from exc
        try:
            await peer.down.setRemoteDescription(
                RTCSessionDescription(sdp=sdp, type="answer")
            )
        except InvalidStateError as exc:
            raise SfuError(f"{participant_id}'s connection has closed") from exc
        except Exception as exc:
            log.warning("%s: aiortc refused a checked answer", peer.id, exc_info=True)
            raise SfuError(f"unusable answer: {exc}") from exc
        peer.negotiating = False
        declined = peer.downlink.answered()
        if declined:
            # The browser refused these m-sections: nothing will flow on them.
            log.warning("%s answered, declining %s", peer.id, sorted(declined))
        else:
            log.info("%s answered", peer.id)
        if peer.renegotiate:
            await self._offer_down(peer)

    async def candidate(
        self,
        *,
        room_id: int,
        participant_id: str,
        pc: str,
        candidate: str,
        sdp_mid: str | None,
        sdp_mline_index: int | None,
    ) -> None:
        peer = self._peer(room_id, participant_id)
        connection = peer.up if pc == "up" else peer.down
        if connection is None or not candidate:
            return  # end of candidates, or before the offer: nothing to do
        if sdp_mid is None and sdp_mline_index is None:
            raise SfuError("a candidate needs sdp_mid or sdp_mline_index")
        counter = peer.up_candidates if pc == "up" else peer.down_candidates
        try:
            refusal = self.candidate_policy.refusal(candidate)
            if refusal is not None:
                # What real browsers send too (mDNS names, their LAN): the
                # SFU never sends there, and learns the browser's address
                # from its connectivity checks instead.
                log.info("%s %s: candidate dropped: %s", peer.id, pc, refusal)
                return
            counter.take(candidate)
            parsed = candidate_from_sdp(candidate.removeprefix("candidate:"))
        except Rejected as exc:
            raise SfuError(str(exc)) from exc
        except Exception as exc:
            log.warning(
                "%s: aiortc refused a checked candidate", peer.id, exc_info=True
            )
            raise SfuError(f"unusable candidate: {exc}") from exc
        parsed.sdpMid = sdp_mid
        parsed.sdpMLineIndex = sdp_mline_index
        try:
            await connection.addIceCandidate(parsed)
        except InvalidStateError as exc:
            raise SfuError(f"{participant_id}'s connection has closed") from exc
        except Exception as exc:  # e.g. a mid that names no m-section
            raise SfuError(f"unusable candidate: {exc}") from exc

    # Moderation

    @staticmethod
    def _kind_of(source: str) -> str:
        return {"mic": "audio", "cam": "video", "screen": "screen"}[source]

    async def set_muted(
        self, *, room_id: int, participant_id: str, kind: str, muted: bool
    ) -> None:
        """Enforce a moderator's mute: that media is not forwarded."""
        peer = self._peer(room_id, participant_id)
        (peer.muted.add if muted else peer.muted.discard)(kind)
        for up in peer.published.values():
            if self._kind_of(up.source) == kind:
                up.set_muted(muted)

    # Speakers and statistics

    async def _speakers(self, room: Room) -> None:
        while True:
            await asyncio.sleep(SPEAKER_TICK)
            levels = [
                (up.owner_id, up.audio_level, up.level_at)
                for up in room.tracks()
                if up.source == "mic" and not up.muted
            ]
            speaker = room.speakers.tick(levels)
            if speaker is not None:
                message = {"type": "active_speaker", "participant_id": speaker}
                for peer in list(room.peers.values()):
                    try:
                        await peer.deliver(peer.id, message)
                    except Exception:  # one unreachable peer must not stop the others
                        log.exception("active speaker to %s", peer.id)

    def stats(self) -> dict:
        """What the SFU holds: rooms, open peer connections, pending tasks,
        each room's peers (with the state of their connections and the size
        of their last down offer) and frames in and out per track."""
        return {
            "rooms": len(self.rooms),
            "peer_connections": len(self.peer_connections),
            "tasks": len(self._tasks),
            "peers": {
                room.id: {
                    peer.id: self._peer_stats(peer) for peer in room.peers.values()
                }
                for room in self.rooms.values()
            },
            "tracks": {
                up.id: {
                    "in": up.frames_in,
                    "out": up.frames_out,
                    "subscribers": len(up.subscribers),
                }
                for room in self.rooms.values()
                for up in room.tracks()
            },
        }

    @staticmethod
    def _peer_stats(peer: Peer) -> dict:
        return {
            "up": peer.up.connectionState if peer.up else None,
            "down": peer.down.connectionState,
            "published": sorted(up.id for up in peer.published.values()),
            **peer.downlink.stats(),
        }

    def _announce(self, sdp: str) -> str:
        """Put the announced public address in host candidates (1:1 NAT)."""
        if not self.announced_address:
            return sdp
        return re.sub(
            r"^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ host)",
            rf"\g<1>{self.announced_address}\g<3>",
            sdp,
            flags=re.MULTILINE,
        )
