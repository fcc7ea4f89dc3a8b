"""Alembic commands for one plugin's migrations against one database.

:class:`PluginSchema` joins a plugin's versions folder (:mod:`.sources`) and its database
(:mod:`.databases`) and runs Alembic's own command API on them. Upgrades run in one transaction
holding the database's migration lock, each migration in a savepoint of its own: a migration that
raises is rolled back alone, the ones before it are committed, and the error names the revision the
database stays at. (PostgreSQL and SQLite both undo DDL in a rolled-back savepoint.)
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import Connection, MetaData

from xcore._discovery import PluginSource
from xcore._redaction import describe_exception
from xcore._services.container import CheckedSpec

from .databases import MigrationDatabase, find_database
from .environment import TARGET_KEY, Target
from .errors import MigrationError, MigrationFailed, SchemaBehind
from .sources import PluginMigrations, plugin_migrations

SCRIPT_LOCATION = Path(__file__).with_name("script")

_ALEMBIC = threading.Lock()
"""Alembic's ``context`` and ``op`` are module-level proxies to the running command: two commands
in one process (two hosts booting in threads) must not run at once. Taken after the database lock."""


@dataclass(frozen=True)
class Status:
    """Where a plugin's database stands against its installed code."""

    current: tuple[str, ...]
    heads: tuple[str, ...]
    unknown: tuple[str, ...]
    """Revisions recorded in the database that the installed code does not have (a newer version ran)."""

    @property
    def up_to_date(self) -> bool:
        return set(self.current) == set(self.heads)


def _revisions(revisions: tuple[str, ...]) -> str:
    return ", ".join(revisions) if revisions else "base (none applied)"


