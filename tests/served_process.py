"""A real server in a subprocess (``xcore serve``, ``scripts/demo``, gunicorn) on a free 127.0.0.1 port.

The one way the tests start a server, wait until it answers and stop it: the process runs in its own
session (so stopping it reaches every process it started: uvicorn's workers, a script's children),
its output goes to a log file the failure messages quote, and it is stopped with a signal to its
whole process group, then SIGKILL if it has not exited within ``stop_timeout`` seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

READY_SECONDS = 60.0
STOP_SECONDS = 20.0


def xcore_serve_command(config: Path, port: int, *args: str) -> list[str]:
    """``xcore serve`` of this interpreter on ``config`` and ``port``, with more ``args``."""
    return [sys.executable, "-m", "xcore", "serve", "--config", str(config), "--port", str(port), *args]


def with_pythonpath(*folders: str | Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's environment) with ``folders`` first on ``PYTHONPATH``."""
    base = dict(os.environ if env is None else env)
    base["PYTHONPATH"] = os.pathsep.join(str(p) for p in (*folders, base.get("PYTHONPATH", "")) if p)
    return base


def launch(
    command: Sequence[str | Path], *, log: Path, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own session, its stdout and stderr to ``log``; do not wait for it."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(part) for part in command], stdout=out, stderr=subprocess.STDOUT,
            env=None if env is None else dict(env), cwd=cwd, start_new_session=True,
        )  # fmt: skip


def stop(process: subprocess.Popen[bytes], how: int = signal.SIGTERM, timeout: float = STOP_SECONDS) -> int:
    """Send ``how`` to the process's group, SIGKILL it after ``timeout`` seconds; return its exit status."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):  # it exited between poll() and killpg()
            os.killpg(process.pid, how)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode


@dataclass
class ServedProcess:
    """A running server: its port, its process and the log of everything it wrote."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path
    returncode: int | None = None
    """The exit status, once the block that served it has ended."""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def rss_mb(self) -> float:
        """The server process's resident memory, in MiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS in /proc status")

    def get(
        self,
        path: str,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        method: str = "GET",
        body: bytes | None = None,
    ) -> tuple[int, str]:
        """``(status, body)`` of one request (``GET`` unless ``method`` says); error statuses are answers too."""
        request = urllib.request.Request(self.base + path, headers=dict(headers or {}), method=method, data=body)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


@contextmanager
def serving(
    command: Sequence[str | Path],
    *,
    port: int,
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    ready: str = "/health",
    ready_timeout: float = READY_SECONDS,
    stop_signal: int = signal.SIGTERM,
    stop_timeout: float = STOP_SECONDS,
    name: str = "xcore serve",
) -> Iterator[ServedProcess]:
    """Run ``command`` (which serves on ``port``) until ``GET ready`` answers 200; stop it when the block ends.

    The test fails, quoting the log, if the server exits or does not answer within ``ready_timeout``.
    """
    process = launch(command, log=log, env=env, cwd=cwd)
    served = ServedProcess(port, process, log)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode}:\n{served.log_text()}")
            try:
                if httpx.get(f"{served.base}{ready}", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{name} did not answer within {ready_timeout:.0f}s:\n{served.log_text()}")
            time.sleep(0.1)
        yield served
    finally:
        served.returncode = stop(process, stop_signal, stop_timeout)
