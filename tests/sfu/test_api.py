"""Every media server signaling can be given takes the calls of the
contract (``sfu.api.MediaServer``) with exactly its keyword arguments, so
that swapping one for another (SFU_MODE) changes nothing for signaling."""

from __future__ import annotations

import inspect

import pytest

from hosting.worker import WorkerClient
from sfu.api import MediaServer, NoMediaServer
from sfu.sfu import SFU

CALLS = [
    name
    for name, member in vars(MediaServer).items()
    if inspect.iscoroutinefunction(member)
]


def _parameters(function) -> list[tuple[str, object, object]]:
    return [
        (p.name, p.kind, p.default)
        for p in inspect.signature(function).parameters.values()
        if p.name != "self"
    ]


def test_the_contract_has_the_calls_signaling_makes():
    assert set(CALLS) == {
        "join",
        "publish",
        "answer",
        "candidate",
        "set_allowed",
        "end_share",
        "leave",
        "close_room",
        "close",
    }


@pytest.mark.parametrize("server", [SFU, WorkerClient], ids=["sfu", "worker"])
@pytest.mark.parametrize("call", CALLS)
def test_a_media_server_takes_each_call_as_the_contract_says(server, call):
    implementation = getattr(server, call)
    assert inspect.iscoroutinefunction(implementation)
    contract = _parameters(getattr(MediaServer, call))
    ours = _parameters(implementation)
    # Same names, all keyword-only; a default only where one is harmless.
    assert [(n, k) for n, k, _ in ours] == [(n, k) for n, k, _ in contract]


@pytest.mark.parametrize("call", CALLS)
def test_no_media_server_takes_every_call(call):
    assert inspect.iscoroutinefunction(getattr(NoMediaServer, call))
