"""Observability against real servers (``xcore serve``): the stall watchdog, and metrics with 2 workers.

- A trusted plugin's route that calls ``time.sleep(0.3)`` holds the loop: the server logs one line
  naming the plugin and the route template, ``/metrics`` counts one stall for the plugin, and a plugin
  following the kernel event ``xcore.loop.stalled`` hears it. The token in the request's query string
  appears in none of them.
- ``xcore serve --workers 2`` with ``app.metrics: true``: every worker counts into a private directory
  made for this run, so whichever worker answers ``/metrics`` reports all the requests; the directory
  is gone once the server has stopped.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import httpx

from tests.served_process import serving, with_pythonpath, xcore_serve_command
from tests.test_observability_metrics import value
from xcore._observability.http_metrics import FLUSH_INTERVAL
from xcore.testing.servers import free_port

PLUGINS = """
import time
from typing import Any
from fastapi import APIRouter
from xcore.sdk import TrustedBase


class Sleepy(TrustedBase):
    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/nap/{who}")
        async def nap(who: str) -> dict[str, str]:
            time.sleep(0.3)  # the mistake the watchdog is for: a blocking call in an async route
            return {"slept": who}

        @router.get("/quick")
        async def quick() -> dict[str, int]:
            return {"pid": __import__("os").getpid()}

        return router


class Watcher(TrustedBase):
    heard: list[dict[str, Any]] = []

    async def on_load(self) -> None:
        self.ctx.events.on("xcore.loop.stalled", self.stalled)

    async def stalled(self, event: Any) -> None:
        Watcher.heard.append(dict(event.data))

    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/heard")
        async def heard() -> list[dict[str, Any]]:
            return Watcher.heard

        return router
"""

SECRET = "tok-7f3a9c-do-not-log"


def write_site(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "stall_plugins.py").write_text(PLUGINS)
    config = tmp_path / "integration.yaml"
    config.write_text(
        "app:\n  metrics: true\n  log_level: INFO\n" + extra + "plugins:\n  enabled: []\n  local:\n"
        "    sleepy: stall_plugins:Sleepy\n    watcher: stall_plugins:Watcher\n"
        "services:\n  databases: {}\n  cache: {backend: memory}\n  events: {backend: memory}\n"
        "  scheduler: {enabled: false}\n  extensions: {}\n"
    )
    return config


def test_a_blocking_route_is_reported_as_a_log_line_a_metric_and_a_kernel_event(tmp_path: Path) -> None:
    config = write_site(tmp_path)
    port = free_port()
    env = with_pythonpath(tmp_path)
    log = tmp_path / "serve.log"
    with serving(xcore_serve_command(config, port), port=port, log=log, env=env, cwd=tmp_path) as server:
        assert server.get(f"/plugins/sleepy/nap/alice?token={SECRET}") == (200, '{"slept":"alice"}')
        deadline = time.monotonic() + 10
        while True:  # the kernel event is delivered from a task once the loop turns again
            _, heard = server.get("/plugins/watcher/heard")
            if heard != "[]" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        _, metrics = server.get("/metrics")
    output = log.read_text()
    stalls = [line for line in output.splitlines() if "event loop was blocked" in line]
    assert len(stalls) == 1, output
    assert "plugin 'sleepy'" in stalls[0] and "route GET /plugins/sleepy/nap/{who}" in stalls[0], stalls
    assert "stall_plugins.py:" in stalls[0] and "in nap" in stalls[0], stalls
    seconds = float(re.search(r"blocked for ([\d.]+)s", stalls[0]).group(1))  # type: ignore[union-attr]
    assert 0.25 <= seconds < 2.0, stalls
    assert value(metrics, "xcore_loop_stalls_total", plugin="sleepy") == 1, metrics
    events = httpx.Response(200, text=heard).json()
    assert len(events) == 1, events
    assert events[0]["plugin"] == "sleepy" and events[0]["activity"] == "route GET /plugins/sleepy/nap/{who}"
    assert SECRET not in output and SECRET not in metrics and SECRET not in heard


def test_two_workers_count_into_one_private_directory(tmp_path: Path) -> None:
    config = write_site(tmp_path, "  stall_threshold: 0\n")
    port = free_port()
    env = {k: v for k, v in with_pythonpath(tmp_path).items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["TMPDIR"] = str(tmp_path)  # where the private directory is made, so the test can see it go
    log = tmp_path / "serve.log"
    with serving(xcore_serve_command(config, port, "--workers", "2"), port=port, log=log, env=env) as server:
        made = list(tmp_path.glob("xcore-metrics-*"))
        assert len(made) == 1, os.listdir(tmp_path)
        pids: set[int] = set()
        requests = 0
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=server.base, timeout=10) as client:
            # the kernel hands connections to whichever worker accepts first: go on (bounded) until both have
            while requests < 40 or (len(pids) < 2 and requests < 2000 and time.monotonic() < deadline):
                pids.add(client.get("/plugins/sleepy/quick", headers={"Connection": "close"}).json()["pid"])
                requests += 1
            time.sleep(FLUSH_INTERVAL + 0.5)  # each worker hands its request tallies over every FLUSH_INTERVAL
            scrapes = [client.get("/metrics", headers={"Connection": "close"}).text for _ in range(4)]
        assert len(pids) == 2, f"one worker answered every request: {pids}"
        route = {"plugin": "sleepy", "route": "/plugins/sleepy/quick", "method": "GET"}
        for text in scrapes:  # any worker's answer sums both workers' counts
            assert value(text, "xcore_http_requests_total", **route) == requests, text
            assert value(text, "xcore_http_request_duration_seconds_count", **route) == requests, text
            assert value(text, "xcore_plugin_state", plugin="sleepy", state="loaded") == 1, text
        assert {f.name for f in made[0].iterdir()} >= {f"counter_{pid}.db" for pid in pids}
    assert server.returncode == 0, log.read_text()
    assert not made[0].exists(), "the private metrics directory outlived the server"
