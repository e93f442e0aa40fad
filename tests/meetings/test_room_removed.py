"""Someone a moderator removed from the running meeting who opens the room
page again is told so, and offered no way to join it."""

import pytest
from django.urls import reverse

from meetings import selectors, services

NOTICE = "A moderator removed you from this meeting"


def _join(user, room, channel: str):
    return services.participant_join(user=user, room=room, channel_name=channel)


@pytest.fixture
def removed(room, owner, publisher):
    _join(owner, room, "owner")
    pablo = _join(publisher, room, "pablo").participant
    services.participant_remove(actor=owner, room=room, target_id=pablo.public_id)
    return publisher


def _page(client, user, room) -> str:
    client.force_login(user)
    response = client.get(reverse("room", args=[room.slug]))
    assert response.status_code == 200
    return response.content.decode()


def test_a_removed_person_reloading_sees_the_notice_and_no_join_form(
    client, room, removed
):
    page = _page(client, removed, room)
    assert NOTICE in page
    assert 'id="join-form"' not in page and 'id="join-button"' not in page


def test_the_next_meeting_offers_to_join_again(client, room, owner, removed):
    services.meeting_end(actor=owner, room=room)
    assert not selectors.participant_is_removed(room=room, user=removed)
    page = _page(client, removed, room)
    assert NOTICE not in page and 'id="join-button"' in page


def test_someone_who_left_on_their_own_may_join_again(client, room, owner, publisher):
    _join(owner, room, "owner")
    pablo = _join(publisher, room, "pablo").participant
    services.participant_leave(participant_id=pablo.pk, channel_name="pablo")
    assert not selectors.participant_is_removed(room=room, user=publisher)
    page = _page(client, publisher, room)
    assert NOTICE not in page and 'id="join-button"' in page


def test_a_removal_from_another_room_does_not_count(
    client, room, owner, publisher, removed
):
    other = services.room_create(owner=owner, name="Other room")
    other.memberships.create(user=removed, role="publisher")
    assert selectors.participant_is_removed(room=room, user=removed)
    assert not selectors.participant_is_removed(room=other, user=removed)
    assert 'id="join-button"' in _page(client, removed, other)
