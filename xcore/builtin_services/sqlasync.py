"""Asynchronous SQL databases (``type: sqlasync``): asyncpg's API on PostgreSQL and on SQLite.

``db.connection()`` lends a pooled connection with the asyncpg API the seed uses::

    async with db.connection() as conn:
        row = await conn.fetchrow("SELECT * FROM users WHERE id = $1", user_id)
        async with conn.transaction():
            await conn.execute("UPDATE users SET email = $1 WHERE id = $2", email, user_id)

* ``postgresql://`` (or ``postgresql+asyncpg://``): the connection *is* an asyncpg connection from an
  asyncpg pool of ``pool_size`` connections. Nothing sits between the plugin and asyncpg.
* ``sqlite://`` / ``sqlite+aiosqlite://``: a :class:`SqliteConnection` over aiosqlite, with ``$n``
  placeholders, ``NOW()``, records supporting ``rec["col"]``, ``rec[0]`` and ``dict(rec)``, and
  asyncpg's commit rules: each statement outside ``transaction()`` commits on its own.

``db.session()`` gives a SQLAlchemy ``AsyncSession`` (which, like the sync service's sessions, also
accepts plain SQL strings with ``:name`` parameters) on an engine created on first use.

A server that is down leaves the service unhealthy; every ``connection()`` tries again, so the
service recovers by itself when the server returns. Failing to connect, or waiting more than
``pool_timeout`` seconds for a free connection, raises
:class:`~xcore.builtin_services.sql.DatabaseUnavailable` naming the config key.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager, suppress
from functools import lru_cache
from types import TracebackType
from typing import Any, Literal, Protocol, cast

import aiosqlite
from pydantic import Field
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from xcore.errors import ConfigError
from xcore.hookspecs import hookimpl
from xcore.services import ServiceBase, ServiceSetup, ServiceType

from .sql import (
    DatabaseUnavailable,
    PoolExhausted,
    SqlSettings,
    engine_options,
    is_sqlite_memory,
    name_connection_errors,
    parse_url,
    prepare_sqlite,
    shown,
    sqlite_file,
    unavailable,
)
from .sql_text import TEXT_CACHE_SIZE, TextSession, numbered_to_sqlite, sqlite_now

Backend = Literal["postgresql", "sqlite"]

_POSTGRES_DRIVERS = {None, "asyncpg", "psycopg", "psycopg_async"}
_SQLITE_DRIVERS = {None, "aiosqlite", "pysqlite"}


class AsyncSqlSettings(SqlSettings):
    """``type: sqlasync``. ``pool_size`` connections at most for ``connection()`` (asyncpg's default
    of 10); the ORM engine behind ``session()`` has its own pool sized by ``pool_size`` and
    ``max_overflow``."""

    pool_size: int = Field(10, ge=1)


class AsyncConnection(Protocol):
    """What ``connection()`` yields on every backend: the part of asyncpg's API plugins use."""

    async def fetch(self, query: str, *args: Any, timeout: float | None = None) -> list[Any]: ...

    async def fetchrow(self, query: str, *args: Any, timeout: float | None = None) -> Any: ...

    async def fetchval(self, query: str, *args: Any, column: int = 0, timeout: float | None = None) -> Any: ...

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str: ...

    async def executemany(
        self, command: str, args: Iterable[Sequence[Any]], *, timeout: float | None = None
    ) -> None: ...

    def transaction(self, *, isolation: str | None = None, readonly: bool = False, deferrable: bool = False) -> Any: ...


def backend_of(url: URL, key_path: str) -> Backend:
    """Which implementation serves ``url``; a ``ConfigError`` for a URL sqlasync cannot serve."""
    name = url.drivername.split("+", 1)
    driver = name[1] if len(name) > 1 else None
    if name[0] in ("postgresql", "postgres") and driver in _POSTGRES_DRIVERS:
        return "postgresql"
    if name[0] == "sqlite" and driver in _SQLITE_DRIVERS:
        return "sqlite"
    raise ConfigError(
        f"{key_path}.url: unknown database driver {url.drivername!r} for type sqlasync in {shown(url)}; "
        "sqlasync serves postgresql:// (asyncpg) and sqlite:// (aiosqlite) URLs"
    )


def exhausted(key_path: str, url: URL, waited: float, size: int) -> PoolExhausted:
    return PoolExhausted(
        f"{key_path}: no free connection after {waited:g} s (all pool_size={size} in use) at {shown(url)}; "
        "a connection is held too long or the pool is too small"
    )


# --------------------------------------------------------------------------- PostgreSQL: asyncpg


