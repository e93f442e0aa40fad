"""Checks on what clients send the SFU, made before aiortc sees it.

A client's session descriptions and ICE candidates are hostile input. aiortc
parses them with asserts and bare ``int()`` calls, so garbage makes it raise
almost anything (AssertionError, IndexError, KeyError, StopIteration…); it
makes a transceiver for every m-line it is offered; and it sends STUN checks
to any address a candidate names, resolving ``.local`` names by multicast.

``check_offer`` and ``check_answer`` accept only descriptions aiortc can take
and the SFU can use, and drop the candidates ``CandidatePolicy`` refuses. The
policy lets the SFU send to public addresses and to the private networks this
host is on, never to loopback, link-local, multicast or other private ranges,
so a client cannot use the SFU to probe or flood the server's neighbours.

Host names, ``.local`` mDNS names included, are refused and never resolved.
Browsers that hide their address behind such a name still connect: their
connectivity checks reach the SFU's own candidates, and the SFU learns their
address from those checks as a peer-reflexive candidate.

Nothing here does I/O except reading this host's interface addresses.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import ifaddr

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_SDP_SIZE = 64 * 1024
MAX_LINE_LENGTH = 4 * 1024
MAX_SESSION_LINES = 64
MAX_SECTION_LINES = 256
MAX_FORMATS = 64
MAX_FINGERPRINTS = 8
MAX_CANDIDATE_LENGTH = 512
# The SFU's own down offer grows a section per subscribed track, so an answer
# may be longer than an offer; it is still bounded by what the SFU offered.
ANSWER_SIZE_PER_SECTION = 8 * 1024

# What the SFU forwards (sfu.CODECS): (name, clock rate, channels).
REQUIRED_CODECS = {"audio": ("opus", "48000", "2"), "video": ("vp8", "90000", None)}
DYNAMIC_PAYLOAD_TYPES = range(96, 128)
RTCP_PAYLOAD_TYPES = range(72, 77)  # aiortc asserts they are not used
DIRECTIONS = ("sendonly", "recvonly", "sendrecv", "inactive")
FINGERPRINT_BYTES = {
    "sha-1": 20,
    "sha-224": 28,
    "sha-256": 32,
    "sha-384": 48,
    "sha-512": 64,
}
USABLE_FINGERPRINTS = {"sha-256", "sha-384", "sha-512"}  # aiortc checks these
CANDIDATE_TYPES = ("host", "srflx", "prflx", "relay")


class Rejected(Exception):
    """Input the SFU refuses. ``str()`` says why, plainly, for the sender."""


def _show(value: str, limit: int = 40) -> str:
    """A client's value quoted for a message, cut short if long."""
    return '"' + (value if len(value) <= limit else value[:limit] + "...") + '"'


# Candidates

_PRINTABLE = re.compile(r"[\x20-\x7e]*")
_DIGITS = re.compile(r"[0-9]{1,10}")
_FOUNDATION = re.compile(r"[A-Za-z0-9+/]{1,32}")
# raddr (an IP address) and rport (0 to 65535: browsers that hide their
# addresses send 0) are checked in the code.
_CANDIDATE_EXTENSIONS = {
    "tcptype": re.compile(r"active|passive|so"),
    "generation": _DIGITS,
    "ufrag": re.compile(r"[A-Za-z0-9+/]{1,256}"),
    "network-id": _DIGITS,
    "network-cost": _DIGITS,
}


_HOST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


@dataclass(frozen=True)
class _Candidate:
    transport: str
    host: str  # as sent: an IP address or a host name
    address: IPAddress | None  # None for a host name
    port: int
    component: int

    @property
    def key(self) -> tuple[str, str, int, int]:
        """Its transport address: what makes two candidates the same."""
        host = str(self.address) if self.address else self.host.lower()
        return (self.transport, host, self.port, self.component)


def _ip_literal(text: str) -> IPAddress | None:
    # ipaddress accepts IPv6 zone ids ("fe80::1%eth0"), which name one of this
    # host's interfaces: a peer has no business choosing one.
    if "%" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _number(text: str, what: str, low: int, high: int) -> int:
    if not _DIGITS.fullmatch(text) or not low <= int(text) <= high:
        raise Rejected(
            f"the candidate's {what} {_show(text)} is not a number from {low} to {high}"
        )
    return int(text)


