"""The SFU in this process. ``SFU`` implements ``sfu.api.MediaServer``
itself, so it is signaling's media server as it is: only its settings are
made here."""

from __future__ import annotations

from aiortc import RTCIceServer
from django.conf import settings

from sfu.api import Deliver
from sfu.guard import CandidatePolicy
from sfu.ports import PortRange
from sfu.sfu import SFU
from signaling.events import relay


def candidate_policy() -> CandidatePolicy:
    """Which addresses browsers may name in ICE candidates (settings)."""
    limit = settings.SFU_MAX_CANDIDATES
    if settings.SFU_CANDIDATE_NETWORKS:
        return CandidatePolicy(settings.SFU_CANDIDATE_NETWORKS, max_candidates=limit)
    return CandidatePolicy.default(max_candidates=limit)


def make_sfu(deliver: Deliver = relay) -> SFU:
    """An SFU as the settings say. Its messages to a participant go to the
    channel name it joined with (``signaling.events.relay``), which reaches
    that participant's connection in whichever process holds it."""
    return SFU(
        deliver=deliver,
        # The SFU's own ICE servers: STUN to learn its public address. It
        # needs no TURN credentials: browsers relay to it, not the reverse.
        ice_servers=[RTCIceServer(urls=url) for url in settings.STUN_URLS],
        announced_address=settings.SFU_ANNOUNCED_ADDRESS,
        candidate_policy=candidate_policy(),
        ports=PortRange(*settings.SFU_UDP_PORTS) if settings.SFU_UDP_PORTS else None,
        forwarding=settings.SFU_FORWARDING,
    )
