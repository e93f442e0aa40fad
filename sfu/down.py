"""A subscriber's ``down`` connection: which m-section carries which track.

Browsers recycle m-sections, and so does the SFU: when a subscription ends
its m-section is offered ``inactive``; once the subscriber has answered that
offer (its browser has ended the track), the next track of the same kind
takes the m-section over, with the same mid, sender and SSRC and a new msid.
A subscriber's offer so stays as long as the tracks live at once need,
however many people come and go, and no m-section keeps a departed
publisher's objects alive.

Waiting for the ``inactive`` answer matters: the browser fires a new
``track`` event only when an m-section starts receiving again, so a track
switched in place (sendonly to sendonly) would never be shown.

aiortc cannot restart a sender, so each m-section's sender reads a DownSlot
for its whole life, and the SFU binds the slot to the current subscription.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from aiortc import RTCPeerConnection
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

from sfu.egress import PacketSlot
from sfu.forwarding import prefer_codec, tap_sender
from sfu.tracks import DownSlot, DownTrack, UpTrack

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Slot:
    """One m-section of a down connection."""

    transceiver: RTCRtpTransceiver
    track: DownSlot
    down: DownTrack | None = None  # the subscription it carries, if any
    subscriptions: int = 0  # how many it has carried: names the current one
    # The subscription named in the offer awaiting an answer, if any: only
    # an answer to an offer naming it may start sending it, and the slot is
    # not reused until that answer has come.
    offered: int | None = None
    announced: bool = False  # in an offer yet

    @property
    def kind(self) -> str:
        return self.transceiver.kind

    @property
    def reusable(self) -> bool:
        """Free, and never offered, or ended on the subscriber's side and
        not named in an offer still unanswered."""
        return (
            self.down is None
            and self.track.readyState == "live"
            and self.offered is None
            and (not self.announced or self.transceiver.currentDirection == "inactive")
        )

    def name(self, stream_id: str, track_id: str) -> None:
        # aiortc writes these into the m-section's a=msid line.
        self.transceiver.sender._stream_id = stream_id
        self.transceiver.sender._track_id = track_id


class Downlink:
    """The m-sections of one subscriber's ``down`` connection."""

    def __init__(
        self, pc: RTCPeerConnection, subscriber_id: str, *, forwarding: str = "frames"
    ) -> None:
        self.pc = pc
        self.subscriber_id = subscriber_id
        # "frames" (aiortc packetises them) or "packets" (sfu.egress).
        self.forwarding = forwarding
        self.slots: list[Slot] = []
        # By track id: the transceiver carrying it and the subscription.
        self.subscriptions: dict[str, tuple[RTCRtpTransceiver, DownTrack]] = {}

    def subscribe(self, up: UpTrack) -> None:
        """Give ``up`` an m-section: a reusable one, or a new one."""
        slot = next((s for s in self.slots if s.kind == up.kind and s.reusable), None)
        if slot is None:
            slot = self._add_slot(up.kind)
        else:
            log.info(
                "%s: %s reuses mid %s", self.subscriber_id, up.id, slot.transceiver.mid
            )
        down = DownTrack(up, subscriber_id=self.subscriber_id)
        if isinstance(slot.track, PacketSlot):
            down.outbound = slot.track.outbound
        slot.down = down
        slot.subscriptions += 1
        slot.name(up.stream_id, up.id)
        slot.transceiver.direction = "sendonly"
        self.subscriptions[up.id] = (slot.transceiver, down)
        up.subscribe(down)

    def _add_slot(self, kind: str) -> Slot:
        packets = self.forwarding == "packets"
        track = PacketSlot(kind) if packets else DownSlot(kind)
        transceiver = self.pc.addTransceiver(track, direction="sendonly")
        prefer_codec(transceiver)
        if isinstance(track, PacketSlot):
            track.attach(transceiver)
        packer = tap_sender(
            transceiver.sender, kind=kind, on_keyframe_request=track.request_keyframe
        )
        track.on_switch = packer.rebase
        slot = Slot(transceiver=transceiver, track=track)
        self.slots.append(slot)
        return slot

    def unsubscribe(self, up: UpTrack) -> bool:
        """End the subscription to ``up``; True if there was one to end.

        The same id may already belong to the track's successor (a
        republish, a reconnect): only this track's subscription ends.
        """
        entry = self.subscriptions.get(up.id)
        if entry is None or entry[1].up is not up:
            return False
        del self.subscriptions[up.id]
        slot = next(s for s in self.slots if s.down is entry[1])
        self._free(slot)
        return True

    def _free(self, slot: Slot) -> None:
        down, slot.down = slot.down, None
        if slot.track.down is down:
            slot.track.unbind()
        if down is not None:
            down.stop()
        slot.transceiver.direction = "inactive"
        # The m-section stays in the SDP; its msid must not clash with the
        # same source published again (browsers reject duplicate msids).
        slot.name(f"ended-{uuid.uuid4().hex}", f"ended-{uuid.uuid4().hex}")

    def offered(self) -> None:
        """An offer was just made from the m-sections as they are now."""
        for slot in self.slots:
            slot.announced = True
            slot.offered = slot.subscriptions if slot.down is not None else None

    def answered(self) -> list[str]:
        """The subscriber answered that offer: start sending what it accepted;
        return the ids of the tracks it declined."""
        declined = []
        for slot in self.slots:
            offered, slot.offered = slot.offered, None
            if slot.down is None or offered != slot.subscriptions:
                continue  # changed since the offer: the next offer names it
            if slot.transceiver.currentDirection == "sendonly":
                slot.track.bind(slot.down)
            else:
                declined.append(slot.down.up.id)
        return declined

    def stop(self) -> None:
        """End every subscription (the subscriber is leaving)."""
        for slot in self.slots:
            if slot.down is not None:
                slot.down.stop()
            slot.down = None
            slot.track.stop()
        self.subscriptions.clear()

    def stats(self) -> dict:
        description = self.pc.localDescription
        return {
            "subscriptions": len(self.subscriptions),
            "m_sections": len(self.slots),
            "offer_bytes": len(description.sdp) if description else 0,
            # Per down track on the packet path: what went out, and what the
            # subscriber says it received.
            "down_tracks": {
                track_id: down.outbound.stats()
                for track_id, (_, down) in self.subscriptions.items()
                if getattr(down, "outbound", None) is not None
            },
        }
