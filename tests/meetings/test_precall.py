"""The pre-call report: what the browser's check found, saved for support."""

import json
import re

import pytest
from django.urls import reverse

from meetings import services
from meetings.errors import InvalidOperation
from meetings.models import PrecallReport

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
REPORT = {
    "devices": {
        "videoinput": ["FaceTime HD"],
        "audioinput": ["Built-in", ""],
        "audiooutput": ["Speakers"],
    },
    "permissions": {"camera": "granted", "microphone": "denied"},
    "capabilities": {"secure_context": True, "get_user_media": True},
    "candidate_kinds": ["host", "relay-udp"],
    "problems": ["Your browser blocked the microphone."],
}


def _post(client, room, body, **headers):
    return client.post(
        reverse("room_precall", args=[room.slug]),
        data=body if isinstance(body, str) else json.dumps(body),
        content_type="application/json",
        headers={"User-Agent": CHROME, **headers},
    )


def test_joining_saves_what_the_check_found(client, room, publisher):
    client.force_login(publisher)
    response = _post(client, room, {"display_name": "Pablo P.", "report": REPORT})
    assert response.status_code == 201
    report = PrecallReport.objects.get(pk=response.json()["report"])
    assert (report.user, report.room) == (publisher, room)
    assert report.browser == "Chrome 131"
    assert report.devices["audioinput"] == ["Built-in", "(unnamed)"]
    assert report.permissions == {"camera": "granted", "microphone": "denied"}
    assert report.capabilities["get_user_media"] is True
    assert report.capabilities["display_media"] is False
    assert report.candidate_kinds == ["host", "relay-udp"]
    assert report.can_connect
    publisher.refresh_from_db()
    assert publisher.display_name == "Pablo P."


def test_a_blank_name_is_refused_and_nothing_is_saved(client, room, publisher):
    client.force_login(publisher)
    response = _post(client, room, {"display_name": "   ", "report": REPORT})
    assert response.status_code == 400
    assert response.json()["field"] == "display_name"
    assert response.json()["error"]
    assert not PrecallReport.objects.exists()
    publisher.refresh_from_db()
    assert publisher.display_name == "Pablo Publisher"


def test_a_name_with_control_characters_is_refused_as_a_guests_is(
    client, room, publisher
):
    """The pre-call check renames anyone, guests included: the one name rule
    holds here as it does on the guest page."""
    client.force_login(publisher)
    response = _post(client, room, {"display_name": "Pa\nblo", "report": REPORT})
    assert response.status_code == 400
    assert "letters, digits, spaces and punctuation" in response.json()["error"]
    publisher.refresh_from_db()
    assert publisher.display_name == "Pablo Publisher"


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '{"report": "x"}'])
def test_malformed_reports_get_a_clear_error(client, room, publisher, body):
    client.force_login(publisher)
    response = _post(client, room, body)
    assert response.status_code == 400
    assert response.json()["error"]
    assert not PrecallReport.objects.exists()


def test_what_the_browser_claims_is_cut_to_shape(room, publisher):
    report = services.precall_report_save(
        user=publisher,
        room=room,
        report={
            "devices": {"videoinput": ["x" * 500] * 50, "evil": ["y"]},
            "permissions": {"camera": "<script>", "geolocation": "granted"},
            "capabilities": {"peer_connection": "yes", "extra": True},
            "candidate_kinds": ["host", "host", "prflx", 7],
            "problems": ["p" * 1000, {"x": 1}] + ["q"] * 20,
        },
        user_agent="curl/8.0",
    )
    assert len(report.devices["videoinput"]) == 20
    assert len(report.devices["videoinput"][0]) == 120
    assert set(report.devices) == {"videoinput", "audioinput", "audiooutput"}
    assert report.permissions == {"camera": "unknown", "microphone": "unknown"}
    assert report.capabilities["peer_connection"] is False
    assert "extra" not in report.capabilities
    assert report.candidate_kinds == ["host"]
    assert len(report.problems) == 9 and len(report.problems[0]) == 300
    assert report.browser == "Other"


def test_wrong_types_are_refused(room, publisher):
    with pytest.raises(InvalidOperation):
        services.precall_report_save(
            user=publisher, room=room, report={"devices": ["camera"]}
        )


def test_outsiders_cannot_post_reports_to_a_room(client, room, outsider):
    client.force_login(outsider)
    assert _post(client, room, {"report": REPORT}).status_code == 404
    assert not PrecallReport.objects.exists()


def test_posting_needs_the_csrf_token(room, publisher):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(publisher)
    assert _post(client, room, {"report": REPORT}).status_code == 403


def test_the_room_page_gives_its_script_what_it_needs(client, room, viewer):
    client.force_login(viewer)
    response = client.get(reverse("room", args=[room.slug]))
    script = re.search(
        r'<script id="client-config"[^>]*>(.*?)</script>', response.content.decode()
    )
    config = json.loads(script.group(1))
    assert config["room"] == {"slug": room.slug, "name": room.name}
    assert config["capabilities"] == {
        "publish": False,
        "share_screen": False,
        "chat": True,
        "moderate": False,
    }
    assert config["urls"]["socket"] == f"/ws/rooms/{room.slug}/"
    # Viewers get no camera or microphone choice.
    assert 'id="camera-select"' not in response.content.decode()
