"""An open meeting socket ends with the session that opened it: sign-out,
a password change and deactivation close it; signing in elsewhere does not."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async as db
from django.contrib.auth.models import update_last_login
from django.test import Client
from django.urls import reverse

from signaling.protocol import CLOSE_CODES
from tests.signaling.client import ROUTER, RoomClient

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("channel_layer"),
]

APPLICATION = AuthMiddlewareStack(ROUTER)


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def _in_meeting(browser: Client, room) -> RoomClient:
    """A meeting socket carrying the browser's session cookie."""
    cookie = browser.cookies["sessionid"].value
    socket = RoomClient(
        None,
        room,
        application=APPLICATION,
        headers=[(b"cookie", f"sessionid={cookie}".encode())],
    )
    await socket.join()
    return socket


async def _ended(socket: RoomClient) -> None:
    await socket.closed(CLOSE_CODES["session_ended"])
    assert socket.seen[-1]["code"] == "session_ended"


async def test_signing_out_closes_that_sessions_meeting_sockets(room, owner, publisher):
    browser = await sync_to_async(_signed_in)(publisher)
    other_device = await sync_to_async(_signed_in)(publisher)
    owner_in = RoomClient(owner, room)
    await owner_in.join()
    here = await _in_meeting(browser, room)
    await sync_to_async(browser.post)(reverse("logout"))
    await _ended(here)
    # The others see them go (dropped, then gone after the grace period).
    left = await owner_in.recv_until("participant_left")
    assert left["id"] == here.id
    # Another device's session is its own: still signed in, still welcome.
    there = await _in_meeting(other_device, room)
    await there.close()
    await owner_in.close()


async def test_deactivating_an_account_closes_its_sockets(room, publisher):
    browser = await sync_to_async(_signed_in)(publisher)
    socket = await _in_meeting(browser, room)
    publisher.is_active = False
    await db(publisher.save)()
    await _ended(socket)


async def test_a_password_change_closes_other_sessions_sockets(room, publisher):
    browser = await sync_to_async(_signed_in)(publisher)
    socket = await _in_meeting(browser, room)
    publisher.set_password("a-brand-new-password-77")
    await db(publisher.save)()
    await _ended(socket)


async def test_signing_in_elsewhere_leaves_open_sockets_alone(room, publisher):
    browser = await sync_to_async(_signed_in)(publisher)
    socket = await _in_meeting(browser, room)
    # What a sign-in does to the user row (django.contrib.auth's own
    # user_logged_in receiver): it saves last_login only.
    await db(update_last_login)(None, publisher)
    await socket.send({"type": "ping"})
    await socket.recv("pong")
    assert await socket.silent(0.3)
    await socket.close()


async def test_another_users_change_leaves_my_socket_alone(room, owner, publisher):
    browser = await sync_to_async(_signed_in)(publisher)
    socket = await _in_meeting(browser, room)
    owner.set_password("the-owner-changed-it-88")
    await db(owner.save)()
    assert await socket.silent(0.5)
    await socket.send({"type": "ping"})
    await socket.recv("pong")
    await socket.close()
