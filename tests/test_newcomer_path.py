"""A newcomer's whole path, in a throwaway virtualenv, from XCore's built wheel.

One fresh venv (its own pip, nothing from this environment) is used for every step, as a user
would: ``pip install xcore-host`` (by name, from the wheel built from this checkout, its
dependencies from the package index or pip's cache), ``xcore new plugin``, ``pip install -e
".[test]"`` of the generated package, its tests, ``mypy --strict`` on it (this environment's mypy,
pointed at the venv with ``--python-executable``: the venv's XCore must ship ``py.typed``), then
``xcore serve`` for real: the plugin's route and its action over HTTP.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.served_process import serving
from xcore import __version__
from xcore.testing.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
STEP_TIMEOUT = 420
"""Installing XCore's dependencies into an empty venv is the slow step (pip's cache makes it ~30 s)."""


def run(args: list[str | Path], cwd: Path, timeout: float = STEP_TIMEOUT) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "VIRTUAL_ENV", "PYTHON"))}
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result.stdout


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("newcomer")


@pytest.fixture(scope="module")
def venv(workdir: Path) -> Path:
    """An empty venv with ``xcore-host`` installed by name from the wheel built from this checkout."""
    source = workdir / "source"  # a copy, so building leaves no build/ or egg-info in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "xcore", source / "xcore", ignore=shutil.ignore_patterns("__pycache__"))
    dist = workdir / "dist"
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, source], workdir)
    wheels = [p.name for p in dist.glob("*.whl")]
    assert wheels == [f"xcore_host-{__version__}-py3-none-any.whl"], wheels

    base = getattr(sys, "_base_executable", None) or sys.executable
    run([base, "-m", "venv", workdir / "venv"], workdir)
    python = workdir / "venv" / "bin" / "python"
    run([python, "-m", "pip", "install", "-q", "--find-links", dist, f"xcore-host=={__version__}"], workdir)
    return workdir / "venv"


def test_installed_under_its_name_with_typing_and_the_command(venv: Path, workdir: Path) -> None:
    python = venv / "bin" / "python"
    code = "import importlib.metadata as m, xcore, pathlib; print(m.version('xcore-host'), " \
           "(pathlib.Path(xcore.__file__).parent / 'py.typed').is_file(), xcore.__file__)"  # fmt: skip
    version, typed, location = run([python, "-c", code], workdir).split()
    assert (version, typed) == (__version__, "True")
    assert location.startswith(str(venv)), location  # the venv's own copy, not this checkout
    assert run([venv / "bin" / "xcore", "--version"], workdir).strip().endswith(__version__)


@pytest.fixture(scope="module")
def plugin(venv: Path, workdir: Path) -> Path:
    """``xcore new plugin hello-world`` then ``pip install -e ".[test]"``, as the scaffold says."""
    created = run([venv / "bin" / "xcore", "new", "plugin", "hello-world"], workdir)
    assert 'pip install -e ".[test]"' in created
    package = workdir / "hello-world"
    run([venv / "bin" / "python", "-m", "pip", "install", "-q", "-e", ".[test]"], package)
    return package


def test_the_generated_plugin_tests_pass(venv: Path, plugin: Path) -> None:
    output = run([venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider"], plugin)
    assert "6 passed" in output, output


def test_the_generated_plugin_passes_mypy_strict(venv: Path, plugin: Path) -> None:
    output = run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--python-executable", venv / "bin" / "python",
         "hello_world", "tests"],
        plugin,
    )  # fmt: skip
    assert "Success: no issues found" in output, output


@pytest.fixture
def served(venv: Path, plugin: Path, workdir: Path) -> Iterator[str]:
    port = free_port()
    config = workdir / "integration.yaml"
    config.write_text('app:\n  api_key: "${HELLO_KEY}"\nplugins:\n  settings:\n    hello-world: {greeting: Hi}\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "VIRTUAL_ENV"))}
    env["HELLO_KEY"] = "newcomer-key"
    command = [venv / "bin" / "xcore", "serve", "--config", config, "--port", str(port)]
    with serving(command, port=port, log=workdir / "serve.log", env=env, cwd=workdir, stop_signal=signal.SIGINT) as s:
        yield s.base


def test_xcore_serve_runs_the_route_and_the_action(served: str) -> None:
    with httpx.Client(base_url=served, timeout=10) as client:
        assert client.get("/plugins/hello-world/hello", params={"name": "Ada"}).json() == {"message": "Hi, Ada!"}
        action = "/plugins/hello-world/actions/greet"
        answer = client.post(action, json={"name": "Ada"}, headers={"X-API-Key": "newcomer-key"})
        assert answer.status_code == 200 and answer.json() == {"status": "ok", "message": "Hi, Ada!"}
        assert client.post(action, json={"name": "Ada"}).status_code == 401
        assert client.get("/health/ready").json() == {"status": "ok"}  # anonymous: status only
        ready = client.get("/health/ready", headers={"X-API-Key": "newcomer-key"}).json()
        assert ready["plugins"]["hello-world"]["status"] == "ok"
