"""The pool of :class:`~.sqlite_connection.SqliteConnection` behind ``connection()`` on SQLite:
at most ``pool_size`` aiosqlite connections, handed to waiters in arrival order."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import uuid
from collections import deque
from contextlib import suppress
from typing import Any

import aiosqlite
from sqlalchemy.engine import URL

from xcore._builtin_services.sql.errors import unavailable
from xcore._builtin_services.sql.text import sqlite_now
from xcore._builtin_services.sql.urls import is_sqlite_memory
from xcore._observability import metrics as observed

from .connection import exhausted
from .settings import AsyncSqlSettings
from .sqlite_connection import SqliteConnection


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
        if conn._depth == 0 and not owner._closed and not conn.raw.in_transaction and not conn.abandoned:
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
        self._closing: set[asyncio.Future[None]] = set()

    def scope(self) -> _SqliteScope:
        return _SqliteScope(self)

    def in_use(self) -> int:
        """Connections lent out now."""
        return self._size - self._free

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
            if (metrics := observed.ACTIVE) is not None:
                metrics.pool_wait(self._key_path.rpartition(".")[2])
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
        if conn.abandoned:  # its cut-off statement may still be waiting: close it behind, without waiting here
            closing = asyncio.ensure_future(self._discard(conn))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
            self._hand_on()
            return
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
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
