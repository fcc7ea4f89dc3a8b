"""The worker's side of the database proxies: the ``sql`` and ``sqlasync`` services as plugins use them.

The same plugin code runs trusted and sandboxed (see the services guide):

* ``sqlasync``: ``await db.fetch(...)``; ``async with db.connection() as conn:`` with
  ``fetch``/``fetchrow``/``fetchval``/``execute`` and ``async with conn.transaction():``;
  ``async with db.session() as session:`` with ``await session.execute(sql, params)``, committed on a
  clean exit like the trusted service's unit of work;
* ``sql``: ``with db.session() as session:`` with ``session.execute(sql, params)`` and
  ``session.commit()``; leaving the block rolls back what was not committed, as trusted. These calls
  are synchronous: they travel over the worker's synchronous channel and block the caller, as a
  synchronous database call blocks a trusted plugin.

Every statement runs in the host, inside a transaction the host holds for this worker (see
:mod:`xcore._sandbox.transactions`); ``mode: read`` is enforced there by the database itself. Nothing
here decides what is allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

from xcore._sandbox.remote import RemoteService, Request

SyncRequest = Callable[[dict[str, Any], bytes], tuple[Any, bytes]]


def _call(service: str, method: str, args: list[Any], tx: int | None = None) -> dict[str, Any]:
    return {
        "op": "service",
        "service": service,
        "method": method,
        "args": args,
        "kwargs": {} if tx is None else {"tx": tx},
    }


class RemoteRow:
    """A row: a sequence (``row[0]``, unpacking) and a mapping (``dict(row)``, ``row["id"]``, ``row.id``)."""

    __slots__ = ("_keys", "_values")

    def __init__(self, keys: tuple[str, ...], values: tuple[Any, ...]) -> None:
        self._keys = keys
        self._values = values

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return self._values[self._keys.index(key)]
            except ValueError:
                raise KeyError(key) from None
        return self._values[key]

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def keys(self) -> tuple[str, ...]:
        return self._keys

    def values(self) -> tuple[Any, ...]:
        return self._values

    def items(self) -> list[tuple[str, Any]]:
        return list(zip(self._keys, self._values, strict=True))

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self._keys else default

    @property
    def _mapping(self) -> dict[str, Any]:
        return dict(self.items())

    def _asdict(self) -> dict[str, Any]:
        return dict(self.items())

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        return tuple(self._values) == (tuple(other) if isinstance(other, tuple | RemoteRow) else other)

    def __hash__(self) -> int:
        return hash(self._values)

    def __repr__(self) -> str:
        return repr(self._values)


class RemoteResult:
    """What ``session.execute`` returns: the rows the host read, with SQLAlchemy's reading methods."""

    def __init__(self, answer: dict[str, Any]) -> None:
        keys = tuple(answer.get("keys") or ())
        self._rows = [RemoteRow(keys, tuple(row)) for row in answer.get("rows") or []]
        self.returns_rows = answer.get("rows") is not None
        self.rowcount: int = int(answer.get("rowcount", -1))
        self._keys = keys

    def keys(self) -> tuple[str, ...]:
        return self._keys

    def __iter__(self) -> Iterator[RemoteRow]:
        return iter(self.fetchall())

    def fetchall(self) -> list[RemoteRow]:
        rows, self._rows = self._rows, []
        return rows

    all = fetchall

    def fetchone(self) -> RemoteRow | None:
        return self._rows.pop(0) if self._rows else None

    def fetchmany(self, size: int = 1) -> list[RemoteRow]:
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    def first(self) -> RemoteRow | None:
        row = self.fetchone()
        self._rows = []
        return row

    def one(self) -> RemoteRow:
        if len(self._rows) != 1:
            raise LookupError(f"expected exactly one row, got {len(self._rows)}")
        return self._rows.pop()

    def scalar(self) -> Any:
        row = self.first()
        return None if row is None else row[0]

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalars(self) -> list[Any]:
        return [row[0] for row in self.fetchall()]

    def mappings(self) -> list[dict[str, Any]]:
        return [row._asdict() for row in self.fetchall()]


class RemoteTransaction:
    """``conn.transaction()``: asyncpg's ``Transaction`` (``async with``, or ``start``/``commit``/``rollback``)."""

    def __init__(self, connection: RemoteConnection) -> None:
        self._connection = connection

    async def start(self) -> None:
        if self._connection.tx is not None:
            raise RuntimeError("a sandboxed connection runs one transaction at a time (no nested savepoints)")
        ident, _ = await self._connection.request(_call(self._connection.service, "begin", ["connection"]), b"")
        self._connection.tx = int(ident)

    async def _finish(self, method: str) -> None:
        tx, self._connection.tx = self._connection.tx, None
        if tx is None:
            raise RuntimeError(f"{method}() outside a started transaction")
        await self._connection.request(_call(self._connection.service, method, [], tx), b"")

    async def commit(self) -> None:
        await self._finish("commit")

    async def rollback(self) -> None:
        await self._finish("rollback")

    async def __aenter__(self) -> RemoteTransaction:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        await (self.commit() if kind is None else self.rollback())


