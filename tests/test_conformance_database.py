"""XCore's database backends through the sync and async database conformance suites.

URLs are written as a user writes them in ``integration.yaml`` (``postgresql://``, ``sqlite:///``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from xcore.testing.conformance import AsyncDatabaseConformance, SyncDatabaseConformance
from xcore.testing.servers import PostgresServer


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
        return {"type": "sqlasync", "url": f"sqlite:///{tmp_path}/conformance.db"}


class TestPostgresAsync(AsyncDatabaseConformance):
    @pytest.fixture
    def service_config(self, postgres_server: PostgresServer) -> dict[str, Any]:
        return {"type": "sqlasync", "url": postgres_server.url}
