"""The synchronous SQL service (types postgresql, sqlite, mysql, sql) on real PostgreSQL and SQLite.

Every behaviour the spec's sync examples rely on is checked on both backends: plain SQL strings,
``NOW()`` and ``RETURNING``, ``row[0]`` and ``dict(row)``, commit and rollback. Services are built
through the host's own registry and factory path (``running_service``) or by booting a real host.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from xcore._builtin_services.sql import DatabaseUnavailable, PoolExhausted, SqlDatabase
from xcore._errors import ConfigError
from xcore.sdk import TrustedBase, error, ok
from xcore.testing.conformance.boot import running_service
from xcore.testing.servers import PostgresServer

OTHER_SERVICES_OFF: dict[str, Any] = {
    "cache": {"enabled": False},
    "scheduler": {"enabled": False},
    "events": {"enabled": False},
    "extensions": {},
}


def users_table(url: str) -> str:
    key = "SERIAL PRIMARY KEY" if url.startswith("postgres") else "INTEGER PRIMARY KEY AUTOINCREMENT"
    return f"CREATE TABLE users (id {key}, username TEXT NOT NULL UNIQUE, email TEXT NOT NULL, created_at TIMESTAMP)"


def drop_users(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS users")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL with no ``users`` table: a SQLite file, or the shared PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/app.db"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    drop_users(server.url)
    yield server.url
    drop_users(server.url)


@asynccontextmanager
async def database(url: str, **settings: Any) -> AsyncIterator[SqlDatabase]:
    kind = "postgresql" if url.startswith("postgres") else "sqlite"
    async with running_service("database", {"type": kind, "url": url, **settings}) as db:
        with db.session() as session:
            session.execute(users_table(url))
            session.commit()
        yield db


def count_users(db: SqlDatabase) -> int:
    with db.session() as session:
        return int(session.execute("SELECT COUNT(*) FROM users").scalar())


# --------------------------------------------------------------------------- the seed's calls


async def test_seed_insert_returning_with_now_then_select(db_url: str) -> None:
    async with database(db_url) as db:
        with db.session() as session:
            result = session.execute(
                """
                INSERT INTO users (username, email, created_at)
                VALUES (:username, :email, NOW())
                RETURNING id
                """,
                {"username": "ada", "email": "ada@example.org"},
            )
            session.commit()
            user_id = result.scalar()
        assert isinstance(user_id, int)

        with db.session() as session:
            rows = session.execute("SELECT id, username, email FROM users").fetchall()
            assert [(row[0], row[1], row[2]) for row in rows] == [(user_id, "ada", "ada@example.org")]

            user = session.execute("SELECT * FROM users WHERE id = :id", {"id": user_id}).fetchone()
            assert user is not None
            as_dict = dict(user)
            assert list(as_dict) == ["id", "username", "email", "created_at"]
            assert as_dict["username"] == "ada" and user["email"] == "ada@example.org" and user.id == user_id
            assert as_dict["created_at"] is not None  # NOW() filled it, on SQLite too

            assert session.execute("SELECT * FROM users WHERE id = :id", {"id": -1}).fetchone() is None


async def test_rows_behave_as_sequences_and_mappings(db_url: str) -> None:
    async with database(db_url) as db:
        with db.session() as session:
            session.execute("INSERT INTO users (username, email) VALUES ('a', 'a@x'), ('b', 'b@x')")
            session.commit()
            result = session.execute("SELECT username, email FROM users ORDER BY username")
            first, second = list(result)
            username, email = first
            assert (username, email) == ("a", "a@x")
            assert len(second) == 2 and second[-1] == "b@x" and second == ("b", "b@x")
            assert second._mapping["username"] == "b" and second._asdict() == {"username": "b", "email": "b@x"}
            assert session.execute("SELECT username FROM users ORDER BY username").first() == ("a",)
            assert session.scalar("SELECT COUNT(*) FROM users") == 2
            assert sorted(session.scalars("SELECT username FROM users").all()) == ["a", "b"]
            assert session.execute("UPDATE users SET email = :e", {"e": "z"}).rowcount == 2


async def test_sqlalchemy_constructs_are_plain_sqlalchemy(db_url: str) -> None:
    class Base(DeclarativeBase):
        pass

    class User(Base):
        __tablename__ = "users"
        id: Mapped[int] = mapped_column(primary_key=True)
        username: Mapped[str]
        email: Mapped[str]

    async with database(db_url) as db:
        with db.session() as session:
            session.add(User(username="orm", email="orm@x"))
            session.commit()
        with db.session() as session:
            user = session.scalars(select(User).where(User.username == "orm")).one()
            assert user.email == "orm@x"
            row = session.execute(sqlalchemy.text("SELECT username FROM users")).one()
            assert type(row) is sqlalchemy.Row


# --------------------------------------------------------------------------- commit and rollback


async def test_an_exception_in_the_block_rolls_back(db_url: str) -> None:
    async with database(db_url) as db:
        with pytest.raises(RuntimeError), db.session() as session:
            session.execute("INSERT INTO users (username, email) VALUES ('x', 'x@x')")
            raise RuntimeError("plugin bug")
        assert count_users(db) == 0


async def test_uncommitted_work_is_discarded(db_url: str) -> None:
    async with database(db_url) as db:
        with db.session() as session:
            session.execute("INSERT INTO users (username, email) VALUES ('x', 'x@x')")
        assert count_users(db) == 0


async def test_a_failing_statement_leaves_no_row_behind(db_url: str) -> None:
    async with database(db_url) as db:
        with db.session() as session:
            session.execute("INSERT INTO users (username, email) VALUES ('taken', 't@x')")
            session.commit()
        with pytest.raises(sqlalchemy.exc.IntegrityError), db.session() as session:
            session.execute("INSERT INTO users (username, email) VALUES ('new', 'n@x')")
            session.execute("INSERT INTO users (username, email) VALUES ('taken', 'again@x')")
            session.commit()
        with pytest.raises(sqlalchemy.exc.DBAPIError), db.session() as session:
            session.execute("INSERT INTO users (username, email) VALUES ('other', 'o@x')")
            session.execute("SELECT no_such_column FROM users")
            session.commit()
        with db.session() as session:
            names = [row[0] for row in session.execute("SELECT username FROM users").fetchall()]
        assert names == ["taken"]


# --------------------------------------------------------------------------- configuration


async def test_embedded_default_creates_its_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    async with running_service("database", {"type": "sqlite"}) as db:
        with db.session() as session:
            assert session.execute("SELECT NOW()").scalar()
        health = await db.health()
    assert (tmp_path / ".xcore" / "xcore.db").is_file()
    assert health["backend"] == "sqlite" and health["latency_ms"] >= 0


async def test_type_postgresql_section_runs_on_a_sqlite_url(tmp_path: Path) -> None:
    """The spec's ``type: postgresql`` section with DATABASE_URL pointing at SQLite still works."""
    url = f"sqlite:///{tmp_path}/dev.db"
    async with running_service("database", {"type": "postgresql", "url": url}) as db:
        assert db.engine.dialect.name == "sqlite"


