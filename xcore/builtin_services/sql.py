"""Synchronous SQL databases on SQLAlchemy 2: ``type: postgresql``, ``sqlite``, ``mysql`` or ``sql``.

``db.session()`` gives a SQLAlchemy session (see :class:`~xcore.builtin_services.sql_text.TextSession`)
on which the seed's plain SQL strings, ``dict(row)`` and SQLite's ``NOW()`` work unchanged::

    with db.session() as session:
        row = session.execute("SELECT * FROM users WHERE id = :id", {"id": 1}).fetchone()
        session.commit()          # writes are kept only when committed

Leaving the block closes the session: uncommitted work, and all of it when the block raised, is
rolled back. The engine pings a pooled connection before handing it out and waits at most
``pool_timeout`` seconds for a free one, so a restarted server is reconnected transparently and an
exhausted pool or an unreachable server gives an error instead of a hang. Errors caused by the
server being unreachable are :class:`DatabaseUnavailable`, naming the config key, password masked.

The four type names share one implementation: the URL picks the dialect (``postgresql://`` means
psycopg 3), so the spec's ``type: postgresql`` section runs on SQLite by pointing its URL there.
This module also holds what the async service (``sqlasync``) reuses: settings and URL checks.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy.exc
from pydantic import Field
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool, StaticPool

from xcore.config.models import EMBEDDED_DATA_DIR
from xcore.errors import ConfigError, ServiceError
from xcore.hookspecs import hookimpl
from xcore.redaction import MASK, redact_text
from xcore.services import ServiceBase, ServiceSettings, ServiceSetup, ServiceType

from .sql_text import TextSession, cached_text, register_sqlite_now

DEFAULT_SQLITE_URL = f"sqlite:///{EMBEDDED_DATA_DIR}/xcore.db"

_SELECT_ONE = cached_text("SELECT 1")


class DatabaseUnavailable(ServiceError, ConnectionError):
    """The database server cannot be reached (refused, timed out, connection lost, pool exhausted).

    The message names the database's config key and its URL with the password masked. Being a
    ``ConnectionError``, it is caught by ``except ConnectionError`` / ``except OSError`` as well.
    """


class PoolExhausted(DatabaseUnavailable, TimeoutError, sqlalchemy.exc.TimeoutError):
    """Every pooled connection stayed in use for ``pool_timeout`` seconds.

    Also the ``TimeoutError`` that asyncpg's ``pool.acquire(timeout=...)`` raises and SQLAlchemy's
    ``TimeoutError``, so code written against either library keeps catching it.
    """


class SqlSettings(ServiceSettings):
    """Settings of a SQL database section.

    ``pool_size`` connections are kept open, ``max_overflow`` more may be opened under load;
    ``pool_timeout`` bounds the wait for a free one and ``connect_timeout`` the wait for the server.
    """

    url: str
    pool_size: int = Field(5, ge=1)
    max_overflow: int = Field(10, ge=0)
    echo: bool = False
    pool_timeout: float = Field(10.0, gt=0)
    connect_timeout: float = Field(5.0, gt=0)


class SqliteSettings(SqlSettings):
    """``type: sqlite``: the URL defaults to the embedded database ``./.xcore/xcore.db``."""

    url: str = DEFAULT_SQLITE_URL


# --------------------------------------------------------------------------- URLs


_ANY_USERINFO_PASSWORD = re.compile(r":[^:@/\s]*@")


def mask_url_text(raw: str, password: str | None = None) -> str:
    """``raw`` (a URL or a message quoting one) with every password masked, even in malformed URLs."""
    cleaned = redact_text(raw, [password] if password else [])
    return _ANY_USERINFO_PASSWORD.sub(f":{MASK}@", cleaned)


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


def unavailable(key_path: str, url: URL, exc: BaseException, what: str = "cannot connect to") -> DatabaseUnavailable:
    """The error for a server that cannot be reached, one line, naming the key, password masked."""
    detail = " ".join(str(exc).split()) or type(exc).__name__
    detail = mask_url_text(detail, url.password if isinstance(url.password, str) else None)
    return DatabaseUnavailable(f"{key_path}: {what} {shown(url)}: {detail}")


def name_connection_errors(engine: Engine, key_path: str, url: URL) -> None:
    """Turn connect failures and lost connections of ``engine`` into :class:`DatabaseUnavailable`.

    SQL errors (syntax, constraints) keep their SQLAlchemy type; a failed pre-ping is left to the
    pool, which then opens a fresh connection.
    """

    @event.listens_for(engine, "handle_error")
    def _on_error(ctx: ExceptionContext) -> BaseException | None:
        if ctx.is_pre_ping:
            return None
        if ctx.connection is None:
            return unavailable(key_path, url, ctx.original_exception)
        if ctx.is_disconnect:
            return unavailable(key_path, url, ctx.original_exception, "lost the connection to")
        return None


# --------------------------------------------------------------------------- engine


def _driver_error(key_path: str, url: URL, exc: BaseException) -> ConfigError:
    if isinstance(exc, NoSuchModuleError):
        return ConfigError(
            f"{key_path}.url: unknown database driver {url.drivername!r} in {shown(url)} "
            "(e.g. postgresql://, postgresql+psycopg://, sqlite:///file.db, mysql+pymysql://)"
        )
    if isinstance(exc, ImportError):
        return ConfigError(
            f"{key_path}.url: the driver for {url.drivername!r} is not installed ({exc}); "
            "install its package or name an installed driver in the URL"
        )
    return ConfigError(f"{key_path}: cannot create a database engine for {shown(url)}: {mask_url_text(str(exc))}")


def keyed_pool(base: type[QueuePool], message: str) -> type[QueuePool]:
    """``base`` whose checkout timeout raises :class:`PoolExhausted` with ``message``.

    A class of its own per engine (not an attribute on the pool instance), because ``dispose()``
    replaces the pool by a new instance of the same class.
    """

    def connect(self: QueuePool) -> Any:
        try:
            return base.connect(self)
        except sqlalchemy.exc.TimeoutError as exc:
            raise PoolExhausted(message) from exc

    return type(f"Keyed{base.__name__}", (base,), {"connect": connect, "__module__": __name__})


def engine_options(url: URL, settings: SqlSettings, key_path: str, pool: type[QueuePool] = QueuePool) -> dict[str, Any]:
    """``create_engine`` options honouring the settings; shared with the async ORM engine, which
    passes its own ``pool`` class."""
    options: dict[str, Any] = {"echo": settings.echo, "pool_pre_ping": True}
    backend = url.get_backend_name()
    if backend == "sqlite" and is_sqlite_memory(url):
        # One shared connection: otherwise every pooled connection would be its own empty database.
        options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        return options
    exhausted = (
        f"{key_path}: no free connection after {settings.pool_timeout:g} s (all pool_size={settings.pool_size} "
        f"+ max_overflow={settings.max_overflow} in use) at {shown(url)}; a session is held too long or the "
        "pool is too small"
    )
    options.update(
        poolclass=keyed_pool(pool, exhausted),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
    )
    seconds = max(1, math.ceil(settings.connect_timeout))
    if backend == "postgresql":
        driver = url.get_driver_name()
        options["connect_args"] = (
            {"timeout": settings.connect_timeout} if driver == "asyncpg" else {"connect_timeout": seconds}
        )
    elif backend in ("mysql", "mariadb"):
        options["connect_args"] = {"connect_timeout": seconds}
    return options


def prepare_sqlite(engine: Engine, url: URL) -> None:
    """Add ``NOW()`` to every SQLite connection and use WAL journaling on files (readers stop
    blocking the writer, which matters once several pooled connections share one file)."""
    file_backed = not is_sqlite_memory(url)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        register_sqlite_now(dbapi_connection)
        if file_backed:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
            finally:
                cursor.close()


def build_engine(url: URL, settings: SqlSettings, key_path: str) -> Engine:
    """A sync engine for ``url``; a ``ConfigError`` naming ``key_path`` if the driver is unknown."""
    try:
        if url.get_dialect().is_async:
            raise ConfigError(
                f"{key_path}.url: {url.drivername!r} is an async driver; use it with `type: sqlasync`, "
                "or give this section a sync URL"
            )
        engine = create_engine(url, **engine_options(url, settings, key_path))
    except ConfigError:
        raise
    except Exception as exc:
        raise _driver_error(key_path, url, exc) from None
    name_connection_errors(engine, key_path, url)
    if url.get_backend_name() == "sqlite":
        prepare_sqlite(engine, url)
    return engine


# --------------------------------------------------------------------------- the service


class SqlDatabase(ServiceBase):
    """A synchronous SQL database: ``session()`` for work, ``engine`` for raw SQLAlchemy."""

    def __init__(self, settings: SqlSettings, setup: ServiceSetup) -> None:
        self.key_path = setup.key_path
        url = sync_url(parse_url(settings.url, setup.key_path))
        if url.get_backend_name() == "sqlite":
            url = sqlite_file(url, setup.key_path)
        self._url = url
        self._engine = build_engine(url, settings, setup.key_path)
        self._sessions: Callable[[], TextSession] = sessionmaker(
            bind=self._engine, class_=TextSession, expire_on_commit=False
        )

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for Core, the ORM's metadata, or raw connections)."""
        return self._engine

    @property
    def url(self) -> str:
        """The database URL with its password masked."""
        return shown(self._url)

    def session(self) -> TextSession:
        """A new session; use it as a context manager (``with db.session() as session:``).

        Objects stay readable after ``commit()`` (``expire_on_commit=False``); leaving the block
        rolls back whatever was not committed.
        """
        return self._sessions()

    def _select_one(self) -> None:
        with self._engine.connect() as connection:
            connection.execute(_SELECT_ONE)

    async def start(self) -> None:
        await asyncio.to_thread(self._select_one)

    async def health(self) -> dict[str, Any]:
        began = time.perf_counter()
        await asyncio.to_thread(self._select_one)
        latency = (time.perf_counter() - began) * 1000
        return {
            "backend": self._engine.dialect.name,
            "driver": self._engine.dialect.driver,
            "latency_ms": round(latency, 3),
            "pool": self._engine.pool.status(),
        }

    async def close(self) -> None:
        await asyncio.to_thread(self._engine.dispose)

    def __repr__(self) -> str:
        return f"<SqlDatabase {self.key_path} {self.url}>"


def build(settings: SqlSettings, setup: ServiceSetup) -> SqlDatabase:
    return SqlDatabase(settings, setup)


@hookimpl
def xcore_register_service() -> list[ServiceType]:
    described = "synchronous SQL database on SQLAlchemy 2; db.session() accepts plain SQL strings"
    return [
        ServiceType("database", "postgresql", SqlSettings, build, f"PostgreSQL (psycopg 3): {described}"),
        ServiceType("database", "sqlite", SqliteSettings, build, f"SQLite (embedded default): {described}"),
        ServiceType("database", "mysql", SqlSettings, build, f"MySQL / MariaDB: {described}"),
        ServiceType("database", "sql", SqlSettings, build, f"any SQLAlchemy URL: {described}"),
    ]
