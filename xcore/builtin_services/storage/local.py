"""``type: local``: objects as files under one root folder (the embedded default storage).

Two guarantees plugins rely on:

* Nothing outside ``root`` is ever read or written. Keys are checked lexically (no ``..``, no
  absolute paths) and then resolved through symbolic links: a link inside ``root`` that points
  outside it makes every key through it a :class:`StoragePathError`.
* A reader never sees a half-written file. Each upload is written to a temporary file beside the
  target and renamed over it (``os.replace`` is atomic), so a crash mid-upload leaves either the
  previous object or none. Temporary files are hidden from ``list`` and swept at start once stale.

File I/O runs in worker threads so a large upload does not stall the event loop.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import os
import secrets
import shutil
import stat
import time
from typing import Any
from urllib.parse import quote

from xcore.builtin_services.storage.base import READ_CHUNK, Storage, UploadData
from xcore.builtin_services.storage.errors import StorageNotFoundError, StoragePathError
from xcore.builtin_services.storage.settings import LocalStorageSettings

TEMP_PREFIX = ".xcore-tmp-"
STALE_TEMP_SECONDS = 3600.0
"""A temporary file this old belongs to a crashed upload (live ones are seconds old), so start() removes it."""


class LocalStorage(Storage):
    """Files under ``settings.root``; see the module docstring for the safety rules."""

    def __init__(self, settings: LocalStorageSettings, service_name: str) -> None:
        super().__init__(service_name)
        self.root = settings.root.expanduser().absolute()
        self.base_url = settings.base_url.rstrip("/") if settings.base_url else None
        self.fsync = settings.fsync
        self._resolved_root: str | None = None
        self._url_base = self.base_url if self.base_url is not None else self.root.as_uri()
        self.sweeping: asyncio.Task[int] | None = None
        """The background removal of stale temporary files started by ``start()``."""
        self._closing = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        # the sweep walks the whole tree: in the background, so a large root does not slow the boot
        self.sweeping = asyncio.create_task(asyncio.to_thread(self._sweep_stale_temporaries))

    async def health(self) -> dict[str, Any]:
        return await asyncio.to_thread(self._check)

    async def close(self) -> None:
        sweeping, self.sweeping = self.sweeping, None
        if sweeping is not None:
            self._closing = True  # the walk stops at its next folder
            await asyncio.gather(sweeping, return_exceptions=True)

    def _check(self) -> dict[str, Any]:
        if not self.root.is_dir():
            raise self.error(f"storage root {self.root} does not exist")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise self.error(f"storage root {self.root} is not writable")
        return {"root": str(self.root), "free_bytes": shutil.disk_usage(self.root).free}

    def _sweep_stale_temporaries(self) -> int:
        """Remove temporary files left by crashed uploads; returns how many."""
        cutoff = time.time() - STALE_TEMP_SECONDS
        removed = 0
        for dirpath, _dirs, files in os.walk(self.root):
            if self._closing:
                break
            for name in files:
                if name.startswith(TEMP_PREFIX):
                    path = os.path.join(dirpath, name)
                    try:
                        if os.lstat(path).st_mtime < cutoff:
                            os.unlink(path)
                            removed += 1
                    except OSError:
                        pass  # another worker finished or removed it first
        return removed

    # ------------------------------------------------------------------ paths

    def _real_root(self) -> str:
        """The root with its own symlinks resolved, computed once the root exists (it is fixed config)."""
        if self._resolved_root is not None:
            return self._resolved_root
        real = os.path.realpath(self.root)
        if os.path.isdir(real):
            self._resolved_root = real
        return real

    def _target(self, key: str) -> str:
        """The file for ``key``, resolved through symlinks and proven to be inside the root.

        Only the key's own components are examined (one ``lstat`` each) until a symlink shows up;
        then the rest is resolved fully and checked against the root.
        """
        parts = key.split("/")
        if any(part.startswith(TEMP_PREFIX) for part in parts):
            raise StoragePathError(f"{self.service_name}: names starting with {TEMP_PREFIX!r} are reserved ({key!r})")
        real_root = self._real_root()
        path = real_root
        for index, part in enumerate(parts):
            path = f"{path}{os.sep}{part}"
            try:
                mode = os.lstat(path).st_mode
            except (FileNotFoundError, NotADirectoryError):
                return os.path.join(path, *parts[index + 1 :])  # what does not exist cannot be a link
            if stat.S_ISLNK(mode):
                resolved = os.path.realpath(os.path.join(path, *parts[index + 1 :]))
                if os.path.commonpath([resolved, real_root]) != real_root or resolved == real_root:
                    raise StoragePathError(
                        f"{self.service_name}: path {key!r} leads outside the storage root {self.root} "
                        "through a symbolic link; refusing to follow it"
                    )
                return resolved
        return path

    def _url(self, key: str) -> str:
        return f"{self._url_base}/{quote(key)}"

    # ------------------------------------------------------------------ operations

    async def _upload(self, key: str, data: UploadData, content_type: str | None) -> None:
        await asyncio.to_thread(self._write, key, data)

    def _write(self, key: str, data: UploadData) -> None:
        target = self._target(key)
        parent = os.path.dirname(target)
        if os.path.isdir(target):
            raise self.error(f"cannot store {key!r}: a folder of that name holds other objects")
        temporary = os.path.join(parent, f"{TEMP_PREFIX}{secrets.token_hex(8)}")
        # O_EXCL: a fresh name nobody else writes; mode 0o666 so the umask decides, as for open()
        flags, mode = os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666
        try:
            fd = os.open(temporary, flags, mode)
        except FileNotFoundError:  # first object in this folder: create it (rare, so not checked up front)
            try:
                os.makedirs(parent, exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise self.error(f"cannot store {key!r}: part of its folder path is already an object") from None
            fd = os.open(temporary, flags, mode)
        except NotADirectoryError:
            raise self.error(f"cannot store {key!r}: part of its folder path is already an object") from None
        try:
            with os.fdopen(fd, "wb") as fh:
                if isinstance(data, bytes | bytearray | memoryview):
                    fh.write(data)
                else:
                    while chunk := data.read(READ_CHUNK):
                        if not isinstance(chunk, bytes | bytearray):
                            raise TypeError(f"upload of {key!r}: the file object returned text; open it in 'rb' mode")
                        fh.write(chunk)
                fh.flush()
                if self.fsync:
                    os.fsync(fh.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        if self.fsync:
            self._fsync_dir(parent)

    @staticmethod
    def _fsync_dir(path: str) -> None:
        """Make the rename itself durable (POSIX stores it in the directory)."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    async def _download(self, key: str) -> bytes:
        return await asyncio.to_thread(self._read, key)

    def _read(self, key: str) -> bytes:
        try:
            with open(self._target(key), "rb") as fh:
                return fh.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise StorageNotFoundError(f"{self.service_name}: no object stored under {key!r}") from None

    async def _delete(self, key: str) -> None:
        await asyncio.to_thread(self._remove, key)

    def _remove(self, key: str) -> None:
        target = self._target(key)
        if os.path.isdir(target):
            return  # a folder is not an object: nothing stored under this key
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            os.unlink(target)

    async def _exists(self, key: str) -> bool:
        return await asyncio.to_thread(lambda: os.path.isfile(self._target(key)))

    async def _list(self, prefix: str) -> builtins.list[str]:
        return await asyncio.to_thread(self._walk, prefix)

    def _walk(self, prefix: str) -> builtins.list[str]:
        real_root = self._real_root()
        folder = prefix.rpartition("/")[0]
        start = os.path.realpath(os.path.join(real_root, *folder.split("/"))) if folder else real_root
        if os.path.commonpath([start, real_root]) != real_root or not os.path.isdir(start):
            return []
        keys: builtins.list[str] = []
        for dirpath, dirnames, filenames in os.walk(start):
            relative = os.path.relpath(dirpath, real_root)
            base = "" if relative == "." else relative.replace(os.sep, "/") + "/"
            # descend only into folders that can hold matching keys
            dirnames[:] = [
                d for d in dirnames if (base + d + "/").startswith(prefix) or prefix.startswith(base + d + "/")
            ]
            for name in filenames:
                key = base + name
                if name.startswith(TEMP_PREFIX) or not key.startswith(prefix):
                    continue
                full = os.path.join(dirpath, name)
                if os.path.islink(full):
                    real = os.path.realpath(full)
                    if os.path.commonpath([real, real_root]) != real_root or not os.path.isfile(real):
                        continue  # a link out of the root is not one of our objects
                keys.append(key)
        return keys
