"""HTTP: a plugin's GET route and the action endpoint on XCore against the same routes on bare FastAPI.

Both servers (:mod:`benchmarks.http_apps`) run as subprocesses under uvicorn with one worker on free ports of
127.0.0.1, started once and kept up side by side. The load comes from a separate process
(:mod:`benchmarks.load`: fixed concurrency, keep-alive, fixed duration); rounds alternate the two servers and
which one goes first, so the noise of this shared machine hits both. Reported: requests per second (target:
XCore at least 97% of bare FastAPI) and p99 latency, medians over the rounds.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

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

    def __init__(self, kind: str, logs: Path) -> None:
        self.kind = kind
        self.port = free_port()
        self.log = logs / f"{kind}.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.http_apps", kind, str(self.port)],
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
        "baseline": "same APIRouter on bare FastAPI",
    },
    {
        "label": "POST action endpoint",
        "method": "POST",
        "path": ACTION_PATH,
        "body": {"n": 1},
        "baseline": "equivalent bare POST route (same key check, direct plugin.handle)",
    },
]


def run(quick: bool) -> list[Result]:
    rounds, duration, warmup = (2, 0.7, 0.2) if quick else (4, 2.5, 0.5)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="xcore-bench-http-") as tmp:
        servers: list[Server] = []
        try:
            for kind in ("xcore", "bare"):  # both start at once, then both are awaited
                servers.append(Server(kind, Path(tmp)))
            for server in servers:
                server.wait_ready()
            xcore, bare = servers
            for case in CASES:
                answers = [s.request(case["method"], case["path"], case["body"]) for s in servers]
                if answers[0] != answers[1]:
                    raise RuntimeError(f"{case['label']}: the servers answer differently: {answers}")
                order = [s for index in range(rounds) for s in ((xcore, bare) if index % 2 == 0 else (bare, xcore))]
                headers = [f"X-API-Key: {API_KEY}"] if case["body"] is not None else []
                plan = {
                    "concurrency": CONCURRENCY,
                    "duration": duration,
                    "warmup": warmup,
                    "runs": [
                        {
                            "port": s.port,
                            "method": case["method"],
                            "path": case["path"],
                            "body": case["body"],
                            "headers": headers,
                        }
                        for s in order
                    ],
                }
                runs: dict[str, list[dict[str, Any]]] = {"xcore": [], "bare": []}
                for server, result in zip(order, load(plan), strict=True):
                    runs[server.kind].append(result)
                rps = {k: statistics.median(r["rps"] for r in v) for k, v in runs.items()}
                p99 = {k: statistics.median(r["p99_ms"] for r in v) for k, v in runs.items()}
                p50 = {k: statistics.median(r["p50_ms"] for r in v) for k, v in runs.items()}
                setup = f"{CONCURRENCY} connections, {rounds} rounds x {duration:g}s per server"
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
        finally:
            for server in servers:
                server.stop()
    return results
