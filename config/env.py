"""Strict readers for environment variables.

django-environ parses URLs (databases, e-mail, caches) well, but it is lenient
with scalars: ``DEBUG=maybe`` quietly becomes False and ``PORT=abc`` raises a
bare ValueError that does not say which variable was wrong. Settings must fail
loudly at start with the variable's name, so scalars go through these helpers.
Every secret may also be given as ``NAME_FILE`` (a path), for Docker/systemd
secrets, so that it never has to sit in the process environment.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

_MISSING = object()


def _raw(name: str) -> str | None:
    return os.environ.get(name)


def _fail(name: str, problem: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"Environment variable {name}: {problem}")


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _fail(name, f"expected 1/0, true/false, yes/no or on/off, got {value!r}.")


def env_int(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    value = _raw(name)
    if value is None or value.strip() == "":
        result = default
    else:
        try:
            result = int(value.strip())
        except ValueError:
            raise _fail(name, f"expected a whole number, got {value!r}.") from None
    if minimum is not None and result < minimum:
        raise _fail(name, f"must be at least {minimum}, got {result}.")
    if maximum is not None and result > maximum:
        raise _fail(name, f"must be at most {maximum}, got {result}.")
    return result


def env_str(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None else value.strip()


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    """A comma-separated list; blank items are dropped."""
    value = _raw(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_port_range(name: str, *, minimum_size: int) -> tuple[int, int] | None:
    """A range of ports like ``50000-50199`` (both included), at least
    ``minimum_size`` ports, none privileged; empty or unset means None."""
    value = env_str(name)
    if not value:
        return None
    match = re.fullmatch(r"([0-9]{1,5})\s*-\s*([0-9]{1,5})", value)
    if match is None:
        raise _fail(name, f"expected a range of ports like 50000-50199, got {value!r}.")
    low, high = int(match[1]), int(match[2])
    if low > high:
        raise _fail(name, f"the range {value!r} is reversed: write {high}-{low}.")
    if low < 1024 or high > 65535:
        raise _fail(name, f"ports must be between 1024 and 65535, got {value!r}.")
    if high - low + 1 < minimum_size:
        raise _fail(
            name,
            f"must hold at least {minimum_size} ports, {value!r} holds {high - low + 1}.",
        )
    return low, high


def env_secret(name: str, default: str | object = _MISSING) -> str:
    """Read ``NAME``, or the contents of the file named by ``NAME_FILE``."""
    file_name = _raw(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise _fail(f"{name}_FILE", f"cannot read {file_name!r}: {exc}.") from None
    value = _raw(name)
    if value is not None and value.strip():
        return value.strip()
    if default is _MISSING:
        raise _fail(name, f"is required (or give a file path in {name}_FILE).")
    return str(default)


def env_db(name: str, default: str) -> dict:
    url = _raw(name) or default
    scheme = url.split(":", 1)[0].lower()
    # Parley supports the two databases it is tested on.
    if scheme not in ("sqlite", "postgres", "postgresql"):
        raise _fail(name, f"expected sqlite:/// or postgres://, got {scheme!r}.")
    try:
        return environ.Env.db_url_config(url)
    except Exception as exc:  # environ raises several types for bad URLs
        raise _fail(name, f"cannot be read as a database URL ({exc}).") from None


def env_url(name: str, default: str = "", *, schemes: tuple[str, ...]) -> str:
    """A URL whose scheme must be one of ``schemes`` (empty means unset)."""
    value = env_str(name, default)
    if value and value.split(":", 1)[0].lower() not in schemes:
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise _fail(name, f"expected a URL starting with {allowed}, got {value!r}.")
    return value


def env_email(name: str, default: str) -> dict:
    url = _raw(name) or default
    try:
        return environ.Env.email_url_config(url)
    except Exception as exc:
        raise _fail(name, f"cannot use {url!r} as an e-mail URL ({exc}).") from None
