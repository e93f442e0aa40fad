"""A fixed UDP port range for the SFU's ICE host candidates (``SFU_UDP_PORTS``).

aioice binds every host candidate to a port the OS picks (aiortc#487,
aioice#47), so a firewall in front of the SFU would have to open every
ephemeral port. With a ``PortRange``, each of the SFU's peer connections
binds one port of the range, the same port on every host address, and its
server-reflexive candidates come from those sockets too.

``RangedPeerConnection`` binds its ports as it is made (``reserve()``), so
that a full range refuses a join or a publish at once, with
``PortsExhausted``, before the SFU changed anything. aiortc gathers
candidates only inside ``setLocalDescription``; there the connection names
its reservation in a context variable, and ``Connection.
get_component_candidates`` (patched here) builds the host candidates on
those sockets instead of binding port 0. Any other aioice connection in the
process (a test's client) sees no reservation and gathers as before.

The OS is the only record of which ports are taken: a port is free again as
soon as its socket closes (when aioice closes the connection, or when a
peer connection that never gathered closes), so no bookkeeping of ours can
leak a port, and several processes may share one range.

``forwarding.check_hooks()`` checks the aioice and aiortc internals used here.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import ipaddress
import logging
import socket
from collections.abc import Iterator
from typing import Any

from aioice import Candidate, Connection, turn
from aioice.candidate import candidate_foundation, candidate_priority
from aioice.ice import StunProtocol, get_host_addresses, server_reflexive_candidate
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from sfu.api import MediaUnavailable

log = logging.getLogger(__name__)


class PortsExhausted(MediaUnavailable):
    """No port of the range is free for another peer connection: the SFU
    is as full as its firewall opening allows. A ``MediaUnavailable``, so
    the participant hears ``media_unavailable``."""


class PortRange:
    """UDP ports ``first``..``last`` (inclusive) for the SFU's host
    candidates. One peer connection takes one port, on every address."""

    def __init__(self, first: int, last: int) -> None:
        if not 1 <= first <= last <= 65535:
            raise ValueError(f"not a UDP port range: {first}-{last}")
        self.first = first
        self.last = last
        # Where the next search starts: just after the last port taken, so
        # that a port just freed is the last reused (the browser of the peer
        # that had it may still be sending to it for a moment).
        self._next = first

    def __len__(self) -> int:
        return self.last - self.first + 1

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.first <= port <= self.last

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"

    def _search(self) -> Iterator[int]:
        start = self._next
        yield from range(start, self.last + 1)
        yield from range(self.first, start)

    def reserve(self, addresses: list[str] | None = None) -> Reservation:
        """Bind a UDP socket on each address (the host's, as aioice lists
        them, by default), all on the first port of the range that is free
        on every one. An address that cannot be bound at all (gone, not
        configured yet) is left out, as aioice leaves it out.

        Raises ``PortsExhausted`` when no port is free on every address."""
        if addresses is None:
            addresses = get_host_addresses(use_ipv4=True, use_ipv6=True)
        usable = list(addresses)
        for port in self._search():
            sockets: dict[str, socket.socket] = {}
            for address in list(usable):
                try:
                    sockets[address] = _bind(address, port)
                except OSError as exc:
                    if exc.errno == errno.EADDRINUSE:
                        break  # taken on this address: try the next port
                    log.info("SFU ports: cannot bind to %s - %s", address, exc)
                    usable.remove(address)
            else:
                self._next = port + 1 if port < self.last else self.first
                return Reservation(self, sockets)
            for sock in sockets.values():
                sock.close()
        # The participant hears "media unavailable"; the operator reads why.
        log.warning("SFU_UDP_PORTS %s: every port is in use", self)
        raise PortsExhausted(
            f"every UDP port of SFU_UDP_PORTS ({self}) is in use: "
            "no room for another peer connection"
        )


def _bind(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((address, port))
        sock.setblocking(False)
        # As aioice sets it on the host sockets it binds itself.
        sock.setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVBUF, turn.UDP_SOCKET_BUFFER_SIZE
        )
    except BaseException:
        sock.close()
        raise
    return sock


class Reservation:
    """Sockets bound for one peer connection, by address, until aioice
    takes them when the connection gathers its candidates."""

    def __init__(self, ports: PortRange, sockets: dict[str, socket.socket]) -> None:
        self.ports = ports
        self._sockets = sockets

    def take(self, address: str) -> socket.socket | None:
        """The socket for ``address``: the one reserved, else one bound now
        (an address that appeared since; a second transport), or None for
        an address that cannot be bound at all."""
        sock = self._sockets.pop(address, None)
        if sock is None:
            sock = self.ports.reserve([address])._sockets.pop(address, None)
        return sock

    def close(self) -> None:
        """Free what was not taken."""
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()


# The reservation of the peer connection gathering in this task (and the
# tasks it starts): set only for the length of its setLocalDescription().
_gathering: contextvars.ContextVar[Reservation | None] = contextvars.ContextVar(
    "sfu_ports_gathering", default=None
)


class RangedPeerConnection(RTCPeerConnection):
    """An ``RTCPeerConnection`` whose ICE host candidates bind in ``ports``.
    Making one raises ``PortsExhausted`` when the range is full."""

    def __init__(self, configuration: RTCConfiguration, *, ports: PortRange) -> None:
        self._reservation = ports.reserve()  # first: a refusal leaves nothing
        super().__init__(configuration)

    async def setLocalDescription(
        self, sessionDescription: RTCSessionDescription | None = None
    ) -> None:
        token = _gathering.set(self._reservation)
        try:
            await super().setLocalDescription(sessionDescription)
        finally:
            _gathering.reset(token)

    async def close(self) -> None:
        try:
            await super().close()  # aioice closes the sockets it took
        finally:
            self._reservation.close()  # and these were never gathered on


_original_get_component_candidates = Connection.get_component_candidates
_installed = False


async def _get_component_candidates(
    self: Any, component: int, addresses: list[str], timeout: int = 5
) -> list[Candidate]:
    """aioice's gathering, with the host sockets from the reservation."""
    reservation = _gathering.get()
    if reservation is None:
        return await _original_get_component_candidates(
            self, component=component, addresses=addresses, timeout=timeout
        )
    try:
        host = await _host_protocols(self, component, addresses, reservation)
    finally:
        reservation.close()  # what this connection did not gather on
    if self._closing:
        # Closed while binding: close() has already closed its protocols.
        for protocol in host:
            await protocol.close()
        return []
    self._protocols += host
    # Given no addresses, aioice binds nothing: it only asks the TURN
    # server for a relayed candidate, if it has one (the SFU has none).
    reflexive, relayed = await asyncio.gather(
        _reflexive(self, host, timeout),
        _original_get_component_candidates(
            self, component=component, addresses=[], timeout=timeout
        ),
    )
    return [p.local_candidate for p in host] + reflexive + relayed


