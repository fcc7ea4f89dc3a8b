"""Synchronous SQL databases on SQLAlchemy 2: ``type: postgresql``, ``sqlite``, ``mysql`` or ``sql``.

``db.session()`` gives a SQLAlchemy session (see :class:`~xcore._builtin_services.sql.text.TextSession`)
on which the seed's plain SQL strings, ``dict(row)`` and SQLite's ``NOW()`` work unchanged::

    with db.session() as session:
        row = session.execute("SELECT * FROM users WHERE id = :id", {"id": 1}).fetchone()
        session.commit()          # writes are kept only when committed

Leaving the block closes the session: uncommitted work, and all of it when the block raised, is
rolled back. The engine pings a pooled connection before handing it out and waits at most
``pool_timeout`` seconds for a free one, so a restarted server is reconnected transparently and an
exhausted pool or an unreachable server gives an error instead of a hang. Errors caused by the
server being unreachable are :class:`DatabaseUnavailable`, naming the config key, password masked.

The four type names share one implementation: the URL picks the dialect (``postgresql://`` means
psycopg 3), so the spec's ``type: postgresql`` section runs on SQLite by pointing its URL there.

Modules: :mod:`.settings`; :mod:`.urls` (parsing, masking, SQLite paths); :mod:`.errors`;
:mod:`.engine` (pool options, error naming, SQLite setup); :mod:`.text` (plain SQL strings on
SQLAlchemy 2); :mod:`.service` (``SqlDatabase``). The async service (``sqlasync``) reuses all but
the last. Importing this package imports only the settings; SQLAlchemy loads with the first database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xcore._hookspecs import hookimpl
from xcore._services import ServiceSetup, ServiceType

from .settings import DEFAULT_SQLITE_URL, SqliteSettings, SqlSettings

if TYPE_CHECKING:
    from .errors import DatabaseUnavailable, PoolExhausted
    from .service import SqlDatabase
else:
    from xcore._builtin_services.lazy_exports import lazy_exports

    __getattr__ = lazy_exports(
        __name__, {"DatabaseUnavailable": ".errors", "PoolExhausted": ".errors", "SqlDatabase": ".service"}
    )


def build(settings: SqlSettings, setup: ServiceSetup) -> SqlDatabase:
    from .service import SqlDatabase

    return SqlDatabase(settings, setup)


@hookimpl
def xcore_register_service() -> list[ServiceType]:
    described = "synchronous SQL database on SQLAlchemy 2; db.session() accepts plain SQL strings"
    return [
        ServiceType("database", "postgresql", SqlSettings, build, f"PostgreSQL (psycopg 3): {described}"),
        ServiceType("database", "sqlite", SqliteSettings, build, f"SQLite (embedded default): {described}"),
        ServiceType("database", "mysql", SqlSettings, build, f"MySQL / MariaDB: {described}"),
        ServiceType("database", "sql", SqlSettings, build, f"any SQLAlchemy URL: {described}"),
    ]


__all__ = [
    "DEFAULT_SQLITE_URL",
    "DatabaseUnavailable",
    "PoolExhausted",
    "SqlDatabase",
    "SqlSettings",
    "SqliteSettings",
    "build",
    "xcore_register_service",
]
