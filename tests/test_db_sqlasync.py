"""The async SQL service (``type: sqlasync``): asyncpg's API on real PostgreSQL and on SQLite.

The same tests run on both backends, so a plugin written against PostgreSQL runs unchanged on the
embedded SQLite database: ``$n`` placeholders, ``NOW()``, ``RETURNING``, records, statement-level
commits, transactions and savepoints, and the SQLAlchemy ``AsyncSession`` of ``session()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import HTTPException
from sqlalchemy import select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from xcore._builtin_services.sql import DatabaseUnavailable, PoolExhausted
from xcore._builtin_services.sqlasync import AsyncSqlDatabase
from xcore._errors import ConfigError
from xcore.sdk import TrustedBase
from xcore.testing.conformance.boot import running_service
from xcore.testing.servers import PostgresServer, free_port

from .test_db_sql import OTHER_SERVICES_OFF, drop_users, users_table


@pytest.fixture(params=["sqlite", "sqlite-memory", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/app.db"
        return
    if request.param == "sqlite-memory":
        yield "sqlite://"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    drop_users(server.url)
    yield server.url
    drop_users(server.url)


@asynccontextmanager
async def database(url: str, **settings: Any) -> AsyncIterator[AsyncSqlDatabase]:
    async with running_service("database", {"type": "sqlasync", "url": url, **settings}, name="async_default") as db:
        async with db.connection() as conn:
            await conn.execute(users_table(url))
        yield db


async def count_users(db: AsyncSqlDatabase) -> int:
    async with db.connection() as conn:
        return int(await conn.fetchval("SELECT COUNT(*) FROM users"))


# --------------------------------------------------------------------------- asyncpg's API


async def test_fetch_fetchrow_fetchval_and_records(db_url: str) -> None:
    async with database(db_url) as db, db.connection() as conn:
        row = await conn.fetchrow(
            """
            INSERT INTO users (username, email, created_at)
            VALUES ($1, $2, NOW())
            RETURNING id
            """,
            "ada",
            "ada@x",
        )
        user_id = row["id"]
        assert row[0] == user_id and dict(row) == {"id": user_id}

        record = await conn.fetchrow("SELECT * FROM users WHERE id = $1", user_id)
        assert list(dict(record)) == ["id", "username", "email", "created_at"]
        assert record["username"] == "ada" and record[2] == "ada@x" and record["created_at"] is not None
        assert await conn.fetchrow("SELECT * FROM users WHERE id = $1", user_id + 1) is None

        rows = await conn.fetch("SELECT id, username, email FROM users")
        assert [dict(r) for r in rows] == [{"id": user_id, "username": "ada", "email": "ada@x"}]
        assert await conn.fetchval("SELECT username FROM users WHERE id = $1", user_id) == "ada"
        assert await conn.fetchval("SELECT id, email FROM users", column=1) == "ada@x"
        assert await conn.fetchval("SELECT id FROM users WHERE id = $1", -1) is None


async def test_execute_returns_status_tags(db_url: str) -> None:
    async with database(db_url) as db, db.connection() as conn:
        assert await conn.execute("INSERT INTO users (username, email) VALUES ($1, $2)", "a", "a@x") == "INSERT 0 1"
        await conn.execute("INSERT INTO users (username, email) VALUES ($1, $2)", "b", "b@x")
        assert await conn.execute("UPDATE users SET email = $1", "z") == "UPDATE 2"
        assert await conn.execute("DELETE FROM users WHERE username = $1", "a") == "DELETE 1"
        assert await conn.execute("CREATE TABLE extra (id INTEGER)") == "CREATE TABLE"
        assert await conn.execute("DROP TABLE extra") == "DROP TABLE"


async def test_placeholders_are_numbered_and_literals_untouched(db_url: str) -> None:
    async with database(db_url) as db, db.connection() as conn:
        # $2 before $1, $1 twice, and "$1" inside a string literal that must stay text
        await conn.execute(
            "INSERT INTO users (username, email) VALUES ($2 || $1, $1 || '-$1')",
            "x",
            "y",
        )
        assert dict(await conn.fetchrow("SELECT username, email FROM users")) == {"username": "yx", "email": "x-$1"}


async def test_script_without_arguments_runs_every_statement(db_url: str) -> None:
    async with database(db_url) as db, db.connection() as conn:
        await conn.execute(
            "INSERT INTO users (username, email) VALUES ('a', 'a;x');"
            " INSERT INTO users (username, email) VALUES ('b', 'b')"
        )
        assert await conn.fetchval("SELECT COUNT(*) FROM users") == 2


async def test_each_statement_commits_on_its_own(db_url: str) -> None:
    """As in asyncpg: the seed's INSERT ... RETURNING never calls commit, and its row must be kept."""
    async with database(db_url) as db:
        async with db.connection() as conn:
            await conn.fetchrow("INSERT INTO users (username, email) VALUES ($1, $2) RETURNING id", "a", "a@x")
        assert await count_users(db) == 1


