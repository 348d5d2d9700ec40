"""Strict readers for environment variables.

A value that is set but cannot be understood is an error that names the variable, never a silent default.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class EnvError(ImproperlyConfigured):
    """A configuration variable is missing or malformed; the message starts with its name."""

    def __init__(self, name: str, problem: str) -> None:
        self.variable = name
        super().__init__(f"{name}: {problem}")


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def env_str(name: str, default: str | None = None, *, required: bool = False) -> str | None:
    value = _raw(name)
    if value is None:
        if required:
            raise EnvError(name, "is required but not set")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise EnvError(name, f"expected a boolean (true/false/1/0/yes/no/on/off), got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise EnvError(name, f"expected an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise EnvError(name, f"must be >= {minimum}, got {number}")
    return number


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise EnvError(name, f"expected a number, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise EnvError(name, f"must be >= {minimum}, got {number}")
    return number


def env_list(name: str, default: list[str] | None = None, *, required: bool = False) -> list[str]:
    value = _raw(name)
    if value is None:
        if required:
            raise EnvError(name, "is required but not set (comma-separated list)")
        return list(default or [])
    items = [item.strip() for item in value.split(",") if item.strip()]
    if required and not items:
        raise EnvError(name, "is required but empty")
    return items


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _raw(name)
    if value is None:
        return default
    if value not in choices:
        raise EnvError(name, f"expected one of {', '.join(choices)}, got {value!r}")
    return value


DATABASE_SCHEMES = ("postgres", "postgresql", "pgsql", "sqlite")


def parse_database_url(name: str, url: str) -> dict:
    """Parse a database URL with dj-database-url, accepting only PostgreSQL and SQLite."""
    import dj_database_url

    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in DATABASE_SCHEMES:
        raise EnvError(
            name,
            f"expected a URL like postgres://user:password@host:5432/dbname or sqlite:////abs/path.sqlite3, "
            f"scheme must be one of {', '.join(DATABASE_SCHEMES)}",
        )
    try:
        config = dj_database_url.parse(url)
    except Exception as exc:  # dj-database-url raises several types for bad URLs
        raise EnvError(name, f"cannot be parsed ({exc})") from None
    if not config.get("NAME"):
        raise EnvError(name, "has no database name (path part of the URL)")
    if config["ENGINE"].endswith("postgresql") and not config.get("HOST"):
        raise EnvError(name, "has no host")
    return config


BROKER_SCHEMES = ("redis", "rediss", "amqp", "pyamqp", "filesystem")


def validate_broker_url(name: str, url: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise EnvError(name, f"cannot be parsed ({exc})") from None
    if parts.scheme not in BROKER_SCHEMES:
        raise EnvError(name, f"scheme must be one of {', '.join(BROKER_SCHEMES)}, got {parts.scheme!r}")
    if parts.scheme != "filesystem" and not parts.hostname:
        raise EnvError(name, "has no host")
    return url
