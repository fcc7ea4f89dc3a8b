"""Object keys: the one path syntax every storage backend accepts.

A key is a relative, ``/``-separated path such as ``uploads/avatar.png``. Plugins often build keys
from user input (``f"uploads/{filename}"``), so every backend refuses the same dangerous shapes up
front (``..``, absolute paths, backslashes, empty segments) instead of each backend interpreting
them differently: a key that works on ``local`` works unchanged on ``s3`` and vice versa.
"""

from __future__ import annotations

from xcore._builtin_services.storage.errors import StoragePathError

MAX_KEY_BYTES = 1024  # S3's limit; applied everywhere so keys stay portable


def check_key(path: object) -> str:
    """``path`` if it is a valid object key, else :class:`StoragePathError` saying why."""
    if not isinstance(path, str):
        raise StoragePathError(f"storage path must be a string, got {type(path).__name__}")
    _check_common(path, what="path")
    if path.endswith("/"):
        raise StoragePathError(f"storage path {path!r} ends with '/': it names a folder, not an object")
    return path


def check_prefix(prefix: object) -> str:
    """A listing prefix: like a key, but may be empty or end with ``/``."""
    if not isinstance(prefix, str):
        raise StoragePathError(f"storage prefix must be a string, got {type(prefix).__name__}")
    if prefix:
        _check_common(prefix.rstrip("/") or prefix, what="prefix", original=prefix)
    return prefix


def _check_common(path: str, what: str, original: str | None = None) -> None:
    shown = original if original is not None else path
    if not path:
        raise StoragePathError(f"storage {what} is empty")
    if "\x00" in path:
        raise StoragePathError(f"storage {what} {shown!r} contains a NUL character")
    if "\\" in path:
        raise StoragePathError(f"storage {what} {shown!r} contains a backslash; use '/' between folders")
    if path.startswith("/"):
        raise StoragePathError(f"storage {what} {shown!r} is absolute; keys are relative to the storage root")
    if len(path.encode("utf-8")) > MAX_KEY_BYTES:
        raise StoragePathError(f"storage {what} is longer than {MAX_KEY_BYTES} bytes")
    for segment in path.split("/"):
        if segment in ("..", "."):
            raise StoragePathError(f"storage {what} {shown!r} contains {segment!r}: paths may not leave their folder")
        if segment == "":
            raise StoragePathError(f"storage {what} {shown!r} has an empty segment ('//')")
