"""SFU_UDP_PORTS, read at start as the other settings are (a fresh
interpreter per case, see test_settings.py), and handed to the SFU."""

import pytest

from hosting.embedded import make_sfu
from sfu.ports import PortRange
from tests.config.test_settings import _setting

DEVELOPMENT = {"DEBUG": "1"}


def test_no_range_by_default():
    """Unset or empty: the SFU binds the ports the OS picks, as before."""
    for env in (DEVELOPMENT, {**DEVELOPMENT, "SFU_UDP_PORTS": ""}):
        result = _setting(env, "s.SFU_UDP_PORTS")
        assert result.stdout.strip() == "None", result.stderr


@pytest.mark.parametrize(
    "value, expected",
    [("50000-50199", "(50000, 50199)"), (" 40000 - 40009 ", "(40000, 40009)")],
)
def test_a_range_is_read_as_its_first_and_last_port(value, expected):
    result = _setting({**DEVELOPMENT, "SFU_UDP_PORTS": value}, "s.SFU_UDP_PORTS")
    assert result.stdout.strip() == expected, result.stderr


@pytest.mark.parametrize(
    "value, problem",
    [
        ("50000", "expected a range of ports like 50000-50199"),
        ("50000:50199", "expected a range of ports like 50000-50199"),
        ("50000-", "expected a range of ports like 50000-50199"),
        ("fifty-sixty", "expected a range of ports like 50000-50199"),
        ("50000-50199,51000-51099", "expected a range of ports like 50000-50199"),
        ("50199-50000", "is reversed: write 50000-50199"),
        ("1000-1099", "between 1024 and 65535"),
        ("65500-65599", "between 1024 and 65535"),
        ("50000-50004", "at least 10 ports, '50000-50004' holds 5"),
    ],
)
def test_a_wrong_range_stops_the_start_saying_what_is_wrong(value, problem):
    result = _setting({**DEVELOPMENT, "SFU_UDP_PORTS": value}, "s.SFU_UDP_PORTS")
    assert result.returncode != 0
    assert "Environment variable SFU_UDP_PORTS:" in result.stderr
    assert problem in result.stderr


def test_the_embedded_sfu_binds_in_the_settings_range(settings):
    settings.SFU_UDP_PORTS = (50000, 50019)
    ports = make_sfu().ports
    assert isinstance(ports, PortRange)
    assert (ports.first, ports.last) == (50000, 50019)
    settings.SFU_UDP_PORTS = None
    assert make_sfu().ports is None