def _parse_candidate(text: str, *, prefixed: bool) -> _Candidate:
    """Parse an ICE candidate (RFC 8839) strictly; ``prefixed`` allows the
    ``candidate:`` prefix that trickled candidates carry."""
    if len(text) > MAX_CANDIDATE_LENGTH:
        raise Rejected(
            f"the candidate is {len(text)} characters long; "
            f"at most {MAX_CANDIDATE_LENGTH} are allowed"
        )
    if not _PRINTABLE.fullmatch(text):
        raise Rejected("the candidate contains characters other than printable ASCII")
    if prefixed:
        text = text.removeprefix("candidate:")
    bits = text.split(" ")
    if len(bits) < 8 or len(bits) % 2 or bits[6] != "typ" or "" in bits:
        raise Rejected(
            "the candidate is malformed: it must read “foundation component "
            "transport priority address port typ type”, then name-value pairs"
        )
    foundation, component, transport, priority, address, port, _, kind = bits[:8]
    if not _FOUNDATION.fullmatch(foundation):
        raise Rejected(f"the candidate's foundation {_show(foundation)} is malformed")
    component_number = _number(component, "component", 1, 256)
    if transport.lower() not in ("udp", "tcp"):
        raise Rejected(
            f"the candidate's transport {_show(transport)} is not udp or tcp"
        )
    _number(priority, "priority", 0, 2**32 - 1)
    ip = _ip_literal(address)
    if ip is None and not _HOST_NAME.fullmatch(address):
        raise Rejected(
            f"the candidate's address {_show(address)} is neither an IP address "
            "nor a host name"
        )
    port_number = _number(port, "port", 1, 65535)
    if kind not in CANDIDATE_TYPES:
        raise Rejected(
            f"the candidate's type {_show(kind)} is not one of host, srflx, "
            "prflx or relay"
        )
    names = bits[8::2]
    if len(set(names)) != len(names):
        raise Rejected("the candidate repeats an attribute")
    for name, value in zip(names, bits[9::2], strict=True):
        if name not in ("raddr", "rport", *_CANDIDATE_EXTENSIONS):
            raise Rejected(f"the candidate has an unknown attribute {_show(name)}")
        if name == "raddr":
            if _ip_literal(value) is None:
                raise Rejected(
                    f"the candidate's raddr {_show(value)} is not an IP address"
                )
        elif name == "rport":
            _number(value, "rport", 0, 65535)
        elif not _CANDIDATE_EXTENSIONS[name].fullmatch(value):
            raise Rejected(f"the candidate's {name} {_show(value)} is malformed")
    return _Candidate(transport.lower(), address, ip, port_number, component_number)


class CandidateCounter:
    """Counts the candidates a peer sends on one peer connection.

    A candidate is counted once per transport address: browsers repeat their
    candidates in each renegotiation's SDP, and aioice ignores repeats too.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[object] = set()

    def __len__(self) -> int:
        return len(self._seen)

    def take(self, candidate: str | None = None) -> None:
        """Count ``candidate`` (or, without one, one more); raise ``Rejected``
        past the limit."""
        if candidate is None:
            self._take(object())
        else:
            self._take(_parse_candidate(candidate, prefixed=True).key)

    def _take(self, key: object) -> None:
        if key in self._seen:
            return
        if len(self._seen) >= self.limit:
            raise Rejected(
                f"more than {self.limit} ICE candidates were sent for one connection"
            )
        self._seen.add(key)


def host_private_networks(
    adapters: Iterable[ifaddr.Adapter] | None = None,
) -> list[str]:
    """The subnets of this host's own non-public addresses (loopback and
    link-local aside), from ``adapters`` or the host's interfaces."""
    networks: set[IPNetwork] = set()
    for adapter in ifaddr.get_adapters() if adapters is None else adapters:
        for ip in adapter.ips:
            text = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            try:
                interface = ipaddress.ip_interface(
                    f"{text.split('%')[0]}/{ip.network_prefix}"
                )
            except ValueError:
                continue
            address = interface.ip
            if not (
                address.is_loopback
                or address.is_link_local
                or address.is_multicast
                or address.is_unspecified
                or address.is_global
            ):
                networks.add(interface.network)
    return [str(n) for n in sorted(networks, key=lambda n: (n.version, n))]


