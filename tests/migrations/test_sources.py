"""Finding a plugin's migrations from its distribution, without running any of its code."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from xcore._discovery import PLUGINS_GROUP, scan_entry_points
from xcore._migrations import MIGRATIONS_GROUP, MigrationError, plugin_migrations, version_table
from xcore.testing.distributions import write_distribution

from .support import CREATE_NOTES, Database, Package, config, write_config, xcore

EXPLODES = "raise RuntimeError('the plugin was imported')\n"


def declared(plugin: str):  # type: ignore[no-untyped-def]
    found = scan_entry_points((PLUGINS_GROUP, MIGRATIONS_GROUP))
    return found[PLUGINS_GROUP][plugin], found[MIGRATIONS_GROUP]


def test_the_folder_is_found_without_importing_the_plugin(site: Path) -> None:
    notes = Package(site, "notes")
    notes.install("1.0.0", {"0001_create_notes": CREATE_NOTES}, init=EXPLODES, database="reports")
    found = plugin_migrations(*declared("notes"))
    assert found is not None
    assert found.folder == site / notes.module / "migrations"
    assert (found.database, found.version_table, found.version) == ("reports", "xcore_migrations_notes", "1.0.0")
    assert notes.module not in sys.modules


def test_xcore_db_works_on_a_plugin_whose_import_fails(site: Path, tmp_path: Path) -> None:
    notes = Package(site, "notes")
    notes.install("1.0.0", {"0001_create_notes": CREATE_NOTES}, init=EXPLODES)
    database = Database("sqlite", f"sqlite:///{tmp_path / 'app.db'}")
    path = write_config(tmp_path / "integration.yaml", config({"main": database.section()}, ["notes"]))
    history = xcore(site, path, "history", "notes")
    assert history.returncode == 0, history.stderr
    assert "<base> -> 0001 (head), create notes" in history.stdout
    upgraded = xcore(site, path, "upgrade", "notes")
    assert upgraded.returncode == 0, upgraded.stderr
    assert database.version("notes") == "0001"
    # Upgrading everything skips it: its dependencies cannot be known without its code.
    everything = xcore(site, path, "upgrade")
    assert everything.returncode == 1
    assert "notes: skipped: the plugin cannot be loaded: import of" in everything.stderr


def test_version_tables_are_per_plugin_and_valid_identifiers() -> None:
    assert version_table("notes") == "xcore_migrations_notes"
    assert version_table("User-Stats") == "xcore_migrations_user_stats"
    long = version_table("x" * 80)
    assert len(long) == 63 and long != version_table("x" * 81)


def test_bad_declarations_are_refused_naming_the_plugin(site: Path) -> None:
    # Another distribution declaring migrations for a plugin: beside the plugin's own, or instead of them.
    Package(site, "notes").install("1.0.0", {"0001_create_notes": CREATE_NOTES})
    write_distribution(site, "acme-intruder", "1.0", {MIGRATIONS_GROUP: {"notes": "intruder.migrations",
                                                                         "plain": "intruder.migrations"}},
                       {"intruder/migrations/__init__.py": ""})  # fmt: skip
    with pytest.raises(MigrationError, match=r"plugin 'notes': migrations are declared by several distributions"):
        plugin_migrations(*declared("notes"))
    write_distribution(site, "acme-plain", "1.0", {PLUGINS_GROUP: {"plain": "plain_plugin:Plugin"}})
    with pytest.raises(MigrationError, match=r"plugin 'plain' comes from acme-plain, but its migrations are "
                                             r"declared by acme-intruder"):  # fmt: skip
        plugin_migrations(*declared("plain"))

    missing = Package(site, "missing")
    missing.install("1.0.0", {})
    (site / missing.module / "migrations" / "__init__.py").unlink()
    (site / missing.module / "migrations").rmdir()
    with pytest.raises(MigrationError, match=rf"the migrations folder '{missing.module}.migrations' declared by "
                                             rf"{missing.dist} 1.0.0 \(xcore.migrations\) does not exist"):  # fmt: skip
        plugin_migrations(*declared("missing"))

    write_distribution(site, "acme-odd", "1.0", {PLUGINS_GROUP: {"odd": "odd_plugin:Plugin"},
                                                 MIGRATIONS_GROUP: {"odd": "odd plugin/migrations"}})  # fmt: skip
    with pytest.raises(MigrationError, match=r"entry 'odd plugin/migrations' of acme-odd is not 'package.path'"):
        plugin_migrations(*declared("odd"))

    Package(site, "user-stats").install("1.0.0", {})
    Package(site, "user_stats").install("1.0.0", {})
    with pytest.raises(MigrationError, match=r"version table xcore_migrations_user_stats would also be that of "
                                             r"plugin\(s\) 'user_stats'"):  # fmt: skip
        plugin_migrations(*declared("user-stats"))


def test_a_plugin_without_migrations_has_none(site: Path) -> None:
    write_distribution(site, "acme-plain", "1.0", {PLUGINS_GROUP: {"plain": "plain_plugin:Plugin"}})
    assert plugin_migrations(*declared("plain")) is None
