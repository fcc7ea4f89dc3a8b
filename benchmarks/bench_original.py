"""XCore beside the original XCore (``xcoreruntime`` 2.1.1), same machine, same workload, one run.

Optional: skipped with a message saying how to install the original when it is not there (see
:mod:`benchmarks.original`; it needs a virtualenv of its own). In the table the *baseline* column is
the original XCore, so a ratio below 1 (times) or above 1 (requests per second) means XCore is ahead.

* in process, per operation, median of rounds of wall time: an action call (``await host.call(...)``
  against the original's ``await xcore.plugins.call(...)``), an event emitted to one handler, and the
  memory cache's get and set of a str and of a dict (XCore hands back a private copy of a dict, the
  original its stored object). The original's side runs in its own interpreter
  (:mod:`benchmarks.original_peer`), driven round by round from here so that the rounds alternate.
* a plugin's GET route served by each one as it serves by default (uvicorn, one worker: uvloop and
  httptools on both), loaded in alternating rounds by :mod:`benchmarks.load`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks.bench_http import Server, measure
from benchmarks.common import Result
from benchmarks.failures import ModuleSkipped
from benchmarks.http_apps import GET_PATH
from benchmarks.original import find
from xcore import Xcore
from xcore.sdk import TrustedBase, ok
from xcore.testing.configs import no_services

AREA = "original"
PEER = Path(__file__).resolve().parent / "original_peer.py"
ROW = {"id": 42, "username": "ada", "email": "ada@example.test", "roles": ["admin", "dev"], "active": True}
PAYLOAD = {"n": 1}


class Echo(TrustedBase):
    async def handle(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return ok(echo=payload)


async def per_op(call: Callable[[], Awaitable[Any]], ops: int) -> float:
    """Time per ``await call()`` in ns over ``ops`` calls (one round, as the peer times its own)."""
    began = time.perf_counter_ns()
    for _ in range(ops):
        await call()
    return (time.perf_counter_ns() - began) / ops


class Peer:
    """The original XCore booted in its own interpreter, timing one round of a case on request."""

    def __init__(self, python: Path, folder: Path) -> None:
        self.log = folder / "original.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [str(python), "-I", str(PEER), "measure"],
                cwd=folder, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
            )  # fmt: skip
        assert self.process.stdout is not None and self.process.stdin is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        if self.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the original did not boot: {self.close()}")

    def round(self, case: str, ops: int) -> float:
        self.stdin.write(json.dumps({"case": case, "ops": ops}) + "\n")
        self.stdin.flush()
        line = self.stdout.readline()
        if not line:
            raise RuntimeError(f"the original stopped during {case!r}: {self.close()}")
        ns: float = json.loads(line)["ns"]
        return ns

    def close(self) -> str:
        """Stop it (end of input shuts it down); the end of its log, for messages."""
        if not self.stdin.closed:
            self.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.stdout.close()
        return self.log.read_text(errors="replace").strip()[-1500:]


async def in_process_cases(python: Path, description: str, quick: bool) -> list[Result]:
    """Each case in alternating rounds, XCore and the original taking turns at going first."""
    ops, rounds = (500, 11) if quick else (2000, 31)
    services = no_services(cache={"backend": "memory", "max_size": 10_000}, events={"backend": "memory"})
    host = Xcore(config={"app": {"name": "bench"}, "services": services}, plugins={"bench": Echo}, discover=False)
    await host.boot()
    with tempfile.TemporaryDirectory(prefix="xcore-bench-original-") as tmp:
        peer = Peer(python, Path(tmp))
        try:
            call, cache = host.call, host.get_service("cache")
            events = next(r.context.events for r in host.plugins if r.name == "bench" and r.context is not None)

            async def handler(event: Any) -> None:
                return None

            events.on("bench.one", handler)
            assert len(await events.emit("bench.one", {"n": 1})) == 1
            await cache.set("s", "value")
            await cache.set("row", ROW)
            assert await cache.get("row") == ROW
            cases: dict[str, Callable[[], Awaitable[Any]]] = {
                "action call": lambda: call("bench", "echo", PAYLOAD),
                "emit, one handler": lambda: events.emit("bench.one", {"n": 1}),
                "memory cache get (str)": lambda: cache.get("s"),
                "memory cache set (str)": lambda: cache.set("s2", "value"),
                "memory cache get (dict)": lambda: cache.get("row"),
                "memory cache set (dict)": lambda: cache.set("row2", ROW),
            }
            results = []
            for case, ours in cases.items():
                x: list[float] = []
                b: list[float] = []
                for index in range(rounds):
                    if index % 2:
                        b.append(peer.round(case, ops))
                        x.append(await per_op(ours, ops))
                    else:
                        x.append(await per_op(ours, ops))
                        b.append(peer.round(case, ops))
                target = TARGETS.get(case, 1.0)
                results.append(Result(
                    AREA, f"{case} (in process)", statistics.median(x), statistics.median(b), "ns/op", target=target,
                    note=f"baseline: {description}; {rounds} alternating rounds x {ops} ops, wall time",
                ))  # fmt: skip
            return results
        finally:
            peer.close()
            await host.shutdown()


TARGETS = {"memory cache get (dict)": 2.0, "memory cache set (dict)": 2.0}
"""Ahead (<= 1) everywhere, except a dict through the memory cache: XCore hands back a private copy, the
original its stored object, which a caller mutating it changes in the cache (issue 12: <= 2x)."""


def http_case(python: Path, quick: bool) -> list[Result]:
    rounds, duration, warmup = (2, 0.5, 0.2) if quick else (6, 1.2, 0.3)
    case = {"label": "GET plugin route", "method": "GET", "path": GET_PATH, "body": None}
    with tempfile.TemporaryDirectory(prefix="xcore-bench-original-http-") as tmp:
        servers = [
            Server("xcore", Path(tmp), "xcore"),
            Server("original", Path(tmp), "original", lambda port: [str(python), "-I", str(PEER), "serve", str(port)]),
        ]
        try:
            for server in servers:
                server.wait_ready()
            m = measure(case, servers, rounds, duration, warmup)
        finally:
            for server in servers:
                server.stop()
    return [
        Result(AREA, "plugin GET route under each one's default uvicorn: throughput", m["rps"]["xcore"],
               m["rps"]["original"], "req/s", target=1.0, higher_is_better=True,
               note=f"p99 {m['p99_ms']['xcore']:.2f} ms vs {m['p99_ms']['original']:.2f} ms; {rounds} alternating "
                    f"rounds x {duration:g}s, 16 connections"),
    ]  # fmt: skip


async def run(quick: bool) -> list[Result]:
    python, description = find()
    if python is None:
        raise ModuleSkipped(description)
    return await in_process_cases(python, description, quick) + http_case(python, quick)