class _PostgresScope:
    """``async with``: one connection of the asyncpg pool, released on exit."""

    __slots__ = ("_conn", "_owner")

    def __init__(self, owner: PostgresConnections) -> None:
        self._owner = owner
        self._conn: Any = None

    async def __aenter__(self) -> Any:
        self._conn = await self._owner.acquire()
        return self._conn

    async def __aexit__(self, *exc_info: object) -> None:
        await self._owner.release(self._conn)


class PostgresConnections:
    """An asyncpg pool opened lazily, whose connect failures name the config key."""

    def __init__(self, url: URL, settings: AsyncSqlSettings, key_path: str, logger: logging.Logger) -> None:
        self._url = url
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._settings = settings
        self._key_path = key_path
        self._logger = logger
        self._size = settings.pool_size
        self._in_use = 0
        self._pool: Any = None
        self._opening: asyncio.Lock | None = None
        self._closed = False

    @property
    def pool(self) -> Any:
        """The ``asyncpg.Pool`` (``None`` until first used)."""
        return self._pool

    def scope(self) -> _PostgresScope:
        return _PostgresScope(self)

    async def open(self) -> Any:
        import asyncpg  # the postgres extra; a SQLite-only install never imports it

        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._closed:
                raise unavailable(self._key_path, self._url, RuntimeError("the service is closed"))
            if self._pool is None:
                # min_size=0: no connection is made here, so a server that is down does not break the
                # pool; each acquire connects as needed and recovers when the server returns.
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=0,
                    max_size=self._size,
                    timeout=self._settings.connect_timeout,
                    init=self._log_queries if self._settings.echo else None,
                )
        return self._pool

    async def _log_queries(self, connection: Any) -> None:
        connection.add_query_logger(
            lambda record: self._logger.info("%s %r (%.3f s)", record.query, record.args, record.elapsed)
        )

    async def acquire(self) -> Any:
        pool = self._pool if self._pool is not None else await self.open()
        try:
            if self._in_use < self._size:
                # A connection is free or may be opened (bounded by connect_timeout): no timer needed.
                connection = await pool.acquire()
            else:
                async with asyncio.timeout(self._settings.pool_timeout):
                    connection = await pool.acquire()
        except TimeoutError as exc:
            if self._in_use >= self._size:
                raise exhausted(self._key_path, self._url, self._settings.pool_timeout, self._size) from None
            raise unavailable(self._key_path, self._url, exc, "timed out connecting to") from None
        except Exception as exc:
            raise unavailable(self._key_path, self._url, exc) from exc
        self._in_use += 1
        return connection

    async def release(self, connection: Any) -> None:
        self._in_use -= 1
        await self._pool.release(connection)

    def describe(self) -> dict[str, Any]:
        pool = self._pool
        if pool is None:
            return {"pool_size": self._size, "in_use": 0, "open": 0}
        return {"pool_size": self._size, "in_use": self._in_use, "open": pool.get_size(), "idle": pool.get_idle_size()}

    async def close(self) -> None:
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), timeout=self._settings.pool_timeout)
        except TimeoutError:
            pool.terminate()


# --------------------------------------------------------------------------- SQLite: aiosqlite


@lru_cache(maxsize=TEXT_CACHE_SIZE)
def _command(sql: str) -> tuple[str, bool]:
    """The command tag asyncpg would report for ``sql`` (``INSERT``, ``CREATE TABLE``...) and whether
    it carries a row count."""
    words = sql.split(None, 2)
    if not words:
        return "", False
    verb = words[0].upper()
    if verb in ("CREATE", "DROP", "ALTER") and len(words) > 1:
        return f"{verb} {words[1].upper()}", False
    return verb, verb in ("INSERT", "UPDATE", "DELETE", "SELECT", "REPLACE", "WITH", "VALUES")


def _status(sql: str, count: int) -> str:
    tag, counted = _command(sql.lstrip())
    if not counted:
        return tag
    return f"INSERT 0 {count}" if tag in ("INSERT", "REPLACE") else f"{tag} {count}"


