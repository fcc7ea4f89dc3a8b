"""``type: local``: objects as files under one root folder (the embedded default storage).

Two guarantees plugins rely on:

* Nothing outside ``root`` is ever read or written. Keys are checked lexically (no ``..``, no
  absolute paths), then opened one component at a time relative to the root's own descriptor with
  ``O_NOFOLLOW`` (:mod:`.beneath`): symbolic links below the root are never followed, wherever they
  point, so swapping a folder for a link mid-operation cannot redirect a read or a write. A key
  through a link is a :class:`StoragePathError`; ``list`` skips links. (The root itself may be a
  link: it is configuration, not data.)
* A reader never sees a half-written file. Each upload is written to a temporary file beside the
  target and renamed over it (``os.replace`` is atomic), so a crash mid-upload leaves either the
  previous object or none. Temporary files are hidden from ``list`` and swept at start once stale.

File I/O runs in worker threads so a large upload does not stall the event loop.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import errno
import os
import secrets
import shutil
import stat
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from xcore._builtin_services.storage.base import READ_CHUNK, Storage, UploadData
from xcore._builtin_services.storage.beneath import (
    CREATE_FLAGS,
    READ_FLAGS,
    SymlinkRefused,
    entry_kind,
    open_folder,
    walk_files,
)
from xcore._builtin_services.storage.errors import StorageError, StorageNotFoundError, StoragePathError
from xcore._builtin_services.storage.keys import MAX_KEY_BYTES
from xcore._builtin_services.storage.settings import LocalStorageSettings

TEMP_PREFIX = ".xcore-tmp-"
STALE_TEMP_SECONDS = 3600.0
"""A temporary file this old belongs to a crashed upload (live ones are seconds old), so start() removes it."""
MAX_DEPTH = MAX_KEY_BYTES // 2
"""No key has more folders than this (each needs a name and a ``/``): walks go no deeper."""


class LocalStorage(Storage):
    """Files under ``settings.root``; see the module docstring for the safety rules."""

    def __init__(self, settings: LocalStorageSettings, service_name: str) -> None:
        super().__init__(service_name)
        self.root = settings.root.expanduser().absolute()
        self.base_url = settings.base_url.rstrip("/") if settings.base_url else None
        self.fsync = settings.fsync
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
        try:
            root_fd = self._open_root()
        except (OSError, StorageError):  # no root (yet): nothing to sweep; health() reports it
            return 0
        try:
            for folder_fd, _folder, name in walk_files(root_fd, "", lambda _sub: not self._closing, MAX_DEPTH):
                if self._closing:
                    break
                if name.startswith(TEMP_PREFIX):
                    try:
                        if os.stat(name, dir_fd=folder_fd, follow_symlinks=False).st_mtime < cutoff:
                            os.unlink(name, dir_fd=folder_fd)
                            removed += 1
                    except OSError:
                        pass  # another worker finished or removed it first
        finally:
            os.close(root_fd)
        return removed

    # ------------------------------------------------------------------ paths

    def _open_root(self, *, create: bool = False) -> int:
        """A descriptor of the root folder (the root itself may be a link: it is configuration)."""
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
        try:
            return os.open(self.root, flags)
        except FileNotFoundError:
            if not create:
                raise
        except NotADirectoryError:
            raise self.error(f"storage root {self.root} is not a folder") from None
        try:
            os.makedirs(self.root, exist_ok=True)
            return os.open(self.root, flags)
        except (FileExistsError, NotADirectoryError):
            raise self.error(f"storage root {self.root} is not a folder") from None

    @contextlib.contextmanager
    def _folder(self, key: str, *, create: bool = False) -> Iterator[tuple[int, str]]:
        """``(descriptor of the key's folder, file name)``, reached without following any link.

        ``FileNotFoundError``/``NotADirectoryError`` when the folder does not exist (or part of it is
        an object) and ``create`` is off; a :class:`StoragePathError` when part of it is a link.
        """
        *folder, name = parts = key.split("/")
        if any(part.startswith(TEMP_PREFIX) for part in parts):
            raise StoragePathError(f"{self.service_name}: names starting with {TEMP_PREFIX!r} are reserved ({key!r})")
        root_fd = self._open_root(create=create)
        try:
            folder_fd = open_folder(root_fd, folder, create=create)
        except SymlinkRefused as exc:
            raise self._link_refused(key, str(exc.filename)) from None
        finally:
            os.close(root_fd)
        try:
            yield folder_fd, name
        finally:
            os.close(folder_fd)

    def _link_refused(self, key: str, link: str) -> StoragePathError:
        return StoragePathError(
            f"{self.service_name}: path {key!r} goes through the symbolic link {link!r}; storage never "
            f"follows links, so no key can lead outside the storage root {self.root}"
        )

    def _url(self, key: str) -> str:
        return f"{self._url_base}/{quote(key)}"

    # ------------------------------------------------------------------ operations

    async def _upload(self, key: str, data: UploadData, content_type: str | None) -> None:
        await asyncio.to_thread(self._write, key, data)

    def _write(self, key: str, data: UploadData) -> None:
        with contextlib.ExitStack() as stack:
            try:
                folder_fd, name = stack.enter_context(self._folder(key, create=True))
            except (FileExistsError, NotADirectoryError):
                raise self.error(f"cannot store {key!r}: part of its folder path is already an object") from None
            except FileNotFoundError:  # a folder made for this upload was removed before it was entered
                raise self._folder_removed(key) from None
            self._write_in(folder_fd, name, key, data)

    def _folder_removed(self, key: str) -> StorageError:
        return self.error(f"cannot store {key!r}: its folder was removed during the upload")

    def _write_in(self, folder_fd: int, name: str, key: str, data: UploadData) -> None:
        kind = entry_kind(name, folder_fd)
        if kind == "link":
            raise self._link_refused(key, name)
        if kind == "dir":
            raise self.error(f"cannot store {key!r}: a folder of that name holds other objects")
        temporary = f"{TEMP_PREFIX}{secrets.token_hex(8)}"
        # O_EXCL: a fresh name nobody else writes; mode 0o666 so the umask decides, as for open()
        try:
            fd = os.open(temporary, CREATE_FLAGS, 0o666, dir_fd=folder_fd)
        except FileNotFoundError:
            raise self._folder_removed(key) from None
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
            # both names relative to the folder's descriptor; rename never follows a link at the target
            os.replace(temporary, name, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
        except IsADirectoryError:
            self._discard(temporary, folder_fd)
            raise self.error(f"cannot store {key!r}: a folder of that name holds other objects") from None
        except FileNotFoundError:
            self._discard(temporary, folder_fd)
            raise self._folder_removed(key) from None
        except BaseException:
            self._discard(temporary, folder_fd)
            raise
        if self.fsync:
            with contextlib.suppress(OSError):
                os.fsync(folder_fd)  # makes the rename itself durable (POSIX stores it in the folder)

    @staticmethod
    def _discard(temporary: str, folder_fd: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=folder_fd)

    async def _download(self, key: str) -> bytes:
        return await asyncio.to_thread(self._read, key)

    def _read(self, key: str) -> bytes:
        try:
            with self._folder(key) as (folder_fd, name):
                try:
                    fd = os.open(name, READ_FLAGS, dir_fd=folder_fd)
                except OSError as exc:
                    if exc.errno == errno.ELOOP:
                        raise self._link_refused(key, name) from None
                    raise
                with os.fdopen(fd, "rb") as fh:
                    if stat.S_ISREG(os.fstat(fd).st_mode):
                        return fh.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            pass
        raise StorageNotFoundError(f"{self.service_name}: no object stored under {key!r}")

    async def _delete(self, key: str) -> None:
        await asyncio.to_thread(self._remove, key)

    def _remove(self, key: str) -> None:
        try:
            with self._folder(key) as (folder_fd, name):
                kind = entry_kind(name, folder_fd)
                if kind == "link":
                    raise self._link_refused(key, name)
                if kind == "file":
                    # unlink removes the name itself, never what a link (swapped in meanwhile) points to
                    with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                        os.unlink(name, dir_fd=folder_fd)
        except (FileNotFoundError, NotADirectoryError):
            return  # no such folder: nothing stored under this key

    async def _exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._is_file, key)

    def _is_file(self, key: str) -> bool:
        try:
            with self._folder(key) as (folder_fd, name):
                kind = entry_kind(name, folder_fd)
        except (FileNotFoundError, NotADirectoryError):
            return False
        if kind == "link":
            raise self._link_refused(key, name)
        return kind == "file"

    async def _list(self, prefix: str) -> builtins.list[str]:
        return await asyncio.to_thread(self._walk, prefix)

    def _walk(self, prefix: str) -> builtins.list[str]:
        folder = prefix.rpartition("/")[0]
        parts = folder.split("/") if folder else []
        try:
            root_fd = self._open_root()
        except FileNotFoundError:
            return []
        try:
            start = open_folder(root_fd, parts)
        except OSError:  # missing, an object, or a link: nothing listable there
            return []
        finally:
            os.close(root_fd)
        base = f"{folder}/" if folder else ""

        def descend(sub: str) -> bool:  # only folders that can hold matching keys
            return sub.startswith(prefix) or prefix.startswith(sub)

        try:
            return [
                base_key + name
                for _fd, base_key, name in walk_files(start, base, descend, MAX_DEPTH - len(parts))
                if not name.startswith(TEMP_PREFIX) and (base_key + name).startswith(prefix)
            ]
        finally:
            os.close(start)
