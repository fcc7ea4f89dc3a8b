"""The database a plugin's migrations run against: its sync URL, its ``migrate`` mode, and the lock.

Migrations run on a connection of their own, opened from the configured section's URL made
synchronous (``postgresql://`` and ``postgresql+asyncpg://`` become psycopg 3,
``sqlite+aiosqlite://`` plain ``sqlite://``), so ``type: sqlasync`` sections migrate like sync
ones. One run holds one transaction and, for its whole length, a lock that serialises migration
runs on that database across processes and hosts:

* PostgreSQL: ``pg_advisory_xact_lock`` (released when the transaction ends, even if the process dies);
* SQLite: the database's own write lock, taken by ``BEGIN IMMEDIATE``.

Inside it, each migration runs in a savepoint (see :mod:`.runner`), so a failing migration is
undone alone and the ones before it are kept. The second host to take the lock finds the revisions
already applied and applies nothing.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from xcore._builtin_services.sql.engine import name_connection_errors, prepare_sqlite
from xcore._builtin_services.sql.urls import is_sqlite_memory, parse_url, shown, sqlite_file, sync_url
from xcore._services.container import CheckedSpec

from .errors import MigrationError

MigrateMode = Literal["check", "upgrade", "off"]
MIGRATE_MODES: tuple[MigrateMode, ...] = ("check", "upgrade", "off")

LOCK_WAIT = 600.0
"""Seconds a run waits for another host's run on the same database before giving up."""

_LOCK_KEY = int.from_bytes(hashlib.sha256(b"xcore.migrations").digest()[:8], "big", signed=True)
"""The advisory lock of migration runs (PostgreSQL scopes advisory locks to a database)."""

log = logging.getLogger("xcore.migrations")


@dataclass(frozen=True)
class MigrationDatabase:
    """A configured SQL database as migrations see it."""

    name: str
    key_path: str
    url: URL
    """The synchronous URL, password included: never shown (see :attr:`shown`)."""
    mode: MigrateMode
    connect_timeout: float

    @property
    def shown(self) -> str:
        return shown(self.url)

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    def engine(self) -> Engine:
        """A pool-less engine for one run; connection errors name :attr:`key_path`, password masked."""
        if self.dialect == "sqlite":
            # The stdlib driver opens transactions late and never for DDL; let SQLAlchemy's own
            # begin emit BEGIN IMMEDIATE so a run's DDL is transactional and holds the write lock.
            engine = create_engine(self.url, poolclass=NullPool, connect_args={"timeout": LOCK_WAIT})

            @event.listens_for(engine, "connect")
            def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
                dbapi_connection.isolation_level = None

            @event.listens_for(engine, "begin")
            def _begin_immediate(connection: Connection) -> None:
                connection.exec_driver_sql("BEGIN IMMEDIATE")

            prepare_sqlite(engine, self.url)
        else:
            options: dict[str, Any] = {}
            if self.dialect == "postgresql":
                options["connect_args"] = {"connect_timeout": max(1, math.ceil(self.connect_timeout))}
            engine = create_engine(self.url, poolclass=NullPool, **options)
        name_connection_errors(engine, self.key_path, self.url)
        return engine

    def lock(self, connection: Connection) -> None:
        """Wait (at most :data:`LOCK_WAIT` s) until no other run migrates this database, then hold it
        until ``connection``'s transaction ends."""
        if self.dialect == "postgresql":
            connection.execute(text(f"SET LOCAL lock_timeout = '{int(LOCK_WAIT * 1000)}ms'"))
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        elif self.dialect != "sqlite":  # SQLite: BEGIN IMMEDIATE already holds the write lock
            log.warning(
                "%s: migration runs on %s are not locked against each other; run them from one process at a time",
                self.key_path,
                self.dialect,
            )


def find_database(name: str, checked: Sequence[CheckedSpec], plugin: str) -> MigrationDatabase:
    """The database service ``name`` (``db``: the section called ``db``, else the first database)."""
    databases = [c for c in checked if c.spec.kind == "database"]
    if name == "db":
        matches = [c for c in databases if c.spec.name == "db"] or databases[:1]
    else:
        matches = [c for c in databases if c.spec.name == name]
    if not matches:
        known = ", ".join(c.spec.name for c in databases) or "(none)"
        raise MigrationError(
            f"plugin {plugin!r} migrates database service {name!r}, which the configuration does not define "
            f"(services.databases: {known})"
        )
    spec, _, settings = matches[0]
    raw_url = getattr(settings, "url", None)
    if not isinstance(raw_url, str):
        raise MigrationError(
            f"plugin {plugin!r} migrates {spec.key_path}, a {spec.type_name!r} database without a SQL URL; "
            "migrations need a SQL database (postgresql, sqlite, sqlasync...)"
        )
    url = sync_url(parse_url(raw_url, spec.key_path))
    if url.get_backend_name() == "sqlite":
        if is_sqlite_memory(url):
            raise MigrationError(
                f"plugin {plugin!r} migrates {spec.key_path}, an in-memory SQLite database, which only one "
                f"connection can see; use a database file, or set {spec.key_path}.migrate: off"
            )
        url = sqlite_file(url, spec.key_path)
    mode = getattr(settings, "migrate", "check")
    return MigrationDatabase(
        spec.name,
        spec.key_path,
        url,
        mode if mode in MIGRATE_MODES else "check",
        float(getattr(settings, "connect_timeout", 5.0)),
    )