class PluginSchema:
    """One plugin's migrations on one database."""

    def __init__(self, migrations: PluginMigrations, database: MigrationDatabase) -> None:
        self.migrations = migrations
        self.database = database
        self._script: ScriptDirectory | None = None

    @property
    def plugin(self) -> str:
        return self.migrations.plugin

    def config(self, target: Target, stdout: TextIO | None = None, output: TextIO | None = None) -> Config:
        """An Alembic ``Config`` with XCore's environment and this plugin's folder as its only versions."""
        config = Config(stdout=stdout or sys.stdout, output_buffer=output, attributes={TARGET_KEY: target})
        config.set_main_option("script_location", str(SCRIPT_LOCATION).replace("%", "%%"))
        config.set_main_option("version_locations", str(self.migrations.folder).replace("%", "%%"))
        config.set_main_option("path_separator", "os")
        return config

    @property
    def script(self) -> ScriptDirectory:
        """The plugin's revisions (read once; a broken revision file is a ``MigrationError``)."""
        if self._script is None:
            try:
                script = ScriptDirectory.from_config(self.config(Target(self.migrations.version_table)))
                script.revision_map.heads  # noqa: B018 - parse every revision file now, errors here
            except Exception as exc:
                raise MigrationError(
                    f"{self.migrations.described}: cannot read its migrations in "
                    f"{self.migrations.folder}: {describe_exception(exc)}"
                ) from exc
            self._script = script
        return self._script

    def heads(self) -> tuple[str, ...]:
        return tuple(self.script.get_heads())

    def current(self, connection: Connection) -> tuple[str, ...]:
        context = MigrationContext.configure(connection, opts={"version_table": self.migrations.version_table})
        return tuple(context.get_current_heads())

    def status(self, connection: Connection) -> Status:
        current, heads = self.current(connection), self.heads()
        unknown = tuple(rev for rev in current if self._get(rev) is None)
        return Status(current, heads, unknown)

    def _get(self, revision: str) -> Script | None:
        try:
            return self.script.get_revision(revision)
        except (CommandError, RevisionError):
            return None

    @contextmanager
    def _locked(self) -> Iterator[Connection]:
        """A connection in a transaction holding the database's migration lock; committed on exit."""
        engine = self.database.engine()
        try:
            with engine.connect() as connection, connection.begin():
                self.database.lock(connection)
                yield connection
        finally:
            engine.dispose()

    # ------------------------------------------------------------------ checks

    def require_current(self) -> None:
        """Raise :class:`SchemaBehind` naming the command to run unless the database is at the code's heads."""
        engine = self.database.engine()
        try:
            with engine.connect() as connection:
                status = self.status(connection)
        finally:
            engine.dispose()
        self._refuse_unknown(status)
        if not status.up_to_date:
            key = self.database.key_path
            raise SchemaBehind(
                f"{self.migrations.described} needs database migrations: {key} is at revision "
                f"{_revisions(status.current)}, its code needs {_revisions(status.heads)}. "
                f"Run `xcore db upgrade {self.plugin}` (or set {key}.migrate: upgrade)"
            )

    def _refuse_unknown(self, status: Status) -> None:
        if status.unknown:
            raise SchemaBehind(
                f"{self.database.key_path} is at revision {', '.join(status.unknown)} of plugin {self.plugin!r}, "
                f"which the installed {self.migrations.distribution} {self.migrations.version} does not have "
                "(a newer version migrated it): install that version again, or downgrade with it first "
                f"(`xcore db downgrade {self.plugin} <revision>`)"
            )

    # ------------------------------------------------------------------ upgrade and downgrade

    def upgrade(self) -> list[Script]:
        """Apply every pending migration under the lock; return those applied (none if another host did)."""
        applied: list[Script] = []
        failure: tuple[Script, BaseException] | None = None
        with self._locked() as connection:
            status = self.status(connection)
            self._refuse_unknown(status)
            pending = list(
                reversed(
                    list(self.script.revision_map.iterate_revisions(self.heads(), status.current, implicit_base=True))
                )
            )
            config = self.config(Target(self.migrations.version_table, connection=connection))
            for revision in pending:
                assert isinstance(revision, Script)
                try:
                    with _ALEMBIC, connection.begin_nested():
                        command.upgrade(config, revision.revision)
                except Exception as exc:
                    failure = (revision, exc)
                    break
                applied.append(revision)
        if failure is not None:
            failed, error = failure
            reached = applied[-1].revision if applied else _revisions(status.current)
            raise MigrationFailed(
                f"migration {failed.revision} ({failed.doc!r}) of {self.migrations.described} failed: "
                f"{describe_exception(error)}; {self.database.key_path} stays at revision {reached}"
            ) from error
        return applied

    def downgrade(self, revision: str) -> tuple[str, ...]:
        """Undo migrations down to ``revision`` (``base``, ``-1``, or a revision id), all or nothing."""
        if revision not in ("base",) and not revision.startswith("-") and self._get(revision) is None:
            known = ", ".join(s.revision for s in self.script.walk_revisions()) or "(none)"
            raise MigrationError(f"plugin {self.plugin!r} has no revision {revision!r} (known: {known}, or base, -1)")
        with self._locked() as connection:
            before = self.current(connection)
            config = self.config(Target(self.migrations.version_table, connection=connection))
            try:
                with _ALEMBIC, connection.begin_nested():
                    command.downgrade(config, revision)
            except Exception as exc:
                raise MigrationFailed(
                    f"downgrade of {self.migrations.described} to {revision} failed: {describe_exception(exc)}; "
                    f"{self.database.key_path} stays at revision {_revisions(before)}"
                ) from exc
            return self.current(connection)

    def sql(self, output: TextIO, revisions: str = "heads") -> None:
        """Write the SQL of ``revisions`` (``heads``: all, from base; or ``from:to``) without a database."""
        target = Target(self.migrations.version_table, url=self.database.url)
        try:
            with _ALEMBIC:
                command.upgrade(self.config(target, output=output), revisions, sql=True)
        except CommandError as exc:
            raise MigrationError(f"plugin {self.plugin!r}: {exc}") from exc

    # ------------------------------------------------------------------ authoring

    def revision(self, message: str, metadata: MetaData | None = None) -> Path:
        """Write a new revision file into the plugin's folder; with ``metadata``, autogenerate its
        operations by comparing those tables with the database (which must be at head)."""
        if metadata is None:
            config = self.config(Target(self.migrations.version_table))
            with _ALEMBIC:
                return self._written(command.revision(config, message, version_path=str(self.migrations.folder)))
        engine = self.database.engine()
        try:
            with engine.connect() as connection:
                config = self.config(Target(self.migrations.version_table, connection=connection, metadata=metadata))
                try:
                    with _ALEMBIC:
                        return self._written(
                            command.revision(
                                config, message, autogenerate=True, version_path=str(self.migrations.folder)
                            )
                        )
                except CommandError as exc:
                    raise MigrationError(
                        f"plugin {self.plugin!r}: {exc} (run `xcore db upgrade {self.plugin}` first)"
                    ) from exc
        finally:
            engine.dispose()

    def _written(self, result: Script | list[Script | None] | None) -> Path:
        self._script = None
        script = result[0] if isinstance(result, list) else result
        if script is None:
            raise MigrationError(f"plugin {self.plugin!r}: no revision was written")
        return Path(script.path)


def plugin_schema(
    plugin: PluginSource, declared: Mapping[str, PluginSource], checked: Sequence[CheckedSpec]
) -> PluginSchema | None:
    """The migrations of ``plugin`` on the database it declares, or ``None`` if it has no migrations."""
    migrations = plugin_migrations(plugin, declared)
    if migrations is None:
        return None
    return PluginSchema(migrations, find_database(migrations.database, checked, plugin.name))