async def _host_protocols(
    connection: Any, component: int, addresses: list[str], reservation: Reservation
) -> list[StunProtocol]:
    """A host candidate on each address's socket, made as aioice makes it."""
    loop = asyncio.get_running_loop()
    protocols: list[StunProtocol] = []
    try:
        for address in addresses:
            sock = reservation.take(address)
            if sock is None:
                continue
            try:
                _, protocol = await loop.create_datagram_endpoint(
                    lambda: StunProtocol(connection), sock=sock
                )
            except BaseException:
                sock.close()
                raise
            protocols.append(protocol)
            host, port = sock.getsockname()[:2]
            protocol.local_candidate = Candidate(
                foundation=candidate_foundation("host", "udp", host),
                component=component,
                transport="udp",
                priority=candidate_priority(component, "host"),
                host=host,
                port=port,
                type="host",
            )
    except BaseException:
        for protocol in protocols:
            protocol.transport.close()
        raise
    return protocols


async def _reflexive(
    connection: Any, protocols: list[StunProtocol], timeout: int
) -> list[Candidate]:
    """Server-reflexive candidates of the IPv4 host sockets, as aioice
    gets them (it asks the STUN server from each host socket)."""
    if not connection.stun_server:
        return []
    tasks = [
        asyncio.create_task(server_reflexive_candidate(p, connection.stun_server))
        for p in protocols
        if ipaddress.ip_address(p.local_candidate.host).version == 4
    ]
    if not tasks:
        return []
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    return [t.result()[0] for t in done if t.exception() is None]


def install() -> None:
    """Patch aioice once per process (idempotent). Connections gathering
    outside a ``RangedPeerConnection`` are unchanged."""
    global _installed
    if not _installed:
        Connection.get_component_candidates = _get_component_candidates  # type: ignore[method-assign]
        _installed = True
