"""PostgreSQL for ``connection()``: an asyncpg pool opened on first use, its errors naming the key.

The connection handed out *is* an asyncpg connection: nothing sits between the plugin and asyncpg.
Across a server restart two things are handled here, never by retrying a statement: a pooled
connection the server has already closed is discarded before it is handed out
(:mod:`.liveness`), and a failure while giving a connection back (after the plugin's block has
finished, its writes committed) is logged and the connection discarded, instead of turning a
committed write into an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy.engine import URL

from xcore._builtin_services.sql.errors import unavailable
from xcore._observability import metrics as observed

from .connection import exhausted
from .liveness import closed_by_server
from .settings import AsyncSqlSettings


class _PostgresScope:
    """``async with``: one connection of the asyncpg pool, released on exit."""

    __slots__ = ("_conn", "_owner")

    def __init__(self, owner: PostgresConnections) -> None:
        self._owner = owner
        self._conn: Any = None

    async def __aenter__(self) -> Any:
        self._conn = await self._owner.acquire()
        return self._conn

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        # never raises: the outcome is the block's own (its result, or the error it raised)
        await self._owner.release(self._conn, block_failed=exc_type is not None)


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
        """A live connection: pooled ones the server closed meanwhile are dropped, unused, on the way."""
        for _ in range(self._size):
            connection = await self._checkout()
            if not closed_by_server(connection):
                return connection
            self._in_use -= 1
            connection.terminate()  # asyncpg returns its slot to the pool; the next acquire reconnects
        return await self._checkout()  # every idle one was dead: this one was opened just now

    async def _checkout(self) -> Any:
        pool = self._pool if self._pool is not None else await self.open()
        try:
            if self._in_use < self._size:
                # A connection is free or may be opened (bounded by connect_timeout): no timer needed.
                connection = await pool.acquire()
            else:
                if (metrics := observed.ACTIVE) is not None:
                    metrics.pool_wait(self._key_path.rpartition(".")[2])
                async with asyncio.timeout(self._settings.pool_timeout):
                    connection = await pool.acquire()
        except TimeoutError as exc:
            if self._in_use >= self._size:
                raise exhausted(self._key_path, self._url, self._settings.pool_timeout, self._size) from None
            raise unavailable(self._key_path, self._url, exc, "timed out connecting to") from None
        except Exception as exc:
            # the message carries the cause: one line in a log, not a traceback of asyncpg's internals
            raise unavailable(self._key_path, self._url, exc) from None
        self._in_use += 1
        return connection

    async def release(self, connection: Any, *, block_failed: bool = False) -> None:
        """Give ``connection`` back. A failure here comes after the plugin's block finished (its
        statements ran, autocommitted or committed), typically the server going away: the block's
        result stands, the connection is discarded, and one line is logged (at debug level when the
        block failed anyway: its own error already says what happened)."""
        self._in_use -= 1
        if self._pool is None:  # close() gave up waiting and terminated every connection
            return
        try:
            await self._pool.release(connection)
        except Exception as exc:
            with contextlib.suppress(Exception):
                connection.terminate()  # usually done by asyncpg already; makes sure it is not reused
            error = unavailable(self._key_path, self._url, exc, "lost the connection to")
            level = logging.DEBUG if block_failed else logging.WARNING
            self._logger.log(level, "%s (while giving a connection back; the work done on it stands)", error)

    def in_use(self) -> int:
        """Connections lent out now."""
        return self._in_use

    def describe(self) -> dict[str, Any]:
        pool = self._pool
        if pool is None:
            return {"pool_size": self._size, "in_use": 0, "open": 0}
        return {"pool_size": self._size, "in_use": self._in_use, "open": pool.get_size(), "idle": pool.get_idle_size()}

    async def close(self) -> None:
        self._closed = True
        pool = self._pool
        if pool is None:
            return
        # The pool stays reachable while it closes: asyncpg waits for connections still lent out, and
        # their holders give them back through release().
        try:
            await asyncio.wait_for(pool.close(), timeout=self._settings.pool_timeout)
        except TimeoutError:
            pool.terminate()
        finally:
            self._pool = None
