"""``type: memory`` storage for XCore: objects in a dict, gone at shutdown.

The whole backend: a settings model, a ``Storage`` subclass, and one ``xcore_register_service``
hook. Subclassing ``xcore.backends.Storage`` gives it the same key checks and the
same errors as XCore's own backends, which the conformance suite verifies.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from xcore import hookimpl
from xcore.backends import (
    ServiceSettings,
    ServiceSetup,
    ServiceType,
    Storage,
    StorageNotFoundError,
    UploadData,
    read_all,
)


class MemoryStorageSettings(ServiceSettings):
    """``services.extensions.<name>`` with ``type: memory``; unknown keys are refused by the base class."""

    max_bytes: int | None = Field(None, gt=0)


class MemoryStorage(Storage):
    """Objects in a dict. Reads and writes of one key are whole-value swaps, so never half-written."""

    def __init__(self, settings: MemoryStorageSettings, service_name: str) -> None:
        super().__init__(service_name)
        self.max_bytes = settings.max_bytes
        self.objects: dict[str, bytes] = {}
        self._lock = asyncio.Lock()

    async def health(self) -> dict[str, Any]:
        return {"objects": len(self.objects), "bytes": sum(map(len, self.objects.values()))}

    async def close(self) -> None:
        self.objects.clear()

    async def _upload(self, key: str, data: UploadData, content_type: str | None) -> None:
        payload = await asyncio.to_thread(read_all, data) if not isinstance(data, bytes) else data
        async with self._lock:
            if self.max_bytes is not None:
                used = sum(len(v) for k, v in self.objects.items() if k != key)
                if used + len(payload) > self.max_bytes:
                    raise self.error(f"storing {key!r} would exceed max_bytes={self.max_bytes}")
            self.objects[key] = payload

    async def _download(self, key: str) -> bytes:
        try:
            return self.objects[key]
        except KeyError:
            raise StorageNotFoundError(f"{self.service_name}: no object stored under {key!r}") from None

    async def _delete(self, key: str) -> None:
        self.objects.pop(key, None)

    async def _exists(self, key: str) -> bool:
        return key in self.objects

    async def _list(self, prefix: str) -> list[str]:
        return [key for key in self.objects if key.startswith(prefix)]

    def _url(self, key: str) -> str:
        return f"memory://{self.service_name}/{key}"


def build(settings: MemoryStorageSettings, setup: ServiceSetup) -> MemoryStorage:
    return MemoryStorage(settings, setup.name)


@hookimpl
def xcore_register_service() -> list[ServiceType]:
    return [ServiceType("extension", "memory", MemoryStorageSettings, build, description="Objects kept in memory")]
