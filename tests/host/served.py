"""``xcore serve`` in a real subprocess, for tests that need the whole stack (uvicorn, its access
log, the process's log handlers) rather than an in-process app."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from xcore.testing.servers.ports import free_port, wait_for_port


@dataclass
class Served:
    """A running ``xcore serve``: its base URL and, once it has stopped, everything it wrote to stderr."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    stderr_path: Path

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def get(
        self,
        path: str,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        method: str = "GET",
        body: bytes | None = None,
    ) -> tuple[int, str]:
        """``(status, body)`` of one request; error statuses are answers too."""
        request = urllib.request.Request(self.url + path, headers=dict(headers or {}), method=method, data=body)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


@contextmanager
def xcore_serve(config: Path, pythonpath: str = "", env: Mapping[str, str] | None = None) -> Iterator[Served]:
    """Serve ``config`` on a free port until the block ends, then stop it with SIGTERM.

    Its output goes to ``xcore-serve-<port>.log`` beside the config (read it as ``.stderr``).
    """
    port = free_port()
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (pythonpath, os.environ.get("PYTHONPATH", "")) if p),
        **(env or {}),
    }
    stderr_path = config.parent / f"xcore-serve-{port}.log"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "xcore.cli", "serve", "--config", str(config), "--port", str(port)],
            stdout=stderr,
            stderr=stderr,
            env=environment,
            cwd=config.parent,
        )
    served = Served(f"http://127.0.0.1:{port}", port, process, stderr_path)
    try:
        wait_for_port(port, timeout=60, process=process)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
