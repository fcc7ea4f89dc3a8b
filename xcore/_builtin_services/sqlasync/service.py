"""The ``sqlasync`` service: ``connection()`` from the backend's pool, ``session()`` on a SQLAlchemy
``AsyncEngine`` created on first use, health and close."""

from __future__ import annotations

import time
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from xcore._builtin_services.sql.engine import engine_options, name_connection_errors, prepare_sqlite
from xcore._builtin_services.sql.text import TextSession
from xcore._builtin_services.sql.urls import is_sqlite_memory, parse_url, shown, sqlite_file
from xcore._errors import ConfigError
from xcore._observability.sql_spans import watch
from xcore._services import ServiceBase, ServiceSetup

from .backends import SERVED, Backend, backend_for
from .connection import AsyncConnection
from .postgres import PostgresConnections
from .session import UnitOfWorkSession
from .settings import AsyncSqlSettings
from .sqlite_pool import SqliteConnections


def backend_of(url: URL, key_path: str) -> Backend:
    """Which implementation serves ``url``; a ``ConfigError`` for a URL sqlasync cannot serve (the
    settings model has rejected those already; this guards a factory called with unchecked settings)."""
    backend = backend_for(url.drivername)
    if backend is None:
        raise ConfigError(
            f"{key_path}.url: unknown database driver {url.drivername!r} for type sqlasync in {shown(url)}; {SERVED}"
        )
    return backend


class AsyncSqlDatabase(ServiceBase):
    """An async SQL database: ``connection()`` (asyncpg API), ``session()`` (SQLAlchemy ORM)."""

    def __init__(self, settings: AsyncSqlSettings, setup: ServiceSetup) -> None:
        self.key_path = setup.key_path
        self._name = setup.name
        self._settings = settings
        url = parse_url(settings.url, setup.key_path)
        self.backend: Backend = backend_of(url, setup.key_path)
        self._connections: PostgresConnections | SqliteConnections
        if self.backend == "postgresql":
            self._url = url
            self._connections = PostgresConnections(url, settings, setup.key_path, setup.logger)
            driver = url.get_driver_name() if "+" in url.drivername else "asyncpg"
            self._orm_url = url.set(drivername=f"postgresql+{'psycopg' if driver.startswith('psycopg') else driver}")
        else:
            self._url = sqlite_file(url, setup.key_path)
            self._connections = SqliteConnections(self._url, settings, setup.key_path, setup.logger)
            self._orm_url = self._connections.orm_url()
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None

    @property
    def url(self) -> str:
        """The database URL with its password masked."""
        return shown(self._url)

    def pool_in_use(self) -> int:
        """Connections of ``connection()``'s pool lent out now (``xcore_db_pool_in_use``)."""
        return self._connections.in_use()

    @property
    def pool(self) -> Any:
        """The ``asyncpg.Pool`` on PostgreSQL (``None`` before first use); on SQLite, the pool of
        :class:`SqliteConnection`."""
        if isinstance(self._connections, PostgresConnections):
            return self._connections.pool
        return self._connections

    def connection(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A pooled connection for ``async with``; released (never closed) on exit."""
        return self._connections.scope()

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy ``AsyncEngine`` behind ``session()``, created on first use."""
        if self._engine is None:
            options = engine_options(self._orm_url, self._settings, self.key_path, AsyncAdaptedQueuePool)
            if self.backend == "sqlite" and is_sqlite_memory(self._url):
                options["connect_args"] = {"uri": True, "check_same_thread": False}
            engine = create_async_engine(self._orm_url, **options)
            name_connection_errors(engine.sync_engine, self.key_path, self._url)
            if self.backend == "sqlite":
                prepare_sqlite(engine.sync_engine, self._url)
            watch(engine.sync_engine, self._name)
            self._engine = engine
        return self._engine

    def session(self) -> AsyncSession:
        """A SQLAlchemy ``AsyncSession``; ``async with db.session() as session:``. Plain SQL strings
        work in ``execute`` as in the sync service. The block is a unit of work: a clean exit commits,
        an exception rolls back (see :class:`~.session.UnitOfWorkSession`)."""
        if self._sessions is None:
            self._sessions = async_sessionmaker(
                self.engine, class_=UnitOfWorkSession, sync_session_class=TextSession, expire_on_commit=False
            )
        return self._sessions()

    async def _select_one(self) -> None:
        async with self.connection() as conn:
            await conn.fetchval("SELECT 1")

    async def start(self) -> None:
        await self._connections.open()
        await self._select_one()

    async def health(self) -> dict[str, Any]:
        began = time.perf_counter()
        await self._select_one()
        latency = (time.perf_counter() - began) * 1000
        return {"backend": self.backend, "latency_ms": round(latency, 3), **self._connections.describe()}

    async def close(self) -> None:
        try:
            await self._connections.close()
        finally:
            if self._engine is not None:
                engine, self._engine = self._engine, None
                await engine.dispose()

    def __repr__(self) -> str:
        return f"<AsyncSqlDatabase {self.key_path} {self.url}>"
