"""The errors of plugin migrations: each message names the plugin, the database and what to do."""

from __future__ import annotations

from xcore._errors import XcoreError


class MigrationError(XcoreError):
    """A plugin's migrations cannot be found, read or applied; the message says which and why."""


class SchemaBehind(MigrationError):
    """``migrate: check`` found a plugin's database behind its code (or at a revision it does not know)."""


class MigrationFailed(MigrationError):
    """A migration raised; the database stays at the last revision that applied cleanly."""
