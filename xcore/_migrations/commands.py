"""``xcore db``: run, inspect and write plugins' migrations.

The commands read the configuration and the installed plugins as a host would (``prepare()``: the
enabled plugins are imported, nothing connects), so they see the same databases and dependency
order as boot. Every command works on one plugin, or on every enabled plugin with migrations in
dependency order (``requires`` first). A failure names the plugin and exits 1; a bad configuration
or an unknown plugin exits 2. Messages never show a password or a configured secret.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NoReturn

import click

from xcore._commands import config_option
from xcore._errors import XcoreError
from xcore._host.facade import Xcore
from xcore._ordering import resolve_order
from xcore._plugins import PluginRecord
from xcore._redaction import redact_text, secret_values

from .errors import MigrationError

if TYPE_CHECKING:  # Alembic and SQLAlchemy load when a db command runs, not with every xcore command
    from sqlalchemy import MetaData

    from .runner import PluginSchema

plugin_argument = click.argument("plugin", required=False)


class Plan:
    """The configuration's databases and the installed plugins that have migrations, in dependency order."""

    def __init__(self, config_path: str | None) -> None:
        try:
            self.host = Xcore(config_path)
            self.host.prepare()
        except XcoreError as exc:
            _exit(str(exc), 2)
        self.secrets = secret_values(self.host.loaded.raw)
        self.failed = False

    def redact(self, text: str) -> str:
        return redact_text(text, self.secrets)

    def error(self, plugin: str, message: str) -> None:
        """Report one plugin's failure on stderr; the command exits 1 at the end."""
        click.echo(f"error: {plugin}: {self.redact(message)}", err=True)
        self.failed = True

    def _schema(self, record: PluginRecord) -> PluginSchema | None:
        from .runner import plugin_schema

        return plugin_schema(record.source, self.host.registry.migration_sources, self.host.registry.checked_services)

    def _plugins(self) -> dict[str, PluginRecord]:
        return {r.name: r for r in self.host.plugins if r.source.kind == "plugin"}

    def one(self, plugin: str) -> PluginSchema:
        """``plugin``'s migrations (a disabled or broken plugin's too: they need none of its code)."""
        records = self._plugins()
        record = records.get(plugin)
        try:
            schema = None if record is None else self._schema(record)
        except MigrationError as exc:
            _exit(self.redact(str(exc)), 2)
        if schema is None:
            sources = self.host.registry.migration_sources
            having = ", ".join(sorted(name for name in sources if name in records)) or "(none)"
            problem = f"no installed plugin {plugin!r}" if record is None else f"plugin {plugin!r} has no migrations"
            _exit(f"{problem}; plugins with migrations: {having}", 2)
        return schema

    def each(self, plugin: str | None) -> Iterator[PluginSchema]:
        """``plugin``'s schema, or every enabled plugin's in dependency order; broken ones are reported."""
        if plugin is not None:
            yield self.one(plugin)
            return
        records = self._plugins()
        for record in records.values():
            if record.state == "failed" and record.name in self.host.registry.migration_sources:
                self.error(record.name, f"skipped: the plugin cannot be loaded: {record.error}")
        order, failures = resolve_order({n: r.dependencies for n, r in records.items() if r.state == "registered"})
        for name in order:
            if name in failures or name not in self.host.registry.migration_sources:
                continue
            try:
                schema = self._schema(records[name])
            except MigrationError as exc:
                self.error(name, str(exc))
                continue
            if schema is not None:
                yield schema

    def requires(self, plugin: str) -> tuple[str, ...]:
        record = self._plugins().get(plugin)
        return tuple(record.dependencies.requires) if record is not None else ()

    def finish(self) -> None:
        sys.exit(1 if self.failed else 0)


