"""The packers that stand in for aiortc's encoders."""

from __future__ import annotations

import av

from sfu.forwarding import VIDEO_TIME_BASE, OpusPacker, Vp8Packer


def _packet(pts: int) -> av.Packet:
    packet = av.Packet(b"\x00vp8")
    packet.pts = pts
    packet.time_base = VIDEO_TIME_BASE
    return packet


def test_timestamps_go_on_from_the_last_track_when_the_track_changes(monkeypatch):
    """A reused m-section: the new publisher's timestamps (any origin) are
    moved to follow the last ones sent, plus the time that passed."""
    from sfu import forwarding

    clock = [50.0]
    monkeypatch.setattr(forwarding.time, "monotonic", lambda: clock[0])
    packer = OpusPacker()
    assert packer.pack(_packet(1000))[1] == 1000  # first track: as it comes
    clock[0] += 0.02
    assert packer.pack(_packet(1960))[1] == 1960
    packer.rebase()  # another publisher, half a second later
    clock[0] += 0.5
    assert packer.pack(_packet(4_000_000_000))[1] == 1960 + 24000
    clock[0] += 0.02
    assert packer.pack(_packet(4_000_000_960))[1] == 1960 + 24000 + 960


def test_vp8_timestamps_wrap_at_32_bits():
    packer = Vp8Packer()
    packer.pack(_packet(2**32 - 3000))
    packer.rebase()
    packer.pack(_packet(5))  # goes on past the wrap
    payloads, timestamp = packer.pack(_packet(3005))
    assert payloads and 0 <= timestamp < 2**32
