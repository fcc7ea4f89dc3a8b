"""The whole cycle through ``xcore db`` (a real process) on SQLite and on PostgreSQL: install a
plugin, upgrade, install a version with a new migration, upgrade again, downgrade; ``--sql``,
``current`` and ``history``; a failing migration leaves the last good revision."""

from __future__ import annotations

from pathlib import Path

from xcore.testing.distributions import write_distribution

from .support import ADD_TITLE, CREATE_NOTES, Database, Package, config, revision, write_config, xcore


def test_install_upgrade_new_version_upgrade_downgrade(site: Path, database: Database) -> None:
    notes = Package(site, "notes")
    notes.install("1.0.0", {"0001_create_notes": CREATE_NOTES})
    path = write_config(site.parent / "integration.yaml", config({"main": database.section()}, ["notes"]))

    before = xcore(site, path, "current")
    assert before.returncode == 0, before.stderr
    assert "base" in before.stdout and "behind: run xcore db upgrade notes" in before.stdout

    first = xcore(site, path, "upgrade")
    assert first.returncode == 0, first.stderr
    assert "notes: applied 0001 to services.databases.main" in first.stdout
    assert database.version("notes") == "0001" and "notes" in database.tables()
    assert database.columns("notes") == {"id", "body"}

    notes.install("1.1.0", {"0001_create_notes": CREATE_NOTES, "0002_add_title": ADD_TITLE})
    behind = xcore(site, path, "current", "notes")
    assert "0001" in behind.stdout and "0002" in behind.stdout and "behind" in behind.stdout

    second = xcore(site, path, "upgrade", "notes")
    assert second.returncode == 0, second.stderr
    assert "notes: applied 0002" in second.stdout
    assert database.version("notes") == "0002" and database.columns("notes") == {"id", "body", "title"}
    assert database.scalar("SELECT count(*) FROM notes") == 1

    again = xcore(site, path, "upgrade")
    assert again.returncode == 0 and "notes: up to date at 0002" in again.stdout

    history = xcore(site, path, "history", "notes")
    assert history.returncode == 0, history.stderr
    lines = history.stdout.splitlines()
    assert "acme-notes" in lines[0] and "1.1.0" in lines[0]
    assert lines[1].strip() == "0001 -> 0002 (head), add title"
    assert lines[2].strip() == "<base> -> 0001, create notes"

    down = xcore(site, path, "downgrade", "notes", "0001")
    assert down.returncode == 0, down.stderr
    assert "notes: now at 0001" in down.stdout
    assert database.version("notes") == "0001" and database.columns("notes") == {"id", "body"}

    base = xcore(site, path, "downgrade", "notes", "base")
    assert base.returncode == 0, base.stderr
    assert database.version("notes") is None and "notes" not in database.tables()


def test_sql_prints_the_migrations_without_touching_the_database(site: Path, database: Database) -> None:
    notes = Package(site, "notes")
    notes.install("1.1.0", {"0001_create_notes": CREATE_NOTES, "0002_add_title": ADD_TITLE})
    path = write_config(site.parent / "integration.yaml", config({"main": database.section()}, ["notes"]))

    result = xcore(site, path, "upgrade", "--sql")
    assert result.returncode == 0, result.stderr
    sql = result.stdout
    assert "CREATE TABLE xcore_migrations_notes" in sql and "CREATE TABLE notes" in sql
    assert "ALTER TABLE notes ADD COLUMN title TEXT" in sql
    assert "INSERT INTO xcore_migrations_notes (version_num) VALUES ('0001')" in sql
    assert sql.index("CREATE TABLE notes") < sql.index("ADD COLUMN title")
    if database.dialect == "postgresql":  # one transaction per migration
        assert sql.count("BEGIN;") == 2 and sql.count("COMMIT;") == 2
    assert database.tables() == set()


def test_a_failing_migration_leaves_the_last_good_revision(site: Path, database: Database) -> None:
    broken = revision(
        "0003", "0002",
        'op.create_table("tags", sa.Column("id", sa.Integer, primary_key=True))\n'
        'op.execute("INSERT INTO notes (body) VALUES (\'lost\')")\n'
        'op.execute("INSERT INTO no_such_table VALUES (1)")',
        doc="add tags",
    )  # fmt: skip
    notes = Package(site, "notes")
    notes.install("1.0.0", {"0001_create_notes": CREATE_NOTES})
    path = write_config(site.parent / "integration.yaml", config({"main": database.section()}, ["notes"]))
    assert xcore(site, path, "upgrade").returncode == 0
    notes.install("2.0.0", {"0001_create_notes": CREATE_NOTES, "0002_add_title": ADD_TITLE, "0003_tags": broken})

    result = xcore(site, path, "upgrade")
    assert result.returncode == 1
    assert "migration 0003 ('add tags') of plugin 'notes'" in result.stderr
    assert "no_such_table" in result.stderr
    assert "services.databases.main stays at revision 0002" in result.stderr
    assert "notes: applied" not in result.stdout
    # 0002 was applied and kept; every statement of 0003 was undone.
    assert database.version("notes") == "0002"
    assert database.columns("notes") == {"id", "body", "title"}
    assert "tags" not in database.tables()
    assert database.scalar("SELECT count(*) FROM notes WHERE body = 'lost'") == 0


def test_bad_commands_name_what_is_wrong(site: Path, database: Database) -> None:
    Package(site, "notes").install("1.0.0", {"0001_create_notes": CREATE_NOTES})
    path = write_config(site.parent / "integration.yaml", config({"main": database.section()}, ["notes"]))
    unknown = xcore(site, path, "upgrade", "nope")
    assert unknown.returncode == 2
    assert "no installed plugin 'nope'; plugins with migrations: notes" in unknown.stderr
    write_distribution(site, "acme-plain", "1.0", {"xcore.plugins": {"plain": "plain_plugin:Plugin"}},
                       {"plain_plugin.py": "class Plugin:\n    pass\n"})  # fmt: skip
    plain = xcore(site, path, "current", "plain")
    assert plain.returncode == 2 and "plugin 'plain' has no migrations; plugins with migrations: notes" in plain.stderr
    bad_revision = xcore(site, path, "downgrade", "notes", "9999")
    assert bad_revision.returncode == 1
    assert "plugin 'notes' has no revision '9999' (known: 0001" in bad_revision.stderr
    assert database.tables() == set()


def test_a_bad_configuration_exits_2_naming_the_key(site: Path, tmp_path: Path) -> None:
    Package(site, "notes").install("1.0.0", {"0001_create_notes": CREATE_NOTES})
    path = write_config(tmp_path / "integration.yaml", config({"main": {"type": "sqlite", "migrate": "always"}}, []))
    result = xcore(site, path, "upgrade")
    assert result.returncode == 2 and "services.databases.main.migrate" in result.stderr
