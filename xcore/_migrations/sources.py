"""Where a plugin's migrations live, found from its distribution's metadata without importing it.

A plugin distribution declares its Alembic versions folder with an entry point in the group
``xcore.migrations``, named like the plugin (its ``xcore.plugins`` entry)::

    [project.entry-points."xcore.migrations"]
    users = "acme_users.migrations"              # runs against the database service ``db``
    reports = "acme_reports.migrations:warehouse"  # runs against ``services.databases.warehouse``

The value is the dotted path of the folder holding the revision files, optionally followed by
``:<database service>``. XCore never loads this entry point: the folder is found with
``importlib.util.find_spec`` on the top-level package (which locates a package without running its
``__init__``) and the remaining path parts, so a disabled or broken plugin's code never runs, and
``xcore db`` commands work on plugins whose import fails. Each plugin's revisions are recorded in
its own version table (:func:`version_table`), so plugins never see each other's revisions.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from xcore._discovery import PLUGINS_GROUP, PluginSource

from .errors import MigrationError

MIGRATIONS_GROUP = "xcore.migrations"
DEFAULT_DATABASE = "db"
VERSION_TABLE_PREFIX = "xcore_migrations_"
_MAX_IDENTIFIER = 63  # PostgreSQL's limit on table names


@dataclass(frozen=True)
class PluginMigrations:
    """One plugin's declared migrations: the folder, the database service and the version table."""

    plugin: str
    distribution: str | None
    version: str | None
    package: str
    """Dotted path of the versions folder, as declared (``acme_users.migrations``)."""
    database: str
    """The database service the migrations run against (``db`` or a name under ``services.databases``)."""
    folder: Path
    version_table: str

    @property
    def described(self) -> str:
        """``plugin 'users' (acme-users 1.2.0)``, for messages."""
        where = f" ({self.distribution} {self.version})" if self.distribution else ""
        return f"plugin {self.plugin!r}{where}"


def version_table(plugin: str) -> str:
    """The table recording ``plugin``'s applied revisions: ``xcore_migrations_<plugin>``, lowercase,
    other characters than ``[a-z0-9_]`` as ``_`` (``user-stats``: ``xcore_migrations_user_stats``).

    A name too long for PostgreSQL's 63 characters is cut and given a short hash of the whole name.
    Two installed plugins whose names give one table are refused (:func:`plugin_migrations`).
    """
    table = VERSION_TABLE_PREFIX + re.sub(r"[^a-z0-9_]", "_", plugin.lower())
    if len(table) <= _MAX_IDENTIFIER:
        return table
    digest = hashlib.sha256(plugin.encode()).hexdigest()[:8]
    return f"{table[: _MAX_IDENTIFIER - 9]}_{digest}"


def package_folder(dotted: str) -> Path | None:
    """The folder of package ``dotted``, found without importing it (``None`` if there is none).

    ``find_spec`` on a dotted name would import the parent packages; on the top-level name it only
    asks the import system's finders (site-packages, editable installs), which run no plugin code.
    """
    top, *rest = dotted.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location, *rest)
        if candidate.is_dir():
            return candidate
    return None


def plugin_migrations(plugin: PluginSource, declared: Mapping[str, PluginSource]) -> PluginMigrations | None:
    """The migrations ``plugin`` declares (``None`` if it declares none); ``MigrationError`` if the
    declaration is ambiguous, belongs to another distribution or names a folder that is missing."""
    entry = declared.get(plugin.name)
    if entry is None or plugin.group != PLUGINS_GROUP:
        return None
    if entry.clashes:
        raise MigrationError(
            f"plugin {plugin.name!r}: migrations are declared by several distributions ({MIGRATIONS_GROUP}): "
            f"{entry.distribution} {entry.version} ({entry.target}) and {'; '.join(entry.clashes)}"
        )
    if entry.distribution != plugin.distribution:
        raise MigrationError(
            f"plugin {plugin.name!r} comes from {plugin.distribution}, but its migrations are declared by "
            f"{entry.distribution} ({MIGRATIONS_GROUP} entry {plugin.name} = {entry.target!r}); a distribution "
            "may only declare migrations for its own plugins"
        )
    table = version_table(plugin.name)
    sharing = sorted(name for name in declared if name != plugin.name and version_table(name) == table)
    if sharing:
        raise MigrationError(
            f"plugin {plugin.name!r}: its version table {table} would also be that of plugin(s) "
            f"{', '.join(map(repr, sharing))}; one of them must be renamed or uninstalled"
        )
    package, _, database = (part.strip() for part in entry.target.partition(":"))
    if not package or any(not part.isidentifier() for part in package.split(".")):
        raise MigrationError(
            f"plugin {plugin.name!r}: {MIGRATIONS_GROUP} entry {entry.target!r} of {entry.distribution} is not "
            "'package.path' or 'package.path:database'"
        )
    folder = package_folder(package)
    if folder is None:
        raise MigrationError(
            f"plugin {plugin.name!r}: the migrations folder {package!r} declared by {entry.distribution} "
            f"{entry.version} ({MIGRATIONS_GROUP}) does not exist; is the package installed completely?"
        )
    return PluginMigrations(
        plugin=plugin.name,
        distribution=plugin.distribution,
        version=plugin.version,
        package=package,
        database=database or DEFAULT_DATABASE,
        folder=folder,
        version_table=table,
    )
