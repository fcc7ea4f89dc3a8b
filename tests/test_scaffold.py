"""``xcore new plugin|service NAME``: packages that install with pip and whose own tests pass.

The end-to-end test installs both generated packages into a throwaway venv that sees this
environment's packages (``tests/venv_support.py``), then runs each package's tests with that venv's
Python: exactly what a plugin author does after ``xcore new``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.ci import IN_CI
from tests.venv_support import nested_venv
from xcore._scaffold import ScaffoldError, create, names_for, render
from xcore._scaffold.commands import new

STEP_TIMEOUT = 60


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT)


def check(result: subprocess.CompletedProcess[str], what: str) -> None:
    assert result.returncode == 0, (
        f"{what} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )


def test_generated_packages_install_and_their_tests_pass(tmp_path: Path) -> None:
    runner = CliRunner()
    for kind, name in (("plugin", "greetings-demo"), ("service", "shout-box")):
        result = runner.invoke(new, [kind, name, "--directory", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        assert f"created {kind} package {name!r}" in result.output

    python = str(nested_venv(tmp_path / "venv"))
    check(
        run(
            [
                python,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "--no-build-isolation",
                "-e",
                str(tmp_path / "greetings-demo"),
                "-e",
                str(tmp_path / "shout-box"),
            ],
            tmp_path,
        ),
        "pip install",
    )

    listing = run(
        [
            python,
            "-c",
            "from importlib.metadata import entry_points as e; "
            "print([p.name for p in e(group='xcore.plugins')], [s.name for s in e(group='xcore.services')])",
        ],
        tmp_path,
    )
    check(listing, "entry point listing")
    assert "'greetings-demo'" in listing.stdout and "'shout-box'" in listing.stdout

    for package, expected in (("greetings-demo", 6), ("shout-box", 5)):
        result = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], tmp_path / package)
        check(result, f"pytest in {package}")
        assert f"{expected} passed" in result.stdout, result.stdout
    assert "greetings_demo" not in sys.modules  # nothing leaked into this interpreter


@pytest.mark.skipif(shutil.which("ruff") is None and not IN_CI, reason="ruff is not installed")
@pytest.mark.parametrize("kind", ["plugin", "service"])
def test_generated_code_is_ruff_clean(kind: str, tmp_path: Path) -> None:
    target = create(kind, "shop-cart", tmp_path / "shop-cart")  # type: ignore[arg-type]
    check(run(["ruff", "check", "--no-cache", "."], target), "ruff check")
    check(run(["ruff", "format", "--no-cache", "--check", "."], target), "ruff format --check")


def test_xcore_new_is_a_command_of_the_xcore_cli(tmp_path: Path) -> None:
    from xcore._cli import cli

    result = CliRunner().invoke(cli, ["new", "plugin", "from-cli", "--directory", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p" / "from_cli" / "plugin.py").is_file()


def test_generated_plugin_layout(tmp_path: Path) -> None:
    target = create("plugin", "user-stats", tmp_path / "user-stats")
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "pyproject.toml",
        "tests/conftest.py",
        "tests/test_plugin.py",
        "user_stats/__init__.py",
        "user_stats/migrations/__init__.py",
        "user_stats/plugin.py",
    ]
    pyproject = (target / "pyproject.toml").read_text()
    assert '[project.entry-points."xcore.plugins"]\nuser-stats = "user_stats.plugin:Plugin"' in pyproject
    assert 'name = "user-stats"' in pyproject


@pytest.mark.parametrize("kind", ["plugin", "service"])
def test_every_template_renders_to_valid_python(kind: str) -> None:
    files = render(kind, names_for("shop-cart"))  # type: ignore[arg-type]
    assert any(path.parts[0] == "shop_cart" for path in files)
    for path, text in files.items():
        if path.suffix == ".py":
            compile(text, str(path), "exec")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Greetings", "lowercase"),
        ("9lives", "starting with a letter"),
        ("two words", "lowercase"),
        ("trailing-", "lowercase"),
        ("", "lowercase"),
        ("class", "reserved"),
        ("tests", "reserved"),
        ("json", "already importable"),
        ("pytest", "already importable"),
    ],
)
def test_bad_names_are_refused_with_the_reason(name: str, reason: str, tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match=reason):
        create("plugin", name, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_existing_directory_is_left_untouched(tmp_path: Path) -> None:
    target = tmp_path / "greetings"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    result = CliRunner().invoke(new, ["plugin", "greetings", "--directory", str(target)])
    assert result.exit_code == 2
    assert "already exists and is not an empty directory; nothing was written" in result.output
    assert [p.name for p in target.iterdir()] == ["notes.txt"]
    assert (target / "notes.txt").read_text() == "mine"


def test_an_empty_existing_directory_is_used(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert (create("service", "greeter-box", tmp_path / "empty") / "greeter_box" / "service.py").is_file()


def test_the_cli_rejects_a_bad_name_with_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(new, ["service", "Bad Name", "--directory", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "invalid name 'Bad Name'" in result.output
    assert not (tmp_path / "x").exists()


def test_the_default_directory_is_the_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(new, ["plugin", "hello-there"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "hello-there" / "hello_there" / "plugin.py").is_file()