class CandidatePolicy:
    """Which remote candidates the SFU may send connectivity checks to.

    Public addresses are allowed, and so is every address in
    ``allowed_networks`` (for a server on a private LAN, the LAN; loopback if
    a test rig lists it) but an IPv4 network's own and broadcast addresses.
    Everything else is refused: loopback, link-local, multicast, unspecified,
    reserved and other private addresses, IPv4-mapped addresses, and host
    names (``.local`` ones too), which are never resolved.
    """

    def __init__(
        self, allowed_networks: Sequence[str], max_candidates: int = 32
    ) -> None:
        if isinstance(allowed_networks, str):
            raise TypeError("allowed_networks is a list of CIDRs, not one string")
        if max_candidates < 1:
            raise ValueError("max_candidates must be at least 1")
        self.allowed_networks: tuple[IPNetwork, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in allowed_networks
        )
        self.max_candidates = max_candidates

    @classmethod
    def default(cls, *, max_candidates: int = 32) -> CandidatePolicy:
        """Public addresses and the private networks this host is on."""
        return cls(host_private_networks(), max_candidates=max_candidates)

    def __repr__(self) -> str:
        networks = [str(n) for n in self.allowed_networks]
        return f"CandidatePolicy({networks!r}, max_candidates={self.max_candidates})"

    def check(self, candidate: str) -> None:
        """Raise ``Rejected`` unless ``candidate`` (with or without its
        ``candidate:`` prefix) is well formed and names an allowed address."""
        refusal = self.refusal(candidate)
        if refusal:
            raise Rejected(refusal)

    def refusal(self, candidate: str) -> str | None:
        """Why the SFU must not use ``candidate``, or None if it may. Raises
        ``Rejected`` only when it is malformed: a refused one is what real
        browsers send too (mDNS names, addresses of their own LAN), to be
        dropped quietly rather than answered with an error."""
        return self._refusal(_parse_candidate(candidate, prefixed=True))

    def counter(self) -> CandidateCounter:
        """A fresh count of candidates, for one peer connection."""
        return CandidateCounter(self.max_candidates)

    def _refusal(self, candidate: _Candidate) -> str | None:
        """Why the SFU must not send to ``candidate``, or None if it may."""
        if candidate.address is None:
            mdns = candidate.host.lower().endswith(".local")
            return (
                f"the candidate names {'an mDNS' if mdns else 'a'} host, "
                f"{_show(candidate.host)}, rather than an IP address; "
                "host names are never resolved"
            )
        reason = self._address_refusal(candidate.address)
        if reason:
            return f"the candidate's address {candidate.address} is {reason}"
        return None

    def _address_refusal(self, address: IPAddress) -> str | None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            return "an IPv4-mapped IPv6 address"
        if address.is_unspecified:
            return "the unspecified address"
        if address.is_multicast:
            return "a multicast address"
        for network in self.allowed_networks:
            if address in network:
                edges = (network.network_address, network.broadcast_address)
                if network.version == 4 and network.prefixlen < 31 and address in edges:
                    return "a network or broadcast address"
                return None
        if address.is_loopback:
            return "a loopback address"
        if address.is_link_local:
            return "a link-local address"
        if address.is_reserved:
            return "a reserved address"
        if address.is_global:
            embedded = getattr(address, "sixtofour", None)
            if embedded is not None and not embedded.is_global:
                return "a 6to4 address of a private IPv4 address"
            return None
        if address.is_private:
            return "a private address outside this server's networks"
        return "not a public address"


# Session descriptions

