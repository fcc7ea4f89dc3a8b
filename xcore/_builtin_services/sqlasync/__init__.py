"""Asynchronous SQL databases (``type: sqlasync``): asyncpg's API on PostgreSQL and on SQLite.

``db.connection()`` lends a pooled connection with the asyncpg API the seed uses::

    async with db.connection() as conn:
        row = await conn.fetchrow("SELECT * FROM users WHERE id = $1", user_id)
        async with conn.transaction():
            await conn.execute("UPDATE users SET email = $1 WHERE id = $2", email, user_id)

* ``postgresql://`` (or ``postgresql+asyncpg://``): the connection *is* an asyncpg connection from an
  asyncpg pool of ``pool_size`` connections (:mod:`.postgres`).
* ``sqlite://`` / ``sqlite+aiosqlite://``: a :class:`SqliteConnection` over aiosqlite, with ``$n``
  placeholders, ``NOW()``, records supporting ``rec["col"]``, ``rec[0]`` and ``dict(rec)``, and
  asyncpg's commit rules: each statement outside ``transaction()`` commits on its own
  (:mod:`.sqlite_connection`, pooled by :mod:`.sqlite_pool`).

``db.session()`` gives a SQLAlchemy ``AsyncSession`` (which, like the sync service's sessions, also
accepts plain SQL strings with ``:name`` parameters) on an engine created on first use
(:mod:`.service`). URL checks, errors and engine options are the sync service's
(:mod:`xcore._builtin_services.sql`).

A server that is down leaves the service unhealthy; every ``connection()`` tries again, so the
service recovers by itself when the server returns. Failing to connect, or waiting more than
``pool_timeout`` seconds for a free connection, raises :class:`DatabaseUnavailable` naming the
config key. Importing this package imports only the settings; the drivers load with the first database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xcore._hookspecs import hookimpl
from xcore._services import ServiceSetup, ServiceType

from .settings import AsyncSqlSettings

if TYPE_CHECKING:
    from xcore._builtin_services.sql.errors import DatabaseUnavailable, PoolExhausted

    from .connection import AsyncConnection
    from .service import AsyncSqlDatabase
    from .sqlite_connection import SqliteConnection
else:
    from xcore._builtin_services.lazy_exports import lazy_exports

    __getattr__ = lazy_exports(
        __name__,
        {
            "AsyncConnection": ".connection",
            "AsyncSqlDatabase": ".service",
            "DatabaseUnavailable": "xcore._builtin_services.sql.errors",
            "PoolExhausted": "xcore._builtin_services.sql.errors",
            "SqliteConnection": ".sqlite_connection",
        },
    )


def build(settings: AsyncSqlSettings, setup: ServiceSetup) -> AsyncSqlDatabase:
    from .service import AsyncSqlDatabase

    return AsyncSqlDatabase(settings, setup)


@hookimpl
def xcore_register_service() -> ServiceType:
    return ServiceType(
        "database",
        "sqlasync",
        AsyncSqlSettings,
        build,
        "async SQL database: connection() with asyncpg's API on PostgreSQL and SQLite, session() for the ORM",
    )


__all__ = [
    "AsyncConnection",
    "AsyncSqlDatabase",
    "AsyncSqlSettings",
    "DatabaseUnavailable",
    "PoolExhausted",
    "SqliteConnection",
    "build",
    "xcore_register_service",
]
