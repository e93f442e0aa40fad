"""The SFU: rooms of peers, each with an ``up`` connection (the client offers
and publishes, ``sfu.up``) and a ``down`` connection (the SFU offers
everyone else's tracks, ``sfu.down``). Only one side ever offers on each, so
offers never collide; adding or removing a subscription renegotiates
``down`` only.

``SFU`` implements ``sfu.api.MediaServer``, the contract signaling uses
(docs/protocol.md). Nothing here imports Django.
"""

from __future__ import annotations

import asyncio
import logging
import re

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.exceptions import InvalidStateError
from aiortc.sdp import candidate_from_sdp

from sfu.api import Deliver, MediaRejected
from sfu.down import Downlink
from sfu.forwarding import CODECS, install, prefer_codec
from sfu.guard import CandidatePolicy, Rejected, check_answer, check_offer
from sfu.ports import PortRange, PortsExhausted, RangedPeerConnection
from sfu.room import Peer, Room, is_offered
from sfu.tracks import UpTrack
from sfu.up import Uplink, msid_track_ids

log = logging.getLogger(__name__)

SPEAKER_TICK = 0.2
FORWARDING = ("frames", "packets")


class SFU:
    """Rooms of peers. One peer's failure stays its own: a connection that
    closes or fails takes its peer out of the room at once, and an error in
    one peer's negotiation drops that peer, never another's request.

    Every message to a participant goes out through ``deliver(address,
    message)``, with the address its ``join`` gave. Every refusal is a
    ``MediaRejected``, but for a full port range (``ports``): that is
    ``PortsExhausted``, a ``MediaUnavailable``.
    """

    def __init__(
        self,
        *,
        deliver: Deliver,
        ice_servers: list[RTCIceServer] | None = None,
        announced_address: str = "",
        candidate_policy: CandidatePolicy | None = None,
        ports: PortRange | None = None,
        forwarding: str = "frames",
    ) -> None:
        if forwarding not in FORWARDING:
            raise ValueError(f"forwarding must be one of {FORWARDING}")
        install()  # before the first connection: see sfu.consent
        self.deliver = deliver
        self.ice_servers = ice_servers or []
        # Which addresses clients may make the SFU send to (sfu.guard).
        self.candidate_policy = candidate_policy or CandidatePolicy.default()
        self.announced_address = announced_address
        # Where ICE host candidates bind (sfu.ports); None: ports the OS picks.
        self.ports = ports
        # "frames": aiortc assembles frames and re-packetises them
        # (sfu.forwarding); "packets": each RTP packet is rewritten per
        # subscriber and sent on (sfu.ingress, sfu.egress).
        self.forwarding = forwarding
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
        """A peer connection, bound to its ports already when the SFU has
        a range: raises ``PortsExhausted`` when the range is full."""
        configuration = RTCConfiguration(
            iceServers=self.ice_servers,
            # aiortc's default bundle policy mis-routes the second and later
            # m-lines of one kind; one transport for all is right. It is also
            # why a connection needs one port (per address), not one per track.
            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
        )
        if self.ports is None:
            pc = RTCPeerConnection(configuration)
        else:
            pc = RangedPeerConnection(configuration, ports=self.ports)
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
        self,
        *,
        room_id: int,
        participant_id: str,
        session: str,
        address: str,
        allowed: frozenset[str],
    ) -> None:
        """Add a participant; they will be offered everyone's tracks on
        ``down``, through ``deliver(address, …)``, and may publish
        ``allowed`` sources.

        A participant already here (a reconnect) is replaced. State changes
        happen before any ``await``: joins, leaves and publishes of several
        participants interleave, and none may see another half done.

        With a full port range this raises ``PortsExhausted`` and changes
        nothing (the ``down`` connection is made, and takes its port, first),
        but for a reconnect, whose earlier peer then gives its ports back.
        """
        try:
            down = self._new_pc()
        except PortsExhausted:
            replaced = self._find(room_id, participant_id)
            if replaced is None:
                raise
            # A reconnect in a full range: the peer it replaces holds ports
            # that it is about to give back. It goes first, then we try again.
            log.info("%s: its earlier peer gives its ports back", participant_id)
            self._remove_peer(replaced.room, replaced)
            await self._close_connections(replaced)
            down = self._new_pc()
        room = self.rooms.get(room_id)
        if room is None:
            room = self.rooms[room_id] = Room(id=room_id)
            room.speaker_task = asyncio.get_running_loop().create_task(
                self._speakers(room)
            )
        replaced = room.peers.get(participant_id)
        peer = Peer(
            id=participant_id,
            room=room,
            address=address,
            down=down,
            downlink=Downlink(down, participant_id, forwarding=self.forwarding),
            uplink=Uplink(
                participant_id, frozenset(allowed), forwarding=self.forwarding
            ),
            session=session,
            up_candidates=self.candidate_policy.counter(),
            down_candidates=self.candidate_policy.counter(),
        )
        self._watch(peer, down, "down")
        room.peers[participant_id] = peer
        if replaced is not None:
            self._remove_peer(room, replaced)  # after: the room is never empty
        for up in room.offered():
            self._subscribe(peer, up)
        if replaced is not None:
            await self._close_connections(replaced)
        if peer.subscriptions:
            await self._offer_down(peer)

    def _peer(self, room_id: int, participant_id: str) -> Peer:
        peer = self._find(room_id, participant_id)
        if peer is None:
            raise MediaRejected(f"{participant_id} has not joined room {room_id}")
        return peer

    def _find(self, room_id: int, participant_id: str) -> Peer | None:
        room = self.rooms.get(room_id)
        return room.peers.get(participant_id) if room else None

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
        for up in peer.uplink.close():
            self._withdraw(room, up, renegotiate=renegotiate)
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
        self,
        *,
        room_id: int,
        participant_id: str,
        sdp: str,
        screen_track_id: str = "",
        allowed: frozenset[str],
    ) -> str:
        """Apply the client's offer on ``up``; return the SFU's answer.

        ``allowed`` holds at once, for the tracks already published and for
        those of this offer, before any of them forwards a frame.
        """
        peer = self._peer(room_id, participant_id)
        self._set_allowed(peer, allowed)
        uplink = peer.uplink
        previous = uplink.pc.remoteDescription if uplink.pc is not None else None
        try:
            sdp = check_offer(
                sdp,
                policy=self.candidate_policy,
                counter=peer.up_candidates,
                previous=previous.sdp if previous is not None else None,
            )
        except Rejected as exc:
            raise MediaRejected(str(exc)) from exc
        if uplink.pc is None:
            uplink.pc = self._new_pc()  # PortsExhausted: no connection made
            self._watch(peer, uplink.pc, "up")
        up = uplink.pc
        try:
            await up.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            # No await from here to the reconciliation: new receivers are
            # tapped before aiortc starts them.
            for transceiver in up.getTransceivers():
                if transceiver.kind in CODECS:
                    prefer_codec(transceiver)
            if self._is_current(peer):
                self._reconcile(peer, screen_track_id, msid_track_ids(sdp))
            await up.setLocalDescription(await up.createAnswer())
        except InvalidStateError as exc:
            raise MediaRejected(f"{participant_id}'s connection has closed") from exc
        except PortsExhausted:
            raise  # binding a port for a second transport or a new address
        except Exception as exc:
            # The guard lets through only what aiortc takes; if it ever does
            # not, the sender alone hears of it.
            log.warning("%s: aiortc refused a checked offer", peer.id, exc_info=True)
            raise MediaRejected(f"unusable offer: {exc}") from exc
        if not self._is_current(peer):
            raise MediaRejected(f"{participant_id} left while publishing")
        return self._announce(up.localDescription.sdp)

    def _reconcile(
        self, peer: Peer, screen_track_id: str, track_ids: dict[str, str]
    ) -> None:
        """Publish what the offer sends anew, unpublish what it stopped."""
        ended, started = peer.uplink.reconcile(
            screen_track_id=screen_track_id, track_ids=track_ids
        )
        for up in ended:
            self._withdraw(peer.room, up)
        for up in started:
            if is_offered(up):
                self._offer_track(peer.room, up)

    def _offer_track(self, room: Room, up: UpTrack) -> None:
        """Subscribe everyone else to ``up``; they are offered the change."""
        # A copy: a subscriber that fails here leaves the room meanwhile.
        for other in list(room.peers.values()):
            if other.id != up.owner_id and self._subscribe(other, up):
                self._schedule_offer(other)

    def _withdraw(self, room: Room, up: UpTrack, *, renegotiate: bool = True) -> None:
        """End everyone's subscription to ``up``; they are offered the change."""
        for other in room.peers.values():
            if other.downlink.unsubscribe(up) and renegotiate:
                self._schedule_offer(other)

    # What may be forwarded

    async def set_allowed(
        self, *, room_id: int, participant_id: str, allowed: frozenset[str]
    ) -> None:
        """Forward only these sources of the participant, from now on. A
        participant the SFU does not know is ignored (``join`` and
        ``publish`` carry the set too)."""
        peer = self._find(room_id, participant_id)
        if peer is not None:
            self._set_allowed(peer, allowed)

    def _set_allowed(self, peer: Peer, allowed: frozenset[str]) -> None:
        for up in peer.uplink.set_allowed(allowed):
            # A withheld source appears or goes for the subscribers too.
            if not is_offered(up):
                self._withdraw(peer.room, up)
            elif up.forwarding:
                self._offer_track(peer.room, up)

    async def end_share(self, *, room_id: int, participant_id: str) -> None:
        """A moderator stopped the participant's screen share: it ends for
        everyone now, and what the client goes on sending on it is never
        forwarded. The client's next share (once an offer has stopped
        sending on that transceiver, or on a new one) is forwarded if
        allowed. A participant the SFU does not know is ignored."""
        peer = self._find(room_id, participant_id)
        if peer is None:
            return
        up = peer.uplink.end_share()
        if up is not None:
            log.info("%s: the screen share was ended by a moderator", peer.id)
            self._withdraw(peer.room, up)

    def forwarded_sources(self, room_id: int, participant_id: str) -> frozenset[str]:
        """Sources of the participant's live tracks that forward what they
        receive now (allowed, and not an ended share)."""
        peer = self._find(room_id, participant_id)
        return peer.uplink.forwarded() if peer is not None else frozenset()

    def allowed_sources(
        self, room_id: int, participant_id: str
    ) -> frozenset[str] | None:
        """What the participant may publish; None for one the SFU does not
        know."""
        peer = self._find(room_id, participant_id)
        return peer.uplink.allowed if peer is not None else None

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
            await self.deliver(
                peer.address,
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
            raise MediaRejected("no down offer is waiting for an answer")
        try:
            sdp = check_answer(
                sdp,
                offer=peer.down.localDescription.sdp,
                policy=self.candidate_policy,
                counter=peer.down_candidates,
            )
        except Rejected as exc:
            raise MediaRejected(str(exc)) from exc
        try:
            await peer.down.setRemoteDescription(
                RTCSessionDescription(sdp=sdp, type="answer")
            )
        except InvalidStateError as exc:
            raise MediaRejected(f"{participant_id}'s connection has closed") from exc
        except Exception as exc:
            log.warning("%s: aiortc refused a checked answer", peer.id, exc_info=True)
            raise MediaRejected(f"unusable answer: {exc}") from exc
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
            raise MediaRejected("a candidate needs sdp_mid or sdp_mline_index")
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
            raise MediaRejected(str(exc)) from exc
        except Exception as exc:
            log.warning(
                "%s: aiortc refused a checked candidate", peer.id, exc_info=True
            )
            raise MediaRejected(f"unusable candidate: {exc}") from exc
        parsed.sdpMid = sdp_mid
        parsed.sdpMLineIndex = sdp_mline_index
        try:
            await connection.addIceCandidate(parsed)
        except InvalidStateError as exc:
            raise MediaRejected(f"{participant_id}'s connection has closed") from exc
        except Exception as exc:  # e.g. a mid that names no m-section
            raise MediaRejected(f"unusable candidate: {exc}") from exc

    # Speakers and statistics

    async def _speakers(self, room: Room) -> None:
        while True:
            await asyncio.sleep(SPEAKER_TICK)
            levels = [
                (up.owner_id, up.audio_level, up.level_at)
                for up in room.tracks()
                if up.source == "mic" and up.forwarding
            ]
            speaker = room.speakers.tick(levels)
            if speaker is not None:
                message = {"type": "active_speaker", "participant_id": speaker}
                for peer in list(room.peers.values()):
                    try:
                        await self.deliver(peer.address, message)
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
