"""Saving what the pre-call check found, for support to read in the admin.

The report comes from the browser, so nothing in it is trusted: every field
is checked for shape and cut to size, and unknown keys are dropped.
"""

from __future__ import annotations

from accounts.models import User
from meetings.errors import InvalidOperation
from meetings.models import CandidateKind, PrecallReport, Room

DEVICE_KINDS = ("videoinput", "audioinput", "audiooutput")
PERMISSION_STATES = {"granted", "denied", "prompt", "unknown"}
CAPABILITIES = (
    "secure_context",
    "get_user_media",
    "peer_connection",
    "display_media",
    "set_sink_id",
)
MAX_DEVICES, MAX_LABEL = 20, 120
MAX_PROBLEMS, MAX_PROBLEM = 10, 300


def precall_report_save(
    *, user: User, room: Room, report: object, user_agent: str = ""
) -> PrecallReport:
    if not isinstance(report, dict):
        raise InvalidOperation("The report must be a JSON object.")
    devices = report.get("devices", {})
    permissions = report.get("permissions", {})
    capabilities = report.get("capabilities", {})
    kinds = report.get("candidate_kinds", [])
    problems = report.get("problems", [])
    if not (
        isinstance(devices, dict)
        and isinstance(permissions, dict)
        and isinstance(capabilities, dict)
        and isinstance(kinds, list)
        and isinstance(problems, list)
    ):
        raise InvalidOperation("The report has fields of the wrong type.")
    return PrecallReport.objects.create(
        user=user,
        room=room,
        user_agent=user_agent[:400],
        browser=_browser_name(user_agent),
        devices={kind: _labels(devices.get(kind)) for kind in DEVICE_KINDS},
        permissions={
            name: state if state in PERMISSION_STATES else "unknown"
            for name in ("camera", "microphone")
            for state in [permissions.get(name)]
        },
        capabilities={name: capabilities.get(name) is True for name in CAPABILITIES},
        candidate_kinds=sorted(set(kinds) & set(CandidateKind.values)),
        problems=[
            p[:MAX_PROBLEM] for p in problems[:MAX_PROBLEMS] if isinstance(p, str)
        ],
    )


def _labels(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    # An empty label means the browser hid it (no permission yet): keep the
    # count, which is still useful to support.
    return [
        (label[:MAX_LABEL] or "(unnamed)")
        for label in value[:MAX_DEVICES]
        if isinstance(label, str)
    ]


def _browser_name(user_agent: str) -> str:
    """Good enough for support to tell browsers apart; not for logic."""
    for marker, name in (
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
    ):
        if marker in user_agent:
            version = user_agent.split(marker, 1)[1].split(" ", 1)[0]
            major = version.split(".", 1)[0]
            return f"{name} {major}"[:80]
    return "Other"
