"""The database services against the raw libraries they wrap, side by side in one run.

* sync SQL: ``with db.session() as s: s.execute("SELECT ... WHERE id = :id", {...}).fetchone()``
  through the service (plain string, row wrapped for ``dict(row)``) against raw SQLAlchemy on the same
  engine: ``with Session(engine) as s: s.execute(prebuilt_text, {...}).fetchone()`` (target <= 1.10x);
* async SQL: ``async with db.connection() as c: await c.fetchrow("... $1", 1)`` against raw asyncpg on
  the same pool (``async with pool.acquire()``), and on SQLite against raw aiosqlite's one-hop
  ``execute_fetchall`` on a connection of its own (target <= 1.25x);
* Redis as a database: the service's sync ``get`` against raw redis-py on the same connection pool.

Each case runs on PostgreSQL (a private server started here through ``PostgresServer`` and removed at
the end) and on SQLite files in a temporary directory. Services come from a booted host
(``host.get_service``), as a plugin gets them. Paths run back to back in alternating rounds; figures
are medians per operation.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import aiosqlite
import redis
from sqlalchemy import text
from sqlalchemy.orm import Session

from benchmarks.common import Result, paired_async, paired_sync
from benchmarks.failures import CasesFailed, on_server
from xcore import Xcore
from xcore.testing.configs import no_services
from xcore.testing.servers import PostgresServer, RedisServer

AREA = "databases"

SYNC_SQL = "SELECT id, username, email FROM bench_users WHERE id = :id"
ASYNC_SQL = "SELECT id, username, email FROM bench_users WHERE id = $1"
SQLITE_SQL = "SELECT id, username, email FROM bench_users WHERE id = ?"
ROWS = 100


def note(overhead_ns: float, extra: str = "") -> str:
    return f"median paired overhead {overhead_ns / 1000:.1f} us/op" + (f"; {extra}" if extra else "")


async def boot(databases: dict[str, Any]) -> Xcore:
    host = Xcore(config={"app": {"name": "bench"}, "services": no_services(databases=databases)}, discover=False)
    await host.boot()
    return host


def fill_sync(db: Any) -> None:
    key = "SERIAL PRIMARY KEY" if db.engine.dialect.name == "postgresql" else "INTEGER PRIMARY KEY"
    with db.session() as session:
        session.execute("DROP TABLE IF EXISTS bench_users")
        session.execute(f"CREATE TABLE bench_users (id {key}, username TEXT, email TEXT)")
        for i in range(ROWS):
            session.execute("INSERT INTO bench_users (username, email) VALUES (:u, :e)", {"u": f"u{i}", "e": f"{i}@x"})
        session.commit()


def sync_case(label: str, db: Any, quick: bool) -> Result:
    ops, rounds = (50, 21) if quick else (200, 61)
    engine = db.engine
    prebuilt = text(SYNC_SQL)
    params = {"id": 1}

    def through_service() -> object:
        with db.session() as session:
            row = session.execute(SYNC_SQL, params).fetchone()
            return row[0]

    def raw_sqlalchemy() -> object:
        with Session(engine) as session:
            row = session.execute(prebuilt, params).fetchone()
            return row[0]  # type: ignore[index]

    assert through_service() == raw_sqlalchemy() == 1
    x, b, d = paired_sync(through_service, raw_sqlalchemy, ops, rounds)
    return Result(
        AREA,
        f"{label} sync session.execute(str) vs raw SQLAlchemy Session",
        x,
        b,
        "ns/op",
        target=1.10,
        note=note(d, "same engine (pre-ping on checkout); raw reuses one prebuilt text()"),
    )


async def async_postgres_case(db: Any, quick: bool) -> Result:
    ops, rounds = (100, 21) if quick else (300, 61)
    pool = db.pool
    connection = db.connection

    async def through_service() -> object:
        async with connection() as conn:
            return (await conn.fetchrow(ASYNC_SQL, 1))[0]

    async def raw_asyncpg() -> object:
        async with pool.acquire() as conn:
            return (await conn.fetchrow(ASYNC_SQL, 1))[0]

    assert await through_service() == await raw_asyncpg() == 1
    x, b, d = await paired_async(through_service, raw_asyncpg, ops, rounds)
    return Result(
        AREA,
        "postgresql async connection().fetchrow vs raw asyncpg pool",
        x,
        b,
        "ns/op",
        target=1.25,
        note=note(d, "same asyncpg pool"),
    )


async def async_sqlite_case(db: Any, path: Path, quick: bool) -> Result:
    ops, rounds = (100, 21) if quick else (300, 61)
    connection = db.connection
    raw = await aiosqlite.connect(str(path), isolation_level=None)
    raw.row_factory = sqlite3.Row
    try:

        async def through_service() -> object:
            async with connection() as conn:
                return (await conn.fetchrow(ASYNC_SQL, 1))[0]

        async def raw_aiosqlite() -> object:
            rows = list(await raw.execute_fetchall(SQLITE_SQL, (1,)))
            return rows[0][0]

        assert await through_service() == await raw_aiosqlite() == 1
        x, b, d = await paired_async(through_service, raw_aiosqlite, ops, rounds)
    finally:
        await raw.close()
    return Result(
        AREA,
        "sqlite async connection().fetchrow vs raw aiosqlite",
        x,
        b,
        "ns/op",
        target=1.25,
        note=note(d, "raw: one aiosqlite connection, execute_fetchall (its one-hop call)"),
    )


async def sqlite_cases(quick: bool, folder: Path) -> list[Result]:
    sync_file, async_file = folder / "sync.db", folder / "async.db"
    host = await boot(
        {
            "default": {"type": "sqlite", "url": f"sqlite:///{sync_file}"},
            "async_default": {"type": "sqlasync", "url": f"sqlite:///{async_file}"},
        }
    )
    try:
        fill_sync(host.get_service("default"))
        adb = host.get_service("async_default")
        async with adb.connection() as conn:
            await conn.execute("CREATE TABLE bench_users (id INTEGER PRIMARY KEY, username TEXT, email TEXT)")
            await conn.executemany(
                "INSERT INTO bench_users (username, email) VALUES ($1, $2)", [(f"u{i}", f"{i}@x") for i in range(ROWS)]
            )
        return [
            sync_case("sqlite", host.get_service("default"), quick),
            await async_sqlite_case(adb, async_file, quick),
        ]
    finally:
        await host.shutdown()


async def postgres_cases(quick: bool, url: str) -> list[Result]:
    host = await boot(
        {"default": {"type": "postgresql", "url": url}, "async_default": {"type": "sqlasync", "url": url}}
    )
    try:
        fill_sync(host.get_service("default"))
        return [
            sync_case("postgresql", host.get_service("default"), quick),
            await async_postgres_case(host.get_service("async_default"), quick),
        ]
    finally:
        await host.shutdown()


async def redis_case(quick: bool, url: str) -> Result:
    ops, rounds = (100, 21) if quick else (500, 61)
    host = await boot({"redis_db": {"type": "redis", "url": url}})
    try:
        db = host.get_service("redis_db")
        raw = redis.Redis(connection_pool=db.client.connection_pool)
        db.set("bench:key", b"value")
        assert db.get("bench:key") == raw.get("bench:key") == b"value"
        x, b, d = paired_sync(lambda: db.get("bench:key"), lambda: raw.get("bench:key"), ops, rounds)
        return Result(
            AREA,
            "redis sync get through the service vs raw redis-py",
            x,
            b,
            "ns/op",
            target=1.10,
            note=note(d, "same connection pool"),
        )
    finally:
        await host.shutdown()


async def run(quick: bool) -> list[Result]:
    results: list[Result] = []
    errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="xcore-bench-db-") as folder:
        results += await sqlite_cases(quick, Path(folder))
    results += await on_server(lambda: PostgresServer().start(), lambda server: postgres_cases(quick, server.url),
                               "postgresql sync and async", errors)  # fmt: skip

    async def on_redis(server: RedisServer) -> list[Result]:
        return [await redis_case(quick, server.url)]

    results += await on_server(lambda: RedisServer().start(), on_redis, "redis get", errors)
    return CasesFailed.check(results, errors)
