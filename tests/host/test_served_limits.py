"""What an anonymous client can make a real ``xcore serve`` do: large bodies, failing routes, keep-alive.

Bounded: a few 50 MB requests over 127.0.0.1, 100 failing requests on one connection.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.served_process import ServedProcess

from .serving import raw_post, served
from .support import NO_SERVICES, Site

PLUGIN = """
from fastapi import APIRouter, Request
from xcore.sdk import TrustedBase, action, ok

class Plugin(TrustedBase):
    def get_router(self):
        router = APIRouter()

        @router.get("/boom/{item}")
        async def boom(item: int):
            raise RuntimeError(f"item {item} exploded; password hunter2")

        @router.get("/fine")
        async def fine():
            return {"fine": True}

        @router.post("/size")
        async def size(request: Request):
            return {"size": len(await request.body())}

        return router

    @action()
    async def ping(self, payload):
        return ok(keys=sorted(payload))
"""

MB = 1024 * 1024
BIG = 50 * MB


def config(**app: Any) -> dict[str, Any]:
    return {
        "app": {"api_key": "k-123", "log_level": "INFO", **app},
        "services": NO_SERVICES,
        "plugins": {"enabled": ["web"]},
    }


def peak_rss_during(
    server: ServedProcess, work: Callable[[], list[tuple[int, int]]]
) -> tuple[list[tuple[int, int]], float]:
    """Run ``work`` while sampling the server's memory; return its result and the peak RSS growth in MiB."""
    baseline = server.rss_mb()
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, server.rss_mb())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = work()
    finally:
        done.set()
        sampler.join()
    return result, max(peak, server.rss_mb()) - baseline


def parallel(count: int, call: Callable[[], tuple[int, int]]) -> list[tuple[int, int]]:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: call(), range(count)))


def test_large_bodies_get_413_at_once_or_at_the_limit_and_memory_stays_bounded(site: Site) -> None:
    site.plugin("web", PLUGIN)
    with served(site, config()) as server:
        # A declared length over the limit: 413 on the headers alone, before any of the body is sent.
        assert raw_post(server.port, "/plugins/web/size", BIG, wait_first=10) == (413, 0)
        assert raw_post(server.port, "/plugins/web/actions/ping", BIG, wait_first=10) == (413, 0)
        # Chunked bodies have no length: counted while they stream, cut at the limit (1 MiB by default).
        results, growth = peak_rss_during(
            server, lambda: parallel(4, lambda: raw_post(server.port, "/plugins/web/size", BIG, chunked=True))
        )
        assert [status for status, _ in results] == [413] * 4
        assert all(sent < BIG for _, sent in results), results
        assert growth < 40, f"server memory grew by {growth:.0f} MiB for four refused 50 MB bodies"
        # Below the limit, bodies are read as before, chunked or not.
        assert raw_post(server.port, "/plugins/web/size", 512 * 1024, chunked=True) == (200, 512 * 1024)
        assert raw_post(server.port, "/plugins/web/size", MB) == (200, MB)


def test_the_key_is_checked_before_the_action_body_is_read(site: Site) -> None:
    site.plugin("web", PLUGIN)
    # A limit above the body size: only checking the key first keeps these bodies unread.
    with served(site, config(max_body_size=64 * MB)) as server:
        results, growth = peak_rss_during(
            server, lambda: parallel(4, lambda: raw_post(server.port, "/plugins/web/actions/ping", BIG))
        )
        assert [status for status, _ in results] == [401] * 4
        assert growth < 40, f"server memory grew by {growth:.0f} MiB for four unauthenticated 50 MB bodies"
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request(
            "POST",
            "/plugins/web/actions/ping",
            body=json.dumps({"b": 1, "a": 2}),
            headers={"X-API-Key": "k-123", "Content-Type": "application/json"},
        )
        answer = connection.getresponse()
        assert (answer.status, json.loads(answer.read())) == (200, {"status": "ok", "keys": ["a", "b"]})


def test_a_failing_route_answers_json_500_on_the_same_connection_and_logs_one_traceback(site: Site) -> None:
    site.plugin("web", PLUGIN)
    with served(site, config(error_log_interval=1)) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.connect()
        sock = connection.sock
        for item in range(100):
            connection.request("GET", f"/plugins/web/boom/{item}")
            answer = connection.getresponse()
            body = answer.read()
            assert answer.status == 500 and json.loads(body) == {"detail": "Internal Server Error"}
            assert answer.getheader("connection") != "close"
            assert connection.sock is sock, f"the server closed the connection after error {item}"
        connection.request("GET", "/plugins/web/fine")
        answer = connection.getresponse()
        assert (answer.status, json.loads(answer.read())) == (200, {"fine": True})
        assert connection.sock is sock
        deadline = time.monotonic() + 15
        while counted(server.log_text()) < 99 and time.monotonic() < deadline:
            time.sleep(0.1)
        log = server.log_text()
    assert log.count("Traceback") == 1, log[-3000:]
    assert "unhandled error in GET /plugins/web/boom/{item} (plugin 'web')" in log
    assert counted(log) == 99, log[-3000:]
    assert "RuntimeError at " in log and "Exception in ASGI application" not in log


def counted(log: str) -> int:
    """The repeats the summary lines (``...: 98 more times in the last 1 s``) add up to."""
    return sum(int(line.rsplit(": ", 1)[-1].split()[0]) for line in log.splitlines() if "more times in the" in line)
