"""Database transactions a sandboxed plugin keeps open across several calls, held by the host.

A worker cannot hold a database connection (it has no network and no secrets), so the host holds
it: ``begin`` takes a connection from the real service's pool, starts a transaction (read-only in
the database itself for ``mode: read``) and hands the worker an opaque random id; later calls name
that id. Each transaction is bound to the worker process that began it: another worker (the same
plugin after a restart included) cannot use it, and when the worker dies, is killed or times out,
every transaction it held is rolled back and its connection returned to the pool.

Bounds, per plugin: at most ``limits.transactions`` open at once (one more ``begin`` is refused,
not queued), and each lives at most ``limits.transaction_seconds``; past that it is rolled back by a
sweeper and its id answers ``TimeoutError``. Both keep a plugin from starving the host's pools.

Three shapes, one per way plugin code talks to a database (see the services guide):

* :class:`ConnectionTx`: ``sqlasync``'s ``connection()`` + ``transaction()`` (asyncpg's API,
  ``$1`` parameters): ``fetch``/``fetchrow``/``fetchval``/``execute``;
* :class:`AsyncSessionTx`: ``sqlasync``'s ``session()`` (SQLAlchemy, ``:name`` parameters), ``run``;
* :class:`SyncSessionTx`: the ``sql`` service's ``session()``, the same on a synchronous engine,
  each statement in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from abc import ABC, abstractmethod
from typing import Any, Protocol

from xcore._builtin_services.sql.text import cached_text

log = logging.getLogger("xcore.sandbox")

ABANDON_WAIT = 5.0
"""Seconds a rollback of an abandoned transaction waits for a statement still running on it."""
CONNECTION_METHODS = frozenset({"fetch", "fetchrow", "fetchval", "execute"})


class OpenTx(Protocol):
    """One open transaction, whatever its shape."""

    async def run(self, method: str, args: list[Any]) -> Any: ...

    async def finish(self, commit: bool) -> None: ...


def rows(value: Any) -> Any:
    """Database results as JSON-able values (records become dicts)."""
    if isinstance(value, list):
        return [rows(v) for v in value]
    if hasattr(value, "keys") and hasattr(value, "__getitem__") and not isinstance(value, dict | str):
        return {k: value[k] for k in value.keys()}  # noqa: SIM118 - records are not dicts
    return value


def _result(result: Any) -> dict[str, Any]:
    """A SQLAlchemy result as ``{keys, rows, rowcount}`` (rows as lists): the worker rebuilds rows."""
    if result.returns_rows:
        return {"keys": list(result.keys()), "rows": [list(row) for row in result.fetchall()], "rowcount": -1}
    return {"keys": [], "rows": None, "rowcount": result.rowcount}


class _AsyncTx(ABC):
    """Ends a transaction once: the connection goes back to its pool exactly once, whoever calls."""

    _finished = False

    async def finish(self, commit: bool) -> None:
        if self._finished:
            return
        self._finished = True
        try:
            await self._end(commit)
        finally:
            await self._release()

    @abstractmethod
    async def _end(self, commit: bool) -> None:
        """Commit or roll back."""

    @abstractmethod
    async def _release(self) -> None:
        """Give the connection back to its pool."""


class ConnectionTx(_AsyncTx):
    """A pooled ``sqlasync`` connection inside ``transaction(readonly=...)``."""

    def __init__(self, db: Any, readonly: bool) -> None:
        self._db = db
        self._readonly = readonly
        self._sqlite = getattr(db, "backend", None) == "sqlite"
        self._scope: Any = None
        self._conn: Any = None
        self._tx: Any = None

    async def start(self) -> None:
        self._scope = self._db.connection()
        self._conn = await self._scope.__aenter__()
        try:
            if self._readonly and self._sqlite:
                await self._conn.execute("PRAGMA query_only = ON")
            self._tx = self._conn.transaction(readonly=self._readonly)
            await self._tx.start()
        except BaseException:
            self._finished = True  # released here: a later finish() must not release again
            await self._release()
            raise

    async def run(self, method: str, args: list[Any]) -> Any:
        if method not in CONNECTION_METHODS or not args:
            raise TypeError(f"a connection transaction runs {', '.join(sorted(CONNECTION_METHODS))}(query, *args)")
        return rows(await getattr(self._conn, method)(str(args[0]), *args[1:]))

    async def _end(self, commit: bool) -> None:
        await (self._tx.commit() if commit else self._tx.rollback())

    async def _release(self) -> None:
        try:
            if self._readonly and self._sqlite:
                await self._conn.execute("PRAGMA query_only = OFF")
        finally:
            await self._scope.__aexit__(None, None, None)


class AsyncSessionTx(_AsyncTx):
    """A connection of ``sqlasync``'s SQLAlchemy engine, for ``session.execute(sql, params)``."""

    def __init__(self, engine: Any, readonly: bool) -> None:
        self._engine = engine
        self._readonly = readonly
        self._sqlite = engine.dialect.name == "sqlite"
        self._conn: Any = None

    async def start(self) -> None:
        self._conn = await self._engine.connect()
        try:
            if self._readonly and self._sqlite:
                await self._conn.exec_driver_sql("PRAGMA query_only = ON")
                await self._conn.commit()  # the PRAGMA began SQLAlchemy's transaction: end it
            await self._conn.begin()
            if self._readonly and not self._sqlite:
                await self._conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        except BaseException:
            self._finished = True  # released here: a later finish() must not release again
            await self._release()
            raise

    async def run(self, method: str, args: list[Any]) -> Any:
        if method != "run" or not args:
            raise TypeError("a session transaction runs run(sql, params)")
        params = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        return _result(await self._conn.execute(cached_text(str(args[0])), params))

    async def _end(self, commit: bool) -> None:
        await (self._conn.commit() if commit else self._conn.rollback())

    async def _release(self) -> None:
        try:
            if self._readonly and self._sqlite:
                if self._conn.in_transaction():
                    await self._conn.rollback()
                await self._conn.exec_driver_sql("PRAGMA query_only = OFF")
                await self._conn.commit()
        finally:
            await self._conn.close()


