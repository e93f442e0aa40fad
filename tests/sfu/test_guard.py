"""sfu.guard: what the SFU lets through to aiortc, and where it may send STUN.

The property that matters: every description the guard lets through is taken
by a real aiortc peer connection without an exception, so aiortc never sees
what it cannot parse. The peer connections here use the relay transport
policy with no TURN server: they gather nothing, so they open no socket and
send nothing to the candidates they are given.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable

import ifaddr
import pytest
from aioice import Candidate
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

from sfu.guard import (
    CandidatePolicy,
    Rejected,
    check_answer,
    check_offer,
    host_private_networks,
)
from tests.sfu.hostile import (
    DOCUMENTATION_NETWORKS,
    good_answer,
    good_offer,
    hostile_answers,
    hostile_candidates,
    hostile_offers,
    offer_mutations,
    prefer_forwarded_codecs,
)

FINGERPRINT = ":".join(f"{n * 7 % 256:02X}" for n in range(32))
STREAM = "f5a7c3e0-8f7e-4b8e-9a64-2b8c0f3f6d11"
PUBLIC = "81.2.69.160"  # only ever text here: nothing is sent to it


def _crlf(text: str) -> str:
    return text.strip().replace("\n", "\r\n") + "\r\n"


def _h264(pt: int, rtx: int, mode: int, profile: str) -> str:
    feedback = "".join(
        f"a=rtcp-fb:{pt} {fb}\n"
        for fb in ("goog-remb", "transport-cc", "ccm fir", "nack", "nack pli")
    )
    return (
        f"a=rtpmap:{pt} H264/90000\n{feedback}"
        f"a=fmtp:{pt} level-asymmetry-allowed=1;packetization-mode={mode};"
        f"profile-level-id={profile}\n"
        f"a=rtpmap:{rtx} rtx/90000\na=fmtp:{rtx} apt={pt}\n"
    )


_MDNS = "9b36eaac-bb2e-49bb-bb78-21c41c499900.local"
_CHROME_NETWORK = "generation 0 network-id 1 network-cost 10"
_CHROME_CANDIDATES = (
    "\n".join(
        [
            f"a=candidate:3348164580 1 udp 2122260223 {_MDNS} 54321 typ host",
            f"a=candidate:842163049 1 udp 1686052607 {PUBLIC} 54321 typ srflx"
            " raddr 0.0.0.0 rport 0",
            f"a=candidate:1567392523 1 tcp 1518280447 {_MDNS} 9 typ host"
            " tcptype active",
        ]
    ).replace("\n", f" {_CHROME_NETWORK}\n")
    + f" {_CHROME_NETWORK}"
)
_CHROME_VIDEO_TYPES = (
    "96 97 102 103 104 105 106 107 108 109 127 125 39 40 45 46 98 99 100 101 "
    "112 113 116 117 118"
)
_CHROME_H264 = "".join(
    _h264(*codec)
    for codec in [
        (102, 103, 1, "42001f"),
        (104, 105, 0, "42001f"),
        (106, 107, 1, "42e01f"),
        (108, 109, 0, "42e01f"),
        (127, 125, 1, "4d001f"),
        (39, 40, 0, "4d001f"),
    ]
)

_CHROME_TRANSPORT = f"""
c=IN IP4 {PUBLIC}
a=rtcp:9 IN IP4 0.0.0.0
{_CHROME_CANDIDATES}
a=ice-ufrag:Fz3u
a=ice-pwd:8Pd7ud8JVUNnv+2vJ6zr0aXc
a=ice-options:trickle
a=fingerprint:sha-256 {FINGERPRINT}
a=setup:actpass
"""

# Chrome's offer on a max-bundle connection that publishes a microphone and a
# camera, as the room page's Publisher makes it (once candidates are gathered).
CHROME_OFFER = _crlf(
    f"""