_BAD_CHARACTER = re.compile(r"[^\x20-\x7e\r\n]|\r(?!\n)")
_WORD_CHAR = r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]"
_WORDS = rf"{_WORD_CHAR}+(?: {_WORD_CHAR}+)*"
_ATTRIBUTE = re.compile(r"a=([A-Za-z0-9][A-Za-z0-9_.-]{0,63})(?::(.*))?")
_MEDIA = re.compile(r"m=([^ ]{1,32}) ([0-9]{1,5}) ([^ ]{1,32})((?: [^ ]{1,32})+)")
_FORMAT = re.compile(r"0|[1-9][0-9]{0,2}")
_CONNECTION = re.compile(r"IN IP[46] ([^ ]{1,64})")
_ORIGIN = re.compile(r"o=[^ ]{1,64} [0-9]{1,20} [0-9]{1,20} IN IP[46] [^ ]{1,255}")
_TIMING = re.compile(r"t=[0-9]{1,20} [0-9]{1,20}")
_FLAGS = {*DIRECTIONS, "rtcp-mux", "ice-lite", "end-of-candidates"}
# The attributes aiortc reads, and the values it can read without failing.
_VALUES = {
    "extmap": re.compile(
        r"([0-9]{1,3})(?:/(?:sendonly|recvonly|sendrecv|inactive))? [^ ]{1,256}"
    ),
    "fingerprint": re.compile(
        r"((?i:sha-(?:1|224|256|384|512))) ((?:[0-9A-Fa-f]{2}:){19,63}[0-9A-Fa-f]{2})"
    ),
    "fmtp": re.compile(r"([0-9]{1,3}) ([^ ].*)"),
    "group": re.compile(_WORDS),
    "ice-options": re.compile(_WORDS),
    "ice-pwd": re.compile(r"[A-Za-z0-9+/]{22,256}"),
    "ice-ufrag": re.compile(r"[A-Za-z0-9+/]{4,256}"),
    "max-message-size": _DIGITS,
    "mid": re.compile(rf"{_WORD_CHAR}{{1,32}}"),
    "msid": re.compile(rf"{_WORD_CHAR}{{1,64}}(?: {_WORD_CHAR}{{1,64}})?"),
    "msid-semantic": re.compile(rf" ?{_WORDS}"),
    "rtcp": re.compile(r"([0-9]{1,5})(?: IN IP[46] ([^ ]{1,64}))?"),
    "rtcp-fb": re.compile(rf"(?:\*|[0-9]{{1,3}}) {_WORD_CHAR}+(?: [^ ]+)*"),
    "rtpmap": re.compile(
        r"([0-9]{1,3}) ([A-Za-z0-9_.+-]{1,32})/([0-9]{1,7})(?:/([0-9]{1,2}))?"
    ),
    "sctp-port": _DIGITS,
    "sctpmap": re.compile(r"[0-9]{1,5} [^ ].*"),
    "setup": re.compile(r"actpass|active|passive"),
    "ssrc": re.compile(r"([0-9]{1,10}) [A-Za-z0-9_.-]{1,64}:.*"),
    "ssrc-group": re.compile(rf"{_WORD_CHAR}+((?: [0-9]{{1,10}})+)"),
}
# fmtp parameters aiortc turns into integers, and fails on if they are not.
_INTEGER_PARAMETERS = {
    "apt",
    "max-fr",
    "max-fs",
    "maxplaybackrate",
    "minptime",
    "stereo",
    "useinbandfec",
    "packetization-mode",
}


@dataclass
class _Level:
    """What a session, or one of its media sections, says about transport."""

    where: str
    attributes: dict[str, list[str | None]] = field(default_factory=dict)
    # The match of each value against its pattern in _VALUES, by name.
    matches: dict[str, list[re.Match[str]]] = field(default_factory=dict)

    def one(self, name: str) -> str | None:
        values = self.attributes.get(name, [])
        if len(values) > 1:
            raise Rejected(f"{self.where} has more than one a={name}")
        return values[0] if values else None


@dataclass
class _Section:
    kind: str
    mid: str
    lines: list[str]
    candidates: dict[int, _Candidate]  # by line index


