"""Database URLs: parsing them with errors naming the config key, showing them without password,
and the SQLite and driver choices both SQL services make from them."""

from __future__ import annotations

import os

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from xcore._builtin_services.service_urls import mask_url_text
from xcore._errors import ConfigError


def parse_url(raw: str, key_path: str) -> URL:
    """The database URL of section ``key_path``, or a ``ConfigError`` saying what is wrong with it."""
    if not raw or not raw.strip():
        raise ConfigError(f"{key_path}.url: is empty (is the environment variable it uses set?)")
    try:
        return make_url(raw.strip())
    except (ArgumentError, ValueError):
        raise ConfigError(
            f"{key_path}.url: {mask_url_text(raw)!r} is not a database URL "
            "(expected e.g. postgresql://user:password@host:5432/name or sqlite:///path/to/file.db)"
        ) from None


def shown(url: URL) -> str:
    """The URL as it may appear in logs and errors: password masked."""
    return url.render_as_string(hide_password=True)


def is_sqlite_memory(url: URL) -> bool:
    database = url.database or ""
    if url.query.get("uri") in ("true", "1", "True"):
        return "mode=memory" in database or url.query.get("mode") == "memory"
    return database in ("", ":memory:")


def sqlite_file(url: URL, key_path: str) -> URL:
    """``url`` with its relative database path made absolute and the parent directory created.

    Absolute, so a later ``chdir`` cannot move the database; created, so the embedded default
    ``sqlite:///.xcore/xcore.db`` works in a fresh directory.
    """
    if is_sqlite_memory(url) or url.query.get("uri") in ("true", "1", "True"):
        return url
    path = os.path.abspath(os.path.expanduser(url.database or ""))
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{key_path}.url: cannot create the directory of SQLite database {path}: {exc}") from None
    return url.set(database=path)


_SYNC_DRIVERS = {
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "postgresql+asyncpg": "postgresql+psycopg",
    "postgresql+psycopg_async": "postgresql+psycopg",
    "sqlite+aiosqlite": "sqlite",
}
"""Driver choices for a sync engine: psycopg 3 for PostgreSQL; an async driver's sync sibling, so one
``DATABASE_URL`` may serve a sync and an async section alike."""


def sync_url(url: URL) -> URL:
    driver = _SYNC_DRIVERS.get(url.drivername)
    if driver is None and url.drivername.startswith("postgres+"):
        driver = "postgresql+" + url.drivername.split("+", 1)[1]
    return url.set(drivername=driver) if driver else url
