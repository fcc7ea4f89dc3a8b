"""Sandboxed database access on the suite's real PostgreSQL and SQLite, in every shape plugins use.

The ``ledger`` plugin's code is written for a trusted plugin (the services guide's sessions,
connections and transactions) and runs sandboxed, unchanged: ``sync`` is an ``sql`` database (its
sessions travel over the worker's synchronous channel), ``adb`` the same database as ``sqlasync``.
A read grant is enforced by the database itself; a worker killed inside a transaction leaves nothing
behind (rolled back, connection returned); transactions are bounded in number and lifetime.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from xcore import Xcore
from xcore._sandbox.supervisor import WorkerError

sys.path.insert(0, str(Path(__file__).parent / "sandbox_plugins"))

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the OS walls are Linux's")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return str(request.getfixturevalue("postgres_server").url)


def config(tmp_path: Path, url: str, mode: str, **limits: Any) -> dict[str, Any]:
    kind = "postgresql" if url.startswith("postgres") else "sqlite"
    return {
        "plugins": {
            "local": {"ledger": "sbx_plugins.ledger:Ledger"},
            "sandboxed": {
                "ledger": {
                    "permissions": [{"db": {"name": "sync", "mode": mode}}, {"db": {"name": "adb", "mode": mode}}],
                    "limits": {"timeout": 5, **limits},
                    "sandbox": {"data_dir": str(tmp_path / "ledger")},
                }
            },
        },
        "services": {
            "databases": {"sync": {"type": kind, "url": url}, "adb": {"type": "sqlasync", "url": url}},
            "cache": {"backend": "memory"},
            "events": {"backend": "memory"},
            "scheduler": {"enabled": False},
            "extensions": {},
        },
    }


async def booted(tmp_path: Path, url: str, mode: str, **limits: Any) -> Xcore:
    host = Xcore(config=config(tmp_path, url, mode, **limits), discover=False)
    await host.boot()
    assert host.records["ledger"].state == "loaded", host.records["ledger"].error
    async with host.get_service("adb").connection() as conn:
        await conn.execute("DROP TABLE IF EXISTS ledger")
        await conn.execute("CREATE TABLE ledger (v integer)")
        await conn.execute("INSERT INTO ledger VALUES (1)")
    return host


@pytest.fixture
async def writer(tmp_path: Path, db_url: str) -> AsyncIterator[Xcore]:
    host = await booted(tmp_path, db_url, "write", transactions=2, transaction_seconds=1.5)
    yield host
    await host.shutdown()


async def values(host: Xcore) -> list[int]:
    async with host.get_service("adb").connection() as conn:
        return [row["v"] for row in await conn.fetch("SELECT v FROM ledger ORDER BY v")]


def plugin(host: Xcore) -> Any:
    return host.records["ledger"].handle.instance  # type: ignore[union-attr]


async def test_write_grant_sessions_and_transactions_work(writer: Xcore) -> None:
    assert await writer.call("ledger", "sync_insert", {"v": 2}) == {"status": "ok", "failed": False, "v": 2}
    # leaving the sql session without commit() rolls back, as trusted
    assert (await writer.call("ledger", "sync_insert", {"v": 3, "commit": False}))["v"] == 3
    rows = await writer.call("ledger", "sync_rows")
    assert rows["rows"] == [1, 2] and rows["named"] == [{"v": 1}, {"v": 2}]
    # the sqlasync session is a unit of work: committed on a clean exit, rolled back by an error
    assert (await writer.call("ledger", "async_session_insert", {"values": [4, 5]}))["failed"] is False
    failed = await writer.call("ledger", "async_session_insert", {"values": [6], "fail": True})
    assert failed["failed"] is True and "changed its mind" in failed["error"]
    # several statements in one transaction: they see each other; all or nothing
    assert await writer.call("ledger", "transaction", {"values": [7, 8]}) == {
        "status": "ok",
        "failed": False,
        "seen_inside": 6,
    }
    assert (await writer.call("ledger", "transaction", {"values": [9, 10], "fail": True}))["failed"] is True
    assert await values(writer) == [1, 2, 4, 5, 7, 8]
    assert len(plugin(writer)._transactions) == 0


async def test_read_grant_refuses_every_write_in_the_database(tmp_path: Path, db_url: str) -> None:
    host = await booted(tmp_path, db_url, "read")
    try:
        assert (await host.call("ledger", "sync_rows"))["rows"] == [1]
        for action, payload in [
            ("sync_insert", {"v": 2}),
            ("async_session_insert", {"values": [3]}),
            ("transaction", {"values": [4]}),
        ]:
            answer = await host.call("ledger", action, payload)
            assert answer["failed"] is True, (action, answer)
            # the database's own refusal, not a parser's
            assert "read-only" in answer["error"] or "readonly" in answer["error"], (action, answer)
        assert await values(host) == [1]
        assert len(plugin(host)._transactions) == 0
        # the host's own connections were not left read-only
        async with host.get_service("adb").connection() as conn:
            await conn.execute("INSERT INTO ledger VALUES (2)")
        with host.get_service("sync").session() as session:
            session.execute("INSERT INTO ledger VALUES (3)")
            session.commit()
        assert await values(host) == [1, 2, 3]
    finally:
        await host.shutdown()


async def wait_for(condition: Any, seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.02)


async def test_a_worker_killed_mid_transaction_rolls_back_and_returns_the_connection(writer: Xcore) -> None:
    sandbox = plugin(writer)
    call = asyncio.ensure_future(writer.call("ledger", "hold", {"v": 42}))
    await wait_for(lambda: len(sandbox._transactions) == 1)
    pid = sandbox.worker.pid
    await asyncio.sleep(0.2)  # the INSERT has run inside the held transaction
    os.kill(pid, 9)
    with pytest.raises(WorkerError):
        await call
    await wait_for(lambda: len(sandbox._transactions) == 0)
    assert await values(writer) == [1]  # rolled back
    # the connection is back and holds no lock: the host writes at once
    async with writer.get_service("adb").connection() as conn:
        if writer.get_service("adb").backend == "postgresql":
            await conn.execute("SET lock_timeout = '2s'")
            stuck = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE state LIKE 'idle in transaction%' AND datname = current_database()"
            )
            assert stuck == 0
        async with asyncio.timeout(5):
            await conn.execute("INSERT INTO ledger VALUES (2)")
    await sandbox.wait_running()
    assert (await writer.call("ledger", "transaction", {"values": [3]}))["failed"] is False
    assert await values(writer) == [1, 2, 3]


async def test_a_transaction_past_its_lifetime_is_rolled_back(writer: Xcore) -> None:
    assert (await writer.call("ledger", "begin", {"key": "a"}))["failed"] is False
    assert (await writer.call("ledger", "write_in", {"key": "a", "v": 50}))["failed"] is False
    # "a" outlives limits.transaction_seconds (1.5 s): the host rolls it back
    await wait_for(lambda: len(plugin(writer)._transactions) == 0, 5)
    late = await writer.call("ledger", "write_in", {"key": "a", "v": 51})
    assert late["failed"] is True and "limits.transaction_seconds" in late["error"], late
    assert await values(writer) == [1]
    assert (await writer.call("ledger", "begin", {"key": "d"}))["failed"] is False
    assert (await writer.call("ledger", "write_in", {"key": "d", "v": 60}))["failed"] is False
    assert (await writer.call("ledger", "finish", {"key": "d", "commit": True}))["failed"] is False
    assert await values(writer) == [1, 60]


async def test_open_transactions_are_bounded_in_number(tmp_path: Path, db_url: str) -> None:
    # read transactions: SQLite lets several be open at once (a second writer would wait for the first)
    host = await booted(tmp_path, db_url, "read", transactions=2)
    try:
        assert (await host.call("ledger", "begin", {"key": "a"}))["failed"] is False
        assert (await host.call("ledger", "begin", {"key": "b"}))["failed"] is False
        third = await host.call("ledger", "begin", {"key": "c"})
        assert third["failed"] is True and "limits.transactions" in third["error"], third
        assert (await host.call("ledger", "finish", {"key": "b"}))["failed"] is False
        assert (await host.call("ledger", "begin", {"key": "c"}))["failed"] is False  # a slot is free again
        assert len(plugin(host)._transactions) == 2
    finally:
        await host.shutdown()
    assert len(plugin(host)._transactions) == 0  # unloading rolls back what was left open


async def test_a_transaction_is_bound_to_the_worker_that_began_it(writer: Xcore) -> None:
    sandbox = plugin(writer)
    assert (await writer.call("ledger", "begin", {"key": "a"}))["failed"] is False
    (ident,) = sandbox._transactions._open
    old = sandbox.worker
    await sandbox.restart()
    assert len(sandbox._transactions) == 0  # the stopped worker's transaction was rolled back
    with pytest.raises(LookupError, match="no open transaction"):
        await sandbox._transactions.run(sandbox.worker, ident, "execute", ["SELECT 1"])
    with pytest.raises(LookupError, match="no open transaction"):
        await sandbox._transactions.run(old, ident, "execute", ["SELECT 1"])


async def test_a_worker_dropped_while_its_transaction_begins_leaves_nothing_open(tmp_path: Path) -> None:
    """SQLite: the second writer's BEGIN waits for the first; its worker dies meanwhile."""
    from xcore._sandbox.transactions import ConnectionTx, Transactions

    host = await booted(tmp_path, f"sqlite:///{tmp_path}/ledger.db", "write")
    try:
        db = host.get_service("adb")
        table = Transactions("ledger", 4, 30.0)
        first, second = object(), object()
        held = await table.begin(first, ConnectionTx(db, readonly=False))
        await table.run(first, held, "execute", ["INSERT INTO ledger VALUES (2)"])
        beginning = asyncio.ensure_future(table.begin(second, ConnectionTx(db, readonly=False)))
        await asyncio.sleep(0.3)  # waiting for the first writer's lock
        dropping = asyncio.ensure_future(table.drop(second, "worker died"))
        await asyncio.sleep(0.1)
        await table.finish(first, held, commit=True)
        with pytest.raises(LookupError, match="stopped while its transaction began"):
            await beginning
        await dropping
        assert len(table) == 0
        async with db.connection() as conn, asyncio.timeout(3):  # no write lock left behind
            await conn.execute("INSERT INTO ledger VALUES (3)")
        assert await values(host) == [1, 2, 3]
    finally:
        await host.shutdown()