def _split(sdp: str, what: str, max_size: int) -> tuple[list[str], list[list[str]]]:
    """The session's lines and each media section's lines."""
    if not isinstance(sdp, str):
        raise Rejected(f"the {what} is not text")
    if len(sdp) > max_size:
        raise Rejected(
            f"the {what} is {len(sdp)} characters long; at most {max_size} are allowed"
        )
    if not sdp.startswith("v=0") or sdp[3:4] not in ("\r", "\n"):
        raise Rejected(f"the {what} is not a session description (it must begin v=0)")
    if _BAD_CHARACTER.search(sdp):
        raise Rejected(f"the {what} contains characters other than printable ASCII")
    lines = [line.removesuffix("\r") for line in sdp.split("\n")]
    if lines[-1] == "":
        lines.pop()
    session: list[str] = []
    sections: list[list[str]] = []
    for number, line in enumerate(lines, 1):
        if len(line) > MAX_LINE_LENGTH:
            raise Rejected(
                f"line {number} of the {what} is {len(line)} characters long; "
                f"at most {MAX_LINE_LENGTH} are allowed"
            )
        if len(line) < 2 or line[1] != "=" or not "a" <= line[0] <= "z":
            raise Rejected(f"line {number} of the {what} is not of the form x=value")
        if line.startswith("m="):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
        else:
            session.append(line)
    return session, sections


def _check_address(text: str, where: str, line: str) -> None:
    if _ip_literal(text) is None:
        raise Rejected(f"{where} has a {line} line without an IP address")


def _read_lines(level: _Level, lines: list[str], allowed_types: str) -> None:
    """Check each line's syntax; collect the attributes in ``level``."""
    for line in lines:
        if line[0] not in allowed_types:
            raise Rejected(
                f"{level.where} has a {line[0]}= line, which is out of place"
            )
        if line[0] == "c":
            match = _CONNECTION.fullmatch(line[2:])
            if not match:
                raise Rejected(f"{level.where} has a malformed c= line")
            _check_address(match.group(1), level.where, "c=")
        if line[0] != "a":
            continue
        match = _ATTRIBUTE.fullmatch(line)
        if not match:
            raise Rejected(f"{level.where} has a malformed attribute line")
        name, value = match.groups()
        if name in _FLAGS and value is not None:
            raise Rejected(f"{level.where} has an a={name} with a value; it takes none")
        pattern = _VALUES.get(name)
        if pattern:
            value_match = pattern.fullmatch(value or "")
            if not value_match:
                raise Rejected(f"{level.where} has a malformed a={name} line")
            level.matches.setdefault(name, []).append(value_match)
        level.attributes.setdefault(name, []).append(value)


def _check_session(lines: list[str], what: str) -> _Level:
    session = _Level(f"the {what}")
    if len(lines) > MAX_SESSION_LINES:
        raise Rejected(
            f"the {what}'s session part has {len(lines)} lines; "
            f"at most {MAX_SESSION_LINES} are allowed"
        )
    types = [line[0] for line in lines]
    if types.count("v") != 1 or types.count("o") != 1 or types.count("s") != 1:
        raise Rejected(f"the {what} must have exactly one v=, o= and s= line")
    if "t" not in types:
        raise Rejected(f"the {what} has no t= line")
    for line in lines:
        if line[0] == "o" and not _ORIGIN.fullmatch(line):
            raise Rejected(f"the {what} has a malformed o= line")
        if line[0] == "t" and not _TIMING.fullmatch(line):
            raise Rejected(f"the {what} has a malformed t= line")
    _read_lines(session, lines[1:], "osiuepcbtrzka")
    if "candidate" in session.attributes:
        raise Rejected(f"the {what} has an a=candidate outside any media section")
    for name in ("setup", "ice-ufrag", "ice-pwd"):
        session.one(name)
    return session