v=0
o=- 6781334928815243456 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
a=extmap-allow-mixed
a=msid-semantic: WMS {STREAM}
m=audio 54321 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
{_CHROME_TRANSPORT.strip()}
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=sendonly
a=msid:{STREAM} 3c1f6f2b-5c1e-4c58-9f0b-4d7c8e2a9b10
a=rtcp-mux
a=rtcp-rsize
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=fmtp:63 111/111
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:13 CN/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
a=ssrc:3907564129 cname:kO3WJ8VgP7j5Rm2b
a=ssrc:3907564129 msid:{STREAM} 3c1f6f2b-5c1e-4c58-9f0b-4d7c8e2a9b10
m=video 54321 UDP/TLS/RTP/SAVPF {_CHROME_VIDEO_TYPES}
{_CHROME_TRANSPORT.strip()}
a=mid:1
a=extmap:14 urn:ietf:params:rtp-hdrext:toffset
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:13 urn:3gpp:video-orientation
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay
a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type
a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing
a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id
a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id
a=sendonly
a=msid:{STREAM} 9e2d4b7a-1f3c-4e5d-8a6b-7c8d9e0f1a2b
a=rtcp-mux
a=rtcp-rsize
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 goog-remb
a=rtcp-fb:96 transport-cc
a=rtcp-fb:96 ccm fir
a=rtcp-fb:96 nack
a=rtcp-fb:96 nack pli
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
{_CHROME_H264}a=rtpmap:45 AV1/90000
a=rtcp-fb:45 goog-remb
a=rtcp-fb:45 transport-cc
a=rtcp-fb:45 ccm fir
a=rtcp-fb:45 nack
a=rtcp-fb:45 nack pli
a=fmtp:45 level-idx=5;profile=0;tier=0
a=rtpmap:46 rtx/90000
a=fmtp:46 apt=45
a=rtpmap:98 VP9/90000
a=rtcp-fb:98 goog-remb
a=rtcp-fb:98 transport-cc
a=rtcp-fb:98 ccm fir
a=rtcp-fb:98 nack
a=rtcp-fb:98 nack pli
a=fmtp:98 profile-id=0
a=rtpmap:99 rtx/90000
a=fmtp:99 apt=98
a=rtpmap:100 VP9/90000
a=fmtp:100 profile-id=2
a=rtpmap:101 rtx/90000
a=fmtp:101 apt=100
{_h264(112, 113, 1, "64001f")}a=rtpmap:116 red/90000
a=rtpmap:117 rtx/90000
a=fmtp:117 apt=116
a=rtpmap:118 ulpfec/90000
a=ssrc-group:FID 1370011186 2583931390
a=ssrc:1370011186 cname:kO3WJ8VgP7j5Rm2b
a=ssrc:1370011186 msid:{STREAM} 9e2d4b7a-1f3c-4e5d-8a6b-7c8d9e0f1a2b
a=ssrc:2583931390 cname:kO3WJ8VgP7j5Rm2b
a=ssrc:2583931390 msid:{STREAM} 9e2d4b7a-1f3c-4e5d-8a6b-7c8d9e0f1a2b
"""
)

_FIREFOX_VIDEO_FEEDBACK = "".join(
    f"a=rtcp-fb:{pt} {fb}\n"
    for pt in (120, 121, 126, 97)
    for fb in ("nack", "nack pli", "ccm fir", "goog-remb", "transport-cc")
)

# Firefox: fmtp before rtpmap, the fingerprint at session level, braces in
# msids, directions on extmaps, and ICE attributes out of the usual order.
FIREFOX_OFFER = _crlf(
    f"""
v=0
o=mozilla...THIS_IS_SDPARTA-99.0 6386784327412399345 0 IN IP4 0.0.0.0
s=-
t=0 0
a=fingerprint:sha-256 {FINGERPRINT}
a=group:BUNDLE 0 1
a=ice-options:trickle
a=msid-semantic:WMS *
m=audio 9 UDP/TLS/RTP/SAVPF 109 9 0 8 101
c=IN IP4 0.0.0.0
a=sendonly
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:2/recvonly urn:ietf:params:rtp-hdrext:csrc-audio-level
a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid
a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1
a=fmtp:101 0-15
a=ice-pwd:3f6c0b8f2c5d7b4a9e1f0a2b3c4d5e6f
a=ice-ufrag:8a1b2c3d
a=mid:0
a=msid:{{5e2b0f5a-4d3c-4a8e-9b1f-2c6d7e8f9a0b}} {{a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d}}
a=rtcp-mux
a=rtpmap:109 opus/48000/2
a=rtpmap:9 G722/8000/1
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000/1
a=setup:actpass
a=ssrc:2655508255 cname:{{7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d}}
m=video 9 UDP/TLS/RTP/SAVPF 120 124 121 125 126 127 97 98 123 122 119
c=IN IP4 0.0.0.0
a=sendonly
a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid
a=extmap:4 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:5 urn:ietf:params:rtp-hdrext:toffset
a=extmap:6/recvonly http://www.webrtc.org/experiments/rtp-hdrext/playout-delay
a=extmap:7 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=fmtp:126 profile-level-id=42e01f;level-asymmetry-allowed=1;packetization-mode=1
a=fmtp:97 profile-level-id=42e01f;level-asymmetry-allowed=1
a=fmtp:120 max-fs=12288;max-fr=60
a=fmtp:124 apt=120
a=fmtp:121 max-fs=12288;max-fr=60
a=fmtp:125 apt=121
a=fmtp:127 apt=126
a=fmtp:98 apt=97
a=fmtp:119 apt=122
a=ice-pwd:3f6c0b8f2c5d7b4a9e1f0a2b3c4d5e6f
a=ice-ufrag:8a1b2c3d
a=mid:1
a=msid:{{5e2b0f5a-4d3c-4a8e-9b1f-2c6d7e8f9a0b}} {{b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e}}
{_FIREFOX_VIDEO_FEEDBACK.strip()}
a=rtcp-mux
a=rtcp-rsize
a=rtpmap:120 VP8/90000
a=rtpmap:124 rtx/90000
a=rtpmap:121 VP9/90000
a=rtpmap:125 rtx/90000
a=rtpmap:126 H264/90000
a=rtpmap:127 rtx/90000
a=rtpmap:97 H264/90000
a=rtpmap:98 rtx/90000
a=rtpmap:123 ulpfec/90000
a=rtpmap:122 red/90000
a=rtpmap:119 rtx/90000
a=setup:actpass
a=ssrc:1213957217 cname:{{7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d}}
a=ssrc:2901388513 cname:{{7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d}}
a=ssrc-group:FID 1213957217 2901388513
"""
)

_CHROME_ANSWER_TRANSPORT = f"""
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:Yq2x
a=ice-pwd:1ZcnA0pZ2bWvxz0Kp1q7M8gE
a=ice-options:trickle
a=fingerprint:sha-256 {FINGERPRINT}
a=setup:active
"""

# Chrome's recvonly answer to an SFU down offer (aiortc's payload types).
CHROME_ANSWER = _crlf(
    f"""
