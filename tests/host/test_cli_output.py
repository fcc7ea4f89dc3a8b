"""What the command line prints about broken plugins: one line each, tables within 100 columns.

Each command boots a host (importing every plugin) in a subprocess, as a user runs it. A plugin
that fails to import, with a two-line error, must cost one stderr line per command (the traceback
only with ``xcore -v``), and ``xcore plugins`` must stay within 100 columns. ``--check`` gives
scripts an exit code.
"""

from __future__ import annotations

from pathlib import Path

from xcore._cli_output import fitted_table

from .support import NO_SERVICES, Site
from .test_cli import write_config, xcore

BROKEN = 'raise ImportError("broken wheel:\\n  the second line of a long error " + "x" * 150)'
GOOD = "from xcore.sdk import TrustedBase\nclass Plugin(TrustedBase): pass\n"


def broken_site(site: Site, tmp_path: Path) -> Path:
    site.plugin("good", GOOD, dist="acme-good-with-a-rather-long-distribution-name", version="1.2.3")
    site.plugin("bad", BROKEN, dist="acme-bad")
    return write_config(tmp_path, {"services": NO_SERVICES, "plugins": {"enabled": ["good", "bad"]}})


def test_a_broken_plugin_is_one_line_per_command(site: Site, tmp_path: Path) -> None:
    path = broken_site(site, tmp_path)
    for command in (["config", "check"], ["plugins"], ["health"]):
        result = xcore(site, *command, "--config", str(path))
        mentions = [line for line in result.stderr.splitlines() if "'bad'" in line]
        assert len(mentions) == 1, (command, result.stderr)
        assert "import of" in mentions[0] and "broken wheel: | the second line of a long error" in mentions[0]
        assert "Traceback" not in result.stderr, (command, result.stderr)

    verbose = xcore(site, "-v", "config", "check", "--config", str(path))
    assert "Traceback (most recent call last)" in verbose.stderr and "ImportError: broken wheel:" in verbose.stderr


def test_plugins_fits_100_columns_and_keeps_the_whole_error(site: Site, tmp_path: Path) -> None:
    path = broken_site(site, tmp_path)
    result = xcore(site, "plugins", "--config", str(path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100, result.stdout
    assert lines[0].split() == ["NAME", "KIND", "VERSION", "DISTRIBUTION", "STATE"]
    bad = next(i for i, line in enumerate(lines) if line.startswith("bad "))
    assert lines[bad].split()[-1] == "failed" and lines[bad + 1].startswith("  error: import of")
    wrapped = [lines[bad + 1], *(line for line in lines[bad + 2 :] if line.startswith("    "))]
    error = "".join("".join(line.split()) for line in wrapped)  # whitespace aside, the error is whole
    assert error.endswith("brokenwheel:|thesecondlineofalongerror" + "x" * 150)


def test_check_gives_scripts_an_exit_code(site: Site, tmp_path: Path) -> None:
    path = broken_site(site, tmp_path)
    assert xcore(site, "plugins", "--config", str(path), "--check").returncode == 1
    assert xcore(site, "plugins", "--config", str(path), "--check", "--json").returncode == 1
    good_only = write_config(tmp_path, {"services": NO_SERVICES, "plugins": {"enabled": ["good"]}})
    assert xcore(site, "plugins", "--config", str(good_only), "--check").returncode == 0


def test_fitted_table_cuts_the_widest_columns_and_wraps_notes() -> None:
    rows = [{"name": "n" * 60, "dist": "d" * 70, "error": "first line\nsecond " + "y" * 250}, {"name": "short"}]
    text = fitted_table(rows, ["name", "dist"], note="error", width=100)
    lines = text.splitlines()
    assert all(len(line) <= 100 for line in lines), text
    assert lines[1].startswith("n" * 40) and "..." in lines[1]
    assert lines[2].startswith("  error: first line | second ")
    assert "".join(line.strip() for line in lines[3:-1]).count("y") == 250 - lines[2].count("y")
    assert lines[-1].startswith("short")