def _check_fingerprints(level: _Level, session: _Level) -> None:
    fingerprints = [
        *session.matches.get("fingerprint", []),
        *level.matches.get("fingerprint", []),
    ]
    if len(fingerprints) > MAX_FINGERPRINTS:
        raise Rejected(f"{level.where} has more than {MAX_FINGERPRINTS} fingerprints")
    usable = False
    for match in fingerprints:
        algorithm, digest = match.groups()
        if len(digest) != 3 * FINGERPRINT_BYTES[algorithm.lower()] - 1:
            raise Rejected(
                f"{level.where} has a {algorithm} fingerprint of the wrong length"
            )
        usable = usable or algorithm.lower() in USABLE_FINGERPRINTS
    if not usable:
        raise Rejected(
            f"{level.where} has no DTLS fingerprint "
            "(a=fingerprint with sha-256, sha-384 or sha-512)"
        )


def _check_codecs(level: _Level, kind: str, formats: list[int]) -> None:
    codecs: dict[int, tuple[str, str, str | None]] = {}
    for match in level.matches.get("rtpmap", []):
        pt, name, clock, channels = match.groups()
        if int(pt) not in formats:
            raise Rejected(
                f"{level.where} has an a=rtpmap for payload type {pt}, "
                "which its m= line does not list"
            )
        if int(pt) in codecs:
            raise Rejected(f"{level.where} has two a=rtpmap for payload type {pt}")
        codecs[int(pt)] = (name.lower(), clock, channels)
    for match in level.matches.get("fmtp", []):
        pt, parameters = match.groups()
        if int(pt) not in codecs:
            raise Rejected(
                f"{level.where} has an a=fmtp for payload type {pt}, "
                "which has no a=rtpmap"
            )
        for parameter in parameters.split(";"):
            name, _, number = parameter.partition("=")
            if name in _INTEGER_PARAMETERS and not _DIGITS.fullmatch(number):
                raise Rejected(
                    f"{level.where} has an a=fmtp whose {name} is not a number"
                )
    name, clock, channels = REQUIRED_CODECS[kind]
    wanted = f"{name}/{clock}" + (f"/{channels}" if channels else "")
    if not any(
        codec[:2] == (name, clock) and (channels is None or codec[2] == channels)
        for pt, codec in codecs.items()
        if pt in DYNAMIC_PAYLOAD_TYPES
    ):
        raise Rejected(
            f"no common codec: {level.where} does not offer {wanted} "
            "(on a payload type from 96 to 127)"
        )


def _check_media_line(line: str, where: str) -> tuple[str, list[int]]:
    """The kind and payload types of an m= line the SFU can take."""
    match = _MEDIA.fullmatch(line)
    if not match:
        raise Rejected(f"{where} begins with a malformed m= line")
    kind, port, protocol, format_list = match.groups()
    if kind not in REQUIRED_CODECS:
        raise Rejected(f"{where} is {_show(kind)}; only audio and video are accepted")
    if protocol != "UDP/TLS/RTP/SAVPF":
        raise Rejected(
            f"{where} uses {_show(protocol)}; only UDP/TLS/RTP/SAVPF is accepted"
        )
    if int(port) > 65535:
        raise Rejected(f"{where} has port {port} on its m= line")
    names = format_list.split()
    if len(names) > MAX_FORMATS:
        raise Rejected(f"{where} lists more than {MAX_FORMATS} payload types")
    for name in names:
        if not _FORMAT.fullmatch(name) or int(name) > 127:
            raise Rejected(
                f"{where} lists payload type {_show(name)}; 0 to 127 are allowed"
            )
        if int(name) in RTCP_PAYLOAD_TYPES:
            raise Rejected(
                f"{where} lists payload type {name}, which is reserved for RTCP"
            )
    formats = [int(n) for n in names]
    if len(set(formats)) != len(formats):
        raise Rejected(f"{where} lists a payload type twice")
    return kind, formats