class SqliteTransaction:
    """asyncpg's ``Transaction`` on SQLite: ``BEGIN``/``COMMIT`` at the outermost level, savepoints
    inside. A read-write transaction takes the write lock at once (``BEGIN IMMEDIATE``), so two
    writers queue on the busy timeout instead of failing halfway through."""

    __slots__ = ("_conn", "_level", "_readonly")

    def __init__(self, conn: SqliteConnection, readonly: bool) -> None:
        self._conn = conn
        self._readonly = readonly
        self._level = -1

    async def start(self) -> None:
        conn = self._conn
        level = conn._depth
        if level == 0:
            await conn.raw.execute("BEGIN" if self._readonly else "BEGIN IMMEDIATE")
        else:
            await conn.raw.execute(f"SAVEPOINT xcore_{level}")
        self._level = level
        conn._depth = level + 1

    async def commit(self) -> None:
        level = self._finish()
        await self._conn.raw.execute("COMMIT" if level == 0 else f"RELEASE SAVEPOINT xcore_{level}")

    async def rollback(self) -> None:
        level = self._finish()
        if level == 0:
            await self._conn.raw.execute("ROLLBACK")
        else:
            await self._conn.raw.execute(f"ROLLBACK TO SAVEPOINT xcore_{level}")
            await self._conn.raw.execute(f"RELEASE SAVEPOINT xcore_{level}")

    def _finish(self) -> int:
        level = self._level
        if level < 0:
            raise RuntimeError("this transaction is not started (or already committed or rolled back)")
        if self._conn._depth != level + 1:
            raise RuntimeError("an inner transaction is still open; finish it first")
        self._level = -1
        self._conn._depth = level
        return level

    async def __aenter__(self) -> SqliteTransaction:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            await self.commit()
        else:
            await self.rollback()


class SqliteConnection:
    """asyncpg's connection API on an aiosqlite connection.

    Each call is one hop to aiosqlite's thread: ``fetchrow`` reads the statement's rows in that hop
    (the statement must finish for its write to commit), so give it queries that return few rows.
    ``raw`` is the aiosqlite connection, for what asyncpg's API does not cover.
    """

    __slots__ = ("_depth", "raw")

    def __init__(self, raw: aiosqlite.Connection) -> None:
        self.raw = raw
        self._depth = 0

    async def fetch(self, query: str, *args: Any, timeout: float | None = None) -> list[sqlite3.Row]:
        run = self.raw.execute_fetchall(numbered_to_sqlite(query), args)
        rows = await (run if timeout is None else self._bounded(run, timeout))
        return cast(list[sqlite3.Row], rows)

    async def fetchrow(self, query: str, *args: Any, timeout: float | None = None) -> sqlite3.Row | None:
        run = self.raw.execute_fetchall(numbered_to_sqlite(query), args)
        rows = cast(list[sqlite3.Row], await (run if timeout is None else self._bounded(run, timeout)))
        return rows[0] if rows else None

    async def fetchval(self, query: str, *args: Any, column: int = 0, timeout: float | None = None) -> Any:
        row = await self.fetchrow(query, *args, timeout=timeout)
        return None if row is None else row[column]

    async def execute(self, query: str, *args: Any, timeout: float | None = None) -> str:
        """Run one statement (or, without arguments, a script of several); return its status tag."""
        sql = numbered_to_sqlite(query)
        try:
            cursor = await (
                self.raw.execute(sql, args) if timeout is None else self._bounded(self.raw.execute(sql, args), timeout)
            )
        except sqlite3.ProgrammingError as exc:
            if args or "one statement at a time" not in str(exc):
                raise
            return await self._script(sql)
        # A statement with rows (SELECT, RETURNING) has not finished until they are read.
        count = len(list(await cursor.fetchall())) if cursor.description is not None else cursor.rowcount
        return _status(sql, count)

    async def _script(self, script: str) -> str:
        """Several statements, one at a time, inside the current transaction if there is one.

        ``sqlite3.executescript`` would commit an open transaction first; this does not.
        """
        status, pending = "", ""
        for piece in script.split(";"):
            pending += piece + ";"
            if sqlite3.complete_statement(pending):
                if pending.strip(" \t\r\n;"):
                    status = await self.execute(pending)
                pending = ""
        if pending.strip(" \t\r\n;"):
            status = await self.execute(pending)
        return status

    async def executemany(self, command: str, args: Iterable[Sequence[Any]], *, timeout: float | None = None) -> None:
        """Run ``command`` once per argument tuple, atomically (as asyncpg does)."""
        async with self.transaction():
            run = self.raw.executemany(numbered_to_sqlite(command), args)
            await (run if timeout is None else self._bounded(run, timeout))

    def transaction(
        self, *, isolation: str | None = None, readonly: bool = False, deferrable: bool = False
    ) -> SqliteTransaction:
        """A transaction (a savepoint when nested). SQLite transactions are always serializable, so
        ``isolation`` and ``deferrable`` are accepted for asyncpg compatibility and change nothing."""
        return SqliteTransaction(self, readonly)

    def is_in_transaction(self) -> bool:
        return self.raw.in_transaction

    async def _bounded(self, operation: Any, timeout: float) -> Any:
        try:
            async with asyncio.timeout(timeout):
                return await operation
        except TimeoutError:
            await self.raw.interrupt()
            raise


