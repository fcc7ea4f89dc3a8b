"""asyncpg's connection API on an aiosqlite connection: ``$n`` placeholders, records supporting
``rec["col"]``, ``rec[0]`` and ``dict(rec)``, status tags, and asyncpg's transaction rules (each
statement outside ``transaction()`` commits on its own; nested transactions are savepoints)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable, Sequence
from functools import lru_cache
from types import TracebackType
from typing import Any, cast

import aiosqlite

from xcore._builtin_services.sql.text import TEXT_CACHE_SIZE, numbered_to_sqlite


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
            try:
                await conn.raw.execute("BEGIN" if self._readonly else "BEGIN IMMEDIATE")
            except BaseException:
                # Cancelled (or timed out) while BEGIN IMMEDIATE waits for another writer, the BEGIN still
                # runs in aiosqlite's thread: back in the pool, the connection would sit inside a transaction
                # that swallows its next user's writes. The pool closes it instead (closing rolls back).
                conn.abandoned = True
                raise
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

    __slots__ = ("_depth", "abandoned", "raw")

    def __init__(self, raw: aiosqlite.Connection) -> None:
        self.raw = raw
        self._depth = 0
        self.abandoned = False
        """True once a call was cut off in a way that may leave a transaction opening later: not reusable."""

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