def _check_transport(level: _Level, session: _Level, setups: tuple[str, ...]) -> None:
    """Direction, RTCP multiplexing, DTLS role and ICE credentials."""
    where = level.where
    directions = sum(len(level.attributes.get(d, [])) for d in DIRECTIONS)
    if directions != 1:
        raise Rejected(f"{where} must have one direction (a=sendonly, a=recvonly…)")
    if "rtcp-mux" not in level.attributes:
        raise Rejected(f"{where} does not use a=rtcp-mux, which is required")
    setup = level.one("setup") or session.one("setup")
    if setup not in setups:
        raise Rejected(
            f"{where} has {'no a=setup' if setup is None else 'a=setup:' + setup}; "
            f"it must be {' or '.join(setups)}"
        )
    if not (level.one("ice-ufrag") or session.one("ice-ufrag")) or not (
        level.one("ice-pwd") or session.one("ice-pwd")
    ):
        raise Rejected(f"{where} has no ICE credentials (a=ice-ufrag and a=ice-pwd)")
    _check_fingerprints(level, session)


def _check_numbers(level: _Level) -> None:
    """Header extension ids, RTCP ports and SSRCs aiortc would choke on."""
    where = level.where
    ids = [int(m.group(1)) for m in level.matches.get("extmap", [])]
    if any(not 1 <= i <= 255 for i in ids) or len(set(ids)) != len(ids):
        raise Rejected(f"{where} has a=extmap ids that are repeated or not 1 to 255")
    for match in level.matches.get("rtcp", []):
        port, address = match.groups()
        if int(port) > 65535:
            raise Rejected(f"{where} has an a=rtcp port above 65535")
        if address is not None:
            _check_address(address, where, "a=rtcp")
    ssrcs = [m.group(1) for m in level.matches.get("ssrc", [])]
    for match in level.matches.get("ssrc-group", []):
        ssrcs += match.group(1).split()
    if any(int(s) >= 2**32 for s in ssrcs):
        raise Rejected(f"{where} has an SSRC above 2^32 - 1")


def _section_candidates(lines: list[str], where: str) -> dict[int, _Candidate]:
    """The candidates of a section, by line index; malformed ones refuse it."""
    candidates: dict[int, _Candidate] = {}
    for index, line in enumerate(lines):
        if line.startswith("a=candidate:"):
            try:
                candidates[index] = _parse_candidate(line[12:], prefixed=False)
            except Rejected as exc:
                raise Rejected(f"{where} has a malformed a=candidate: {exc}") from None
        elif line == "a=candidate":
            raise Rejected(f"{where} has an empty a=candidate")
    return candidates


def _check_section(
    lines: list[str], where: str, session: _Level, setups: tuple[str, ...]
) -> _Section:
    kind, formats = _check_media_line(lines[0], where)
    if len(lines) > MAX_SECTION_LINES:
        raise Rejected(
            f"{where} has {len(lines)} lines; at most {MAX_SECTION_LINES} are allowed"
        )
    level = _Level(where)
    _read_lines(level, lines[1:], "icbka")
    mid = level.one("mid")
    if mid is None:
        raise Rejected(f"{where} has no a=mid")
    _check_transport(level, session, setups)
    _check_codecs(level, kind, formats)
    _check_numbers(level)
    return _Section(kind, mid, lines, _section_candidates(lines, where))


def _check(
    session_lines: list[str],
    section_lines: list[list[str]],
    what: str,
    *,
    policy: CandidatePolicy,
    counter: CandidateCounter | None,
    setups: tuple[str, ...],
) -> tuple[list[_Section], str]:
    """The checks offers and answers share; returns the sections and the SDP
    without the candidates ``policy`` refuses."""
    session = _check_session(session_lines, what)
    sections = [
        _check_section(lines, f"media section {n} of the {what}", session, setups)
        for n, lines in enumerate(section_lines, 1)
    ]
    mids = [s.mid for s in sections]
    if len(set(mids)) != len(mids):
        raise Rejected(f"the {what} gives two media sections the same mid")
    bundles = [
        v for v in session.attributes.get("group", []) if v and v.split()[0] == "BUNDLE"
    ]
    if len(bundles) > 1:
        raise Rejected(f"the {what} has more than one a=group:BUNDLE")
    for bundle in bundles:
        # aiortc moves every listed section onto the first one's transport and
        # stops the transports it replaced: an unknown first mid leaves the
        # others with none; a repeated mid or another order (with the SFU's
        # max-bundle) stops the transport they all share.
        items = bundle.split()[1:]
        if (
            any(i not in mids for i in items)
            or len(set(items)) != len(items)
            or items != sorted(items, key=mids.index)
        ):
            raise Rejected(
                f"the {what}'s a=group:BUNDLE must list mids of its media sections, "
                "once each and in order"
            )
    if counter is None:
        counter = policy.counter()
    kept = list(session_lines)
    for section in sections:
        for index, line in enumerate(section.lines):
            candidate = section.candidates.get(index)
            if candidate is not None:
                counter._take(candidate.key)
                if policy._refusal(candidate):
                    continue
            kept.append(line)
    return sections, "\r\n".join(kept) + "\r\n"


