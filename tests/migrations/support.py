"""Throwaway plugin distributions with migrations, the databases they migrate, and the CLI as a process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from xcore.testing.configs import no_services
from xcore.testing.distributions import remove_distribution, write_distribution

PLUGIN = """
from xcore.sdk import TrustedBase

class Plugin(TrustedBase):
    requires = {requires!r}
"""


def revision(rev: str, down: str | None, upgrade: str, downgrade: str = "pass", doc: str = "") -> str:
    """The text of an Alembic revision file: ``upgrade``/``downgrade`` are function bodies."""
    body = textwrap.indent(textwrap.dedent(upgrade).strip(), "    ")
    undo = textwrap.indent(textwrap.dedent(downgrade).strip(), "    ")
    return (
        f'"""{doc or rev}"""\nimport time\n\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
        f"revision = {rev!r}\ndown_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade():\n{body}\n\n\ndef downgrade():\n{undo}\n"
    )


CREATE_NOTES = revision(
    "0001", None,
    'op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True), sa.Column("body", sa.Text))',
    'op.drop_table("notes")', "create notes",
)  # fmt: skip
ADD_TITLE = revision(
    "0002", "0001",
    'op.add_column("notes", sa.Column("title", sa.Text))\n'
    'op.execute("INSERT INTO notes (body, title) VALUES (\'hi\', \'t\')")',
    'op.execute("DELETE FROM notes")\nwith op.batch_alter_table("notes") as batch:\n    batch.drop_column("title")',
    "add title",
)  # fmt: skip


@dataclass
class Package:
    """One plugin distribution that tests install, upgrade and uninstall in a site folder."""

    site: Path
    plugin: str
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def module(self) -> str:
        return f"{self.plugin.replace('-', '_')}_{self.tag}"

    @property
    def dist(self) -> str:
        return f"acme-{self.plugin}-{self.tag}"

    def install(
        self,
        version: str,
        revisions: Mapping[str, str],
        *,
        requires: Sequence[str] = (),
        database: str | None = None,
        init: str | None = None,
    ) -> None:
        """Install ``version`` of the package (replacing any installed one) with these revision files."""
        remove_distribution(self.site, self.dist, (self.module,))
        files = {
            f"{self.module}/__init__.py": init if init is not None else PLUGIN.format(requires=tuple(requires)),
            f"{self.module}/migrations/__init__.py": "",
            **{f"{self.module}/migrations/{name}.py": text for name, text in revisions.items()},
        }
        target = f"{self.module}.migrations" + (f":{database}" if database else "")
        entry_points = {"xcore.plugins": {self.plugin: f"{self.module}:Plugin"},
                        "xcore.migrations": {self.plugin: target}}  # fmt: skip
        write_distribution(self.site, self.dist, version, entry_points, files)
        sys.modules.pop(self.module, None)


@dataclass
class Database:
    """A database the tests migrate: its URL, a config section for it, and direct reads of it."""

    dialect: str
    url: str

    def section(self, type_: str | None = None, url: str | None = None, **settings: Any) -> dict[str, Any]:
        return {"type": type_ or self.dialect, "url": url or self.url, **settings}

    def engine(self) -> sa.Engine:
        url = sa.make_url(self.url)
        if self.dialect == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        return sa.create_engine(url, poolclass=sa.pool.NullPool)

    def scalar(self, sql: str) -> Any:
        engine = self.engine()
        try:
            with engine.connect() as connection:
                return connection.execute(sa.text(sql)).scalar()
        finally:
            engine.dispose()

    def tables(self) -> set[str]:
        engine = self.engine()
        try:
            return set(sa.inspect(engine).get_table_names())
        finally:
            engine.dispose()

    def columns(self, table: str) -> set[str]:
        engine = self.engine()
        try:
            return {c["name"] for c in sa.inspect(engine).get_columns(table)}
        finally:
            engine.dispose()

    def version(self, plugin: str) -> str | None:
        """The revision recorded in ``plugin``'s version table (``None`` when none is)."""
        if f"xcore_migrations_{plugin}" not in self.tables():
            return None
        value = self.scalar(f"SELECT version_num FROM xcore_migrations_{plugin}")
        return None if value is None else str(value)


def config(databases: Mapping[str, Mapping[str, Any]], enabled: Sequence[str]) -> dict[str, Any]:
    return {"services": no_services(databases=dict(databases)), "plugins": {"enabled": list(enabled)}}


def write_config(path: Path, data: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(data)))
    return path


def xcore(site: Path, config_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``xcore <args> --config <config_path>`` as a user runs it, seeing the site's distributions."""
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command, *rest = args
    return subprocess.run(
        [sys.executable, "-m", "xcore", "db", command, "--config", str(config_path), *rest],
        capture_output=True, text=True, env=env, cwd=site.parent, timeout=120, check=False,
    )  # fmt: skip
