"""A fix for aioice 0.13: consent checks that outlive their connection.

``Connection.connect()`` starts the consent-freshness task (RFC 7675) once
it reads "completed" off its check-list queue. If ``close()`` runs between
the checks completing and ``connect()`` reading that (a participant who
leaves, or whose tab closes, just as ICE completes), the task starts after
the close: it finds no nominated pair, so it never fails, and wakes every
few seconds for as long as the process lives, holding the whole connection.
The SFU meets this on every short visit, so consent now checks first that
its connection is not closing.

``forwarding.check_hooks()`` checks the two aioice internals used here.
"""

from __future__ import annotations

from typing import Any

from aioice import Connection

_original_query_consent = Connection.query_consent
_installed = False


async def _query_consent(self: Any) -> None:
    if self._closing:
        return  # closed before the task could start: nothing to keep fresh
    await _original_query_consent(self)


def install() -> None:
    """Patch aioice once per process (idempotent)."""
    global _installed
    if not _installed:
        Connection.query_consent = _query_consent  # type: ignore[method-assign]
        _installed = True