class SyncSessionTx:
    """A connection of the ``sql`` service's engine; each statement runs in a worker thread."""

    def __init__(self, engine: Any, readonly: bool) -> None:
        self._engine = engine
        self._readonly = readonly
        self._sqlite = engine.dialect.name == "sqlite"
        self._conn: Any = None
        self._finished = False

    def _start(self) -> None:
        self._conn = self._engine.connect()
        try:
            if self._readonly and self._sqlite:
                self._conn.exec_driver_sql("PRAGMA query_only = ON")
                self._conn.commit()
            self._conn.begin()
            if self._readonly and not self._sqlite:
                self._conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        except BaseException:
            self._finished = True
            self._release()
            raise

    async def start(self) -> None:
        await asyncio.to_thread(self._start)

    def _run(self, sql: str, params: dict[str, Any]) -> dict[str, Any]:
        return _result(self._conn.execute(cached_text(sql), params))

    async def run(self, method: str, args: list[Any]) -> Any:
        if method != "run" or not args:
            raise TypeError("a session transaction runs run(sql, params)")
        params = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        return await asyncio.to_thread(self._run, str(args[0]), params)

    def _finish(self, commit: bool) -> None:
        try:
            if commit:
                self._conn.commit()
            else:
                self._conn.rollback()
        finally:
            self._release()

    async def finish(self, commit: bool) -> None:
        if self._finished:
            return
        self._finished = True
        await asyncio.to_thread(self._finish, commit)

    def _release(self) -> None:
        try:
            if self._readonly and self._sqlite:
                self._conn.rollback()
                self._conn.exec_driver_sql("PRAGMA query_only = OFF")
                self._conn.commit()
        finally:
            self._conn.close()


