"""The same two HTTP cases measured in process: each app called through ASGI, with no server and no network.

Under uvicorn, the network, the event loop and the load generator share this machine's two cores, so the
throughput ratios carry several percent of noise. Called directly, the apps cost exactly what they add per
request, and what XCore adds over bare FastAPI shows cleanly: time per request, XCore / bare, where the
throughput target (>= 0.97) becomes a cost target of <= 1.03.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from benchmarks.common import Result
from benchmarks.http_apps import ACTION_PATH, API_KEY, GET_PATH, bare_app, xcore_app

Message = MutableMapping[str, Any]
AsgiApp = Callable[[Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

CASES: list[tuple[str, str, str, bytes, list[tuple[bytes, bytes]]]] = [
    ("GET plugin route", "GET", GET_PATH, b"", []),
    ("POST action endpoint", "POST", ACTION_PATH, b'{"n": 1}',
     [(b"content-type", b"application/json"), (b"x-api-key", API_KEY.encode())]),
]  # fmt: skip


async def request(
    app: AsgiApp, method: str, path: str, body: bytes, headers: list[tuple[bytes, bytes]], query: bytes = b""
) -> int:
    """One request through the app's ASGI interface; returns the status code."""
    scope: Message = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query, "root_path": "",
        "headers": [(b"host", b"bench"), *headers], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    delivered = False
    status = 0

    async def receive() -> Message:
        nonlocal delivered
        if delivered:
            await asyncio.Event().wait()  # the client never disconnects
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def measure(quick: bool) -> list[Result]:
    rounds, calls = (5, 300) if quick else (15, 2000)
    xcore, bare = xcore_app(), bare_app()
    results: list[Result] = []
    async with xcore.router.lifespan_context(xcore):
        for label, method, path, body, headers in CASES:
            apps: dict[str, Any] = {"xcore": xcore, "bare": bare}
            for name, app in apps.items():
                status = await request(app, method, path, body, headers)
                if status != 200:
                    raise RuntimeError(f"{name} answered {status} to {method} {path}")
            samples: dict[str, list[float]] = {"xcore": [], "bare": []}
            for _ in range(rounds):  # alternating rounds: noise hits both apps alike
                for name, app in apps.items():
                    began = time.perf_counter()
                    for _ in range(calls):
                        await request(app, method, path, body, headers)
                    samples[name].append((time.perf_counter() - began) / calls * 1e6)
            results.append(Result(
                "http", f"{label}: in process (ASGI, no network), time per request",
                statistics.median(samples["xcore"]), statistics.median(samples["bare"]), "us", target=1.03,
                note=f"the same apps called directly, {rounds} alternating rounds x {calls} requests",
            ))  # fmt: skip
    return results


def run(quick: bool) -> list[Result]:
    return asyncio.run(measure(quick))