def _exit(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group("db")
def db() -> None:
    """Plugins' database migrations (Alembic): upgrade, downgrade, current, history, revision.

    Each plugin keeps its revisions in its own version table, xcore_migrations_<plugin>, on the
    database its migrations name (default: db, the first database).
    """


@db.command()
@config_option
@plugin_argument
@click.option("--sql", is_flag=True, help="Print the SQL of every migration (from base) instead of running it.")
def upgrade(config_path: str | None, plugin: str | None, sql: bool) -> None:
    """Apply pending migrations of PLUGIN (default: every enabled plugin, dependencies first)."""
    plan = Plan(config_path)
    broken: set[str] = set()
    for schema in plan.each(plugin):
        where = f"{schema.database.key_path} ({schema.database.dialect})"
        if sql:
            click.echo(f"-- {schema.migrations.described}: migrations for {where}")
            try:
                schema.sql(sys.stdout)
            except (MigrationError, OSError) as exc:
                plan.error(schema.plugin, str(exc))
            continue
        failed_requirement = next((r for r in plan.requires(schema.plugin) if r in broken), None)
        if failed_requirement is not None:
            broken.add(schema.plugin)
            plan.error(schema.plugin, f"skipped: it requires plugin {failed_requirement!r}, whose migrations failed")
            continue
        try:
            applied = schema.upgrade()
        except Exception as exc:
            broken.add(schema.plugin)
            plan.error(schema.plugin, _message(exc))
            continue
        if applied:
            click.echo(f"{schema.plugin}: applied {', '.join(s.revision for s in applied)} to {where}")
        else:
            click.echo(f"{schema.plugin}: up to date at {', '.join(schema.heads()) or 'base'} on {where}")
    plan.finish()


@db.command()
@config_option
@click.argument("plugin")
@click.argument("revision")
def downgrade(config_path: str | None, plugin: str, revision: str) -> None:
    """Undo PLUGIN's migrations down to REVISION (a revision id, -1, or base); all or nothing."""
    plan = Plan(config_path)
    schema = plan.one(plugin)
    try:
        now = schema.downgrade(revision)
    except Exception as exc:
        plan.error(plugin, _message(exc))
    else:
        click.echo(f"{plugin}: now at {', '.join(now) or 'base'} on {schema.database.key_path}")
    plan.finish()


@db.command()
@config_option
@plugin_argument
def current(config_path: str | None, plugin: str | None) -> None:
    """Show each plugin's revision in its database beside the one its installed code needs."""
    plan = Plan(config_path)
    rows: list[dict[str, Any]] = []
    for schema in plan.each(plugin):
        row: dict[str, Any] = {"plugin": schema.plugin, "database": schema.database.key_path}
        try:
            engine = schema.database.engine()
            try:
                with engine.connect() as connection:
                    status = schema.status(connection)
            finally:
                engine.dispose()
        except Exception as exc:
            plan.error(schema.plugin, _message(exc))
            continue
        row.update(current=", ".join(status.current) or "base", head=", ".join(status.heads) or "base")
        row["status"] = (
            f"unknown revision {', '.join(status.unknown)} (newer code migrated it)" if status.unknown
            else "up to date" if status.up_to_date else f"behind: run xcore db upgrade {schema.plugin}"
        )  # fmt: skip
        rows.append(row)
    from xcore._commands import table

    click.echo(table(rows, ["plugin", "database", "current", "head", "status"]))
    plan.finish()


@db.command()
@config_option
@plugin_argument
def history(config_path: str | None, plugin: str | None) -> None:
    """List each plugin's revisions, newest first (read from its files; no database needed)."""
    plan = Plan(config_path)
    for schema in plan.each(plugin):
        try:
            heads = set(schema.heads())
            click.echo(f"{schema.migrations.described} ({schema.migrations.folder}):")
            for script in schema.script.walk_revisions():
                down = script.down_revision
                parents = ", ".join(down) if isinstance(down, tuple | list) else down or "<base>"
                mark = " (head)" if script.revision in heads else ""
                click.echo(f"  {parents} -> {script.revision}{mark}, {script.doc}")
        except MigrationError as exc:
            plan.error(schema.plugin, str(exc))
    plan.finish()


@db.command()
@config_option
@click.argument("plugin")
@click.option("-m", "--message", required=True, help="What the migration does (its file name and docstring).")
@click.option(
    "--autogenerate", is_flag=True,
    help="Compare the plugin's SQLAlchemy metadata (its `metadata` attribute) with the database and write the "
    "operations that bring the database to it. The database must be up to date.",
)  # fmt: skip
def revision(config_path: str | None, plugin: str, message: str, autogenerate: bool) -> None:
    """Write a new migration file into PLUGIN's migrations folder (a developer command)."""
    plan = Plan(config_path)
    schema = plan.one(plugin)
    metadata = _metadata(plan, plugin) if autogenerate else None
    try:
        path = schema.revision(message, metadata)
    except Exception as exc:
        plan.error(plugin, _message(exc))
    else:
        click.echo(f"{plugin}: wrote {path}")
    plan.finish()


def _metadata(plan: Plan, plugin: str) -> MetaData:
    """The plugin's own ``metadata`` (a ``sqlalchemy.MetaData``): the plugin is imported for it."""
    from sqlalchemy import MetaData

    record = next(r for r in plan.host.plugins if r.name == plugin and r.source.kind == "plugin")
    if record.handle is None:
        _exit(f"plugin {plugin!r} cannot be imported for --autogenerate: {record.error or record.state}", 2)
    metadata = getattr(record.handle.instance, "metadata", None)
    if not isinstance(metadata, MetaData):
        _exit(
            f"plugin {plugin!r} has no SQLAlchemy metadata to autogenerate from: give its plugin class (or module) "
            "a `metadata` attribute holding its tables' sqlalchemy.MetaData (e.g. `metadata = Base.metadata`), "
            "or write the migration by hand without --autogenerate",
            2,
        )
    return metadata


def _message(exc: BaseException) -> str:
    """A migration error as is; anything else as ``Type: message``."""
    return str(exc) if isinstance(exc, XcoreError) else f"{type(exc).__name__}: {exc}"
