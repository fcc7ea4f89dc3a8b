"""Which Python ``scripts/demo`` and ``scripts/test`` install into: never the system one by surprise.

``scripts/python-env`` (sourced by both) is run for real in a copy of the checkout's scripts: with
no virtualenv active it creates the project's own ``.venv`` and says so, then reuses it; an active
virtualenv or ``$PYTHON`` is used as it is. What an install under the old distribution name left
in the checkout (``xcore.egg-info``) is removed, since it would shadow every built-in backend.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pick(checkout: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHON")}
    script = 'source scripts/python-env && echo "python=$python" && echo "venv=${VIRTUAL_ENV:-}"'
    result = subprocess.run(["bash", "-c", script], cwd=checkout, env={**base, **env}, capture_output=True,
                            text=True, timeout=180)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def checkout_copy(tmp_path: Path) -> Path:
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "scripts", checkout / "scripts")
    return checkout


def test_without_a_virtualenv_the_project_venv_is_created_then_reused(tmp_path: Path) -> None:
    checkout = checkout_copy(tmp_path)
    (checkout / "xcore.egg-info").mkdir()

    first = pick(checkout)
    assert "no virtualenv is active: creating the project's own in ./.venv" in first.stdout
    assert f"python={checkout}/.venv/bin/python" in first.stdout
    assert f"venv={checkout}/.venv" in first.stdout  # activated: the suite finds its ruff, xcore...
    assert (checkout / ".venv" / "bin" / "python").is_file()
    assert "removing xcore.egg-info" in first.stdout and not (checkout / "xcore.egg-info").exists()

    again = pick(checkout)
    assert "using the project's own ./.venv" in again.stdout and "creating" not in again.stdout


def test_an_active_virtualenv_or_python_is_used_as_it_is(tmp_path: Path) -> None:
    checkout = checkout_copy(tmp_path)
    active = pick(checkout, VIRTUAL_ENV=sys.prefix)
    assert f"using the active virtualenv {sys.prefix}" in active.stdout
    assert f"python={sys.prefix}/bin/python" in active.stdout

    given = pick(checkout, PYTHON=sys.executable)
    assert f"python={sys.executable}" in given.stdout
    assert not (checkout / ".venv").exists()
