import base64
import hashlib
import hmac

from signaling.ice import ice_servers_for, turn_credentials


def test_turn_credentials_follow_coturns_shared_secret_scheme():
    username, password = turn_credentials(
        user_id=42, secret="s3cret", ttl=600, now=1_000_000
    )
    assert username == "1000600:42"
    expected = hmac.new(b"s3cret", b"1000600:42", hashlib.sha1).digest()
    assert base64.b64decode(password) == expected


def test_no_servers_configured_means_host_candidates_only(settings):
    settings.STUN_URLS, settings.TURN_URLS = [], []
    assert ice_servers_for(user_id=1) == []


def test_ice_servers_carry_short_lived_turn_credentials_not_the_secret(settings):
    settings.STUN_URLS = ["stun:stun.example.org:3478"]
    settings.TURN_URLS = [
        "turn:turn.example.org:3478?transport=udp",
        "turns:turn.example.org:5349",
    ]
    settings.TURN_SECRET = "the-static-auth-secret"
    settings.TURN_CREDENTIAL_TTL = 3600
    stun, turn = ice_servers_for(user_id=7)
    assert stun == {"urls": ["stun:stun.example.org:3478"]}
    assert turn["urls"] == settings.TURN_URLS
    expiry, user = turn["username"].split(":")
    assert user == "7"
    import time

    assert 3590 <= int(expiry) - time.time() <= 3600
    assert "the-static-auth-secret" not in repr(turn)


def test_the_network_test_gets_ice_servers_for_the_signed_in_user(
    client, publisher, settings
):
    settings.STUN_URLS = ["stun:stun.example.org:3478"]
    settings.TURN_URLS = ["turn:turn.example.org:3478"]
    settings.TURN_SECRET = "the-static-auth-secret"
    client.force_login(publisher)
    response = client.get("/api/ice-servers/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    stun, turn = response.json()["ice_servers"]
    assert stun == {"urls": ["stun:stun.example.org:3478"]}
    assert turn["username"].endswith(f":{publisher.pk}")
    assert "the-static-auth-secret" not in response.content.decode()


def test_no_turn_credentials_without_signing_in(client, settings):
    settings.TURN_URLS = ["turn:turn.example.org:3478"]
    settings.TURN_SECRET = "the-static-auth-secret"
    response = client.get("/api/ice-servers/")
    assert response.status_code == 401
    assert "Sign in" in response.json()["error"]
