"""``databases.<name>.migrate`` at boot: ``check`` refuses a plugin behind its code naming the command,
``upgrade`` applies its migrations first (dependencies first), ``off`` leaves them; a failure fails
that plugin only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from xcore._errors import ConfigError
from xcore._host.facade import Xcore

from .support import ADD_TITLE, CREATE_NOTES, Database, Package, config, revision

READS_NOTES = """
from xcore.sdk import TrustedBase

class Plugin(TrustedBase):
    requires = {requires!r}
    loaded = []

    async def on_load(self):
        db = self.get_service("db")
        with db.session() as session:
            rows = session.execute("SELECT count(*) FROM notes").scalar()
        Plugin.loaded.append(rows)
"""

PLAIN = """
from xcore.sdk import TrustedBase

class Plugin(TrustedBase):
    pass
"""


async def boot(data: dict[str, Any]) -> Xcore:
    host = Xcore(config=data)
    await host.boot()
    return host


def states(host: Xcore) -> dict[str, tuple[str, str | None]]:
    return {r.name: (r.state, r.error) for r in host.plugins if r.source.kind == "plugin" and r.state != "disabled"}


async def test_check_refuses_a_plugin_behind_its_code_and_names_the_command(site: Path, database: Database) -> None:
    notes = Package(site, "notes")
    notes.install("1.0.0", {"0001_create_notes": CREATE_NOTES}, init=READS_NOTES.format(requires=()))
    other = Package(site, "other")
    other.install("1.0.0", {}, init=PLAIN)
    host = await boot(config({"main": database.section()}, ["notes", "other"]))
    try:
        state, error = states(host)["notes"]
        assert state == "failed"
        assert error == (
            f"plugin 'notes' ({notes.dist} 1.0.0) needs database migrations: services.databases.main is at revision "
            "base (none applied), its code needs 0001. Run `xcore db upgrade notes` "
            "(or set services.databases.main.migrate: upgrade)"
        )
        assert states(host)["other"] == ("loaded", None)  # an empty migrations folder is up to date
        assert database.tables() == set()  # check never writes
    finally:
        await host.shutdown()


@pytest.mark.parametrize("driver", ["sync", "async"])
async def test_upgrade_applies_migrations_before_on_load(site: Path, database: Database, driver: str) -> None:
    notes = Package(site, "notes")
    init = READS_NOTES.format(requires=()) if driver == "sync" else PLAIN
    notes.install("1.0.0", {"0001_create_notes": CREATE_NOTES, "0002_add_title": ADD_TITLE}, init=init)
    if driver == "async":  # the section of an async service: its URL is made synchronous for migrations
        url = database.url.replace("postgresql://", "postgresql+asyncpg://").replace("sqlite://", "sqlite+aiosqlite://")
        section = database.section("sqlasync", url, migrate="upgrade")
        section_main = {"main": section}
    else:
        section_main = {"main": database.section(migrate="upgrade")}
    host = await boot(config(section_main, ["notes"]))
    try:
        assert states(host)["notes"] == ("loaded", None)
        assert database.version("notes") == "0002"
    finally:
        await host.shutdown()
    if driver == "sync":
        import importlib

        assert importlib.import_module(notes.module).Plugin.loaded == [1]  # on_load ran after 0002's insert


async def test_off_loads_the_plugin_untouched(site: Path, database: Database) -> None:
    Package(site, "notes").install("1.0.0", {"0001_create_notes": CREATE_NOTES}, init=PLAIN)
    host = await boot(config({"main": database.section(migrate="off")}, ["notes"]))
    try:
        assert states(host)["notes"] == ("loaded", None)
        assert database.tables() == set()
    finally:
        await host.shutdown()


async def test_dependencies_migrate_first_and_a_failure_fails_that_plugin_only(site: Path, database: Database) -> None:
    # "comments" sorts before "notes": only `requires` puts notes' migrations first.
    comments_0001 = revision(
        "c001", None,
        'op.create_table("comments", sa.Column("id", sa.Integer, primary_key=True), sa.Column("note_id", sa.Integer))\n'
        'op.execute("INSERT INTO comments (note_id) SELECT id FROM notes")',
        doc="comments on notes",
    )  # fmt: skip
    failing = revision("b001", None, 'op.execute("SELECT * FROM no_such_table")', doc="broken")
    Package(site, "notes").install("1.0.0", {"0001_create_notes": CREATE_NOTES, "0002_add_title": ADD_TITLE},
                                   init=PLAIN)  # fmt: skip
    Package(site, "comments").install("1.0.0", {"c001": comments_0001}, requires=["notes"])
    Package(site, "broken").install("1.0.0", {"b001": failing}, init=PLAIN)
    Package(site, "needs-broken").install("1.0.0", {}, requires=["broken"])
    host = await boot(config({"main": database.section(migrate="upgrade")},
                             ["notes", "comments", "broken", "needs-broken"]))  # fmt: skip
    try:
        found = states(host)
        assert found["notes"] == ("loaded", None) and found["comments"] == ("loaded", None)
        assert database.scalar("SELECT count(*) FROM comments") == 1
        state, error = found["broken"]
        assert state == "failed" and error is not None
        assert error.startswith("migration b001 ('broken') of plugin 'broken'")
        assert error.endswith("services.databases.main stays at revision base (none applied)")
        assert found["needs-broken"][0] == "failed"
        assert "requires plugin 'broken', which failed: migration b001" in str(found["needs-broken"][1])
        assert database.version("broken") is None
    finally:
        await host.shutdown()


async def test_a_named_database_and_its_own_version_table(site: Path, database: Database, tmp_path: Path) -> None:
    Package(site, "notes").install("1.0.0", {"0001_create_notes": CREATE_NOTES}, database="reports", init=PLAIN)
    Package(site, "log").install("1.0.0", {"0001_create_notes": CREATE_NOTES.replace('"notes"', '"log"')},
                                 init=PLAIN)  # fmt: skip
    other = Database("sqlite", f"sqlite:///{tmp_path / 'reports.db'}")
    host = await boot(config({"main": database.section(migrate="upgrade"),
                              "reports": other.section(migrate="upgrade")}, ["notes", "log"]))  # fmt: skip
    try:
        assert states(host) == {"notes": ("loaded", None), "log": ("loaded", None)}
        # Same revision id in two plugins: each plugin's table records its own.
        assert other.version("notes") == "0001" and "notes" in other.tables()
        assert database.version("log") == "0001" and "notes" not in database.tables()
        assert "xcore_migrations_notes" not in database.tables()
    finally:
        await host.shutdown()


async def test_check_refuses_a_database_ahead_of_the_installed_code(site: Path, database: Database) -> None:
    notes = Package(site, "notes")
    notes.install("1.1.0", {"0001_create_notes": CREATE_NOTES, "0002_add_title": ADD_TITLE}, init=PLAIN)
    host = await boot(config({"main": database.section(migrate="upgrade")}, ["notes"]))
    await host.shutdown()
    notes.install("1.0.0", {"0001_create_notes": CREATE_NOTES}, init=PLAIN)  # downgraded package
    host = await boot(config({"main": database.section()}, ["notes"]))
    try:
        state, error = states(host)["notes"]
        assert state == "failed"
        assert f"services.databases.main is at revision 0002 of plugin 'notes', which the installed {notes.dist} 1.0.0"\
            " does not have" in str(error)  # fmt: skip
        assert database.version("notes") == "0002"
    finally:
        await host.shutdown()


async def test_unreachable_database_fails_the_plugin_without_showing_the_password(site: Path) -> None:
    Package(site, "notes").install("1.0.0", {"0001_create_notes": CREATE_NOTES}, init=PLAIN)
    url = "postgresql://app:hunter2-secret@127.0.0.1:9/app"
    host = await boot(config({"main": {"type": "postgresql", "url": url, "connect_timeout": 1}}, ["notes"]))
    try:
        state, error = states(host)["notes"]
        assert state == "failed" and "services.databases.main" in str(error)
        assert "hunter2-secret" not in str(error)
    finally:
        await host.shutdown()


async def test_misconfigured_migrations_are_refused_by_name(site: Path, tmp_path: Path) -> None:
    Package(site, "notes").install("1.0.0", {"0001_create_notes": CREATE_NOTES}, database="warehouse", init=PLAIN)
    Package(site, "memo").install("1.0.0", {"0001_create_notes": CREATE_NOTES}, init=PLAIN)
    main = {"type": "sqlite", "url": "sqlite://"}
    host = await boot(config({"main": main}, ["notes", "memo"]))
    try:
        found = states(host)
        assert found["notes"] == ("failed", "plugin 'notes' migrates database service 'warehouse', which the "
                                            "configuration does not define (services.databases: main)")  # fmt: skip
        assert "an in-memory SQLite database" in str(found["memo"][1])
        assert "services.databases.main.migrate: off" in str(found["memo"][1])
    finally:
        await host.shutdown()
    with pytest.raises(ConfigError, match=r"services\.databases\.main\.migrate"):
        Xcore(config=config({"main": {"type": "sqlite", "migrate": "sometimes"}}, [])).prepare()


async def test_a_broken_revision_file_fails_its_plugin(site: Path, tmp_path: Path) -> None:
    typo = "revision = '0001'\ndown_revision = None\ndef upgrade(:\n"
    Package(site, "typo").install("1.0.0", {"0001_typo": typo}, init=PLAIN)
    Package(site, "notes").install("1.0.0", {"0001_create_notes": CREATE_NOTES}, init=PLAIN)
    database = Database("sqlite", f"sqlite:///{tmp_path / 'app.db'}")
    host = await boot(config({"main": database.section(migrate="upgrade")}, ["typo", "notes"]))
    try:
        state, error = states(host)["typo"]
        assert state == "failed" and "plugin 'typo' (acme-typo-" in str(error)
        assert "cannot read its migrations in" in str(error) and "SyntaxError" in str(error)
        assert states(host)["notes"] == ("loaded", None)
    finally:
        await host.shutdown()
