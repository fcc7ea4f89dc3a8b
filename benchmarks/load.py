"""A small closed-loop HTTP/1.1 load generator, run as its own process by the HTTP benchmark.

``python -m benchmarks.load < plan.json`` reads a plan (``concurrency``, ``duration``, ``warmup`` and a list
of ``runs``, each ``{"port", "method", "path", "body", "headers"}``) and performs the runs one after the
other: ``concurrency`` keep-alive connections to 127.0.0.1 (the only host it can target), each sending its
next request as soon as the previous answer is read, for ``warmup`` + ``duration`` seconds. It prints one
JSON list: per run, requests, errors, requests per second, p50 and p99 latency (warm-up excluded).

It speaks HTTP with raw asyncio streams rather than an HTTP client library so that the client spends as
little CPU as possible: on a 2-core machine the server, not the load generator, must be the bottleneck,
or every server would look equally fast. One process performs all runs, so no interpreter start-up sits
between two measurements.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

HOST = "127.0.0.1"


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))]


def request_bytes(method: str, path: str, body: bytes, headers: list[str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", *headers]
    if body or method != "GET":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one response; return its status code. Only ``Content-Length`` bodies are expected."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
        elif name.lower() == b"transfer-encoding":
            raise ValueError("chunked responses are not supported by this load generator")
    if length:
        await reader.readexactly(length)
    return status


async def connection(
    port: int, payload: bytes, until: float, record_from: float, latencies: list[float], failures: list[str]
) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        while True:
            began = time.perf_counter()
            if began >= until:
                return
            writer.write(payload)
            status = await read_response(reader)
            ended = time.perf_counter()
            if began >= record_from:
                if 200 <= status < 300:
                    latencies.append(ended - began)
                else:
                    failures.append(f"HTTP {status}")
    finally:
        writer.close()


async def generate(port: int, payload: bytes, concurrency: int, duration: float, warmup: float) -> dict[str, Any]:
    latencies: list[float] = []
    failures: list[str] = []
    start = time.perf_counter()
    record_from, until = start + warmup, start + warmup + duration
    tasks = [connection(port, payload, until, record_from, latencies, failures) for _ in range(concurrency)]
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    errors = [f"{type(o).__name__}: {o}" for o in outcomes if isinstance(o, BaseException)]
    measured = time.perf_counter() - record_from
    return {
        "requests": len(latencies),
        "errors": len(failures) + len(errors),
        "first_error": (failures + errors)[0] if failures or errors else None,
        "rps": len(latencies) / measured if measured > 0 else 0.0,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


MAX_SECONDS = 120.0


async def run_plan(plan: dict[str, Any]) -> list[dict[str, Any]]:
    concurrency, duration, warmup = int(plan["concurrency"]), float(plan["duration"]), float(plan["warmup"])
    if duration + warmup > MAX_SECONDS:
        raise ValueError(f"a run is capped at {MAX_SECONDS:g} s: load runs are bounded")
    results = []
    for run in plan["runs"]:
        body = json.dumps(run["body"]).encode() if run.get("body") is not None else b""
        payload = request_bytes(run.get("method", "GET"), run["path"], body, run.get("headers", []))
        results.append(await generate(int(run["port"]), payload, concurrency, duration, warmup))
    return results


def main() -> int:
    plan = json.loads(sys.stdin.read())
    print(json.dumps(asyncio.run(run_plan(plan))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
