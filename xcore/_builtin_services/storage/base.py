"""The storage interface every backend offers plugins, whatever keeps the bytes.

``Storage`` checks keys and upload data once, in its public methods, then calls the backend's
``_upload``/``_download``/... with a validated key. A third-party backend subclasses it and inherits
the same refusals (``..``, absolute paths, text instead of bytes), so the conformance suite can
hold every backend to the same behaviour.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from typing import IO

from xcore._builtin_services.storage.errors import StorageError
from xcore._builtin_services.storage.keys import check_key, check_prefix
from xcore._services.types import ServiceBase

UploadData = bytes | bytearray | memoryview | IO[bytes]
"""What ``upload`` accepts: bytes-like objects, or a binary file object opened for reading."""

READ_CHUNK = 1024 * 1024


def check_data(data: object, path: str) -> None:
    """Refuse text and other non-binary payloads before anything is written."""
    if isinstance(data, bytes | bytearray | memoryview):
        return
    if isinstance(data, str):
        raise TypeError(f"upload of {path!r}: data is text (str); storage keeps bytes: pass data.encode('utf-8')")
    if callable(getattr(data, "read", None)):
        return
    raise TypeError(f"upload of {path!r}: data must be bytes or a binary file object, got {type(data).__name__}")


def read_all(data: UploadData) -> bytes:
    """The whole payload as bytes (file objects are read to their end)."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    chunks: list[bytes] = []
    while chunk := data.read(READ_CHUNK):
        if not isinstance(chunk, bytes | bytearray):
            raise TypeError("upload: the file object returned text; open it in binary mode ('rb')")
        chunks.append(bytes(chunk))
    return b"".join(chunks)


class Storage(ServiceBase, ABC):
    """Objects (bytes) stored under keys like ``uploads/avatar.png``.

    ``upload`` returns the object's URL (``url(path)``). Keys are checked identically by every backend;
    a bad key raises :class:`~xcore._builtin_services.storage.errors.StoragePathError` (a ``ValueError``)
    and a missing object on ``download`` raises ``StorageNotFoundError`` (a ``FileNotFoundError``).
    """

    def __init__(self, service_name: str) -> None:
        self.service_name = service_name

    # ------------------------------------------------------------------ the plugin author's API

    async def upload(self, data: UploadData, path: str, *, content_type: str | None = None) -> str:
        """Store ``data`` under ``path``, replacing any object there, and return its URL."""
        key = check_key(path)
        check_data(data, key)
        await self._upload(key, data, content_type)
        return self.url(key)

    async def download(self, path: str) -> bytes:
        """The bytes stored under ``path``; ``StorageNotFoundError`` if there are none."""
        return await self._download(check_key(path))

    async def delete(self, path: str) -> None:
        """Remove the object under ``path``. Deleting a missing object is not an error."""
        await self._delete(check_key(path))

    async def exists(self, path: str) -> bool:
        """Whether an object is stored under ``path``."""
        return await self._exists(check_key(path))

    async def list(self, prefix: str = "") -> builtins.list[str]:
        """Every key starting with ``prefix`` (a plain string prefix, as in S3), sorted."""
        return sorted(await self._list(check_prefix(prefix)))

    def url(self, path: str) -> str:
        """Where the object under ``path`` can be reached (public URL, or ``file://`` for local)."""
        return self._url(check_key(path))

    def error(self, message: str) -> StorageError:
        """A ``StorageError`` naming this service, for backends to raise."""
        return StorageError(f"{self.service_name}: {message}")

    # ------------------------------------------------------------------ what a backend implements

    @abstractmethod
    async def _upload(self, key: str, data: UploadData, content_type: str | None) -> None: ...

    @abstractmethod
    async def _download(self, key: str) -> bytes: ...

    @abstractmethod
    async def _delete(self, key: str) -> None: ...

    @abstractmethod
    async def _exists(self, key: str) -> bool: ...

    @abstractmethod
    async def _list(self, prefix: str) -> builtins.list[str]: ...

    @abstractmethod
    def _url(self, key: str) -> str: ...

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.service_name}>"