async def test_in_memory_sqlite_is_one_database_for_every_session() -> None:
    async with running_service("database", {"type": "sql", "url": "sqlite://"}) as db:
        with db.session() as session:
            session.execute(users_table("sqlite://"))
            session.commit()
        assert count_users(db) == 0


def test_plain_postgresql_url_uses_psycopg_and_honours_pool_settings() -> None:
    from xcore._builtin_services.sql import SqlSettings, build

    settings = SqlSettings(url="postgresql://u:pw@127.0.0.1:1/db", pool_size=3, max_overflow=2, pool_timeout=4)
    db = build(settings, service_setup("default"))
    assert db.engine.dialect.driver == "psycopg"
    assert db.engine.pool.size() == 3 and db.engine.pool._max_overflow == 2 and db.engine.pool._timeout == 4
    assert "pw" not in db.url and "pw" not in repr(db)


def service_setup(name: str) -> Any:
    from xcore._services import ServiceSetup

    return ServiceSetup.standalone(name, f"services.databases.{name}")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url at all", "is not a database URL"),
        ("postgresql+nosuchdriver://admin:hunter22@db/app", "unknown database driver 'postgresql+nosuchdriver'"),
        ("nosuchdb://admin:hunter22@db/app", "unknown database driver 'nosuchdb'"),
        ("mysql://admin:hunter22@db/app", "is not installed"),
        ("", "is empty"),
    ],
)
async def test_bad_url_is_a_config_error_naming_the_key_without_password(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        async with running_service("database", {"type": "sql", "url": url}, name="main"):
            pass
    message = str(caught.value)
    assert "services.databases.main" in message and says in message
    assert "hunter22" not in message


async def test_unknown_setting_is_a_config_error() -> None:
    with pytest.raises(
        ConfigError, match=r"services\.databases\.default\.pool_sise: unknown key; did you mean 'pool_size'"
    ):
        async with running_service("database", {"type": "sqlite", "pool_sise": 3}):
            pass


# --------------------------------------------------------------------------- failures and recovery


def refused_url() -> str:
    from xcore.testing.servers import free_port

    return f"postgresql://admin:hunter22@127.0.0.1:{free_port()}/app"


async def test_refused_connection_names_the_key_and_masks_the_password() -> None:
    from xcore._builtin_services.sql import SqlSettings, build

    db = build(SqlSettings(url=refused_url()), service_setup("orders"))
    with pytest.raises(DatabaseUnavailable) as caught:
        await db.start()
    message = str(caught.value)
    assert message.startswith("services.databases.orders: cannot connect to postgresql+psycopg://admin:***@")
    assert "hunter22" not in message
    with pytest.raises(ConnectionError, match=r"services\.databases\.orders"), db.session() as session:
        session.execute("SELECT 1")
    await db.close()


async def test_exhausted_pool_gives_an_error_not_a_hang(db_url: str) -> None:
    async with database(db_url, pool_size=1, max_overflow=0, pool_timeout=0.2) as db:
        with db.session() as holder:
            holder.execute("SELECT 1")  # holds the only connection
            with pytest.raises(PoolExhausted) as caught, db.session() as session:
                await asyncio.to_thread(session.execute, "SELECT 1")
        message = str(caught.value)
        assert message.startswith("services.databases.default: no free connection after 0.2 s (all pool_size=1")
        assert isinstance(caught.value, sqlalchemy.exc.TimeoutError)  # what plain SQLAlchemy code catches
        if db_url.startswith("postgres"):
            assert ":***@" in message and "xcore-secret" not in message
        assert count_users(db) == 0  # the pool works again once the holder is done


class SyncUsers(TrustedBase):
    """The spec's "Using Synchronous Database" plugin, as written."""

    async def on_load(self) -> None:
        self.db = self.get_service("db")  # First connection
        # Or by name: self.get_service("default")

    def get_router(self):
        from fastapi import APIRouter

        router = APIRouter()

        @router.get("/users")
        def list_users():
            """List users using sync database."""
            with self.db.session() as session:
                result = session.execute("SELECT id, username, email FROM users")
                users = [{"id": row[0], "username": row[1], "email": row[2]} for row in result.fetchall()]
                return {"users": users}

        @router.post("/users")
        def create_user(data: dict):
            """Create a new user."""
            with self.db.session() as session:
                result = session.execute(
                    """
                    INSERT INTO users (username, email, created_at)
                    VALUES (:username, :email, NOW())
                    RETURNING id
                    """,
                    {"username": data["username"], "email": data["email"]},
                )
                session.commit()
                user_id = result.scalar()
                return {"id": user_id, "status": "created"}

        return router

    async def handle(self, action: str, payload: dict) -> dict:
        if action == "get_user":
            user_id = payload.get("user_id")
            with self.db.session() as session:
                result = session.execute("SELECT * FROM users WHERE id = :id", {"id": user_id})
                user = result.fetchone()
                if user:
                    return ok(user=dict(user))
                return error("User not found", code="not_found")

        return ok()


async def test_spec_sync_plugin_on_the_embedded_default(xcore_boot: Any) -> None:
    xcore = await xcore_boot(plugins={"users": SyncUsers}, config={"services": OTHER_SERVICES_OFF})
    db = xcore.get_service("db")
    assert db is xcore.get_service("default")
    await exercise_sync_plugin(xcore, db)


async def test_spec_sync_plugin_on_postgresql(xcore_boot: Any, postgres_server: PostgresServer) -> None:
    drop_users(postgres_server.url)
    config = {
        "services": {
            **OTHER_SERVICES_OFF,
            "databases": {
                "default": {
                    "type": "postgresql",
                    "url": "${DATABASE_URL}",
                    "pool_size": 20,
                    "max_overflow": 10,
                    "echo": False,
                }
            },
        }
    }
    xcore = await xcore_boot(plugins={"users": SyncUsers}, config=config, env={"DATABASE_URL": postgres_server.url})
    await exercise_sync_plugin(xcore, xcore.get_service("db"))


async def exercise_sync_plugin(xcore: Any, db: SqlDatabase) -> None:
    with db.session() as session:
        session.execute("DROP TABLE IF EXISTS users")
        session.execute(users_table(str(db.engine.url)))
        session.commit()
    created = await xcore.client.post("/plugins/users/users", json={"username": "ada", "email": "ada@x"})
    assert created.status_code == 200, created.text
    user_id = created.json()["id"]
    assert created.json() == {"id": user_id, "status": "created"}
    listed = await xcore.client.get("/plugins/users/users")
    assert listed.json() == {"users": [{"id": user_id, "username": "ada", "email": "ada@x"}]}
    found = await xcore.call("users", "get_user", {"user_id": user_id})
    assert found["status"] == "ok" and found["user"]["username"] == "ada" and found["user"]["created_at"]
    missing = await xcore.call("users", "get_user", {"user_id": user_id + 1})
    assert missing == {"status": "error", "message": "User not found", "code": "not_found"}
    health = await xcore.health()
    assert health["services"]["default"]["status"] == "ok"


async def test_server_down_at_boot_then_back_recovers_without_restart(
    xcore_boot: Any, postgres_server: PostgresServer
) -> None:
    drop_users(postgres_server.url)
    config = {
        "services": {**OTHER_SERVICES_OFF, "databases": {"default": {"type": "postgresql", "url": postgres_server.url}}}
    }
    postgres_server.stop()
    try:
        xcore = await xcore_boot(plugins={"users": SyncUsers}, config=config)
        report = (await xcore.health())["services"]["default"]
        assert report["status"] == "error" and "services.databases.default" in report["error"]
        assert postgres_server.password not in report["error"]
        with pytest.raises(DatabaseUnavailable):
            await xcore.call("users", "get_user", {"user_id": 1})
    finally:
        postgres_server.start()
    assert (await xcore.health())["services"]["default"]["status"] == "ok"
    db = xcore.get_service("db")
    await exercise_sync_plugin(xcore, db)

    # and once more while running: the pooled connections died with the server
    postgres_server.stop()
    try:
        with pytest.raises(DatabaseUnavailable, match=r"services\.databases\.default"):
            await xcore.call("users", "get_user", {"user_id": 1})
    finally:
        postgres_server.start()
    # The test server runs without fsync, so the crash may have lost the table: start afresh.
    await exercise_sync_plugin(xcore, db)


async def test_rows_serialise_as_objects_in_fastapi_responses(tmp_path: Path) -> None:
    from fastapi.encoders import jsonable_encoder

    async with database(f"sqlite:///{tmp_path}/json.db") as db:
        with db.session() as session:
            session.execute("INSERT INTO users (username, email) VALUES ('ada', 'ada@x')")
            rows = session.execute("SELECT username, email FROM users").fetchall()
    assert jsonable_encoder(rows) == [{"username": "ada", "email": "ada@x"}]


async def test_echo_logs_statements(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    async with database(f"sqlite:///{tmp_path}/echo.db", echo=True) as db:
        with db.session() as session:
            session.execute("SELECT username FROM users WHERE id = :id", {"id": 7})
    assert any("SELECT username FROM users WHERE id = ?" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("type_name", ["postgresql", "sqlite", "mysql", "sql"])
async def test_every_sql_type_is_registered(type_name: str, tmp_path: Path) -> None:
    async with running_service("database", {"type": type_name, "url": f"sqlite:///{tmp_path}/t.db"}) as db:
        assert isinstance(db, SqlDatabase)