class RemoteConnection:
    """``async with db.connection() as conn`` in a sandbox: each statement alone in its own
    transaction, or all inside ``conn.transaction()``."""

    def __init__(self, service: str, request: Request) -> None:
        self.service = service
        self.request = request
        self.tx: int | None = None

    def transaction(self, *, readonly: bool = False, **_: Any) -> RemoteTransaction:
        return RemoteTransaction(self)

    async def _statement(self, method: str, query: str, args: tuple[Any, ...]) -> Any:
        result, _ = await self.request(_call(self.service, method, [query, *args], self.tx), b"")
        return result

    async def fetch(self, query: str, *args: Any) -> Any:
        return await self._statement("fetch", query, args)

    async def fetchrow(self, query: str, *args: Any) -> Any:
        return await self._statement("fetchrow", query, args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self._statement("fetchval", query, args)

    async def execute(self, query: str, *args: Any) -> Any:
        return await self._statement("execute", query, args)

    async def close(self) -> None:
        if self.tx is not None:
            await RemoteTransaction(self).rollback()


class _ConnectionScope:
    def __init__(self, connection: RemoteConnection) -> None:
        self._connection = connection

    async def __aenter__(self) -> RemoteConnection:
        return self._connection

    async def __aexit__(self, *exc: object) -> None:
        await self._connection.close()  # a transaction left open is rolled back, as the pool would


class RemoteAsyncSession:
    """``async with db.session() as session`` (``sqlasync``): a unit of work held by the host."""

    def __init__(self, service: str, request: Request) -> None:
        self._service = service
        self._request = request
        self._tx: int | None = None

    async def execute(self, sql: Any, params: dict[str, Any] | None = None) -> RemoteResult:
        if self._tx is None:
            ident, _ = await self._request(_call(self._service, "begin", ["session"]), b"")
            self._tx = int(ident)
        answer, _ = await self._request(_call(self._service, "run", [str(sql), params or {}], self._tx), b"")
        return RemoteResult(answer)

    async def scalar(self, sql: Any, params: dict[str, Any] | None = None) -> Any:
        return (await self.execute(sql, params)).scalar()

    async def _finish(self, method: str) -> None:
        tx, self._tx = self._tx, None
        if tx is not None:
            await self._request(_call(self._service, method, [], tx), b"")

    async def commit(self) -> None:
        await self._finish("commit")

    async def rollback(self) -> None:
        await self._finish("rollback")

    async def close(self) -> None:
        await self.rollback()

    def in_transaction(self) -> bool:
        return self._tx is not None

    async def __aenter__(self) -> RemoteAsyncSession:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        await (self.commit() if kind is None else self.rollback())


class RemoteSyncSession:
    """``with db.session() as session`` (``sql``): synchronous calls; the exit rolls back what was
    not committed, as the trusted service's session does."""

    def __init__(self, service: str, request: SyncRequest) -> None:
        self._service = service
        self._request = request
        self._tx: int | None = None

    def execute(self, sql: Any, params: dict[str, Any] | None = None) -> RemoteResult:
        if self._tx is None:
            ident, _ = self._request(_call(self._service, "begin", ["session"]), b"")
            self._tx = int(ident)
        answer, _ = self._request(_call(self._service, "run", [str(sql), params or {}], self._tx), b"")
        return RemoteResult(answer)

    def scalar(self, sql: Any, params: dict[str, Any] | None = None) -> Any:
        return self.execute(sql, params).scalar()

    def _finish(self, method: str) -> None:
        tx, self._tx = self._tx, None
        if tx is not None:
            self._request(_call(self._service, method, [], tx), b"")

    def commit(self) -> None:
        self._finish("commit")

    def rollback(self) -> None:
        self._finish("rollback")

    def close(self) -> None:
        self.rollback()

    def in_transaction(self) -> bool:
        return self._tx is not None

    def __enter__(self) -> RemoteSyncSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RemoteAsyncDatabase(RemoteService):
    """A ``sqlasync`` database in a sandbox: single statements, ``connection()`` and ``session()``."""

    def connection(self) -> _ConnectionScope:  # type: ignore[override]
        return _ConnectionScope(RemoteConnection(self._name, self._request))

    def session(self) -> RemoteAsyncSession:
        return RemoteAsyncSession(self._name, self._request)


class RemoteSyncDatabase(RemoteService):
    """An ``sql`` database in a sandbox: ``session()``, synchronous like the trusted service."""

    def __init__(self, name: str, request: Request, sync_request: SyncRequest) -> None:
        super().__init__(name, request)
        self._sync_request = sync_request

    def session(self) -> RemoteSyncSession:
        return RemoteSyncSession(self._name, self._sync_request)


def database(kind: str, name: str, request: Request, sync_request: SyncRequest) -> RemoteService:
    """The stand-in for the database ``name`` of type ``kind`` (``sql`` or ``sqlasync``)."""
    if kind == "sql":
        return RemoteSyncDatabase(name, request, sync_request)
    return RemoteAsyncDatabase(name, request)