# --------------------------------------------------------------------------- transactions


async def test_transaction_commits_or_rolls_back_as_a_whole(db_url: str) -> None:
    async with database(db_url) as db:
        async with db.connection() as conn:
            async with conn.transaction():
                await conn.execute("INSERT INTO users (username, email) VALUES ($1, $2)", "kept", "k@x")
            with pytest.raises(RuntimeError):
                async with conn.transaction():
                    await conn.execute("INSERT INTO users (username, email) VALUES ($1, $2)", "lost", "l@x")
                    raise RuntimeError("plugin bug")
        async with db.connection() as conn:
            assert [r["username"] for r in await conn.fetch("SELECT username FROM users")] == ["kept"]


async def test_a_failing_statement_leaves_no_row_behind(db_url: str) -> None:
    async with database(db_url) as db:
        async with db.connection() as conn:
            await conn.execute("INSERT INTO users (username, email) VALUES ($1, $2)", "taken", "t@x")
            with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
                async with conn.transaction():
                    await conn.execute("INSERT INTO users (username, email) VALUES ($1, $2)", "new", "n@x")
                    await conn.execute("INSERT INTO users (username, email) VALUES ($1, $2)", "taken", "again")
            with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
                await conn.executemany(
                    "INSERT INTO users (username, email) VALUES ($1, $2)", [("one", "1"), ("taken", "2")]
                )
            with pytest.raises(Exception, match=r"no_such_column"):
                await conn.execute("UPDATE users SET email = no_such_column")
        async with db.connection() as conn:
            rows = await conn.fetch("SELECT username, email FROM users")
            assert [tuple(r) for r in rows] == [("taken", "t@x")]


async def test_nested_transaction_is_a_savepoint(db_url: str) -> None:
    async with database(db_url) as db:
        async with db.connection() as conn, conn.transaction():
            await conn.execute("INSERT INTO users (username, email) VALUES ($1, $2)", "outer", "o")
            with pytest.raises(RuntimeError):
                async with conn.transaction():
                    await conn.execute("INSERT INTO users (username, email) VALUES ($1, $2)", "inner", "i")
                    raise RuntimeError
        async with db.connection() as conn:
            assert [r[0] for r in await conn.fetch("SELECT username FROM users")] == ["outer"]


async def test_executemany_inserts_every_row(db_url: str) -> None:
    async with database(db_url) as db:
        async with db.connection() as conn:
            await conn.executemany(
                "INSERT INTO users (username, email) VALUES ($1, $2)", [(f"u{i}", f"u{i}@x") for i in range(5)]
            )
        assert await count_users(db) == 5


