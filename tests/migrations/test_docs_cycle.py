"""docs/writing-a-plugin.md's migration cycle, run as written: its revision file and its metadata
example, in a real distribution, through ``xcore db`` on SQLite."""

from __future__ import annotations

from pathlib import Path

from tests.spec_support import blocks

from .support import Database, Package, config, write_config, xcore

DOC = Path(__file__).resolve().parents[2] / "docs" / "writing-a-plugin.md"


def doc_blocks(language: str, section: str) -> list[str]:
    return [b.code for b in blocks(DOC.read_text()) if b.language == language and b.section == section]


def test_the_documented_cycle(site: Path, tmp_path: Path) -> None:
    first_revision, metadata_example = doc_blocks("python", "The cycle")
    toml = doc_blocks("toml", "Where they live")[0]
    assert 'notes = "notes.migrations"' in toml and '[project.entry-points."xcore.migrations"]' in toml
    plugin = "import sqlalchemy as sa\nfrom xcore.sdk import TrustedBase\n" + metadata_example
    notes = Package(site, "notes")
    notes.install("1.0.0", {"0001_create_notes": first_revision}, init=plugin)
    database = Database("sqlite", f"sqlite:///{tmp_path / 'app.db'}")
    path = write_config(tmp_path / "integration.yaml", config({"default": database.section()}, ["notes"]))

    for command in ("upgrade notes", "current", "history notes"):
        result = xcore(site, path, *command.split())
        assert result.returncode == 0, (command, result.stderr)
    assert database.version("notes") == "0001" and database.columns("notes") == {"id", "text"}

    generated = xcore(site, path, "revision", "notes", "-m", "pin notes", "--autogenerate")
    assert generated.returncode == 0, generated.stderr
    assert xcore(site, path, "upgrade").returncode == 0
    assert database.columns("notes") == {"id", "text", "pinned"}
    assert xcore(site, path, "downgrade", "notes", "0001").returncode == 0
    assert database.columns("notes") == {"id", "text"}