def check_offer(
    sdp: str,
    *,
    policy: CandidatePolicy,
    max_sections: int = 4,
    counter: CandidateCounter | None = None,
    previous: str | None = None,
) -> str:
    """Check a client's offer on its ``up`` connection (it publishes).

    Returns the offer without the candidates ``policy`` refuses; raises
    ``Rejected`` if aiortc could not take it or the SFU could not use it.
    Its candidates are counted on ``counter`` (the connection's, so that SDP
    and trickled candidates share one limit), or on a fresh one.

    ``previous`` is the offer the connection was last given, if any: a new
    offer must keep its media sections in place, with the same kinds and mids,
    and may only add sections after them (as JSEP requires). aiortc matches
    sections to transceivers by position as well as by mid, and raises or
    mixes tracks up when they move.
    """
    session, sections = _split(sdp, "offer", MAX_SDP_SIZE)
    if not sections:
        raise Rejected("the offer has no media sections")
    if len(sections) > max_sections:
        raise Rejected(
            f"the offer has {len(sections)} media sections; "
            f"at most {max_sections} are allowed"
        )
    checked, filtered = _check(
        session,
        sections,
        "offer",
        policy=policy,
        counter=counter,
        setups=("actpass", "active", "passive"),
    )
    if previous is not None:
        before = _offered_sections(previous)
        if [(s.kind, s.mid) for s in checked[: len(before)]] != before:
            raise Rejected(
                "the offer must keep the media sections of the previous one, "
                "with the same kinds and mids, in order, and add new ones after them"
            )
    return filtered


def _offered_sections(offer: str) -> list[tuple[str, str | None]]:
    """(kind, mid) of each section of an offer the SFU made itself."""
    sections: list[tuple[str, str | None]] = []
    for line in offer.splitlines():
        if line.startswith("m="):
            sections.append((line[2:].split(" ", 1)[0], None))
        elif line.startswith("a=mid:") and sections and sections[-1][1] is None:
            sections[-1] = (sections[-1][0], line[len("a=mid:") :])
    return sections


def check_answer(
    sdp: str,
    *,
    offer: str,
    policy: CandidatePolicy,
    counter: CandidateCounter | None = None,
) -> str:
    """Check a client's answer to the SFU's ``offer`` on its ``down`` connection.

    The same checks as ``check_offer``, and its media sections must be the
    offer's, with the same kinds and mids in the same order. Returns the
    answer without the candidates ``policy`` refuses.
    """
    expected = _offered_sections(offer)
    max_size = max(MAX_SDP_SIZE, ANSWER_SIZE_PER_SECTION * len(expected))
    session, section_lines = _split(sdp, "answer", max_size)
    if len(section_lines) != len(expected):
        raise Rejected(
            f"the answer has {len(section_lines)} media sections; "
            f"the offer has {len(expected)}"
        )
    if not section_lines:
        raise Rejected("the answer has no media sections")
    sections, filtered = _check(
        session,
        section_lines,
        "answer",
        policy=policy,
        counter=counter,
        setups=("active", "passive"),
    )
    for n, (section, (kind, mid)) in enumerate(zip(sections, expected, strict=True), 1):
        if (section.kind, section.mid) != (kind, mid):
            raise Rejected(
                f"media section {n} of the answer is {section.kind} with mid "
                f"{_show(section.mid)}; the offer's is {kind} "
                f"with mid {_show(mid or '')}"
            )
    return filtered
