"""``xcore serve`` exit codes match ``--help``, and a failed boot ends in one paragraph.

Run for real (a subprocess on a free port): under ``--strict`` a plugin whose ``on_load`` raises
makes the boot fail; uvicorn would exit 3 after printing the ``BootError`` traceback. The plugin's
own traceback stays in the log (where it happened), then one line says why XCore did not start.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from xcore.testing.servers import free_port

BROKEN = """
from xcore.sdk import TrustedBase

class Plugin(TrustedBase):
    async def on_load(self) -> None:
        raise RuntimeError("db down")
"""


def serve(tmp_path: Path, config: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "broken_on_load.py").write_text(BROKEN)
    (tmp_path / "integration.yaml").write_text(config)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "XCORE_DATA": str(tmp_path / "data")}
    command = [sys.executable, "-m", "xcore", "serve", "--port", str(free_port()), *args]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90)


def test_help_documents_the_exit_codes() -> None:
    result = subprocess.run([sys.executable, "-m", "xcore", "serve", "--help"], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    text = " ".join(result.stdout.split())
    assert "Exit codes: 0 when stopped" in text and "2 when the config is invalid" in text
    assert "1 when the boot failed" in text and "--strict Any plugin failure fails the boot (exit 1)." in text


def test_a_strict_boot_failure_exits_1_with_one_paragraph(tmp_path: Path) -> None:
    config = "plugins:\n  enabled: []\n  local:\n    bad: broken_on_load:Plugin\n"
    result = serve(tmp_path, config, "--strict")
    assert result.returncode == 1, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert lines[-2:] == [
        "ERROR:    XCore did not start: strict mode: plugins failed: bad: on_load raised RuntimeError: db down",
        "ERROR:    Application startup failed. Exiting.",
    ]
    assert "BootError" not in result.stderr
    assert result.stderr.count("Traceback") == 1  # the plugin's own, logged when on_load raised
    assert 'raise RuntimeError("db down")' in result.stderr


def test_an_invalid_config_exits_2_before_serving(tmp_path: Path) -> None:
    result = serve(tmp_path, "app:\n  nmae: shop\n")
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "app.nmae" in result.stderr and "Traceback" not in result.stderr
