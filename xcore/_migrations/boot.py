"""The host's one call before a plugin's ``on_load``: is its database at its code's revision?

Per database section, ``migrate`` says what to do (see ``docs/services.md``):

* ``check`` (default): a plugin whose database is behind its code (or at a revision its code does
  not know) fails to load, with a message naming ``xcore db upgrade <plugin>``;
* ``upgrade``: apply the pending migrations first, under the database's migration lock, so several
  workers and hosts starting together apply each migration exactly once;
* ``off``: do nothing (migrations are run by a deployment step).

The host loads plugins in dependency order, so a plugin's ``requires`` are migrated before it. A
failed migration fails that plugin only. The blocking work runs in a thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

from xcore._discovery import PluginSource
from xcore._redaction import describe_exception
from xcore._services.container import CheckedSpec

from .errors import MigrationError

log = logging.getLogger("xcore.migrations")


class SchemaGate:
    """Checks or upgrades each plugin's database before the host loads it."""

    def __init__(self, checked: Sequence[CheckedSpec], declared: Mapping[str, PluginSource]) -> None:
        self._checked = checked
        self._declared = declared

    async def ready(self, plugin: PluginSource) -> str | None:
        """``None`` when ``plugin`` may load; else why not (recorded as the plugin's error)."""
        if plugin.name not in self._declared:
            return None
        try:
            return await asyncio.to_thread(self._ready, plugin)
        except MigrationError as exc:
            return str(exc)
        except Exception as exc:
            return f"migrations of plugin {plugin.name!r} could not run: {describe_exception(exc)}"

    def _ready(self, plugin: PluginSource) -> None:
        from .runner import plugin_schema  # Alembic loads only for plugins that have migrations

        schema = plugin_schema(plugin, self._declared, self._checked)
        if schema is None or schema.database.mode == "off":
            return
        if schema.database.mode == "check":
            schema.require_current()
            return
        applied = schema.upgrade()
        if applied:
            log.info(
                "plugin %r: applied migrations %s to %s",
                plugin.name,
                ", ".join(s.revision for s in applied),
                schema.database.key_path,
            )
