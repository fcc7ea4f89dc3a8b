"""The synchronous SQL database service: sessions accepting plain SQL strings, health, close."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from xcore._observability.sql_spans import watch
from xcore._services import ServiceBase, ServiceSetup

from .engine import build_engine
from .settings import SqlSettings
from .text import TextSession, cached_text
from .urls import parse_url, shown, sqlite_file, sync_url

_SELECT_ONE = cached_text("SELECT 1")


class SqlDatabase(ServiceBase):
    """A synchronous SQL database: ``session()`` for work, ``engine`` for raw SQLAlchemy."""

    def __init__(self, settings: SqlSettings, setup: ServiceSetup) -> None:
        self.key_path = setup.key_path
        url = sync_url(parse_url(settings.url, setup.key_path))
        if url.get_backend_name() == "sqlite":
            url = sqlite_file(url, setup.key_path)
        self._url = url
        self._engine = build_engine(url, settings, setup.key_path)
        watch(self._engine, setup.name)
        self._sessions: Callable[[], TextSession] = sessionmaker(
            bind=self._engine, class_=TextSession, expire_on_commit=False
        )

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for Core, the ORM's metadata, or raw connections)."""
        return self._engine

    def pool_in_use(self) -> int:
        """Connections of the engine's pool checked out now (``xcore_db_pool_in_use``)."""
        checkedout = getattr(self._engine.pool, "checkedout", None)
        return int(checkedout()) if callable(checkedout) else 0

    @property
    def url(self) -> str:
        """The database URL with its password masked."""
        return shown(self._url)

    def session(self) -> TextSession:
        """A new session; use it as a context manager (``with db.session() as session:``).

        Objects stay readable after ``commit()`` (``expire_on_commit=False``); leaving the block
        rolls back whatever was not committed.
        """
        return self._sessions()

    def _select_one(self) -> None:
        with self._engine.connect() as connection:
            connection.execute(_SELECT_ONE)

    async def start(self) -> None:
        await asyncio.to_thread(self._select_one)

    async def health(self) -> dict[str, Any]:
        began = time.perf_counter()
        await asyncio.to_thread(self._select_one)
        latency = (time.perf_counter() - began) * 1000
        return {
            "backend": self._engine.dialect.name,
            "driver": self._engine.dialect.driver,
            "latency_ms": round(latency, 3),
            "pool": self._engine.pool.status(),
        }

    async def close(self) -> None:
        await asyncio.to_thread(self._engine.dispose)

    def __repr__(self) -> str:
        return f"<SqlDatabase {self.key_path} {self.url}>"