class _Entry:
    __slots__ = ("deadline", "lock", "owner", "tx")

    def __init__(self, tx: OpenTx, owner: object, deadline: float) -> None:
        self.tx = tx
        self.owner = owner
        self.deadline = deadline
        self.lock = asyncio.Lock()  # one statement at a time on a connection


class Transactions:
    """The open transactions of one sandboxed plugin."""

    def __init__(self, plugin: str, most: int, lifetime: float) -> None:
        self.plugin = plugin
        self.most = most
        self.lifetime = lifetime
        self._open: dict[int, _Entry] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._open)

    async def begin(self, owner: object, tx: ConnectionTx | AsyncSessionTx | SyncSessionTx) -> int:
        """Start ``tx`` for the worker ``owner``; its id, or ``PermissionError`` past the bound."""
        if len(self._open) >= self.most:
            raise PermissionError(
                f"sandboxed plugin {self.plugin!r} has {len(self._open)} transactions open, the most allowed "
                f"(limits.transactions); commit or roll one back first"
            )
        ident = secrets.randbits(53)
        loop = asyncio.get_running_loop()
        entry = self._open[ident] = _Entry(tx, owner, loop.time() + self.lifetime)  # reserved before the await
        async with entry.lock:  # a drop meanwhile (the worker died) waits for the start, then rolls back
            try:
                await tx.start()
            except BaseException:
                self._open.pop(ident, None)
                raise
            if ident not in self._open:  # dropped while starting, and the drop stopped waiting
                await tx.finish(False)
                raise LookupError(f"the worker of {self.plugin!r} stopped while its transaction began")
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = loop.create_task(self._sweep(), name=f"xcore-sandbox-tx-{self.plugin}")
        return ident

    def _entry(self, owner: object, ident: object) -> _Entry:
        entry = self._open.get(ident) if isinstance(ident, int) else None
        if entry is None or entry.owner is not owner:
            raise LookupError(
                f"no open transaction {ident!r} for this worker of {self.plugin!r} "
                f"(finished, past limits.transaction_seconds, or begun by another worker)"
            )
        return entry

    async def run(self, owner: object, ident: object, method: str, args: list[Any]) -> Any:
        entry = self._entry(owner, ident)
        async with entry.lock:
            self._entry(owner, ident)  # still open once the lock is ours
            return await entry.tx.run(method, args)

    async def finish(self, owner: object, ident: object, commit: bool) -> None:
        entry = self._entry(owner, ident)
        async with entry.lock:
            self._entry(owner, ident)
            del self._open[ident]  # type: ignore[arg-type]
            await entry.tx.finish(commit)

    async def drop(self, owner: object, reason: str) -> None:
        """Roll back every transaction ``owner`` holds (its worker is gone); connections go back."""
        for ident, entry in list(self._open.items()):
            if entry.owner is owner:
                await self._abandon(ident, entry, reason)

    async def close(self) -> None:
        for ident, entry in list(self._open.items()):
            await self._abandon(ident, entry, "the plugin unloads")
        if self._sweeper is not None:
            self._sweeper.cancel()

    async def _abandon(self, ident: int, entry: _Entry, reason: str) -> None:
        if self._open.pop(ident, None) is None:
            return
        log.warning("sandboxed plugin %r: transaction rolled back (%s)", self.plugin, reason)
        # A statement still running on the connection is waited for a little (two statements at
        # once break a connection); one stuck past that does not keep the connection either.
        locked = False
        with contextlib.suppress(TimeoutError):
            locked = await asyncio.wait_for(entry.lock.acquire(), ABANDON_WAIT)
        try:
            with contextlib.suppress(Exception):
                await entry.tx.finish(False)
        finally:
            if locked:
                entry.lock.release()

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while self._open:
            now = loop.time()
            soonest = min(entry.deadline for entry in self._open.values())
            if soonest > now:
                await asyncio.sleep(min(soonest - now, 1.0))
                continue
            for ident, entry in list(self._open.items()):
                if entry.deadline <= now:
                    await self._abandon(ident, entry, "open longer than limits.transaction_seconds")
