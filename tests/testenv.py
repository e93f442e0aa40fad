"""Loaded with ``-p`` before pytest-django reads the settings.

Tests run on the embedded defaults (DEBUG on, SQLite) unless the environment
says otherwise; `make test` runs the database-bound tests a second time on
PostgreSQL by setting DATABASE_URL. A PostgreSQL or Redis that is not running
skips with a visible reason on a laptop, and fails the run when CI is set.
"""

import os

import pytest

os.environ.setdefault("DEBUG", "1")
# Tests must not depend on a developer's .env or e-mail set-up.
os.environ["EMAIL_URL"] = "consolemail://"


def service_missing(what: str, detail: str) -> None:
    """Skip the whole run with a reason, or fail it under CI."""
    message = f"{what} is not reachable ({detail})."
    if os.environ.get("CI"):
        raise pytest.UsageError(f"{message} CI must run these tests: start it.")
    pytest.exit(f"SKIPPED: {message} Start it to run these tests.", returncode=0)


def pytest_configure(config: pytest.Config) -> None:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        try:
            # Connect to the server's maintenance database: the test database
            # is created by pytest-django.
            with psycopg.connect(
                url.rsplit("/", 1)[0] + "/postgres", connect_timeout=3
            ):
                pass
        except psycopg.Error as exc:
            service_missing("PostgreSQL", str(exc).strip().splitlines()[0])
