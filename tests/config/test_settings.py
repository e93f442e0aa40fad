"""Settings are read from the environment at start: each case runs a fresh
interpreter with its own environment, as a server start would."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "k3y-for-tests-only-9f8e7d6c5b4a39281706f5e4d3c2b1a0ffeeddccbbaa",
    "ALLOWED_HOSTS": "meet.example.org",
}


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _setting(env: dict[str, str], expression: str) -> subprocess.CompletedProcess:
    return _run(
        env, "-c", f"from django.conf import settings as s; print({expression})"
    )


def test_production_settings_pass_check_deploy():
    result = _run(
        PRODUCTION, "manage.py", "check", "--deploy", "--fail-level", "WARNING"
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues (0 silenced)" in result.stdout


def test_production_defaults_are_secure():
    result = _setting(
        PRODUCTION,
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
        "s.SECURE_HSTS_SECONDS > 0, s.SERVE_STATIC",
    )
    assert result.stdout.strip() == "True True True True False", result.stderr


def test_embedded_defaults():
    result = _setting(
        {"DEBUG": "1"},
        "s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'], "
        "s.CACHES['default']['BACKEND']",
    )
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "channels.layers.InMemoryChannelLayer",
        "django.core.cache.backends.locmem.LocMemCache",
    ], result.stderr


def test_sign_in_lockout_and_email_limits_defaults():
    result = _setting(
        PRODUCTION,
        "s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME.total_seconds(), "
        "s.AXES_LOCKOUT_PARAMETERS, s.AXES_RESET_ON_SUCCESS, s.TRUSTED_PROXY_COUNT, "
        "s.ACCOUNT_EMAILS_PER_IP, s.ACCOUNT_EMAILS_PER_ADDRESS",
    )
    assert result.stdout.strip() == (
        "5 900.0 [['username', 'ip_address']] True 0 10 3"
    ), result.stderr


def test_lockout_and_limits_come_from_the_environment():
    result = _setting(
        {
            **PRODUCTION,
            "AXES_FAILURE_LIMIT": "8",
            "AXES_COOLOFF_MINUTES": "60",
            "TRUSTED_PROXY_COUNT": "1",
            "ACCOUNT_EMAILS_PER_IP": "20",
            "ACCOUNT_EMAILS_PER_ADDRESS": "5",
        },
        "s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME.total_seconds(), "
        "s.TRUSTED_PROXY_COUNT, s.ACCOUNT_EMAILS_PER_IP, s.ACCOUNT_EMAILS_PER_ADDRESS",
    )
    assert result.stdout.strip() == "8 3600.0 1 20 5", result.stderr


def test_redis_url_selects_the_redis_layer_and_database_url_postgres():
    result = _setting(
        {
            **PRODUCTION,
            "REDIS_URL": "redis://127.0.0.1:6379/3",
            "DATABASE_URL": "postgres://parley:pw@db.internal:5432/parley",
        },
        "s.CHANNEL_LAYERS['default'], s.DATABASES['default']['ENGINE'], "
        "s.DATABASES['default']['HOST'], s.CACHES['default']",
    )
    assert "signaling.layers.RedisChannelLayer" in result.stdout
    assert "'BACKEND': 'django.core.cache.backends.redis.RedisCache'" in result.stdout
    assert "'LOCATION': 'redis://127.0.0.1:6379/3'" in result.stdout
    assert "'address': 'redis://127.0.0.1:6379/3'" in result.stdout
    assert "'socket_timeout': None" in result.stdout
    assert "django.db.backends.postgresql db.internal" in result.stdout


def test_secret_key_can_come_from_a_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-a-file-" + "x" * 50 + "\n")
    env = {**PRODUCTION, "SECRET_KEY_FILE": str(secret)}
    del env["SECRET_KEY"]
    assert _setting(env, "s.SECRET_KEY").stdout.strip() == "from-a-file-" + "x" * 50


@pytest.mark.parametrize(
    "env, variable",
    [
        ({"DEBUG": "0", "ALLOWED_HOSTS": "x"}, "SECRET_KEY"),
        ({"DEBUG": "0", "SECRET_KEY": PRODUCTION["SECRET_KEY"]}, "ALLOWED_HOSTS"),
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"DEBUG": "1", "DATABASE_URL": "nosuchdb://x/y"}, "DATABASE_URL"),
        ({"DEBUG": "1", "REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL"),
        ({"DEBUG": "1", "TURN_CREDENTIAL_TTL": "an hour"}, "TURN_CREDENTIAL_TTL"),
        ({"DEBUG": "1", "TURN_CREDENTIAL_TTL": "999999"}, "TURN_CREDENTIAL_TTL"),
        ({"DEBUG": "1", "TURN_URLS": "turn:turn.example.org:3478"}, "TURN_SECRET"),
        ({"DEBUG": "1", "STUN_URLS": "http://stun.example.org"}, "STUN_URLS"),
        (
            {"DEBUG": "1", "CSRF_TRUSTED_ORIGINS": "meet.example.org"},
            "CSRF_TRUSTED_ORIGINS",
        ),
        ({"DEBUG": "1", "SECURE_HSTS_SECONDS": "-1"}, "SECURE_HSTS_SECONDS"),
        ({"DEBUG": "1", "LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"DEBUG": "1", "EMAIL_URL": "pigeon://coop"}, "EMAIL_URL"),
        ({"DEBUG": "1", "SECRET_KEY_FILE": "/nonexistent/secret"}, "SECRET_KEY_FILE"),
        ({"DEBUG": "1", "AXES_FAILURE_LIMIT": "five"}, "AXES_FAILURE_LIMIT"),
        ({"DEBUG": "1", "AXES_FAILURE_LIMIT": "0"}, "AXES_FAILURE_LIMIT"),
        ({"DEBUG": "1", "AXES_COOLOFF_MINUTES": "0"}, "AXES_COOLOFF_MINUTES"),
        ({"DEBUG": "1", "TRUSTED_PROXY_COUNT": "-1"}, "TRUSTED_PROXY_COUNT"),
        ({"DEBUG": "1", "ACCOUNT_EMAILS_PER_IP": "0"}, "ACCOUNT_EMAILS_PER_IP"),
        (
            {"DEBUG": "1", "ACCOUNT_EMAILS_PER_ADDRESS": "many"},
            "ACCOUNT_EMAILS_PER_ADDRESS",
        ),
    ],
)
def test_wrong_values_stop_the_start_naming_the_variable(env, variable):
    result = _setting(env, "s.INSTALLED_APPS")
    assert result.returncode != 0
    assert f"Environment variable {variable}:" in result.stderr


def test_migrations_match_the_models(db):
    # Exits non-zero when a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
