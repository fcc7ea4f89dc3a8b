"""XCore's own storage backends, and the example third-party one, through the storage conformance suite."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from xcore.testing.conformance import StorageConformance
from xcore.testing.servers import S3Server

EXAMPLE = Path(__file__).resolve().parents[1] / "example_plugins" / "xcore-memory-storage"


@pytest.fixture(scope="module")
def bucket(s3_server: S3Server) -> Iterator[str]:
    """One bucket for the module: every conformance test works under its own random prefix."""
    if not s3_server.running:
        s3_server.start()
    yield s3_server.create_bucket(f"conformance-{uuid.uuid4().hex[:8]}")


class TestLocalStorage(StorageConformance):
    @pytest.fixture
    def service_config(self, tmp_path: Path) -> dict[str, Any]:
        return {"type": "local", "root": str(tmp_path / "storage")}


class TestS3Storage(StorageConformance):
    @pytest.fixture
    def service_config(self, s3_server: S3Server, bucket: str) -> dict[str, Any]:
        return s3_server.settings(bucket)


class TestExampleMemoryStorage(StorageConformance):
    """The example package, handed to the suite without installing it (``service_plugins``)."""

    @pytest.fixture
    def service_config(self) -> dict[str, Any]:
        return {"type": "memory"}

    @pytest.fixture
    def service_plugins(self, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
        monkeypatch.syspath_prepend(str(EXAMPLE))
        return {"memory_storage": importlib.import_module("xcore_memory_storage")}
