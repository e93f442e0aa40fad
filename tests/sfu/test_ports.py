"""SFU_UDP_PORTS: every ICE host candidate of the SFU binds in the range,
media flows through those ports only, a full range refuses the next join
clearly without harming anyone, and leaving gives the ports back (issue 11).

Real aiortc peers in one process. The clients gather as aiortc always does
(ports the OS picks); only the SFU's connections use the range. The ranges
are found free below the OS's ephemeral ports, so no client's socket can
land in one."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket

import pytest
from aioice.ice import get_host_addresses

from sfu.api import MediaUnavailable
from sfu.ports import PortRange, PortsExhausted
from sfu.sfu import SFU
from tests.media import MediaClient, Switchboard
from tests.sfu.test_sfu import wait_until

ADDRESSES = get_host_addresses(use_ipv4=True, use_ipv6=True)


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except OSError:
        return 32768


def _port_free(port: int) -> bool:
    for address in ADDRESSES:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind((address, port))
            except OSError:
                return False
    return True


def free_range(size: int) -> PortRange:
    """``size`` consecutive ports free on every host address, below the
    ephemeral ports (the clients' sockets are never bound there)."""
    first = 20000
    while first + size <= _ephemeral_low():
        taken = [p for p in range(first, first + size) if not _port_free(p)]
        if not taken:
            return PortRange(first, first + size - 1)
        first = taken[-1] + 1
    pytest.skip(f"no {size} free ports below the ephemeral range")


def _all_free(ports: PortRange) -> bool:
    return all(_port_free(p) for p in range(ports.first, ports.last + 1))


def host_candidates(sdp: str) -> set[tuple[str, int]]:
    """(address, port) of the host candidates in an SDP (each bundled
    m-section repeats them)."""
    return {
        (address, int(port))
        for address, port in re.findall(
            r"^a=candidate:\S+ \d+ udp \d+ (\S+) (\d+) typ host",
            sdp,
            re.MULTILINE | re.IGNORECASE,
        )
    }


def _ice_connections(pc) -> set:
    """The aioice connections of a peer connection (one: it is bundled)."""
    return {
        t.sender.transport.transport.iceGatherer._connection
        for t in pc.getTransceivers()
    }


def _sending_ports(pc) -> set[int]:
    """Local ports of every socket the connection's ICE agent may send from
    (host and server-reflexive candidates share them), and of the pair it
    sends media on."""
    ports = set()
    for connection in _ice_connections(pc):
        ports |= {
            p.transport.get_extra_info("sockname")[1] for p in connection._protocols
        }
        ports |= {pair.local_addr[1] for pair in connection._nominated.values()}
    return ports


def _remote_ports(pc) -> set[int]:
    """Where a client's ICE agent receives the SFU's packets from."""
    return {
        pair.remote_addr[1]
        for connection in _ice_connections(pc)
        for pair in connection._nominated.values()
    }


@contextlib.asynccontextmanager
async def sfu_with(ports: PortRange):
    server = SFU(deliver=Switchboard(), ports=ports)
    try:
        yield server
    finally:
        await server.close()


async def _join(sfu, name: str, **kwargs) -> MediaClient:
    client = MediaClient(sfu, 1, name, **kwargs)
    await client.join()
    return client


async def _close(clients) -> None:
    for client in clients:
        await client.close()


def _frames_flow(subscriber: MediaClient, publisher: MediaClient) -> int:
    return subscriber.frames_from(publisher.id, "cam")


# The range itself


def test_a_range_binds_one_port_on_every_address_and_skips_a_taken_one():
    ports = free_range(3)
    family = socket.AF_INET6 if ":" in ADDRESSES[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as squatter:
        squatter.bind((ADDRESSES[0], ports.first))  # someone else's
        reservation = ports.reserve()
        try:
            sockets = reservation._sockets
            assert set(sockets) == set(ADDRESSES)
            assert {s.getsockname()[1] for s in sockets.values()} == {ports.first + 1}
        finally:
            reservation.close()


def test_a_full_range_raises_ports_exhausted_a_media_unavailable():
    ports = free_range(2)
    held = [ports.reserve(), ports.reserve()]
    with pytest.raises(PortsExhausted, match=str(ports)) as refused:
        ports.reserve()
    assert isinstance(refused.value, MediaUnavailable)
    held[0].close()
    ports.reserve().close()  # the port is free again the moment it closes
    held[1].close()
    assert _all_free(ports)


def test_a_range_must_be_ordered():
    with pytest.raises(ValueError):
        PortRange(50010, 50000)
    with pytest.raises(ValueError):
        PortRange(0, 10)


# With real peers


async def test_every_host_candidate_is_in_the_range_and_media_flows():
    """The SFU's answer on ``up`` and its offer on ``down`` name host
    candidates in the range only (one per host address), and the subscriber
    decodes the publisher's video."""
    ports = free_range(6)
    async with sfu_with(ports) as sfu:
        ann = await _join(sfu, "ann")
        ben = await _join(sfu, "ben", audio=False, video=False, decode=True)
        await wait_until(lambda: _frames_flow(ben, ann) > 10, timeout=10)
        answer = ann.up.remoteDescription.sdp  # the SFU's answer
        offer = ben.down.remoteDescription.sdp  # the SFU's offer
        for sdp in (answer, offer):
            candidates = host_candidates(sdp)
            assert {address for address, _ in candidates} == set(ADDRESSES)
            assert all(port in ports for _, port in candidates), candidates
        assert ben.received["cam-ann"].sizes[-1] == (320, 240)
        await _close([ann, ben])


async def test_the_sfu_sends_only_from_ports_in_the_range():
    """Every socket the SFU's ICE agents hold, and the pair each one sends
    media on, is in the range; the clients see the SFU's packets come from
    there too."""
    ports = free_range(6)
    async with sfu_with(ports) as sfu:
        ann = await _join(sfu, "ann")
        ben = await _join(sfu, "ben")
        await wait_until(
            lambda: _frames_flow(ben, ann) > 10 and _frames_flow(ann, ben) > 10,
            timeout=10,
        )
        assert len(sfu.peer_connections) == 4  # up and down of each
        for pc in sfu.peer_connections:
            sending = _sending_ports(pc)
            assert sending, "no socket found: the test would prove nothing"
            assert all(port in ports for port in sending), sending
        for client in (ann, ben):
            for pc in (client.up, client.down):
                remote = _remote_ports(pc)
                assert remote and all(port in ports for port in remote), remote
        await _close([ann, ben])


async def test_a_full_range_refuses_the_next_join_and_harms_nobody():
    """Five ports: two publishers take four, a third participant's ``down``
    the fifth; their publish is refused, and so is a fourth join, with
    ``PortsExhausted`` (``media_unavailable`` for the browser). The first two
    go on receiving each other, and the refused join left nothing behind."""
    ports = free_range(5)
    async with sfu_with(ports) as sfu:
        ann = await _join(sfu, "ann")
        ben = await _join(sfu, "ben")
        cat = MediaClient(sfu, 1, "cat")
        await cat.join(publish=False)
        with pytest.raises(PortsExhausted):
            await cat.publish()
        dan = MediaClient(sfu, 1, "dan")
        with pytest.raises(PortsExhausted, match="SFU_UDP_PORTS"):
            await dan.join()
        assert set(sfu.rooms[1].peers) == {"ann", "ben", "cat"}
        assert len(sfu.peer_connections) == 5
        before = _frames_flow(ben, ann), _frames_flow(ann, ben)
        await wait_until(
            lambda: (
                _frames_flow(ben, ann) > before[0] + 10
                and _frames_flow(ann, ben) > before[1] + 10
            ),
            timeout=10,
        )
        await wait_until(lambda: _frames_flow(cat, ann) > 5, timeout=10)
        await _close([ann, ben, cat, dan])


async def test_a_reconnect_in_a_full_range_takes_over_its_earlier_ports():
    """A participant whose network blipped joins again while the range is
    full and its earlier peer still holds two ports: that peer gives them
    back, and media flows both ways on the new one."""
    ports = free_range(4)
    async with sfu_with(ports) as sfu:
        ann = await _join(sfu, "ann")
        ben = await _join(sfu, "ben")
        await wait_until(lambda: _frames_flow(ben, ann) > 5, timeout=10)
        again = await _join(sfu, "ann")  # the earlier one has not gone yet
        await ann.close()
        before = _frames_flow(ben, ann)
        await wait_until(lambda: _frames_flow(again, ben) > 5, timeout=10)
        await wait_until(lambda: _frames_flow(ben, again) > before + 10, timeout=10)
        await _close([again, ben])


async def test_ports_are_free_again_once_everyone_has_left():
    """Waves of people come and go through a range that holds two at a
    time: leaving, vanishing (a closed tab) or joining without ever
    gathering (nobody to receive yet), each gives its ports back, and the
    range is wholly free at the end."""
    ports = free_range(4)
    async with sfu_with(ports) as sfu:
        lone = MediaClient(sfu, 1, "lone", audio=False, video=False)
        await lone.join()  # a down connection with nothing to offer yet
        # Held, so that only closing it (not collecting it) can free its port.
        held = set(sfu.peer_connections)
        await lone.leave()
        await wait_until(lambda: _all_free(ports))
        for wave in range(4):
            ann = await _join(sfu, f"ann{wave}")
            ben = await _join(sfu, f"ben{wave}")
            await wait_until(lambda a=ann, b=ben: _frames_flow(b, a) > 3, timeout=10)
            await ann.leave()
            await ben.drop()  # the SFU notices the closed connections itself
            await wait_until(lambda: not sfu.rooms, timeout=10)
            await wait_until(lambda: _all_free(ports), timeout=5)
        assert not sfu.peer_connections
        assert held


async def test_the_sfu_without_a_range_binds_where_the_os_says():
    """No range (the default): aioice's own gathering, untouched."""
    sfu = SFU(deliver=Switchboard())
    try:
        ann = await _join(sfu, "ann")
        assert host_candidates(ann.up.remoteDescription.sdp)
        await ann.close()
    finally:
        await sfu.close()


async def test_leaving_while_publishing_leaves_no_port_bound():
    """A participant who leaves while their first offer is being applied
    (their ``up`` connection is closed half made) keeps no port."""
    ports = free_range(4)
    async with sfu_with(ports) as sfu:
        ann = MediaClient(sfu, 1, "ann")
        await ann.join(publish=False)
        ann.up = ann._pc()
        for track in ann.tracks.values():
            ann.up.addTrack(track)
        await ann.up.setLocalDescription(await ann.up.createOffer())
        publishing = asyncio.ensure_future(
            sfu.publish(
                room_id=1,
                participant_id="ann",
                sdp=ann.up.localDescription.sdp,
                allowed=ann.allowed,
            )
        )
        await asyncio.sleep(0)
        await sfu.leave(room_id=1, participant_id="ann")
        with contextlib.suppress(Exception):
            await publishing
        await ann.close()
        await wait_until(lambda: _all_free(ports), timeout=5)
