"""Real Parley servers in subprocesses, for tests and benchmarks that need
what a deployment has: daphne processes, a shared database, Redis.

``Deployment`` creates its own database (a fresh PostgreSQL database, or a
SQLite file), migrates it, seeds users and a room with ``seed()``, and starts
as many daphne processes as asked on free loopback ports.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"
)

# Prepended to seed scripts: a signed-in session for a user, as a browser or
# a WebSocket client would present it in its cookie.
SIGN_IN = """
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.auth import SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY

def session_key_for(user):
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key
"""

SEED_SCRIPT = (
    SIGN_IN
    + """
import json, sys
from accounts.models import User
from meetings import services
from meetings.models import Membership

spec = json.loads(sys.stdin.read())
owner = User.objects.create_user(email="owner@example.org", password=None, display_name="Owner")
room = services.room_create(owner=owner, name="Shared", max_participants=spec["max"])
users = [owner]
for i in range(spec["members"]):
    user = User.objects.create_user(
        email=f"member{i}@example.org", password=None, display_name=f"Member {i}"
    )
    Membership.objects.create(room=room, user=user, role="publisher")
    users.append(user)
sessions = [session_key_for(user) for user in users]
print(json.dumps({"slug": room.slug, "sessions": sessions}))
"""
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Deployment:
    def __init__(
        self,
        *,
        database: str = "sqlite",
        redis_url: str = "",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.database = database
        self.redis_url = redis_url
        self.extra_env = extra_env or {}
        self.tmp = Path(tempfile.mkdtemp(prefix="parley-"))
        self.db_name = f"parley_test_{uuid.uuid4().hex[:10]}"
        self.processes: list[subprocess.Popen] = []
        self.ports: list[int] = []

    @property
    def redis_prefix(self) -> str:
        """The deployment's own Redis keys: test runs share one Redis."""
        return f"parley-{self.db_name}"

    @property
    def database_url(self) -> str:
        if self.database == "postgres":
            return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + self.db_name
        return f"sqlite:///{self.tmp / 'db.sqlite3'}"

    def env(self) -> dict[str, str]:
        keep = ("PATH", "HOME", "LANG", "SYSTEMROOT")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings",
            DEBUG="1",
            DATABASE_URL=self.database_url,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            LOG_LEVEL="WARNING",
        )
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
            # Its own keys: test runs and deployments share one Redis.
            env["REDIS_PREFIX"] = self.redis_prefix
        env.update(self.extra_env)
        return env

    def _manage(self, *args: str, stdin: str = "") -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stderr}")
        return result.stdout

    def prepare(self, *, members: int, max_participants: int = 100) -> dict:
        """Create and migrate the database; seed a room with ``members``
        publishers besides its owner. Returns the room slug and session keys."""
        self.migrate()
        return self.run_script(
            SEED_SCRIPT, {"members": members, "max": max_participants}
        )

    def migrate(self) -> None:
        if self.database == "postgres":
            import psycopg

            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.db_name}"')
        self._manage("migrate", "--noinput")

    def run_script(self, script: str, spec: dict) -> dict:
        """Run ``script`` in ``manage.py shell`` with ``spec`` as JSON on stdin;
        its last line of output, JSON, is the result."""
        out = self._manage("shell", "-c", script, stdin=json.dumps(spec))
        return json.loads(out.strip().splitlines()[-1])

    def start(self, count: int = 1) -> list[int]:
        for _ in range(count):
            port = free_port()
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "daphne",
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "config.asgi:application",
                ],
                cwd=ROOT,
                env=self.env(),
                stdout=subprocess.DEVNULL,
                stderr=open(self.tmp / f"daphne-{port}.log", "w"),  # noqa: SIM115
            )
            self.processes.append(process)
            self.ports.append(port)
            _wait_for_port(port, process)
        return self.ports

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        if self.database == "postgres":
            import psycopg

            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"daphne on port {port} exited with {process.returncode}"
            )
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"daphne did not open port {port} in {timeout} s")


def ws_url(port: int, slug: str) -> str:
    return f"ws://127.0.0.1:{port}/ws/rooms/{slug}/"


def ws_headers(port: int, session_key: str) -> dict[str, str]:
    return {"Cookie": f"sessionid={session_key}", "Origin": f"http://127.0.0.1:{port}"}


async def recv_type(ws, kind: str, timeout: float = 10) -> dict:
    """The next message of type ``kind`` on a websockets client, skipping
    others; fails saying what came instead."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    skipped = []
    while True:
        left = deadline - loop.time()
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), max(left, 0.01)))
        except TimeoutError:
            raise AssertionError(f"no {kind} in {timeout} s; got {skipped}") from None
        if message["type"] == kind:
            return message
        skipped.append(message["type"])
