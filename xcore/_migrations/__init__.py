"""Per-plugin database migrations, on Alembic: each plugin owns its tables and their history.

A plugin distribution declares a folder of Alembic revision files (:mod:`.sources`, entry point
group ``xcore.migrations``), found without importing the plugin. Each plugin's revisions live in
their own version table (``xcore_migrations_<plugin>``) on the database service it names, so
plugins never see each other's revisions. XCore provides the Alembic environment
(:mod:`.environment`); :mod:`.runner` runs Alembic's commands for one plugin under a database
lock; :mod:`.boot` is the host's check (or upgrade) before ``on_load``; :mod:`.commands` is
``xcore db``. Alembic and SQLAlchemy are imported only when a plugin with migrations is loaded.
"""

from __future__ import annotations

from .errors import MigrationError, MigrationFailed, SchemaBehind
from .sources import MIGRATIONS_GROUP, PluginMigrations, plugin_migrations, version_table

__all__ = [
    "MIGRATIONS_GROUP",
    "MigrationError",
    "MigrationFailed",
    "PluginMigrations",
    "SchemaBehind",
    "plugin_migrations",
    "version_table",
]