class _SqliteScope:
    """``async with``: one pooled connection. The common case (a slot free, a connection idle, no
    transaction left open) is handled here without further awaits."""

    __slots__ = ("_conn", "_owner")

    def __init__(self, owner: SqliteConnections) -> None:
        self._owner = owner
        self._conn: SqliteConnection | None = None

    async def __aenter__(self) -> SqliteConnection:
        owner = self._owner
        if owner._free > 0 and owner._idle and not owner._waiters:
            owner._free -= 1
            self._conn = owner._idle.pop()
        else:
            self._conn = await owner.acquire()
        return self._conn

    async def __aexit__(self, *exc_info: object) -> None:
        conn = self._conn
        assert conn is not None
        self._conn = None
        owner = self._owner
        if conn._depth == 0 and not owner._closed and not conn.raw.in_transaction:
            owner._idle.append(conn)
            owner._hand_on()
        else:
            await owner.release(conn)


class SqliteConnections:
    """At most ``pool_size`` aiosqlite connections, opened on demand, kept open when idle.

    A returned slot goes straight to the longest waiter, so a waiter cannot be overtaken. An
    in-memory database is one named shared-cache database, so every connection (and the ORM
    engine) sees the same tables; it gets a single connection, since shared-cache connections would
    lock each other out instead of waiting.
    """

    def __init__(self, url: URL, settings: AsyncSqlSettings, key_path: str, logger: logging.Logger) -> None:
        self._url = url
        self._key_path = key_path
        self._logger = logger
        self._settings = settings
        self._memory = is_sqlite_memory(url)
        if self._memory:
            self.database = f"file:xcore-memory-{uuid.uuid4().hex}?mode=memory&cache=shared"
            self._size = 1
        else:
            self.database = url.database or ""
            self._size = settings.pool_size
        self._uri = self._memory or url.query.get("uri") in ("true", "1", "True")
        self._idle: list[SqliteConnection] = []
        self._free = self._size  # slots not lent out
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False

    def scope(self) -> _SqliteScope:
        return _SqliteScope(self)

    def orm_url(self) -> URL:
        """The URL of this same database for SQLAlchemy's aiosqlite dialect."""
        if self._memory:
            name, _, _ = self.database.partition("?")
            return URL.create(
                "sqlite+aiosqlite", database=name, query={"mode": "memory", "cache": "shared", "uri": "true"}
            )
        return self._url.set(drivername="sqlite+aiosqlite")

    async def open(self) -> None:
        return None

    async def acquire(self) -> SqliteConnection:
        if self._free > 0 and not self._waiters:
            self._free -= 1
        else:
            await self._wait_for_slot()
        if self._idle:
            return self._idle.pop()
        try:
            return await self._connect()
        except BaseException:
            self._hand_on()
            raise

    async def _wait_for_slot(self) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self._settings.pool_timeout):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self._hand_on()  # the slot arrived as the wait ended: pass it on
            else:
                with suppress(ValueError):  # a cancelled waiter may already have been skipped
                    self._waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise exhausted(self._key_path, self._url, self._settings.pool_timeout, self._size) from None
            raise

    def _hand_on(self) -> None:
        """Give a returned slot to the longest waiter, or mark it free."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1

    async def _connect(self) -> SqliteConnection:
        if self._closed:
            raise unavailable(self._key_path, self._url, RuntimeError("the service is closed"))
        try:
            # Opened once here first: a file that cannot be opened then fails in this thread, with a
            # clear error, instead of inside aiosqlite's, whose clean-up after a failed connect races
            # the event loop's shutdown.
            await asyncio.to_thread(self._probe)
            raw = await aiosqlite.connect(
                self.database, isolation_level=None, uri=self._uri, timeout=self._settings.pool_timeout
            )
        except (sqlite3.Error, OSError) as exc:
            raise unavailable(self._key_path, self._url, exc, "cannot open") from exc
        raw.row_factory = sqlite3.Row
        try:
            await raw.create_function("NOW", 0, sqlite_now)
            if not self._memory:
                await raw.execute("PRAGMA journal_mode=WAL")
            if self._settings.echo:
                await raw.set_trace_callback(self._logger.info)
        except BaseException:
            await raw.close()
            raise
        return SqliteConnection(raw)

    def _probe(self) -> None:
        sqlite3.connect(self.database, uri=self._uri).close()

    async def release(self, conn: SqliteConnection) -> None:
        try:
            if conn.raw.in_transaction:  # a BEGIN its code never finished: nothing of it may survive
                await conn.raw.rollback()
            conn._depth = 0
        except BaseException:
            await self._discard(conn)
            raise
        else:
            if self._closed:
                await self._discard(conn)
            else:
                self._idle.append(conn)
        finally:
            self._hand_on()

    async def _discard(self, conn: SqliteConnection) -> None:
        try:
            await conn.raw.close()
        except Exception:
            self._logger.debug("closing a SQLite connection failed", exc_info=True)

    def describe(self) -> dict[str, Any]:
        return {"pool_size": self._size, "in_use": self._size - self._free, "idle": len(self._idle)}

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            await self._discard(conn)


# --------------------------------------------------------------------------- the service


class AsyncSqlDatabase(ServiceBase):
    """An async SQL database: ``connection()`` (asyncpg API), ``session()`` (SQLAlchemy ORM)."""

    def __init__(self, settings: AsyncSqlSettings, setup: ServiceSetup) -> None:
        self.key_path = setup.key_path
        self._settings = settings
        url = parse_url(settings.url, setup.key_path)
        self.backend: Backend = backend_of(url, setup.key_path)
        self._connections: PostgresConnections | SqliteConnections
        if self.backend == "postgresql":
            self._url = url
            self._connections = PostgresConnections(url, settings, setup.key_path, setup.logger)
            driver = url.get_driver_name() if "+" in url.drivername else "asyncpg"
            self._orm_url = url.set(drivername=f"postgresql+{'psycopg' if driver.startswith('psycopg') else driver}")
        else:
            self._url = sqlite_file(url, setup.key_path)
            self._connections = SqliteConnections(self._url, settings, setup.key_path, setup.logger)
            self._orm_url = self._connections.orm_url()
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None

    @property
    def url(self) -> str:
        """The database URL with its password masked."""
        return shown(self._url)

    @property
    def pool(self) -> Any:
        """The ``asyncpg.Pool`` on PostgreSQL (``None`` before first use); on SQLite, the pool of
        :class:`SqliteConnection`."""
        if isinstance(self._connections, PostgresConnections):
            return self._connections.pool
        return self._connections

    def connection(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A pooled connection for ``async with``; released (never closed) on exit."""
        return self._connections.scope()

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy ``AsyncEngine`` behind ``session()``, created on first use."""
        if self._engine is None:
            options = engine_options(self._orm_url, self._settings, self.key_path, AsyncAdaptedQueuePool)
            if self.backend == "sqlite" and is_sqlite_memory(self._url):
                options["connect_args"] = {"uri": True, "check_same_thread": False}
            engine = create_async_engine(self._orm_url, **options)
            name_connection_errors(engine.sync_engine, self.key_path, self._url)
            if self.backend == "sqlite":
                prepare_sqlite(engine.sync_engine, self._url)
            self._engine = engine
        return self._engine

    def session(self) -> AsyncSession:
        """A SQLAlchemy ``AsyncSession``; ``async with db.session() as session:``. Plain SQL strings
        work in ``execute`` as in the sync service; uncommitted work is rolled back on exit."""
        if self._sessions is None:
            self._sessions = async_sessionmaker(self.engine, sync_session_class=TextSession, expire_on_commit=False)
        return self._sessions()

    async def _select_one(self) -> None:
        async with self.connection() as conn:
            await conn.fetchval("SELECT 1")

    async def start(self) -> None:
        await self._connections.open()
        await self._select_one()

    async def health(self) -> dict[str, Any]:
        began = time.perf_counter()
        await self._select_one()
        latency = (time.perf_counter() - began) * 1000
        return {"backend": self.backend, "latency_ms": round(latency, 3), **self._connections.describe()}

    async def close(self) -> None:
        try:
            await self._connections.close()
        finally:
            if self._engine is not None:
                engine, self._engine = self._engine, None
                await engine.dispose()

    def __repr__(self) -> str:
        return f"<AsyncSqlDatabase {self.key_path} {self.url}>"


def build(settings: AsyncSqlSettings, setup: ServiceSetup) -> AsyncSqlDatabase:
    return AsyncSqlDatabase(settings, setup)


@hookimpl
def xcore_register_service() -> ServiceType:
    return ServiceType(
        "database",
        "sqlasync",
        AsyncSqlSettings,
        build,
        "async SQL database: connection() with asyncpg's API on PostgreSQL and SQLite, session() for the ORM",
    )


__all__ = [
    "AsyncConnection",
    "AsyncSqlDatabase",
    "AsyncSqlSettings",
    "DatabaseUnavailable",
    "PoolExhausted",
    "SqliteConnection",
]
