"""An adversarial corpus for the SFU's signaling, made from real SDP.

``good_offer()`` is what a real aiortc publisher offers (audio and video,
sendonly); ``good_answer()`` is a real recvonly aiortc peer's answer to an
offer made as the SFU makes its ``down`` offers. ``hostile_offers()``,
``hostile_answers()`` and ``hostile_candidates()`` turn them into malformed,
oversized and malicious variants: truncations, deletions, swaps, hundreds of
m-lines, codecs the SFU cannot forward, broken DTLS and ICE attributes,
garbage characters, and candidates that name addresses the SFU must never
send to. The same seed gives the same mutations of the same base SDP.

Importing this module does nothing; the corpus is built when asked for.

Addresses that stand for "public" ones are documentation addresses
(``DOCUMENTATION_NETWORKS``), which no policy allows unless told to, so the
corpus never makes anyone send packets to a real host on the Internet. The
others are what an attacker would name (loopback, the LAN, 169.254.169.254,
multicast): an SFU without the guard would send STUN checks there once it
gathers, so attack an unguarded one only from a sandbox.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)

DOCUMENTATION_NETWORKS = (
    "192.0.2.0/24",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "2001:db8::/32",
)
SEED = 20240611


@dataclass(frozen=True)
class Hostile:
    """One adversarial input: what it tries, and the text itself. An answer
    carries the offer it answers; a renegotiating offer, the offer before it."""

    name: str
    text: str
    offer: str = ""
    previous: str = ""


# Real descriptions


def prefer_forwarded_codecs(pc: RTCPeerConnection) -> None:
    """Opus and VP8 (with RTX), as the SFU prefers on its connections."""
    wanted = {"audio": "audio/opus", "video": "video/VP8"}
    for transceiver in pc.getTransceivers():
        codecs = RTCRtpSender.getCapabilities(transceiver.kind).codecs
        transceiver.setCodecPreferences(
            [c for c in codecs if c.mimeType == wanted[transceiver.kind]]
            + [c for c in codecs if c.mimeType.endswith("/rtx")]
        )


async def good_offer() -> str:
    """A real aiortc publisher's offer: audio and video, sendonly, with its
    host candidates."""
    pc = RTCPeerConnection(RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
    try:
        pc.addTransceiver("audio", direction="sendonly")
        pc.addTransceiver("video", direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp
    finally:
        await pc.close()


async def good_answer() -> tuple[str, str]:
    """(offer, answer): an offer like the SFU's ``down`` offers (sendonly audio
    and video, opus and VP8) and a real recvonly aiortc peer's answer."""
    sfu = RTCPeerConnection(RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
    peer = RTCPeerConnection(RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
    try:
        sfu.addTransceiver("audio", direction="sendonly")
        sfu.addTransceiver("video", direction="sendonly")
        prefer_forwarded_codecs(sfu)
        await sfu.setLocalDescription(await sfu.createOffer())
        offer = sfu.localDescription.sdp
        await peer.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        for transceiver in peer.getTransceivers():
            transceiver.direction = "recvonly"
        await peer.setLocalDescription(await peer.createAnswer())
        return offer, peer.localDescription.sdp
    finally:
        await peer.close()
        await sfu.close()


# Mutations shared by offers and answers


def _rng(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - a repeatable corpus, not secrets


Lines = list[str]


def _join(lines: Lines) -> str:
    return "\r\n".join(lines) + "\r\n"


def _lines(sdp: str) -> Lines:
    return sdp.splitlines()


def _replace(lines: Lines, pattern: str, new: str, count: int = 0) -> Lines:
    """Each line matching ``pattern`` (a regex) rewritten to ``new``;
    an empty ``new`` deletes the line."""
    out: Lines = []
    done = 0
    for line in lines:
        if re.search(pattern, line) and (not count or done < count):
            done += 1
            if new:
                out.append(re.sub(pattern, new, line))
            continue
        out.append(line)
    return out


def _sections(lines: Lines) -> tuple[Lines, list[Lines]]:
    session: Lines = []
    sections: list[Lines] = []
    for line in lines:
        if line.startswith("m="):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
        else:
            session.append(line)
    return session, sections


def _with_sections(session: Lines, sections: list[Lines]) -> Lines:
    return session + [line for section in sections for line in section]


def _in_section(lines: Lines, index: int, change: Callable[[Lines], Lines]) -> Lines:
    session, sections = _sections(lines)
    sections[index] = change(sections[index])
    return _with_sections(session, sections)


def _added(lines: Lines, index: int, *new: str) -> Lines:
    """``new`` lines appended to media section ``index`` (-1: the last)."""
    return _in_section(lines, index, lambda section: section + list(new))


def _many_sections(lines: Lines, count: int, *, copy: bool = False) -> Lines:
    """``count`` more sections: copies of the last one, or (the 16 KB attack,
    which aiortc takes unguarded) small sendonly video sections that take
    their ICE and DTLS attributes from the session."""
    session, sections = _sections(lines)
    if copy:
        template = sections[-1]
    else:
        transport = ("a=ice-ufrag:", "a=ice-pwd:", "a=fingerprint:sha-256", "a=setup:")
        session = session + [
            next(line for line in sections[0] if line.startswith(prefix))
            for prefix in transport
        ]
        template = [
            "m=video 9 UDP/TLS/RTP/SAVPF 96",
            "c=IN IP4 0.0.0.0",
            "a=mid:0",
            "a=sendonly",
            "a=rtcp-mux",
            "a=rtpmap:96 VP8/90000",
        ]
    extra = [
        [re.sub(r"^a=mid:.*", f"a=mid:x{n}", line) for line in template]
        for n in range(count)
    ]
    return _with_sections(session, sections + extra)


def _structural(base: str, rng: random.Random) -> Iterator[tuple[str, str]]:
    """Truncations, deletions, duplications and swaps of ``base``'s lines."""
    lines = _lines(base)
    for _ in range(24):
        at = rng.randrange(1, len(base))
        yield f"truncated at character {at}", base[:at]
    for n in range(0, len(lines), max(1, len(lines) // 24)):
        yield f"truncated after line {n}", _join(lines[:n])
    for n in range(1, len(lines)):
        yield f"line {n} ({lines[n][:12]}) deleted", _join(lines[:n] + lines[n + 1 :])
    for _ in range(20):
        n = rng.randrange(1, len(lines))
        copy = [*lines[:n], lines[n], *lines[n:]]
        yield f"line {n} ({lines[n][:12]}) duplicated", _join(copy)
    for _ in range(20):
        a, b = sorted(rng.sample(range(1, len(lines)), 2))
        swapped = list(lines)
        swapped[a], swapped[b] = swapped[b], swapped[a]
        yield f"lines {a} and {b} swapped", _join(swapped)
    for _ in range(10):
        n = rng.randrange(1, len(lines))
        yield f"line {n} repeated 300 times", _join(lines[:n] + [lines[n]] * 300)


def _characters(base: str, rng: random.Random) -> Iterator[tuple[str, str]]:
    """Garbage, control characters, unicode and sizes."""
    yield "empty", ""
    yield "only v=0", "v=0\r\n"
    yield "whitespace", " \r\n\t\r\n"
    yield "JSON instead of SDP", '{"type": "offer", "sdp": "v=0"}'
    yield "LF line endings only", base.replace("\r\n", "\n")
    yield "CR line endings only", base.replace("\r\n", "\r")
    yield "no final line ending", base.rstrip("\r\n")
    yield "blank line in the middle", base.replace("\r\nt=", "\r\n\r\nt=", 1)
    yield "leading blank line", "\r\n" + base
    yield "leading space", " " + base
    yield "BOM first", "\ufeff" + base
    for n in range(8):
        garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4000)))
        yield f"random bytes ({n})", garbage.decode("latin-1")
        yield f"v=0 then random bytes ({n})", "v=0\r\n" + garbage.decode("latin-1")
    for char, label in [
        ("\x00", "NUL"),
        ("\t", "tab"),
        ("\x0b", "vertical tab"),
        ("\x1c", "file separator"),
        ("\x85", "next line"),
        ("\u2028", "line separator"),
        ("é", "latin letter"),
        ("\U0001f4a9", "emoji"),
        ("\ud800", "lone surrogate"),
        ("١", "Arabic-Indic digit"),
    ]:
        at = rng.randrange(5, len(base))
        yield f"{label} inserted", base[:at] + char + base[at:]
    yield "NUL after every line", base.replace("\r\n", "\x00\r\n")
    yield "Arabic-Indic payload types", base.replace(" 96", " ٩٦")
    yield "70 KB of padding", base + "a=x-pad:" + "x" * 70_000 + "\r\n"
    yield "a 5000-character line", base + "a=x-long:" + "y" * 5000 + "\r\n"
    yield "a million characters", "v=0\r\n" + "a=x\r\n" * 200_000


def _session(base: str) -> Iterator[tuple[str, str]]:
    lines = _lines(base)
    yield "v=1", _join(["v=1", *lines[1:]])
    yield "v=0x", _join(["v=0x", *lines[1:]])
    yield "two v= lines", _join([lines[0], *lines])
    yield "no o=", _join(_replace(lines, r"^o=.*", ""))
    yield "garbage o=", _join(_replace(lines, r"^o=.*", "o=garbage"))
    yield "two s= lines", _join(_replace(lines, r"^s=.*", "s=-\r\ns=-"))
    yield "no s=", _join(_replace(lines, r"^s=.*", ""))
    yield "no t=", _join(_replace(lines, r"^t=.*", ""))
    yield "t=x y", _join(_replace(lines, r"^t=.*", "t=x y"))
    yield (
        "session c= with a host name",
        _join(_replace(lines, r"^t=.*", "c=IN IP4 example.com\r\nt=0 0")),
    )
    yield "unknown line type", _join([*lines[:3], "q=what", *lines[3:]])
    yield "upper-case line type", _join([*lines[:3], "A=foo", *lines[3:]])
    yield "line without =", _join([*lines[:3], "garbage", *lines[3:]])
    yield "session a=setup:bogus", _join([*lines[:4], "a=setup:bogus", *lines[4:]])
    yield "session a=setup without value", _join([*lines[:4], "a=setup", *lines[4:]])
    yield (
        "session fingerprint with three words",
        _join([*lines[:4], "a=fingerprint:sha-256 AA BB", *lines[4:]]),
    )
    yield "session a=group without value", _join([*lines[:4], "a=group", *lines[4:]])
    yield (
        "session a=msid-semantic without value",
        _join([*lines[:4], "a=msid-semantic", *lines[4:]]),
    )
    yield (
        "session a=candidate",
        _join(
            [*lines[:4], "a=candidate:1 1 udp 1 203.0.113.9 4000 typ host", *lines[4:]]
        ),
    )
    yield (
        "BUNDLE names an unknown mid first",
        _join(_replace(lines, r"^a=group:BUNDLE .*", "a=group:BUNDLE nope 0 1")),
    )
    yield (
        "BUNDLE reversed",
        _join(_replace(lines, r"^a=group:BUNDLE .*", "a=group:BUNDLE 1 0")),
    )
    yield (
        "BUNDLE repeats a mid",
        _join(_replace(lines, r"^a=group:BUNDLE .*", "a=group:BUNDLE 0 0 1")),
    )
    yield (
        "two BUNDLE groups",
        _join(
            _replace(
                lines, r"^a=group:BUNDLE .*", "a=group:BUNDLE 0\r\na=group:BUNDLE 1"
            )
        ),
    )
    yield (
        "BUNDLE of one section",
        _join(_replace(lines, r"^a=group:BUNDLE .*", "a=group:BUNDLE 1")),
    )
    yield "no BUNDLE", _join(_replace(lines, r"^a=group:BUNDLE .*", ""))
    yield "80 session attributes", _join([*lines[:4], *["a=x-filler"] * 80, *lines[4:]])


def _media(base: str) -> Iterator[tuple[str, str]]:
    """Media-section attacks, applied to every section of ``base``."""
    lines = _lines(base)
    for index in range(len(_sections(lines)[1])):
        yield from _section_attacks(lines, index)


@dataclass(frozen=True)
class _SectionEdit:
    """Edits of one media section of an SDP (given as lines)."""

    lines: Lines
    index: int

    @property
    def kind(self) -> str:
        return _sections(self.lines)[1][self.index][0][2:7]

    @property
    def at(self) -> str:
        return f"{self.kind} section"

    @property
    def forwarded(self) -> str:
        return "opus/48000/2" if self.kind == "audio" else "VP8/90000"

    def change(self, pattern: str, new: str, count: int = 0) -> str:
        """The SDP with the section's lines matching ``pattern`` rewritten."""
        return _join(
            _in_section(
                self.lines, self.index, lambda x: _replace(x, pattern, new, count)
            )
        )

    def add(self, *new: str) -> str:
        """The SDP with ``new`` lines at the end of the section."""
        return _join(_added(self.lines, self.index, *new))

    def codec(self, *new: str) -> str:
        """The SDP with ``new`` lines for payload type 120, listed on the m= line."""
        listed = _in_section(self.lines, self.index, lambda x: [x[0] + " 120", *x[1:]])
        return _join(_added(listed, self.index, *new))


def _section_attacks(lines: Lines, index: int) -> Iterator[tuple[str, str]]:
    """Attacks on media section ``index`` of ``lines``."""
    edit = _SectionEdit(lines, index)
    for attacks in (
        _m_line_attacks,
        _mid_attacks,
        _direction_attacks,
        _dtls_attacks,
        _ice_attacks,
        _codec_attacks,
        _attribute_attacks,
        _line_attacks,
    ):
        yield from attacks(edit)


def _m_line_attacks(edit: _SectionEdit) -> Iterator[tuple[str, str]]:
    """Attacks on the m= line."""
    yield f"{edit.at}: application kind", edit.change(r"^m=\w+", "m=application")
    yield f"{edit.at}: text kind", edit.change(r"^m=\w+", "m=text")
    yield (
        f"{edit.at}: data channel m= line",
        edit.change(r"^m=.*", "m=application 9 UDP/DTLS/SCTP webrtc-datachannel"),
    )
    yield f"{edit.at}: RTP/AVP", edit.change(r"UDP/TLS/RTP/SAVPF", "RTP/AVP")
    yield (
        f"{edit.at}: lower-case proto",
        edit.change(r"UDP/TLS/RTP/SAVPF", "udp/tls/rtp/savpf"),
    )
    yield f"{edit.at}: port 70000", edit.change(r"^(m=\w+) \d+", r"\1 70000")
    yield f"{edit.at}: port count", edit.change(r"^(m=\w+) (\d+)", r"\1 \2/2")
    yield f"{edit.at}: port 0", edit.change(r"^(m=\w+) \d+", r"\1 0")
    yield f"{edit.at}: no payload types", edit.change(r"^(m=\w+ \d+ \S+) .*", r"\1")
    for pt in ("128", "255", "256", "-1", "72", "abc", "096", "99999999999999"):
        yield (
            f"{edit.at}: payload type {pt} listed",
            edit.change(r"^(m=.*)$", rf"\1 {pt}"),
        )
    yield (
        f"{edit.at}: a payload type listed twice",
        edit.change(r"^(m=\S+ \S+ \S+ (\d+))", r"\1 \2"),
    )
    yield (
        f"{edit.at}: 100 payload types",
        edit.change(
            r"^(m=.*)$",
            r"\1 " + " ".join(str(n) for n in range(0, 128) if n not in range(72, 77)),
        ),
    )


def _mid_attacks(edit: _SectionEdit) -> Iterator[tuple[str, str]]:
    """Attacks on mids."""
    yield f"{edit.at}: no mid", edit.change(r"^a=mid:.*", "")
    yield f"{edit.at}: empty mid", edit.change(r"^a=mid:.*", "a=mid:")
    yield f"{edit.at}: a=mid without colon", edit.change(r"^a=mid:.*", "a=mid")
    yield (
        f"{edit.at}: 4000-character mid",
        edit.change(r"^a=mid:.*", "a=mid:" + "m" * 4000),
    )
    yield f"{edit.at}: 33-character mid", edit.change(r"^a=mid:.*", "a=mid:" + "m" * 33)
    yield f"{edit.at}: mid with a space", edit.change(r"^a=mid:.*", "a=mid:a b")
    yield f"{edit.at}: mid with a quote", edit.change(r"^a=mid:.*", 'a=mid:"x"')
    yield f"{edit.at}: two mids", edit.change(r"^(a=mid:.*)", r"\1\r\na=mid:other")
    yield (
        f"{edit.at}: mid of the other section",
        edit.change(r"^a=mid:.*", f"a=mid:{1 - edit.index}"),
    )


def _direction_attacks(edit: _SectionEdit) -> Iterator[tuple[str, str]]:
    """Attacks on directions and RTCP."""
    yield (
        f"{edit.at}: no direction",
        edit.change(r"^a=(sendonly|recvonly|sendrecv|inactive)$", ""),
    )
    yield (
        f"{edit.at}: two directions",
        edit.change(
            r"^a=(sendonly|recvonly|sendrecv|inactive)$", r"a=\1\r\na=inactive"
        ),
    )
    yield (
        f"{edit.at}: direction with a value",
        edit.change(r"^a=(sendonly|recvonly|sendrecv|inactive)$", r"a=\1:yes"),
    )
    yield f"{edit.at}: no rtcp-mux", edit.change(r"^a=rtcp-mux$", "")
    yield f"{edit.at}: rtcp port 99999", edit.change(r"^a=rtcp:\d+", "a=rtcp:99999")
    yield (
        f"{edit.at}: rtcp with a host name",
        edit.change(r"^a=rtcp:.*", "a=rtcp:9 IN IP4 evil.example"),
    )
    yield f"{edit.at}: rtcp garbage", edit.change(r"^a=rtcp:.*", "a=rtcp:nine")


def _dtls_attacks(edit: _SectionEdit) -> Iterator[tuple[str, str]]:
    """Attacks on the DTLS role and fingerprints."""
    for setup in (
        "holdconn",
        "",
        "ACTPASS",
        "actpass ",
        "active passive",
        "x" * 100,
    ):
        yield (
            f"{edit.at}: a=setup:{setup[:10]!r}",
            edit.change(r"^a=setup:.*", f"a=setup:{setup}"),
        )
    yield f"{edit.at}: no a=setup", edit.change(r"^a=setup:.*", "")
    yield f"{edit.at}: two a=setup", edit.change(r"^(a=setup:.*)", r"\1\r\n\1")
    yield f"{edit.at}: no fingerprint", edit.change(r"^a=fingerprint:.*", "")
    yield (
        f"{edit.at}: only a sha-1 fingerprint",
        edit.change(
            r"^a=fingerprint:.*", "a=fingerprint:sha-1 " + ":".join(["AB"] * 20)
        ),
    )
    yield (
        f"{edit.at}: fingerprint of the wrong length",
        edit.change(
            r"^a=fingerprint:sha-256 .*",
            "a=fingerprint:sha-256 " + ":".join(["AB"] * 31),
        ),
    )
    yield (
        f"{edit.at}: md5 fingerprint",
        edit.change(r"^a=fingerprint:.*", "a=fingerprint:md5 " + ":".join(["AB"] * 16)),
    )
    yield (
        f"{edit.at}: fingerprint without digest",
        edit.change(r"^a=fingerprint:.*", "a=fingerprint:sha-256"),
    )
    yield (
        f"{edit.at}: fingerprint of three words",
        edit.change(r"^(a=fingerprint:.*)", r"\1 extra"),
    )
    yield (
        f"{edit.at}: 20 fingerprints",
        edit.change(r"^(a=fingerprint:sha-256 .*)", "\r\n".join([r"\1"] * 20)),
    )


def _ice_attacks(edit: _SectionEdit) -> Iterator[tuple[str, str]]:
    """Attacks on ICE credentials."""
    yield f"{edit.at}: no ice-ufrag", edit.change(r"^a=ice-ufrag:.*", "")
    yield f"{edit.at}: no ice-pwd", edit.change(r"^a=ice-pwd:.*", "")
    yield f"{edit.at}: empty ice-ufrag", edit.change(r"^a=ice-ufrag:.*", "a=ice-ufrag:")
    yield f"{edit.at}: short ice-pwd", edit.change(r"^a=ice-pwd:.*", "a=ice-pwd:short")
    yield (
        f"{edit.at}: ice-ufrag with a colon",
        edit.change(r"^a=ice-ufrag:.*", "a=ice-ufrag:ab:cd"),
    )
    yield (
        f"{edit.at}: two ice-ufrag",
        edit.change(r"^(a=ice-ufrag:.*)", r"\1\r\na=ice-ufrag:abcd"),
    )


def _codec_attacks(edit: _SectionEdit) -> Iterator[tuple[str, str]]:
    """Attacks on codecs."""
    yield (
        f"{edit.at}: no common codec",
        edit.change(re.escape(edit.forwarded), "ISAC/16000"),
    )
    yield (
        f"{edit.at}: forwarded codec removed",
        edit.change(rf"^a=rtpmap:\d+ {re.escape(edit.forwarded)}", ""),
    )
    yield (
        f"{edit.at}: forwarded codec on a static payload type",
        edit.change(rf"^a=rtpmap:\d+ ({re.escape(edit.forwarded)})", r"a=rtpmap:0 \1"),
    )
    yield f"{edit.at}: opus in mono", edit.change(r"opus/48000/2", "opus/48000/1")
    yield (
        f"{edit.at}: rtpmap without clock rate",
        edit.change(r"^a=rtpmap:(\d+) (\w+)/.*", r"a=rtpmap:\1 \2", 1),
    )
    yield (
        f"{edit.at}: rtpmap with a word for clock rate",
        edit.change(r"^a=rtpmap:(\d+) (\w+)/\d+", r"a=rtpmap:\1 \2/fast", 1),
    )
    yield (
        f"{edit.at}: rtpmap with channels 'two'",
        edit.change(r"/48000/2", "/48000/two"),
    )
    yield (
        f"{edit.at}: rtpmap for an unlisted payload type",
        edit.add("a=rtpmap:120 VP9/90000"),
    )
    yield f"{edit.at}: rtpmap without a payload type", edit.add("a=rtpmap:opus/48000/2")
    yield (
        f"{edit.at}: two rtpmap for a payload type",
        edit.change(r"^(a=rtpmap:.*)", r"\1\r\n\1", 1),
    )
    yield (
        f"{edit.at}: fmtp for a payload type without rtpmap",
        edit.add("a=fmtp:35 apt=96"),
    )
    yield f"{edit.at}: fmtp with a word for apt", edit.add("a=fmtp:98 apt=ninety")
    yield (
        f"{edit.at}: fmtp with apt and no value",
        edit.change(r"^(a=rtpmap:(\d+) .*)", r"\1\r\na=fmtp:\2 apt", 1),
    )
    yield (
        f"{edit.at}: fmtp without parameters",
        edit.change(r"^(a=rtpmap:(\d+) .*)", r"\1\r\na=fmtp:\2", 1),
    )
    yield (
        f"{edit.at}: H264 with a bare packetization-mode",
        edit.codec("a=rtpmap:120 H264/90000", "a=fmtp:120 packetization-mode"),
    )
    yield (
        f"{edit.at}: H264 with a garbage profile",
        edit.codec(
            "a=rtpmap:120 H264/90000",
            "a=fmtp:120 profile-level-id=zzzzzz;packetization-mode=x",
        ),
    )
    yield (
        f"{edit.at}: H264 with a profile of unknown level",
        edit.codec("a=rtpmap:120 H264/90000", "a=fmtp:120 profile-level-id=42e0ff"),
    )
    yield f"{edit.at}: rtx whose apt is missing", edit.codec("a=rtpmap:120 rtx/90000")
    yield (
        f"{edit.at}: rtx whose apt is unknown",
        edit.codec("a=rtpmap:120 rtx/90000", "a=fmtp:120 apt=55"),
    )
    yield (
        f"{edit.at}: red with a bare parameter",
        edit.codec("a=rtpmap:120 red/48000/2", "a=fmtp:120 111/111"),
    )
    yield f"{edit.at}: rtcp-fb with no type", edit.add("a=rtcp-fb:96")
    yield f"{edit.at}: rtcp-fb for every codec", edit.add("a=rtcp-fb:* nack")


def _attribute_attacks(edit: _SectionEdit) -> Iterator[tuple[str, str]]:
    """Attacks on header extensions, SSRCs, msids."""
    yield f"{edit.at}: extmap with three words", edit.add("a=extmap:9 urn:x attributes")
    yield f"{edit.at}: extmap id 0", edit.add("a=extmap:0 urn:x")
    yield f"{edit.at}: extmap id 256", edit.add("a=extmap:256 urn:x")
    yield (
        f"{edit.at}: extmap with a bad direction",
        edit.add("a=extmap:9/sideways urn:x"),
    )
    yield (
        f"{edit.at}: extmap id repeated",
        edit.change(r"^(a=extmap:.*)", r"\1\r\n\1x", 1),
    )
    yield f"{edit.at}: ssrc not a number", edit.add("a=ssrc:abc cname:x")
    yield f"{edit.at}: ssrc above 2^32", edit.add("a=ssrc:99999999999 cname:x")
    yield f"{edit.at}: ssrc without attribute", edit.add("a=ssrc:1234")
    yield f"{edit.at}: ssrc attribute without colon", edit.add("a=ssrc:1234 cname")
    yield f"{edit.at}: ssrc-group of words", edit.add("a=ssrc-group:FID one two")
    yield f"{edit.at}: ssrc-group without value", edit.add("a=ssrc-group")
    yield (
        f"{edit.at}: msid with a trailing space",
        edit.change(r"^a=msid:(\S+) \S+", r"a=msid:\1 "),
    )
    yield (
        f"{edit.at}: msid starting with a space",
        edit.change(r"^a=msid:\S+ (\S+)", r"a=msid: \1"),
    )
    yield f"{edit.at}: msid of three words", edit.change(r"^(a=msid:.*)", r"\1 extra")
    yield f"{edit.at}: sctp-port in a media section", edit.add("a=sctp-port:lots")
    yield f"{edit.at}: max-message-size garbage", edit.add("a=max-message-size:big")
    yield f"{edit.at}: sctpmap garbage", edit.add("a=sctpmap:x webrtc-datachannel")


def _line_attacks(edit: _SectionEdit) -> Iterator[tuple[str, str]]:
    """Attacks on lines and sizes."""
    yield (
        f"{edit.at}: c= with a host name",
        edit.change(r"^c=.*", "c=IN IP4 evil.example"),
    )
    yield (
        f"{edit.at}: c= with a multicast TTL",
        edit.change(r"^c=.*", "c=IN IP4 224.2.36.42/127"),
    )
    yield f"{edit.at}: c= IN IP7", edit.change(r"^c=.*", "c=IN IP7 1.2.3.4")
    yield f"{edit.at}: c= without address", edit.change(r"^c=.*", "c=IN IP4")
    yield f"{edit.at}: t= inside", edit.add("t=0 0")
    yield f"{edit.at}: attribute with a space in its name", edit.add("a=foo bar:baz")
    yield (
        f"{edit.at}: 300 attribute lines",
        edit.add(*[f"a=x-filler:{n}" for n in range(300)]),
    )
    yield f"{edit.at}: 4000-character attribute", edit.add("a=x-long:" + "z" * 4000)
    yield f"{edit.at}: b=AS line", edit.add("b=AS:500")


def _candidate_lines(base: str) -> Iterator[tuple[str, str]]:
    lines = _lines(base)
    for text, label in _SDP_CANDIDATES:
        yield f"SDP candidate: {label}", _join(_added(lines, 0, f"a=candidate:{text}"))
    many = [
        f"a=candidate:{n} 1 udp 1 203.0.113.{n} {5000 + n} typ host" for n in range(40)
    ]
    yield "40 SDP candidates", _join(_added(lines, 0, *many))
    yield "a=candidate without value", _join(_added(lines, 0, "a=candidate"))
    yield "empty a=candidate", _join(_added(lines, 0, "a=candidate:"))
    yield (
        "trickle prefix inside SDP",
        _join(
            _added(
                lines, 0, "a=candidate:candidate:1 1 udp 1 203.0.113.1 5000 typ host"
            )
        ),
    )
    yield "all candidates removed", _join(_replace(lines, r"^a=candidate:.*", ""))
    yield (
        "end-of-candidates with a value",
        _join(_replace(lines, r"^a=end-of-candidates$", "a=end-of-candidates:now")),
    )


_SDP_CANDIDATES = [
    ("1 1 udp 2122260223 203.0.113.7 54321 typ host", "documentation address"),
    (
        "1 1 udp 2122260223 8ad3f2cd-7a88-4d77-9ad5-29b0a5f0e2d1.local 54321 typ host",
        "mDNS",
    ),
    ("1 1 udp 2122260223 127.0.0.1 5432 typ host", "loopback"),
    ("1 1 udp 2122260223 10.1.2.3 53 typ host", "private"),
    ("1 1 udp 2122260223 169.254.169.254 80 typ host", "cloud metadata"),
    ("1 1 udp 2122260223 224.0.0.251 5353 typ host", "multicast"),
    ("1 1 udp 2122260223 evil.example 3478 typ host", "host name"),
    ("1 1 udp 2122260223 203.0.113.7 0 typ host", "port 0"),
    ("1 0 udp 2122260223 203.0.113.7 5000 typ host", "component 0"),
    ("1 1 udp 2122260223 203.0.113.7 5000", "no typ"),
    ("1 1 udp 2122260223 203.0.113.7", "seven fields"),
    ("garbage", "garbage"),
]


def _mutations(base: str, seed: int) -> list[tuple[str, str]]:
    rng = _rng(seed)
    return [
        *_structural(base, rng),
        *_characters(base, rng),
        *_session(base),
        *_media(base),
        *_candidate_lines(base),
    ]


# Offers


def offer_mutations(offer: str, *, seed: int = SEED) -> list[Hostile]:
    """Hostile variants of a publisher's ``offer``."""
    lines = _lines(offer)
    session, sections = _sections(lines)
    second_audio = [re.sub(r"^a=mid:.*", "a=mid:2", x) for x in sections[0]]
    cases = [
        (
            "150 sendonly video sections (the 16 KB attack)",
            _join(_many_sections(lines, 148)),
        ),
        ("5 sections", _join(_many_sections(lines, 3, copy=True))),
        (
            "1000 minimal m-lines",
            _join(lines + ["m=audio 9 UDP/TLS/RTP/SAVPF 0"] * 1000),
        ),
        ("no media sections", _join(session)),
        ("two audio sections with one mid", _join(lines + sections[0])),
        (
            "two audio sections",
            _join(_with_sections(session, [*sections, second_audio])),
        ),
        ("video before audio", _join(_with_sections(session, sections[::-1]))),
        ("only audio", _join(_with_sections(session, sections[:1]))),
        ("only video", _join(_with_sections(session, sections[1:]))),
    ]
    cases += _mutations(offer, seed)
    return [Hostile(name, text) for name, text in cases] + _renegotiations(offer)


def _renegotiations(offer: str) -> list[Hostile]:
    """Second offers on the same connection, after ``offer``."""
    session, (audio, video) = _sections(_lines(offer))

    def mid(section: Lines, value: str) -> Lines:
        return [re.sub(r"^a=mid:.*", f"a=mid:{value}", line) for line in section]

    def sdp(mids: str, *sections: Lines) -> str:
        bundled = _replace(session, r"^a=group:BUNDLE .*", f"a=group:BUNDLE {mids}")
        return _join(_with_sections(bundled, list(sections)))

    cases = [
        ("the same offer again", sdp("0 1", audio, video)),
        ("a screen share added", sdp("0 1 2", audio, video, mid(video, "2"))),
        ("sections reordered", sdp("1 0", video, audio)),
        ("mids renamed", sdp("a b", mid(audio, "a"), mid(video, "b"))),
        ("the kind of mid 1 changed", sdp("0 1", audio, mid(audio, "1"))),
        ("the last section removed", sdp("0", audio)),
        ("the first section removed", sdp("1", video)),
        ("a section inserted first", sdp("2 0 1", mid(video, "2"), audio, video)),
    ]
    return [
        Hostile(f"renegotiation: {name}", text, previous=offer) for name, text in cases
    ]


async def hostile_offers(*, seed: int = SEED) -> list[Hostile]:
    """Hostile variants of a real aiortc publisher's offer."""
    return offer_mutations(await good_offer(), seed=seed)


# Answers


def answer_mutations(offer: str, answer: str, *, seed: int = SEED) -> list[Hostile]:
    """Hostile variants of ``answer`` (to the SFU's ``offer``)."""
    lines = _lines(answer)
    session, sections = _sections(lines)
    renamed = [[re.sub(r"^a=mid:(.*)", r"a=mid:\1x", x) for x in s] for s in sections]
    cases = [
        ("one section missing", _join(_with_sections(session, sections[:1]))),
        (
            "one section too many",
            _join(_with_sections(session, sections + sections[1:])),
        ),
        ("150 sections", _join(_many_sections(lines, 148))),
        ("no sections", _join(session)),
        ("sections swapped", _join(_with_sections(session, sections[::-1]))),
        ("mids renamed", _join(_with_sections(session, renamed))),
        (
            "mids swapped",
            _join(
                _replace(
                    _replace(
                        _replace(lines, r"^a=mid:0$", "a=mid:T"),
                        r"^a=mid:1$",
                        "a=mid:0",
                    ),
                    r"^a=mid:T$",
                    "a=mid:1",
                )
            ),
        ),
        ("audio section made video", _join(_replace(lines, r"^m=audio", "m=video", 1))),
        ("setup actpass", _join(_replace(lines, r"^a=setup:.*", "a=setup:actpass"))),
        ("setup absent", _join(_replace(lines, r"^a=setup:.*", ""))),
        ("setup passive", _join(_replace(lines, r"^a=setup:.*", "a=setup:passive"))),
        ("sendrecv", _join(_replace(lines, r"^a=recvonly$", "a=sendrecv"))),
        ("inactive", _join(_replace(lines, r"^a=recvonly$", "a=inactive"))),
    ]
    cases += _mutations(answer, seed)
    return [Hostile(name, text, offer) for name, text in cases]


async def hostile_answers(*, seed: int = SEED) -> list[Hostile]:
    """Hostile variants of a real recvonly peer's answer; each carries the
    offer it answers."""
    offer, answer = await good_answer()
    return answer_mutations(offer, answer, seed=seed)


# Candidates


def hostile_candidates(*, seed: int = SEED) -> list[Hostile]:
    """Trickled candidates (``candidate:…``, as browsers send them) that are
    malformed or name addresses the SFU must not send to."""
    rng = _rng(seed)
    good = "candidate:842163049 1 udp 1677729535 {address} {port} typ {kind}"
    cases: list[tuple[str, str]] = []
    for address, label in [
        ("127.0.0.1", "loopback"),
        ("127.1.2.3", "loopback range"),
        ("::1", "IPv6 loopback"),
        ("10.0.0.1", "private 10/8"),
        ("172.16.5.4", "private 172.16/12"),
        ("192.168.213.7", "private 192.168/16"),
        ("fd12:3456::1", "unique local IPv6"),
        ("169.254.169.254", "cloud metadata (link-local)"),
        ("fe80::1", "IPv6 link-local"),
        ("fe80::1%eth0", "IPv6 link-local with a zone"),
        ("224.0.0.251", "mDNS multicast"),
        ("239.255.255.250", "SSDP multicast"),
        ("ff02::1", "IPv6 multicast"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - a candidate, not a bind
        ("::", "IPv6 unspecified"),
        ("255.255.255.255", "broadcast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "shared address space"),
        ("198.18.0.1", "benchmarking"),
        ("0.1.2.3", "this network"),
        ("::ffff:10.0.0.1", "IPv4-mapped private"),
        ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
        ("::ffff:203.0.113.7", "IPv4-mapped"),
        ("2002:a00:1::1", "6to4 of a private address"),
        ("64:ff9b::a00:1", "NAT64 of a private address"),
        ("::127.0.0.1", "IPv4-compatible loopback"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("8ad3f2cd-7a88-4d77-9ad5-29b0a5f0e2d1.local", "mDNS name"),
        ("printer.local", "mDNS printer"),
        ("localhost", "localhost"),
        ("evil.example", "host name"),
        ("metadata.google.internal", "metadata host name"),
        ("2130706433", "loopback as an integer"),
        ("0x7f.1", "loopback in hex"),
        ("0177.0.0.1", "loopback in octal"),
        ("010.0.0.1", "leading zero"),
        ("1.2.3", "three octets"),
        ("256.1.1.1", "octet out of range"),
        ("[::1]", "bracketed IPv6"),
        ("10.0.0.0/8", "a network"),
        ("١٠.0.0.1", "Arabic-Indic digits"),
    ]:
        cases.append((label, good.format(address=address, port=5000, kind="host")))
    bad_fields = [
        ("port 0", "5000", "0"),
        ("port 65536", "5000", "65536"),
        ("port -1", "5000", "-1"),
        ("port huge", "5000", "9" * 30),
        ("port with a plus", "5000", "+5000"),
        ("port in words", "5000", "five"),
        ("component 0", " 1 udp", " 0 udp"),
        ("component 257", " 1 udp", " 257 udp"),
        ("component -1", " 1 udp", " -1 udp"),
        ("transport sctp", " udp ", " sctp "),
        ("transport tls", " udp ", " tls "),
        ("negative priority", " 1677729535 ", " -5 "),
        ("priority above 2^32", " 1677729535 ", " 99999999999 "),
        ("typ missing", "typ host", "host"),
        ("type unknown", "typ host", "typ nat"),
        ("type upper case", "typ host", "typ HOST"),
        ("foundation with a colon", "842163049", "84:21"),
        ("foundation too long", "842163049", "8" * 40),
    ]
    base = good.format(address="203.0.113.7", port=5000, kind="host")
    for label, old, new in bad_fields:
        cases.append((label, base.replace(old, new, 1)))
    for label, suffix in [
        ("raddr host name", " raddr evil.example rport 1"),
        ("rport 70000", " raddr 0.0.0.0 rport 70000"),
        ("rport words", " raddr 0.0.0.0 rport x"),
        ("tcptype bogus", " tcptype sideways"),
        ("generation words", " generation zero"),
        ("odd extension", " generation"),
        ("repeated extension", " generation 0 generation 1"),
        ("unknown extension", " evil 1"),
        ("ufrag with a colon", " ufrag a:b"),
        ("network-cost negative", " network-cost -1"),
        ("200 extensions", " generation 0" + " x 1" * 200),
    ]:
        cases.append((label, base + suffix))
    for label, text in [
        ("empty", ""),
        ("prefix only", "candidate:"),
        ("doubled prefix", "candidate:candidate:1 1 udp 1 203.0.113.7 5000 typ host"),
        ("seven fields", "candidate:1 1 udp 1 203.0.113.7 5000 typ"),
        ("tabs", base.replace(" ", "\t")),
        ("double spaces", base.replace(" ", "  ")),
        ("leading space", " " + base),
        ("trailing space", base + " "),
        ("newline inside", base.replace(" typ", "\ntyp")),
        ("NUL inside", base.replace(" typ", "\x00typ")),
        ("SDP attribute form", "a=" + base),
        ("10 KB", base + " generation 0" * 800),
        ("a megabyte", "candidate:" + "1" * 1_000_000),
        ("unicode", base.replace("203.0.113.7", "203.0.113.７")),
        ("JSON", '{"candidate": "1 1 udp 1 203.0.113.7 5000 typ host"}'),
    ]:
        cases.append((label, text))
    for n in range(20):
        bits = base.split(" ")
        rng.shuffle(bits)
        cases.append((f"fields shuffled ({n})", " ".join(bits)))
    for n in range(10):
        garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        cases.append((f"random bytes ({n})", garbage.decode("latin-1")))
    return [Hostile(name, text) for name, text in cases]