async def test_connections_are_lent_concurrently(db_url: str) -> None:
    async with database(db_url, pool_size=3) as db:

        async def insert(i: int) -> None:
            async with db.connection() as conn:
                await conn.execute("INSERT INTO users (username, email) VALUES ($1, $2)", f"u{i}", "x")

        await asyncio.gather(*(insert(i) for i in range(12)))
        assert await count_users(db) == 12
        health = await db.health()
        assert health["backend"] in ("postgresql", "sqlite") and health["latency_ms"] >= 0


async def test_waiters_get_freed_connections_in_turn_and_a_cancelled_waiter_takes_none(db_url: str) -> None:
    async with database(db_url, pool_size=2) as db:
        held = asyncio.Event()

        async def hold() -> None:
            async with db.connection():
                held.set()
                await asyncio.sleep(0.05)

        async def use(i: int) -> None:
            async with db.connection() as conn:
                await conn.execute("INSERT INTO users (username, email) VALUES ($1, $2)", f"u{i}", "x")

        holders = [asyncio.create_task(hold()) for _ in range(2)]
        await held.wait()
        cancelled = asyncio.create_task(use(-1))
        users = [asyncio.create_task(use(i)) for i in range(10)]
        await asyncio.sleep(0.01)
        cancelled.cancel()
        await asyncio.gather(*holders, *users)
        assert cancelled.cancelled()
        assert await count_users(db) == 10
        health = await db.health()
        assert health["in_use"] == 0


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)  # in memory: one connection, no waiting
async def test_a_transaction_cancelled_while_waiting_for_a_lock_leaves_nothing_open(db_url: str) -> None:
    """A request cancelled while its transaction waits for another writer (SQLite's BEGIN IMMEDIATE on
    the busy timeout, a PostgreSQL row lock) must not hand the next user a connection whose statements
    silently join a stale transaction and are rolled back."""
    async with database(db_url, pool_size=2, pool_timeout=10) as db:
        async with db.connection() as first:
            await first.execute("INSERT INTO users (username, email) VALUES ($1, $2)", "a", "a@x")
            writing = first.transaction()
            await writing.start()
            await first.execute("UPDATE users SET email = $1 WHERE username = $2", "locked", "a")

            async def wait_for_the_lock() -> None:
                async with db.connection() as conn, conn.transaction():
                    await conn.execute("UPDATE users SET email = $1 WHERE username = $2", "waiter", "a")

            waiter = asyncio.create_task(wait_for_the_lock())
            await asyncio.sleep(0.3)  # let it block on the lock; the assertions below do not depend on timing
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            await writing.commit()
            async with db.connection() as conn:
                await conn.execute("INSERT INTO users (username, email) VALUES ($1, $2)", "b", "b@x")
            async with db.connection() as conn:
                await conn.execute("INSERT INTO users (username, email) VALUES ($1, $2)", "c", "c@x")
        async with db.connection() as conn:
            rows = await conn.fetch("SELECT username, email FROM users ORDER BY username")
            assert [tuple(r) for r in rows] == [("a", "locked"), ("b", "b@x"), ("c", "c@x")]
        assert (await db.health())["in_use"] == 0


async def test_a_connection_in_use_when_the_service_closes_is_released_cleanly(db_url: str) -> None:
    """Shutdown while a request still holds a connection: the request finishes without an error from
    the pool, and close() returns once the connection is back instead of waiting out pool_timeout."""
    async with database(db_url, pool_timeout=30) as db:
        async with db.connection() as conn:
            closing = asyncio.create_task(db.close())
            await asyncio.sleep(0.05)
            assert await conn.fetchval("SELECT 1") == 1
        await asyncio.wait_for(closing, 10)
        with pytest.raises(DatabaseUnavailable, match="closed"):
            async with db.connection():
                pass


# --------------------------------------------------------------------------- the ORM session


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str]
    email: Mapped[str]


