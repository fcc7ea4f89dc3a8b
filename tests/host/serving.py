"""``xcore serve`` in a subprocess, for the tests that need a real server: its port, its log, its memory."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from xcore.testing.servers import free_port

from .support import Site

STARTUP_SECONDS = 60


@dataclass
class Served:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        """The server process's resident memory, in MiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS in /proc status")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start(
    site: Site, config: dict[str, Any], *, name: str = "server", args: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[bytes], Path, int]:
    """Start ``xcore serve`` on ``config`` (and ``args``) with the site's distributions installed; do not wait."""
    folder = site.root.parent
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    log = folder / f"{name}.log"
    env = {
        **os.environ,
        "PYTHONPATH": f"{site.root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "PYTHONUNBUFFERED": "1",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "xcore.cli", "serve", "--config", str(path), "--port", str(port), *args],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=folder, start_new_session=True,
        )  # fmt: skip
    return process, log, port


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def served(site: Site, config: dict[str, Any]) -> Iterator[Served]:
    """A running ``xcore serve``, answering ``/health``; stopped on exit."""
    process, log, port = start(site, config)
    server = Served(port, process, log)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"xcore serve exited with {process.returncode}:\n{server.log_text()}")
            try:
                if httpx.get(f"{server.base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"xcore serve did not answer within {STARTUP_SECONDS}s:\n{server.log_text()}")
            time.sleep(0.1)
        yield server
    finally:
        stop(process)


def raw_post(
    port: int,
    path: str,
    size: int,
    *,
    headers: dict[str, str] | None = None,
    chunked: bool = False,
    piece: int = 64 * 1024,
    timeout: float = 30.0,
    wait_first: float = 0.0,
) -> tuple[int, int]:
    """POST ``size`` bytes, stopping as soon as the server answers; return (status, bytes of body sent).

    With ``chunked``, the body is sent with ``Transfer-Encoding: chunked`` and no length. ``wait_first``
    seconds are given to the server to answer on the headers alone, before any of the body is sent.
    """
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    data = b"7" * piece
    frame = f"{piece:x}\r\n".encode() + data + b"\r\n" if chunked else data
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sent, answer = 0, b""
        if wait_first and select.select([sock], [], [], wait_first)[0]:
            answer = sock.recv(65536)
            return int(answer.split(b" ", 2)[1]), 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock] if sent < size else [], [], 1.0)
            if readable:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                answer += chunk
                if not chunk or b"\r\n\r\n" in answer:
                    break
            elif writable:
                try:
                    sock.sendall(frame)
                except (BrokenPipeError, ConnectionResetError):
                    sent = size  # the server closed its side: read what it answered
                    continue
                sent += piece
                if sent >= size and chunked:
                    sock.sendall(b"0\r\n\r\n")
        if not answer:
            raise AssertionError(f"no answer after sending {sent} bytes")
        return int(answer.split(b" ", 2)[1]), sent
