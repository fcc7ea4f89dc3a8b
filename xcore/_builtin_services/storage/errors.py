"""Errors every storage backend raises, so plugin code catches one set whatever the backend."""

from __future__ import annotations

from xcore._errors import XcoreError


class StorageError(XcoreError):
    """A storage operation failed; the message names the service and the key."""


class StoragePathError(StorageError, ValueError):
    """The key is not acceptable (``..``, absolute, escapes the root...). Nothing was read or written."""


class StorageNotFoundError(StorageError, FileNotFoundError):
    """No object exists under that key (``download`` of a missing key)."""
