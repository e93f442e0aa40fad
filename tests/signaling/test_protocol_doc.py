"""docs/protocol.md is the specification: everything the code handles or sends
must be in it."""

import re
from pathlib import Path

import pytest

from signaling import protocol

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "protocol.md").read_text()


@pytest.mark.parametrize("kind", sorted(protocol.CLIENT_MESSAGES))
def test_every_handled_message_type_is_documented(kind):
    assert f'"type": "{kind}"' in DOC


@pytest.mark.parametrize("kind", protocol.SERVER_MESSAGE_TYPES)
def test_every_sent_message_type_is_documented(kind):
    assert f'"type": "{kind}"' in DOC


@pytest.mark.parametrize("code", sorted(protocol.ERROR_CODES))
def test_every_error_code_is_documented(code):
    assert f"`{code}`" in DOC


@pytest.mark.parametrize("name, number", sorted(protocol.CLOSE_CODES.items()))
def test_every_close_code_is_documented(name, number):
    assert re.search(rf"\| {number} \| `{name}` \|", DOC)


def test_every_type_the_code_sends_is_declared():
    """A ``"type": "x"`` literal in the server code is either a client type it
    handles or a declared server type (so the tests above cover it)."""
    sent = set()
    for path in (ROOT / "signaling").glob("*.py"):
        sent |= set(re.findall(r'"type": "([a-z_]+)"', path.read_text()))
    known = set(protocol.CLIENT_MESSAGES) | set(protocol.SERVER_MESSAGE_TYPES)
    assert sent - known == set()


def test_every_client_model_has_a_handler():
    from signaling.handlers import HANDLERS

    assert set(HANDLERS) == set(protocol.CLIENT_MESSAGES)
