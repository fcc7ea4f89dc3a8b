"""What Alembic's ``env.py`` does for every plugin: one environment, many versions folders.

A plugin ships only its revision files. XCore's own script directory (``script/``: this ``env.py``
hook and the revision template) is combined with the plugin's folder as Alembic's
``version_locations``, and the connection, version table and metadata reach ``env.py`` through
``Config.attributes`` (Alembic's documented way to share a connection with a command).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, MetaData
from sqlalchemy.engine import URL

TARGET_KEY = "xcore.migration_target"


@dataclass(frozen=True)
class Target:
    """Where one Alembic command runs: a live connection, or (``--sql``) only a URL naming the dialect."""

    version_table: str
    connection: Connection | None = None
    url: URL | None = None
    metadata: MetaData | None = None
    """The plugin's own tables, for ``--autogenerate``; tables it does not hold are never compared."""


def own_tables(metadata: MetaData | None) -> Callable[[str | None, str, dict[str, Any]], bool]:
    """An ``include_name`` hook keeping autogenerate to ``metadata``'s tables.

    The database also holds other plugins' tables and version tables: autogenerate must never
    propose to drop them. (Dropping one of the plugin's own tables is therefore written by hand.)
    """
    names = set(metadata.tables) if metadata is not None else set()

    def include(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
        if type_ != "table":
            return True
        return parent_names.get("schema_qualified_table_name", name) in names

    return include


def run_migrations(context: Any) -> None:
    """The body of ``env.py``: ``context`` is ``alembic.context`` (the running ``EnvironmentContext``)."""
    target: Target = context.config.attributes[TARGET_KEY]
    options: dict[str, Any] = {
        "version_table": target.version_table,
        "target_metadata": target.metadata,
        "include_name": own_tables(target.metadata),
        "transaction_per_migration": True,
        # Generated operations work on SQLite too (which rebuilds tables to alter them).
        "render_as_batch": True,
    }
    if context.is_offline_mode():
        context.configure(url=target.url, literal_binds=True, **options)
    else:
        context.configure(connection=target.connection, **options)
    with context.begin_transaction():
        context.run_migrations()
