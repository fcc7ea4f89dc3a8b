"""HTTP: a plugin's GET route and the action endpoint on XCore against the same routes on bare FastAPI.

The servers (:mod:`benchmarks.http_apps`) run as subprocesses under uvicorn with one worker on free ports of
127.0.0.1, started once and kept up side by side. The load comes from a separate process
(:mod:`benchmarks.load`: fixed concurrency, keep-alive, fixed duration); many short rounds rotate the servers
and which one goes first, so the noise of this shared machine hits all alike. Reported: requests per second
(target: XCore at least 97% of bare FastAPI) and p99 latency, medians over the rounds, plus a noise control:
a second, identical bare server measured the same way, whose ratio to the first should be 1.0 and in
practice shows how much a ratio can move by noise alone in this run. The same cases are then measured in
process (:mod:`benchmarks.asgi_direct`), where what XCore adds per request shows without network noise.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import asgi_direct
from benchmarks.common import Result
from benchmarks.http_apps import ACTION_PATH, API_KEY, GET_PATH
from xcore.testing.servers import free_port, wait_for_port

AREA = "http"
REPO = Path(__file__).resolve().parent.parent
CONCURRENCY = 16


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


class Server:
    """One app of :mod:`benchmarks.http_apps` served by uvicorn in a subprocess."""

    def __init__(self, kind: str, logs: Path, label: str, command: Callable[[int], list[str]] | None = None) -> None:
        self.kind = kind
        self.label = label
        self.port = free_port()
        self.log = logs / f"{label}.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                command(self.port) if command else [sys.executable, "-m", "benchmarks.http_apps", kind, str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env(),
                cwd=logs,
            )

    def wait_ready(self) -> None:
        try:
            wait_for_port(self.port, timeout=30, process=self.process)
        except Exception as exc:
            raise RuntimeError(
                f"{self.kind} server did not start: {exc}; log: {self.log.read_text()[-1500:]}"
            ) from None

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One request through urllib (no proxy), to check what the server answers before loading it."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"X-API-Key": API_KEY, "Content-Type": "application/json"},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=10) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def load(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Run a plan in the load generator process (see :mod:`benchmarks.load`); fail on any error response."""
    seconds = len(plan["runs"]) * (plan["duration"] + plan["warmup"] + 2)
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.load"],
        input=json.dumps(plan),
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=seconds + 30,
    )
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed: {out.stderr.strip()[-1500:]}")
    results: list[dict[str, Any]] = json.loads(out.stdout.strip().splitlines()[-1])
    for run, result in zip(plan["runs"], results, strict=True):
        if result["errors"] or not result["requests"]:
            raise RuntimeError(
                f"load on port {run['port']} {run['path']}: {result['errors']} errors ({result['first_error']})"
            )
    return results


CASES: list[dict[str, Any]] = [
    {
        "label": "GET plugin route",
        "method": "GET",
        "path": GET_PATH,
        "body": None,
        "baseline": "the same endpoint declared with @app.get on a bare FastAPI()",
        "control": True,
    },
    {
        "label": "POST action endpoint",
        "method": "POST",
        "path": ACTION_PATH,
        "body": {"n": 1},
        "baseline": "equivalent bare POST route (same key check, direct plugin.handle)",
        "control": False,
    },
]


def rotations(servers: list[Server], rounds: int) -> list[Server]:
    """The load order: every server once per round, the first place rotating from round to round."""
    return [servers[(index + shift) % len(servers)] for index in range(rounds) for shift in range(len(servers))]


def measure(case: dict[str, Any], servers: list[Server], rounds: int, duration: float, warmup: float) -> dict[str, Any]:
    """Median rps, p50 and p99 per server label over ``rounds`` rotations of ``servers``."""
    answers = [s.request(case["method"], case["path"], case["body"]) for s in servers]
    if any(answer != answers[0] for answer in answers):
        raise RuntimeError(f"{case['label']}: the servers answer differently: {answers}")
    order = rotations(servers, rounds)
    headers = [f"X-API-Key: {API_KEY}"] if case["body"] is not None else []
    runs = [
        {"port": s.port, "method": case["method"], "path": case["path"], "body": case["body"], "headers": headers}
        for s in order
    ]
    plan = {"concurrency": CONCURRENCY, "duration": duration, "warmup": warmup, "runs": runs}
    by_server: dict[str, list[dict[str, Any]]] = {s.label: [] for s in servers}
    for server, result in zip(order, load(plan), strict=True):
        by_server[server.label].append(result)
    return {
        metric: {label: statistics.median(r[metric] for r in results) for label, results in by_server.items()}
        for metric in ("rps", "p50_ms", "p99_ms")
    }


def run(quick: bool) -> list[Result]:
    rounds, duration, warmup = (2, 0.5, 0.2) if quick else (6, 1.2, 0.3)
    setup = f"{CONCURRENCY} connections, {rounds} rounds x {duration:g}s per server"
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="xcore-bench-http-") as tmp:
        servers: list[Server] = []
        try:
            for label, kind in (("xcore", "xcore"), ("bare", "bare"), ("control", "bare")):
                servers.append(Server(kind, Path(tmp), label))  # all start at once, then all are awaited
            for server in servers:
                server.wait_ready()
            for case in CASES:
                # The control (a second, identical bare server) shows how far this machine's noise alone
                # moves a ratio; measured on the GET case only, to keep the run short.
                chosen = servers if case["control"] else servers[:2]
                m = measure(case, chosen, rounds, duration, warmup)
                rps, p50, p99 = m["rps"], m["p50_ms"], m["p99_ms"]
                results.append(
                    Result(
                        AREA,
                        f"{case['label']}: throughput",
                        rps["xcore"],
                        rps["bare"],
                        "req/s",
                        target=0.97,
                        higher_is_better=True,
                        note=f"baseline: {case['baseline']}; {setup}",
                    )
                )
                results.append(
                    Result(
                        AREA,
                        f"{case['label']}: p99 latency",
                        p99["xcore"],
                        p99["bare"],
                        "ms",
                        note=f"p50 {p50['xcore']:.2f} ms vs {p50['bare']:.2f} ms",
                    )
                )
                if case["control"]:
                    results.append(
                        Result(
                            AREA,
                            f"{case['label']}: noise control, bare vs bare",
                            rps["control"],
                            rps["bare"],
                            "req/s",
                            higher_is_better=True,
                            note="a second identical bare server: its distance from 1.0 is the noise of this run",
                        )
                    )
        finally:
            for server in servers:
                server.stop()
    return results + asgi_direct.run(quick)