v=0
o=- 1706731427372934565 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
a=msid-semantic: WMS
m=audio 9 UDP/TLS/RTP/SAVPF 96
{_CHROME_ANSWER_TRANSPORT.strip()}
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid
a=extmap:2 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=recvonly
a=rtcp-mux
a=rtpmap:96 opus/48000/2
a=fmtp:96 minptime=10;useinbandfec=1
m=video 9 UDP/TLS/RTP/SAVPF 97 98
{_CHROME_ANSWER_TRANSPORT.strip()}
a=mid:1
a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid
a=extmap:3 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=recvonly
a=rtcp-mux
a=rtpmap:97 VP8/90000
a=rtcp-fb:97 goog-remb
a=rtcp-fb:97 nack
a=rtcp-fb:97 nack pli
a=rtpmap:98 rtx/90000
a=fmtp:98 apt=97
a=candidate:1 1 udp 2122260223 {PUBLIC} 61000 typ host generation 0
a=candidate:2 1 udp 2122260223 192.168.7.20 61000 typ host generation 0
"""
)

OPEN = CandidatePolicy(["0.0.0.0/0", "::/0"])  # every IP address, for syntax tests


def _candidate(address: str, port: int = 5000, extra: str = "") -> str:
    return f"candidate:842163049 1 udp 1677729535 {address} {port} typ host{extra}"


def _fake_adapters() -> list[ifaddr.Adapter]:
    """A host on 192.168.1.0/24 and a VPN, with a public address as well."""

    def adapter(name: str, *ips: tuple[object, int]) -> ifaddr.Adapter:
        return ifaddr.Adapter(name, name, [ifaddr.IP(ip, n, name) for ip, n in ips])

    return [
        adapter("lo", ("127.0.0.1", 8), (("::1", 0, 0), 128)),
        adapter("eth0", ("192.168.1.10", 24), (("fe80::1", 0, 2), 64)),
        adapter("wg0", ("10.8.0.2", 24), (("fd00:8::2", 0, 0), 64)),
        adapter("eth1", (PUBLIC, 24)),
    ]


@pytest.fixture
def lan(monkeypatch) -> CandidatePolicy:
    """The default policy of a host on 192.168.1.0/24 (and a VPN)."""
    monkeypatch.setattr(ifaddr, "get_adapters", _fake_adapters)
    return CandidatePolicy.default()


@pytest.fixture
def corpus_policy() -> CandidatePolicy:
    """This host's own networks and the corpus's stand-ins for public ones."""
    return CandidatePolicy([*host_private_networks(), *DOCUMENTATION_NETWORKS])


# aiortc, as the SFU uses it


def _configuration() -> RTCConfiguration:
    return RTCConfiguration(
        bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
        iceTransportPolicy=RTCIceTransportPolicy.RELAY,
    )


async def _publish(pc: RTCPeerConnection, offer: str) -> None:
    """What SFU.publish does with an offer."""
    await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
    prefer_forwarded_codecs(pc)
    await pc.setLocalDescription(await pc.createAnswer())


async def aiortc_takes_offer(offer: str, *, previous: str = "") -> None:
    pc = RTCPeerConnection(_configuration())
    try:
        if previous:
            await _publish(pc, previous)
        await _publish(pc, offer)
    finally:
        await pc.close()


async def aiortc_takes_answer(answer: str) -> None:
    """Apply ``answer`` to a connection holding a down offer (audio, video)."""
    pc = RTCPeerConnection(_configuration())
    try:
        pc.addTransceiver("audio", direction="sendonly")
        pc.addTransceiver("video", direction="sendonly")
        prefer_forwarded_codecs(pc)
        await pc.setLocalDescription(await pc.createOffer())
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    finally:
        await pc.close()


def _candidates(sdp: str) -> list[str]:
    return re.findall(r"^a=candidate:(.*?)\r?$", sdp, re.MULTILINE)


# Real descriptions pass


async def test_a_chrome_offer_passes_without_its_mdns_candidates():
    offer = check_offer(CHROME_OFFER, policy=CandidatePolicy([]))

    kept = [line for line in CHROME_OFFER.splitlines() if ".local" not in line]
    assert offer == "\r\n".join(kept) + "\r\n"
    assert [c.split()[4] for c in _candidates(offer)] == [PUBLIC, PUBLIC]
    await aiortc_takes_offer(offer)


async def test_a_firefox_offer_passes():
    offer = check_offer(FIREFOX_OFFER, policy=CandidatePolicy([]))

    assert offer == FIREFOX_OFFER
    await aiortc_takes_offer(offer)


async def test_an_aiortc_offer_passes_with_the_candidates_the_policy_allows():
    real = await good_offer()
    policy = CandidatePolicy.default()

    offer = check_offer(real, policy=policy)

    for candidate in _candidates(offer):
        policy.check(candidate)
    await aiortc_takes_offer(offer)


async def test_an_aiortc_answer_passes():
    offer, real = await good_answer()

    answer = check_answer(real, offer=offer, policy=CandidatePolicy.default())

    await aiortc_takes_answer(answer)


async def test_a_chrome_answer_passes_without_its_private_candidate():
    offer, _ = await good_answer()

    answer = check_answer(CHROME_ANSWER, offer=offer, policy=CandidatePolicy([]))

    assert [c.split()[4] for c in _candidates(answer)] == [PUBLIC]
    await aiortc_takes_answer(answer)


async def test_a_renegotiation_may_add_a_section_after_the_others():
    screen = re.sub(r"a=mid:1", "a=mid:2", CHROME_OFFER.split("m=video")[1])
    offer = CHROME_OFFER.replace("BUNDLE 0 1", "BUNDLE 0 1 2") + "m=video" + screen

    checked = check_offer(offer, policy=OPEN, previous=CHROME_OFFER)

    await aiortc_takes_offer(checked, previous=check_offer(CHROME_OFFER, policy=OPEN))


# Offers refused, one reason each

Edit = Callable[[str], str]


def _sub(pattern: str, new: str, count: int = 1) -> Edit:
    """Replace ``pattern`` in lines (``$`` is the end of a line)."""

    def edit(sdp: str) -> str:
        lf = re.sub(pattern, new, sdp.replace("\r\n", "\n"), count=count, flags=re.M)
        return lf.replace("\r\n", "\n").replace("\n", "\r\n")

    return edit


def _drop(pattern: str) -> Edit:
    return _sub(rf"^{pattern}.*\n", "", count=0)


def _add(line: str) -> Edit:
    """``line`` at the end of the video section."""
    return lambda sdp: sdp + line + "\r\n"


REFUSED_OFFERS: dict[str, tuple[Edit, str]] = {
    "it-is-not-sdp": (lambda _: "hello", "not a session description"),
    "it-is-larger-than-64-kib": (lambda sdp: sdp + "a=x-pad:y\r\n" * 7000, "65536"),
    "it-has-a-nul-byte": (_sub("a=mid:0", "a=mid:0\x00"), "printable ASCII"),
    "it-has-unicode": (_sub("s=-", "s=é"), "printable ASCII"),
    "a-line-is-longer-than-4-kib": (_add("a=x-long:" + "y" * 4100), "at most 4096"),
    "a-line-is-not-x=value": (_add("hello"), "not of the form x=value"),
    "it-has-an-unknown-line-type": (_sub("^s=-", "s=-\r\nq=1"), "q= line"),
    "it-has-no-o-line": (_drop("o="), "exactly one v=, o= and s="),
    "it-has-no-media": (lambda sdp: sdp.split("m=audio")[0], "no media sections"),
    "it-has-a-data-channel": (
        _sub(r"^m=video .*", "m=application 9 UDP/DTLS/SCTP webrtc-datachannel"),
        "only audio and video",
    ),
    "it-uses-another-transport": (_sub("UDP/TLS/RTP/SAVPF", "RTP/AVP"), "only UDP/TLS"),
    "a-payload-type-is-above-127": (_sub(r"^(m=audio .*)", r"\1 128"), "0 to 127"),
    "a-payload-type-is-rtcp": (_sub(r"^(m=audio .*)", r"\1 72"), "reserved for RTCP"),
    "a-payload-type-is-listed-twice": (_sub(r"^(m=audio .*)", r"\1 111"), "twice"),
    "a-section-has-300-lines": (
        lambda sdp: sdp + "a=x-filler\r\n" * 300,
        "at most 256 are allowed",
    ),
    "a-section-has-no-mid": (_drop("a=mid:0"), "has no a=mid"),
    "two-sections-share-a-mid": (_sub("a=mid:1", "a=mid:0"), "the same mid"),
    "a-mid-is-too-long": (_sub("a=mid:0", "a=mid:" + "m" * 33), "malformed a=mid"),
    "a-section-has-no-direction": (_sub("^a=sendonly\n", ""), "one direction"),
    "a-section-has-two-directions": (
        _sub("a=sendonly", "a=sendonly\r\na=inactive"),
        "one direction",
    ),
    "rtcp-mux-is-off": (_drop("a=rtcp-mux"), "rtcp-mux"),
    "setup-is-missing": (_drop("a=setup:"), "no a=setup"),
    "setup-is-not-a-role": (
        _sub("a=setup:actpass", "a=setup:holdconn"),
        "malformed a=setup",
    ),
    "setup-is-repeated": (
        _sub("a=setup:actpass", "a=setup:actpass\r\na=setup:active"),
        "more than one a=setup",
    ),
    "ice-credentials-are-missing": (_drop("a=ice-pwd:"), "no ICE credentials"),
    "an-ice-password-is-short": (
        _sub("a=ice-pwd:.*", "a=ice-pwd:short"),
        "malformed a=ice-pwd",
    ),
    "the-fingerprint-is-missing": (_drop("a=fingerprint:"), "no DTLS fingerprint"),
    "the-fingerprint-is-sha-1": (
        _sub(
            "a=fingerprint:sha-256 .*",
            "a=fingerprint:sha-1 " + ":".join(["AB"] * 20),
            0,
        ),
        "no DTLS fingerprint",
    ),
    "the-fingerprint-is-short": (
        _sub(r"^(a=fingerprint:sha-256 \S+):\w\w$", r"\1", 0),
        "wrong length",
    ),
    "audio-has-no-opus": (_sub("opus/48000/2", "ISAC/16000"), "no common codec"),
    "opus-is-mono": (_sub("opus/48000/2", "opus/48000/1"), "no common codec"),
    "video-has-no-vp8": (_sub("VP8/90000", "H263/90000"), "no common codec"),
    "an-rtpmap-is-for-an-unlisted-type": (
        _add("a=rtpmap:35 VP8/90000"),
        "does not list",
    ),
    "an-rtpmap-is-repeated": (_add("a=rtpmap:96 VP8/90000"), "two a=rtpmap"),
    "an-fmtp-has-no-rtpmap": (
        _sub(r"^(m=video .*)", r"\1 35\r\na=fmtp:35 apt=96"),
        "has no a=rtpmap",
    ),
    "an-apt-is-not-a-number": (_sub("apt=96", "apt=x"), "apt is not a number"),
    "packetization-mode-has-no-value": (
        _sub("packetization-mode=1;", "packetization-mode;"),
        "packetization-mode is not a number",
    ),
    "an-extmap-has-three-words": (
        _add("a=extmap:12 urn:x attributes"),
        "malformed a=extmap",
    ),
    "an-extmap-id-is-0": (_add("a=extmap:0 urn:x"), "not 1 to 255"),
    "an-extmap-id-is-repeated": (_add("a=extmap:4 urn:x"), "repeated"),
    "an-ssrc-is-above-2^32": (_add("a=ssrc:4294967296 cname:x"), "above 2^32"),
    "an-msid-has-a-trailing-space": (
        _sub(r"^(a=msid:\S+ \S+)", r"\1 "),
        "malformed a=msid",
    ),
    "a-c-line-names-a-host": (
        _sub(r"^c=IN IP4 .*", "c=IN IP4 evil.example"),
        "IP address",
    ),
    "bundle-names-an-unknown-mid": (
        _sub("BUNDLE 0 1", "BUNDLE x 0 1"),
        "a=group:BUNDLE",
    ),
    "bundle-repeats-a-mid": (_sub("BUNDLE 0 1", "BUNDLE 0 0 1"), "a=group:BUNDLE"),
    "bundle-is-out-of-order": (_sub("BUNDLE 0 1", "BUNDLE 1 0"), "a=group:BUNDLE"),
    "a-candidate-is-malformed": (
        _add("a=candidate:1 1 udp 1 81.2.69.160 0 typ host"),
        "malformed a=candidate",
    ),
    "a-candidate-is-outside-the-media": (
        _sub("^s=-", "s=-\r\na=candidate:1 1 udp 1 81.2.69.160 9 typ host"),
        "outside any media section",
    ),
}


@pytest.mark.parametrize("edit, reason", REFUSED_OFFERS.values(), ids=REFUSED_OFFERS)
def test_an_offer_is_refused_when(edit: Edit, reason: str):
    changed = edit(CHROME_OFFER)
    assert changed != CHROME_OFFER

    with pytest.raises(Rejected, match=re.escape(reason)):
        check_offer(changed, policy=OPEN)


def test_an_offer_with_hundreds_of_sections_is_refused():
    section = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:{n}\r\na=sendonly\r\n"
    offer = CHROME_OFFER + "".join(section.format(n=n + 2) for n in range(148))
    assert len(offer) < 64 * 1024

    with pytest.raises(Rejected, match="the offer has 150 media sections; at most 4"):
        check_offer(offer, policy=OPEN)


def test_an_offer_may_have_up_to_max_sections():
    screen = re.sub(r"a=mid:1", "a=mid:2", CHROME_OFFER.split("m=video")[1])
    offer = CHROME_OFFER.replace("BUNDLE 0 1", "BUNDLE 0 1 2") + "m=video" + screen

    check_offer(offer, policy=OPEN, max_sections=3)
    with pytest.raises(Rejected, match="3 media sections; at most 2"):
        check_offer(offer, policy=OPEN, max_sections=2)


def test_a_refused_candidate_is_removed_and_the_offer_kept():
    private = "a=candidate:9 1 udp 1 10.0.0.5 5000 typ host"
    offer = CHROME_OFFER.replace("a=mid:0", f"{private}\r\na=mid:0")

    checked = check_offer(offer, policy=CandidatePolicy([]))

    assert private not in checked
    assert f"{PUBLIC} 54321 typ srflx" in checked


@pytest.mark.parametrize(
    "renegotiation",
    [
        lambda a, v: [v, a],
        lambda a, v: [a],
        lambda a, v: [v],
        lambda a, v: [a, a.replace("a=mid:0", "a=mid:1")],
        lambda a, v: [a.replace("a=mid:0", "a=mid:x"), v.replace("a=mid:1", "a=mid:y")],
        lambda a, v: [v.replace("a=mid:1", "a=mid:2"), a, v],
    ],
    ids=[
        "reordered",
        "shortened",
        "first-removed",
        "kind-changed",
        "mids-renamed",
        "inserted-first",
    ],
)
def test_a_renegotiation_that_moves_earlier_sections_is_refused(renegotiation):
    session, audio, video = re.split(r"(?=^m=)", CHROME_OFFER, flags=re.MULTILINE)
    sections = renegotiation(audio, video)
    mids = " ".join(re.search(r"a=mid:(\S+)", s).group(1) for s in sections)
    offer = session.replace("BUNDLE 0 1", f"BUNDLE {mids}") + "".join(sections)
    check_offer(offer, policy=OPEN)  # fine as a first offer

    with pytest.raises(Rejected, match="keep the media sections of the previous one"):
        check_offer(offer, policy=OPEN, previous=CHROME_OFFER)


# Answers refused


def _answer_sections(sdp: str) -> tuple[str, list[str]]:
    session, *sections = re.split(r"(?=^m=)", sdp, flags=re.MULTILINE)
    return session, sections


@pytest.fixture
async def sfu_offer() -> str:
    offer, _ = await good_answer()
    return offer


async def test_an_answer_with_another_number_of_sections_is_refused(sfu_offer):
    session, sections = _answer_sections(CHROME_ANSWER)

    with pytest.raises(
        Rejected, match="the answer has 1 media sections; the offer has 2"
    ):
        check_answer(session + sections[0], offer=sfu_offer, policy=OPEN)
    with pytest.raises(Rejected, match="the answer has 3 media sections"):
        check_answer(CHROME_ANSWER + sections[1], offer=sfu_offer, policy=OPEN)


async def test_an_answer_whose_mids_differ_from_the_offer_is_refused(sfu_offer):
    answer = CHROME_ANSWER.replace("a=mid:1", "a=mid:7").replace(
        "BUNDLE 0 1", "BUNDLE 0 7"
    )

    with pytest.raises(Rejected, match='section 2 of the answer is video with mid "7"'):
        check_answer(answer, offer=sfu_offer, policy=OPEN)


async def test_an_answer_whose_sections_are_swapped_is_refused(sfu_offer):
    session, (audio, video) = _answer_sections(CHROME_ANSWER)
    answer = session.replace("BUNDLE 0 1", "BUNDLE 1 0") + video + audio

    with pytest.raises(Rejected, match="section 1 of the answer is video"):
        check_answer(answer, offer=sfu_offer, policy=OPEN)


@pytest.mark.parametrize("setup", ["actpass", "holdconn"])
async def test_an_answer_must_say_active_or_passive(sfu_offer, setup):
    answer = CHROME_ANSWER.replace("a=setup:active", f"a=setup:{setup}")

    with pytest.raises(Rejected, match="setup"):
        check_answer(answer, offer=sfu_offer, policy=OPEN)


async def test_an_answer_without_a_common_codec_is_refused(sfu_offer):
    answer = CHROME_ANSWER.replace("VP8/90000", "VP9/90000")

    with pytest.raises(
        Rejected, match="no common codec: media section 2 of the answer"
    ):
        check_answer(answer, offer=sfu_offer, policy=OPEN)


# The hostile corpus


async def test_the_hostile_corpus_is_large_and_repeatable():
    offers, answers = await hostile_offers(), await hostile_answers()
    candidates = hostile_candidates()

    assert len(offers) >= 200 and len(answers) >= 200 and len(candidates) >= 100
    assert hostile_candidates() == candidates
    base = await good_offer()
    assert offer_mutations(base) == offer_mutations(base)


async def test_every_hostile_offer_is_refused_or_taken_by_aiortc(corpus_policy):
    passed, broke = [], []
    for case in await hostile_offers():
        previous = (
            check_offer(case.previous, policy=corpus_policy) if case.previous else ""
        )
        try:
            offer = check_offer(
                case.text, policy=corpus_policy, previous=previous or None
            )
        except Rejected:
            continue
        passed.append(case.name)
        for candidate in _candidates(offer):
            corpus_policy.check(candidate)
        try:
            await aiortc_takes_offer(offer, previous=previous)
        except Exception as exc:  # what the guard is for: it must never happen
            broke.append(f"{case.name}: {exc!r}")

    assert not broke
    assert len(passed) > 50  # the corpus tries harmless changes too


async def test_every_hostile_answer_is_refused_or_taken_by_aiortc(corpus_policy):
    passed, broke = [], []
    for case in await hostile_answers():
        try:
            answer = check_answer(case.text, offer=case.offer, policy=corpus_policy)
        except Rejected:
            continue
        passed.append(case.name)
        for candidate in _candidates(answer):
            corpus_policy.check(candidate)
        try:
            await aiortc_takes_answer(answer)
        except Exception as exc:
            broke.append(f"{case.name}: {exc!r}")

    assert not broke
    assert len(passed) > 50


def test_every_hostile_candidate_is_refused_by_the_default_policy(lan):
    for case in hostile_candidates():
        with pytest.raises(Rejected):
            lan.check(case.text)


async def test_every_candidate_a_policy_accepts_is_taken_by_aiortc():
    offer, _ = await good_answer()
    pc = RTCPeerConnection(_configuration())
    try:
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        accepted = 0
        for case in hostile_candidates():
            try:
                OPEN.check(case.text)
            except Rejected:
                continue
            accepted += 1
            Candidate.from_sdp(case.text.removeprefix("candidate:"))
            parsed = candidate_from_sdp(case.text.removeprefix("candidate:"))
            parsed.sdpMid = "0"
            await pc.addIceCandidate(parsed)
        assert accepted > 10
    finally:
        await pc.close()


# Candidates


def test_the_default_policy_allows_the_private_networks_the_host_is_on(lan):
    assert [str(n) for n in lan.allowed_networks] == [
        "10.8.0.0/24",
        "192.168.1.0/24",
        "fd00:8::/64",
    ]
    lan.check(_candidate("192.168.1.20"))
    lan.check(_candidate("fd00:8::99"))


@pytest.mark.parametrize(
    "address, reason",
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("192.168.2.5", "private address outside this server's networks"),
        ("10.0.0.1", "private address outside"),
        ("172.16.0.1", "private address outside"),
        ("fd12:3456::1", "private address outside"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - a candidate, not a bind
        ("::", "unspecified"),
        ("192.168.1.255", "broadcast"),
        ("192.168.1.0", "network or broadcast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("100.64.0.1", "not a public address"),
        ("::ffff:192.168.1.20", "IPv4-mapped"),
        ("2002:c0a8:114::1", "6to4 address of a private IPv4 address"),
        ("64:ff9b::a00:1", "reserved"),
        ("printer.local", "mDNS host"),
        ("8ad3f2cd-7a88-4d77-9ad5-29b0a5f0e2d1.local", "mDNS host"),
        ("evil.example", "rather than an IP address"),
        ("localhost", "rather than an IP address"),
    ],
)
def test_the_default_policy_refuses(lan, address, reason):
    with pytest.raises(Rejected, match=re.escape(reason)):
        lan.check(_candidate(address))


@pytest.mark.parametrize("address", [PUBLIC, "2a00:1450:4001:81b::200e"])
def test_public_addresses_are_allowed(lan, address):
    lan.check(_candidate(address))
    lan.check(_candidate(address).removeprefix("candidate:"))


def test_an_allowed_network_listed_explicitly_is_accepted():
    policy = CandidatePolicy(["10.0.0.0/8", "127.0.0.0/8"])

    policy.check(_candidate("10.1.2.3"))
    policy.check(_candidate("127.0.0.1"))  # a test rig may want its own loopback
    with pytest.raises(Rejected, match="private address"):
        policy.check(_candidate("192.168.1.1"))


def test_a_host_name_is_refused_without_being_resolved(lan, monkeypatch):
    def resolve(*args: object, **kwargs: object) -> None:
        raise AssertionError("the guard resolved a name")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(socket, "gethostbyname", resolve)

    with pytest.raises(Rejected, match="never resolved"):
        lan.check(_candidate("abc.local"))


def test_an_mdns_candidate_is_well_formed_but_refused():
    mdns = _candidate("9b36eaac-bb2e-49bb-bb78-21c41c499900.local")
    mdns += " generation 0 network-id 1 network-cost 10"

    with pytest.raises(Rejected, match="mDNS host"):
        OPEN.check(mdns)


@pytest.mark.parametrize(
    "candidate",
    [
        f"candidate:842163049 1 udp 1686052607 {PUBLIC} 54321 typ srflx raddr 0.0.0.0"
        " rport 0 generation 0 ufrag Fz3u network-id 1 network-cost 10",
        f"candidate:1567392523 1 tcp 1518280447 {PUBLIC} 9 typ host tcptype active",
        f"candidate:0 1 UDP 2122252543 {PUBLIC} 54321 typ host",
        f"candidate:3 1 udp 41885439 {PUBLIC} 60000 typ relay raddr 1.1.1.1 rport 5000",
        f"1 2 udp 1 {PUBLIC} 1 typ prflx",
    ],
    ids=["chrome-srflx", "chrome-tcp", "firefox", "relay", "without-prefix"],
)
def test_browser_candidates_are_accepted(candidate):
    OPEN.check(candidate)
    candidate_from_sdp(candidate.removeprefix("candidate:"))


@pytest.mark.parametrize(
    "candidate, reason",
    [
        (_candidate(PUBLIC, port=0), "port"),
        (_candidate(PUBLIC, port=65536), "port"),
        (_candidate(PUBLIC).replace(" 1 udp", " 257 udp"), "component"),
        (_candidate(PUBLIC).replace(" 1 udp", " 0 udp"), "component"),
        (_candidate(PUBLIC).replace("udp", "sctp"), "transport"),
        (_candidate(PUBLIC).replace("typ host", "typ nat"), "type"),
        (_candidate(PUBLIC).replace(" typ", ""), "malformed"),
        (_candidate(PUBLIC, extra=" generation"), "malformed"),
        (_candidate(PUBLIC, extra=" evil 1"), "unknown attribute"),
        (_candidate(PUBLIC, extra=" raddr x.example rport 1"), "raddr"),
        (_candidate(PUBLIC, extra=" raddr 0.0.0.0 rport 70000"), "rport"),
        (_candidate(PUBLIC, extra=" generation 0 generation 1"), "repeats"),
        (_candidate("[::1]"), "neither an IP address nor a host name"),
        (_candidate("fe80::1%eth0"), "neither an IP address nor a host name"),
        (_candidate(PUBLIC).replace(" ", "  "), "malformed"),
        (_candidate(PUBLIC).replace(" ", "\t"), "printable ASCII"),
        (_candidate(PUBLIC) + "\x00", "printable ASCII"),
        (_candidate(PUBLIC, extra=" generation 0" * 50), "at most 512"),
    ],
)
def test_a_malformed_candidate_is_refused(candidate, reason):
    with pytest.raises(Rejected, match=re.escape(reason)):
        OPEN.check(candidate)


def test_the_counter_refuses_candidates_past_the_limit():
    counter = CandidatePolicy([], max_candidates=3).counter()
    for port in (5000, 5001):
        counter.take(_candidate(PUBLIC, port))
    counter.take(_candidate(PUBLIC, 5000))  # the same one again: not counted
    counter.take()  # one more, whatever it is

    with pytest.raises(Rejected, match="more than 3 ICE candidates"):
        counter.take(_candidate(PUBLIC, 5003))
    with pytest.raises(Rejected, match="more than 3 ICE candidates"):
        counter.take()


def test_candidates_in_an_offer_count_towards_the_connections_limit():
    policy = CandidatePolicy([], max_candidates=3)
    counter = policy.counter()
    counter.take(_candidate(PUBLIC, 1))
    counter.take(_candidate(PUBLIC, 2))

    # The offer's candidates are three transport addresses (each section
    # repeats them), two of them refused mDNS names: those count as well.
    with pytest.raises(Rejected, match="more than 3 ICE candidates"):
        check_offer(CHROME_OFFER, policy=policy, counter=counter)
    check_offer(CHROME_OFFER, policy=policy)  # a fresh connection has room


def test_a_policy_is_built_from_a_list_of_networks():
    with pytest.raises(TypeError):
        CandidatePolicy("10.0.0.0/8")
    with pytest.raises(ValueError):
        CandidatePolicy(["not a network"])
