"""SFU_FORWARDING, read at start (a fresh interpreter per case, see
test_settings.py) and handed to the SFU."""

from hosting.embedded import make_sfu
from tests.config.test_settings import _setting

DEVELOPMENT = {"DEBUG": "1"}


def test_the_frame_path_is_the_default():
    result = _setting(DEVELOPMENT, "s.SFU_FORWARDING")
    assert result.stdout.strip() == "frames", result.stderr


def test_the_packet_path_can_be_chosen():
    result = _setting({**DEVELOPMENT, "SFU_FORWARDING": "packets"}, "s.SFU_FORWARDING")
    assert result.stdout.strip() == "packets", result.stderr


def test_anything_else_stops_the_start_saying_what_is_allowed():
    result = _setting({**DEVELOPMENT, "SFU_FORWARDING": "rtp"}, "s.SFU_FORWARDING")
    assert result.returncode != 0
    assert "SFU_FORWARDING: expected packets or frames, got 'rtp'" in result.stderr


def test_the_embedded_sfu_forwards_as_the_settings_say(settings):
    settings.SFU_FORWARDING = "frames"
    assert make_sfu().forwarding == "frames"
    settings.SFU_FORWARDING = "packets"
    assert make_sfu().forwarding == "packets"
