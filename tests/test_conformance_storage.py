"""XCore's own storage backends, and the example third-party one, through the storage conformance suite."""

from __future__ import annotations

import importlib
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from xcore._hookspecs import hookimpl
from xcore._services import ServiceType
from xcore.testing.conformance import StorageConformance, settings_error
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


def broken_backend() -> types.ModuleType:
    """A backend whose ``xcore_register_service`` raises, as one with a missing dependency does."""
    module = types.ModuleType("broken_backend")

    @hookimpl
    def xcore_register_service() -> list[ServiceType]:
        raise RuntimeError("libmemory is not installed")

    module.xcore_register_service = xcore_register_service  # type: ignore[attr-defined]
    return module


async def test_an_unknown_type_says_where_types_come_from_and_which_backends_failed() -> None:
    text = str(await settings_error("extension", {"type": "memory"}, name="storage",
                                    plugins={"broken_memory": broken_backend()}))  # fmt: skip
    assert "services.extensions.storage: unknown extension type 'memory'" in text
    assert "install the backend's package (pip install -e .) or hand its module in the service_plugins" in text
    assert "Backends that failed to load: broken_memory (" in text
    assert "xcore_register_service raised RuntimeError: libmemory is not installed" in text


async def test_bad_settings_are_the_host_error_naming_the_key_path(tmp_path: Path) -> None:
    error = await settings_error("extension", {"type": "local", "rot": str(tmp_path)}, name="storage")
    assert "services.extensions.storage.rot: unknown key; did you mean 'root'?" in str(error)
    with pytest.raises(AssertionError, match=r"services\.extensions\.storage: the section was accepted"):
        await settings_error("extension", {"type": "local", "root": str(tmp_path)}, name="storage")
