"""XCore beside the original XCore (``xcoreruntime`` 2.1.1), same machine, same workload, one run.

Optional: skipped with a message saying how to install the original when it is not there (see
:mod:`benchmarks.original`; it needs a virtualenv of its own). In the table the *baseline* column is
the original XCore, so a ratio below 1 (times) or above 1 (requests per second) means XCore is ahead.

* in process, per operation, median of rounds of wall time: an action call (``await host.call(...)``
  against the original's ``await xcore.plugins.call(...)``), an event emitted to one handler, and the
  memory cache's get and set of a str and of a dict (XCore hands back a private copy of a dict, the
  original its stored object). The original's side runs in its own interpreter
  (:mod:`benchmarks.original_peer`), right before XCore's.
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


async def per_op(call: Callable[[], Awaitable[Any]], ops: int, rounds: int) -> float:
    """Median over ``rounds`` of the time per ``await call()`` in ns (as the peer measures)."""
    samples = []
    for _ in range(rounds):
        began = time.perf_counter_ns()
        for _ in range(ops):
            await call()
        samples.append((time.perf_counter_ns() - began) / ops)
    return statistics.median(samples)


async def xcore_figures(quick: bool) -> dict[str, float]:
    ops, rounds = (500, 11) if quick else (2000, 31)
    services = no_services(cache={"backend": "memory", "max_size": 10_000}, events={"backend": "memory"})
    host = Xcore(config={"app": {"name": "bench"}, "services": services}, plugins={"bench": Echo}, discover=False)
    await host.boot()
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
        return {
            "action call": await per_op(lambda: call("bench", "echo", PAYLOAD), ops, rounds),
            "emit, one handler": await per_op(lambda: events.emit("bench.one", {"n": 1}), ops, rounds),
            "memory cache get (str)": await per_op(lambda: cache.get("s"), ops, rounds),
            "memory cache set (str)": await per_op(lambda: cache.set("s2", "value"), ops, rounds),
            "memory cache get (dict)": await per_op(lambda: cache.get("row"), ops, rounds),
            "memory cache set (dict)": await per_op(lambda: cache.set("row2", ROW), ops, rounds),
        }
    finally:
        await host.shutdown()


def original_figures(python: Path, quick: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="xcore-bench-original-") as tmp:
        done = subprocess.run([str(python), "-I", str(PEER), "measure", "1" if quick else "0"], cwd=tmp,
                              capture_output=True, text=True, timeout=600)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"the original's measurement failed: {done.stderr.strip()[-1500:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


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
    theirs = original_figures(python, quick)
    ours = await xcore_figures(quick)
    results = [
        Result(AREA, f"{case} (in process)", ours[case], theirs[case], "ns/op", target=1.0,
               note=f"baseline: {description}; median of rounds, wall time")
        for case in ours
    ]  # fmt: skip
    return results + http_case(python, quick)
