"""The database conformance suites: the spec's sync and async database APIs.

* :class:`SyncDatabaseConformance`: ``with db.session() as session: session.execute(sql, params)``
  with plain SQL strings or ``sqlalchemy.text``, ``:name`` parameters, ``fetchone``/``fetchall``/
  ``scalar``, rows usable as ``row[0]`` and ``dict(row)``, ``commit`` and ``rollback``.
* :class:`AsyncDatabaseConformance`: ``async with db.connection() as conn`` with ``fetch``,
  ``fetchrow``, ``fetchval``, ``execute`` and ``$1`` parameters, rows usable as ``row["col"]`` and
  ``dict(row)``, and ``async with conn.transaction()``.

Each test works in its own table ``xc_<random>``, dropped afterwards, with portable SQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from xcore.testing.conformance.base import ConformanceSuite

CREATE = "CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL)"


class SyncDatabaseConformance(ConformanceSuite):
    """The synchronous session API of the spec's "Using Synchronous Database"."""

    kind = "database"
    section_name = "default"

    @pytest.fixture
    def table(self, service: Any, unique: str) -> Iterator[str]:
        name = f"xc_{unique}"
        with service.session() as session:
            session.execute(CREATE.format(table=name))
            session.commit()
        yield name
        with service.session() as session:
            session.execute(f"DROP TABLE {name}")
            session.commit()

    async def test_plain_sql_strings_run(self, service: Any) -> None:
        with service.session() as session:
            assert session.execute("SELECT 1").scalar() == 1

    async def test_sqlalchemy_text_runs(self, service: Any) -> None:
        from sqlalchemy import text

        with service.session() as session:
            assert session.execute(text("SELECT :value"), {"value": 5}).scalar() == 5

    async def test_insert_commit_and_read_back(self, service: Any, table: str) -> None:
        with service.session() as session:
            session.execute(f"INSERT INTO {table} (id, name) VALUES (:id, :name)", {"id": 1, "name": "ann"})
            session.execute(f"INSERT INTO {table} (id, name) VALUES (:id, :name)", {"id": 2, "name": "bob"})
            session.commit()
        with service.session() as session:
            rows = session.execute(f"SELECT id, name FROM {table} ORDER BY id").fetchall()
            assert [(row[0], row[1]) for row in rows] == [(1, "ann"), (2, "bob")]
            one = session.execute(f"SELECT id, name FROM {table} WHERE id = :id", {"id": 2}).fetchone()
            assert dict(one) == {"id": 2, "name": "bob"}
            assert session.execute(f"SELECT name FROM {table} WHERE id = :id", {"id": 9}).fetchone() is None

    async def test_rollback_discards_uncommitted_work(self, service: Any, table: str) -> None:
        with service.session() as session:
            session.execute(f"INSERT INTO {table} (id, name) VALUES (:id, :name)", {"id": 1, "name": "ann"})
            session.rollback()
        with service.session() as session:
            assert session.execute(f"SELECT COUNT(*) FROM {table}").scalar() == 0

    async def test_an_exception_in_the_block_rolls_back(self, service: Any, table: str) -> None:
        with pytest.raises(RuntimeError), service.session() as session:
            session.execute(f"INSERT INTO {table} (id, name) VALUES (:id, :name)", {"id": 1, "name": "ann"})
            raise RuntimeError("handler failed")
        with service.session() as session:
            assert session.execute(f"SELECT COUNT(*) FROM {table}").scalar() == 0

    async def test_a_failed_statement_leaves_committed_rows_intact(self, service: Any, table: str) -> None:
        with service.session() as session:
            session.execute(f"INSERT INTO {table} (id, name) VALUES (:id, :name)", {"id": 1, "name": "ann"})
            session.commit()
        with pytest.raises(Exception), service.session() as session:  # noqa: B017 - any driver error
            session.execute(f"INSERT INTO {table} (id, name) VALUES (:id, :name)", {"id": 1, "name": "dup"})
        with service.session() as session:
            assert dict(session.execute(f"SELECT id, name FROM {table}").fetchone()) == {"id": 1, "name": "ann"}

    async def test_health_reports_ok(self, service: Any) -> None:
        await service.health()


class AsyncDatabaseConformance(ConformanceSuite):
    """The asynchronous connection API of the spec's "Using Asynchronous Database"."""

    kind = "database"
    section_name = "async_default"

    @pytest_asyncio.fixture
    async def table(self, service: Any, unique: str) -> AsyncIterator[str]:
        name = f"xc_{unique}"
        async with service.connection() as conn:
            await conn.execute(CREATE.format(table=name))
        yield name
        async with service.connection() as conn:
            await conn.execute(f"DROP TABLE {name}")

    async def test_fetchval_of_a_constant(self, service: Any) -> None:
        async with service.connection() as conn:
            assert await conn.fetchval("SELECT 1") == 1

    async def test_execute_then_fetch_rows_as_dicts(self, service: Any, table: str) -> None:
        async with service.connection() as conn:
            await conn.execute(f"INSERT INTO {table} (id, name) VALUES ($1, $2)", 1, "ann")
            await conn.execute(f"INSERT INTO {table} (id, name) VALUES ($1, $2)", 2, "bob")
            rows = await conn.fetch(f"SELECT id, name FROM {table} ORDER BY id")
            assert [dict(row) for row in rows] == [{"id": 1, "name": "ann"}, {"id": 2, "name": "bob"}]
            row = await conn.fetchrow(f"SELECT id, name FROM {table} WHERE id = $1", 2)
            assert row is not None and row["name"] == "bob" and dict(row) == {"id": 2, "name": "bob"}
            assert await conn.fetchrow(f"SELECT id FROM {table} WHERE id = $1", 9) is None
            assert await conn.fetchval(f"SELECT COUNT(*) FROM {table}") == 2

    async def test_writes_outside_a_transaction_are_visible_to_other_connections(
        self, service: Any, table: str
    ) -> None:
        async with service.connection() as conn:
            await conn.execute(f"INSERT INTO {table} (id, name) VALUES ($1, $2)", 1, "ann")
        async with service.connection() as other:
            assert await other.fetchval(f"SELECT name FROM {table} WHERE id = $1", 1) == "ann"

    async def test_a_transaction_commits_on_success(self, service: Any, table: str) -> None:
        async with service.connection() as conn, conn.transaction():
            await conn.execute(f"INSERT INTO {table} (id, name) VALUES ($1, $2)", 1, "ann")
            await conn.execute(f"INSERT INTO {table} (id, name) VALUES ($1, $2)", 2, "bob")
        async with service.connection() as conn:
            assert await conn.fetchval(f"SELECT COUNT(*) FROM {table}") == 2

    async def test_a_transaction_rolls_back_on_error(self, service: Any, table: str) -> None:
        async with service.connection() as conn:
            await conn.execute(f"INSERT INTO {table} (id, name) VALUES ($1, $2)", 1, "kept")
            with pytest.raises(RuntimeError):
                async with conn.transaction():
                    await conn.execute(f"INSERT INTO {table} (id, name) VALUES ($1, $2)", 2, "discarded")
                    raise RuntimeError("handler failed")
        async with service.connection() as conn:
            rows = await conn.fetch(f"SELECT id, name FROM {table}")
            assert [dict(row) for row in rows] == [{"id": 1, "name": "kept"}]

    async def test_health_reports_ok(self, service: Any) -> None:
        await service.health()
