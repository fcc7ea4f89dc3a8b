"""``xcore serve`` of a test site in a subprocess (on ``tests/served_process.py``), and raw HTTP to it."""

from __future__ import annotations

import select
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from tests.served_process import ServedProcess, launch, serving, with_pythonpath, xcore_serve_command
from xcore.testing.servers import free_port

from .support import Site


def _environment(pythonpath: str | Path) -> dict[str, str]:
    return {**with_pythonpath(pythonpath), "PYTHONUNBUFFERED": "1"}


def _write(site: Site, config: dict[str, Any]) -> Path:
    path = site.root.parent / "server.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start(site: Site, config: dict[str, Any], *, args: tuple[str, ...] = ()) -> tuple[subprocess.Popen[bytes], Path]:
    """Start ``xcore serve`` on ``config`` (and ``args``) with the site's distributions importable; do not wait.

    Stop it with ``tests.served_process.stop``.
    """
    path = _write(site, config)
    port = free_port()
    log = path.parent / f"xcore-serve-{port}.log"
    command = xcore_serve_command(path, port, *args)
    return launch(command, log=log, env=_environment(site.root), cwd=path.parent), log


@contextmanager
def xcore_serve(config: Path, *, pythonpath: str | Path = "") -> Iterator[ServedProcess]:
    """``xcore serve`` on the ``config`` file, answering ``/health``; its log beside it; stopped on exit."""
    port = free_port()
    log = config.parent / f"xcore-serve-{port}.log"
    command = xcore_serve_command(config, port)
    with serving(command, port=port, log=log, env=_environment(pythonpath), cwd=config.parent) as server:
        yield server


@contextmanager
def served(site: Site, config: dict[str, Any]) -> Iterator[ServedProcess]:
    """``xcore serve`` on ``config`` with the site's distributions importable, answering; stopped on exit."""
    with xcore_serve(_write(site, config), pythonpath=site.root) as server:
        yield server


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
        closed = False  # the server closed its side: stop writing, read what it answered
        while time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock] if sent < size and not closed else [], [], 1.0)
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
                    closed = True  # ``sent`` stays what the server let through before it closed
                    continue
                sent += piece
                if sent >= size and chunked:
                    sock.sendall(b"0\r\n\r\n")
        if not answer:
            raise AssertionError(f"no answer after sending {sent} bytes")
        return int(answer.split(b" ", 2)[1]), sent