async def test_session_is_an_async_sqlalchemy_session_on_the_same_database(db_url: str) -> None:
    async with database(db_url) as db:
        async with db.session() as session:
            session.add(User(username="orm", email="orm@x"))
            await session.commit()
        async with db.connection() as conn:
            assert await conn.fetchval("SELECT email FROM users WHERE username = $1", "orm") == "orm@x"
        async with db.session() as session:
            user = (await session.scalars(select(User))).one()
            assert user.username == "orm"
            row = (await session.execute("SELECT * FROM users WHERE id = :id", {"id": user.id})).fetchone()
            assert dict(row)["email"] == "orm@x"
            await session.execute("INSERT INTO users (username, email, created_at) VALUES ('x', 'y', NOW())")
            # leaving the block cleanly commits: a forgotten commit() never loses a write
        assert await count_users(db) == 2
        with pytest.raises(RuntimeError, match="changed my mind"):
            async with db.session() as session:
                await session.execute("INSERT INTO users (username, email, created_at) VALUES ('z', 'z', NOW())")
                raise RuntimeError("changed my mind")
        assert await count_users(db) == 2  # an exception rolls the block back


# --------------------------------------------------------------------------- configuration and failures


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql+aiomysql://admin:hunter22@db/app", "unknown database driver 'mysql+aiomysql'"),
        ("postgresql+psycopg2://admin:hunter22@db/app", "unknown database driver 'postgresql+psycopg2'"),
        ("::not a url::", "is not a database URL"),
    ],
)
async def test_bad_url_is_a_config_error_naming_the_key(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        async with running_service("database", {"type": "sqlasync", "url": url}, name="async_default"):
            pass
    assert "services.databases.async_default" in str(caught.value) and says in str(caught.value)
    assert "hunter22" not in str(caught.value)


async def test_refused_connection_names_the_key_and_masks_the_password() -> None:
    from xcore._builtin_services.sqlasync import AsyncSqlSettings, build

    from .test_db_sql import service_setup

    db = build(
        AsyncSqlSettings(url=f"postgresql://admin:hunter22@127.0.0.1:{free_port()}/app"), service_setup("reports")
    )
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            await db.start()
        assert str(caught.value).startswith("services.databases.reports: cannot connect to postgresql://admin:***@")
        assert "hunter22" not in str(caught.value)
        with pytest.raises(ConnectionError, match=r"services\.databases\.reports"):
            async with db.connection():
                pass
    finally:
        await db.close()


async def test_unopenable_sqlite_file_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()  # a directory where the database file should be
    from xcore._builtin_services.sqlasync import AsyncSqlSettings, build

    from .test_db_sql import service_setup

    db = build(AsyncSqlSettings(url=f"sqlite:///{tmp_path}/dir.db"), service_setup("files"))
    with pytest.raises(DatabaseUnavailable, match=r"^services\.databases\.files: cannot open sqlite:///"):
        await db.start()
    await db.close()


async def test_exhausted_pool_gives_an_error_not_a_hang(db_url: str) -> None:
    async with database(db_url, pool_size=1, pool_timeout=0.2) as db:
        async with db.connection():
            with pytest.raises(
                PoolExhausted, match=r"^services\.databases\.async_default: no free connection after 0\.2 s"
            ):
                async with db.connection():
                    pass
            with pytest.raises(TimeoutError):  # what asyncpg's pool.acquire(timeout=...) raises
                async with db.connection():
                    pass
        assert await count_users(db) == 0  # usable again once the connection is back


async def test_postgresql_outage_then_recovery_without_restart(postgres_server: PostgresServer) -> None:
    drop_users(postgres_server.url)
    async with database(postgres_server.url) as db:
        await postgres_server_outage(postgres_server, db)
        # the pooled connections died with the server; the next call gets a fresh one
        async with db.connection() as conn:
            assert await conn.fetchval("SELECT 1") == 1
        assert (await db.health())["backend"] == "postgresql"


async def postgres_server_outage(server: PostgresServer, db: AsyncSqlDatabase) -> None:
    async with db.connection() as conn:
        assert await conn.fetchval("SELECT 1") == 1
    # Stopped from a thread, as in production the event loop keeps running through an outage.
    await asyncio.to_thread(server.stop)
    try:
        with pytest.raises(DatabaseUnavailable, match=r"services\.databases\.async_default"):
            await db.health()
        with pytest.raises(DatabaseUnavailable):
            async with db.connection() as conn:
                await conn.fetchval("SELECT 1")
    finally:
        await asyncio.to_thread(server.start)


# --------------------------------------------------------------------------- the spec's plugin


class AsyncUsers(TrustedBase):
    """The spec's "Using Asynchronous Database" plugin, as written."""

    async def on_load(self) -> None:
        self.db = self.get_service("async_default")

    def get_router(self):
        from fastapi import APIRouter

        router = APIRouter()

        @router.get("/users")
        async def list_users():
            """List users using async database."""
            async with self.db.connection() as conn:
                rows = await conn.fetch("SELECT id, username, email FROM users")
                return {"users": [dict(row) for row in rows]}

        @router.get("/users/{user_id}")
        async def get_user(user_id: int):
            """Get user by ID."""
            async with self.db.connection() as conn:
                row = await conn.fetchrow("SELECT * FROM users WHERE id = $1", user_id)
                if row:
                    return dict(row)
                raise HTTPException(404, "User not found")

        @router.post("/users")
        async def create_user(data: dict):
            """Create a new user."""
            async with self.db.connection() as conn:
                row = await conn.fetchrow(
                    """
                    INSERT INTO users (username, email, created_at)
                    VALUES ($1, $2, NOW())
                    RETURNING id
                    """,
                    data["username"],
                    data["email"],
                )
                return {"id": row["id"], "status": "created"}

        return router


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_spec_async_plugin(xcore_boot: Any, request: pytest.FixtureRequest, backend: str) -> None:
    env = {"DATABASE_ASYNC_URL": "sqlite:///.xcore/async.db"}
    if backend == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        drop_users(server.url)
        env["DATABASE_ASYNC_URL"] = server.url
    config = {
        "services": {
            **OTHER_SERVICES_OFF,
            "databases": {"async_default": {"type": "sqlasync", "url": "${DATABASE_ASYNC_URL}"}},
        }
    }
    xcore = await xcore_boot(plugins={"users": AsyncUsers}, config=config, env=env)
    db = xcore.get_service("async_default")
    assert xcore.get_service("db") is db
    async with db.connection() as conn:
        await conn.execute(users_table(env["DATABASE_ASYNC_URL"]))

    created = await xcore.client.post("/plugins/users/users", json={"username": "ada", "email": "ada@x"})
    assert created.status_code == 200, created.text
    user_id = created.json()["id"]
    assert created.json() == {"id": user_id, "status": "created"}
    listed = await xcore.client.get("/plugins/users/users")
    assert listed.json() == {"users": [{"id": user_id, "username": "ada", "email": "ada@x"}]}
    found = await xcore.client.get(f"/plugins/users/users/{user_id}")
    assert found.status_code == 200 and found.json()["username"] == "ada" and found.json()["created_at"]
    missing = await xcore.client.get(f"/plugins/users/users/{user_id + 1}")
    assert missing.status_code == 404
    assert (await xcore.health())["services"]["async_default"]["status"] == "ok"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_echo_logs_statements(
    request: pytest.FixtureRequest, tmp_path: Path, caplog: pytest.LogCaptureFixture, backend: str
) -> None:
    url = f"sqlite:///{tmp_path}/echo.db"
    if backend == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        drop_users(server.url)
        url = server.url
    caplog.set_level("INFO", logger="xcore.service.async_default")
    async with database(url, echo=True) as db, db.connection() as conn:
        await conn.fetchval("SELECT username FROM users WHERE id = $1", 7)
    logged = [r.getMessage() for r in caplog.records if r.name == "xcore.service.async_default"]
    assert any("SELECT username FROM users WHERE id = " in message for message in logged), logged
