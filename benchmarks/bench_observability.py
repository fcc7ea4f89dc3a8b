"""What observability costs the plugin GET route: ``app.metrics`` on against off, and the stall watchdog.

Two XCore hosts serve the benchmark plugin of :mod:`benchmarks.http_apps`, identical but for one setting,
and are called through ASGI in process (no network noise), in alternating rounds; the table gives the
median CPU time per request of each (the process's, so the watchdog thread's share counts; a
preempted round does not) and, in the note, the spread of the per-round ratio (10th-90th
percentile). Targets: metrics on within 5% of off (issue 18); the stall watchdog, on by default, within
3% of ``stall_threshold: 0`` (its heartbeat is one timer callback every 20 ms, nothing per request). A
noise control (off against off) shows how far the ratio moves by chance in the same run.

One more row: a memory-cache ``get`` by a plugin, through the object its ``get_service("cache")``
returned, against the same call on the host's own service. With ``app.tracing`` off the plugin gets the
service itself (the spanning proxy exists only with tracing on), so the ratio is 1.0 up to noise.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import FastAPI

from benchmarks.asgi_direct import request
from benchmarks.common import Pairs, Result, paired_async, percentile
from benchmarks.http_apps import GET_PATH, PLUGIN, BenchPlugin
from xcore import Xcore
from xcore.sdk import TrustedBase
from xcore.testing.configs import no_services

AREA = "observability"


def app_with(**settings: Any) -> FastAPI:
    from xcore.web import create_app

    config = {"app": {"name": "bench", **settings}, "services": no_services()}
    return create_app(config=config, plugins={PLUGIN: BenchPlugin}, discover=False)


async def paired(apps: tuple[Any, Any], rounds: int, calls: int) -> tuple[float, float, str]:
    """Median us per request of each app (alternating rounds) and the spread of the per-round ratio."""
    pairs = Pairs()
    for app in apps:  # warm both up alike (first-call caches, series children)
        for _ in range(calls):
            await request(app, "GET", GET_PATH, b"", [])
    for slot in pairs.slots(rounds):
        app, began = apps[slot], time.process_time()
        for _ in range(calls):
            await request(app, "GET", GET_PATH, b"", [])
        pairs.record(slot, (time.process_time() - began) / calls * 1e6)
    xcore, baseline, diff = pairs.medians()
    ratios = [x / b for x, b in zip(pairs.xcore, pairs.baseline, strict=True) if b]
    spread = f"per-round ratio p10-p90 {percentile(ratios, 10):.3f}-{percentile(ratios, 90):.3f}"
    return xcore, baseline, f"{spread}; median paired difference {diff:+.2f} us"


async def measure(quick: bool) -> list[Result]:
    rounds, calls = (10, 300) if quick else (30, 1000)
    setup = f"in process (ASGI), CPU time of the process; {rounds} alternating rounds x {calls} requests"
    off = {"stall_threshold": 0}
    cases: list[tuple[str, dict[str, Any], dict[str, Any], float | None]] = [
        ("GET plugin route: app.metrics on vs off", {"metrics": True, **off}, off, 1.05),
        ("GET plugin route: stall watchdog on (default) vs off", {"stall_threshold": 0.1}, off, 1.03),
        ("GET plugin route: noise control, off vs off", off, off, None),
    ]
    results: list[Result] = []
    for label, on, off, target in cases:
        first, second = app_with(**on), app_with(**off)
        async with first.router.lifespan_context(first), second.router.lifespan_context(second):
            for app in (first, second):
                if (status := await request(app, "GET", GET_PATH, b"", [])) != 200:
                    raise RuntimeError(f"{label}: the plugin route answered {status}")
            xcore, baseline, note = await paired((first, second), rounds, calls)
        results.append(Result(AREA, f"{label}: time per request", xcore, baseline, "us", target=target,
                              note=f"{setup}; {note}"))  # fmt: skip
    return results


class CacheHolder(TrustedBase):
    async def on_load(self) -> None:
        self.cache = self.get_service("cache")


async def service_call(quick: bool) -> Result:
    """A plugin's memory-cache get with tracing off against the host's own service object."""
    ops, rounds = (2_000, 31) if quick else (3_000, 101)
    config = {"app": {"name": "bench"}, "services": no_services(cache={"backend": "memory"})}
    host = Xcore(config=config, plugins={"holder": CacheHolder}, discover=False)
    await host.boot()
    try:
        plugin = next(r.handle.instance for r in host.plugins if r.name == "holder" and r.handle)
        raw = host.get_service("cache")
        await raw.set("hit", "value")
        held = plugin.cache
        if held is not raw:
            raise RuntimeError("with tracing off a plugin must get the service object itself")
        x, b, diff = await paired_async(lambda: held.get("hit"), lambda: raw.get("hit"), ops, rounds)
    finally:
        await host.shutdown()
    note = f"{rounds} paired rounds x {ops} gets; median paired overhead {diff:.0f} ns/op"
    return Result(AREA, "memory cache get by a plugin, tracing off vs the host's service", x, b, "ns/op",
                  target=1.05, note=note)  # fmt: skip


def run(quick: bool) -> list[Result]:
    return [*asyncio.run(measure(quick)), asyncio.run(service_call(quick))]
