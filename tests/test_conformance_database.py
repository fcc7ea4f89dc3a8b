"""XCore's database backends through the sync and async database conformance suites."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from xcore.testing.conformance import AsyncDatabaseConformance, SyncDatabaseConformance
from xcore.testing.servers import PostgresServer


def asyncpg_url(server: PostgresServer) -> str:
    return server.url.replace("postgresql://", "postgresql+asyncpg://", 1)


class TestSqliteSync(SyncDatabaseConformance):
    @pytest.fixture
    def service_config(self, tmp_path: Path) -> dict[str, Any]:
        return {"type": "sqlite", "url": f"sqlite:///{tmp_path}/conformance.db"}


class TestPostgresSync(SyncDatabaseConformance):
    @pytest.fixture
    def service_config(self, postgres_server: PostgresServer) -> dict[str, Any]:
        return {"type": "postgresql", "url": postgres_server.url}


class TestSqliteAsync(AsyncDatabaseConformance):
    @pytest.fixture
    def service_config(self, tmp_path: Path) -> dict[str, Any]:
        return {"type": "sqlasync", "url": f"sqlite+aiosqlite:///{tmp_path}/conformance.db"}


class TestPostgresAsync(AsyncDatabaseConformance):
    @pytest.fixture
    def service_config(self, postgres_server: PostgresServer) -> dict[str, Any]:
        return {"type": "sqlasync", "url": asyncpg_url(postgres_server)}
