"""A service backend is a pip package: installing ``xcore-memory-storage`` adds ``type: memory``.

The example package is installed into a throwaway virtualenv that sees this environment's packages
(XCore included, see ``tests/venv_support.py``), in a virtualenv or in the system Python alike; a
script in that venv boots a real host with ``type: memory`` in its config, the package's own test
suite (XCore's storage conformance suite) runs there as its CI would, and after
``pip uninstall`` the same config must fail naming the section, the type and the missing package.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.venv_support import nested_venv

EXAMPLE = Path(__file__).resolve().parents[1] / "example_plugins" / "xcore-memory-storage"

SCRIPT = """
import asyncio, json
from xcore import Xcore
from xcore._errors import ConfigError
from xcore.testing.configs import no_services

CONFIG = {"services": no_services(
    extensions={"storage": {"type": "memory", "package": "xcore-memory-storage", "max_bytes": 100}},
)}

async def main():
    host = Xcore(config=CONFIG, discover=False)
    try:
        await host.boot()
    except ConfigError as exc:
        return {"error": str(exc)}
    try:
        storage = host.get_service("ext.storage")
        url = await storage.upload(data=b"hello", path="docs/a.txt")
        try:
            await storage.upload(data=b"x" * 200, path="big.bin")
            limit = None
        except Exception as exc:
            limit = str(exc)
        provider = next(r for r in host.plugins if r.name == "memory_storage")
        health = await host.health()
        return {"url": url, "data": (await storage.download("docs/a.txt")).decode(), "limit": limit,
                "distribution": provider.source.distribution, "health": health["services"]["ext.storage"]["status"]}
    finally:
        await host.shutdown()

print(json.dumps(asyncio.run(main())))
"""


def run(*cmd: str, cwd: Path) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv without pip of its own (fast): this environment's pip installs into it with ``--python``."""
    folder = tmp_path_factory.mktemp("backend-venv")
    nested_venv(folder / "venv")
    return folder


def test_installing_the_package_adds_the_type_and_uninstalling_removes_it(venv: Path) -> None:
    python = str(venv / "venv" / "bin" / "python")
    source = venv / "xcore-memory-storage"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    (venv / "boot.py").write_text(SCRIPT)
    pip = [sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check", "-q"]

    run(*pip, "install", "--no-deps", "--no-build-isolation", str(source), cwd=venv)
    installed = json.loads(run(python, "boot.py", cwd=venv).strip().splitlines()[-1])
    assert installed["url"] == "memory://ext.storage/docs/a.txt"
    assert installed["data"] == "hello"
    assert installed["distribution"] == "xcore-memory-storage"
    assert installed["health"] == "ok"
    assert installed["limit"] == "ext.storage: storing 'big.bin' would exceed max_bytes=100"

    # the package's own CI: XCore's storage conformance suite, finding the type through the entry point
    suite = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=source)
    assert " passed" in suite and "failed" not in suite and "error" not in suite, suite

    run(*pip, "uninstall", "-y", "xcore-memory-storage", cwd=venv)
    removed = json.loads(run(python, "boot.py", cwd=venv).strip().splitlines()[-1])
    assert removed["error"].endswith(
        "services.extensions.storage: extension type 'memory' comes from the package 'xcore-memory-storage' "
        "(services.extensions.storage.package), which is not installed or is disabled: "
        "pip install xcore-memory-storage"
    )
