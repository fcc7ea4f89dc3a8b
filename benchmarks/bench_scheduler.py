"""The scheduler service against bare APScheduler 3, side by side in one run.

* Start delay: the time from a job's due time to the moment its function starts, median and p99 over
  200 one-shot jobs due 10 ms apart (so the runs are staggered and the case takes seconds, not 200 s).
  XCore: a plugin's coroutine method scheduled through ``get_service("scheduler")`` on a real host, on
  the memory and the Redis backend (claim per run, scheduler thread). Baseline: ``AsyncIOScheduler``
  with APScheduler's ``MemoryJobStore`` / ``RedisJobStore`` and a module-level coroutine.
* ``add_job`` cost, memory and Redis, same two sides, in alternating rounds; figures are medians.

The benchmark starts its own redis-server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from apscheduler.jobstores.base import BaseJobStore
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.redis import RedisJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from benchmarks.common import Result, percentile
from benchmarks.failures import CasesFailed, on_server
from xcore import Xcore
from xcore.sdk import TrustedBase
from xcore.testing.configs import no_services
from xcore.testing.servers import RedisServer

AREA = "scheduler"
SPACING = 0.010
LEAD = 0.5
BASELINE_DELAYS: list[float] = []


class BenchPlugin(TrustedBase):
    """Schedules through its own view of the scheduler, as any plugin does."""

    delays: list[float]

    async def on_load(self) -> None:
        self.scheduler = self.get_service("scheduler")
        self.delays = []

    async def record(self, due: float) -> None:
        self.delays.append(time.time() - due)

    def noop(self) -> None:
        return None


async def baseline_record(due: float) -> None:
    BASELINE_DELAYS.append(time.time() - due)


def baseline_noop() -> None:
    return None


async def boot(scheduler: dict[str, Any]) -> tuple[Xcore, BenchPlugin]:
    config = {"app": {"name": "bench"}, "services": no_services(scheduler=scheduler)}
    host = Xcore(config=config, plugins={"bench": BenchPlugin}, discover=False)
    await host.boot()
    plugin = next(r for r in host.plugins if r.name == "bench").handle.instance  # type: ignore[union-attr]
    return host, plugin


async def wait_for(delays: list[float], count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(delays) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(delays)} of {count} jobs ran within {timeout:.0f}s")
        await asyncio.sleep(0.02)


def due_times(count: int) -> list[float]:
    start = time.time() + LEAD
    return [start + i * SPACING for i in range(count)]


async def xcore_delays(scheduler: dict[str, Any], count: int) -> list[float]:
    host, plugin = await boot(scheduler)
    try:
        for i, due in enumerate(due_times(count)):
            plugin.scheduler.add_job(
                plugin.record, "date", run_date=datetime.fromtimestamp(due, UTC), args=[due], id=f"d{i}"
            )
        await wait_for(plugin.delays, count, LEAD + count * SPACING + 10)
        return list(plugin.delays)
    finally:
        await host.shutdown()


async def baseline_delays(store: BaseJobStore, count: int) -> list[float]:
    BASELINE_DELAYS.clear()
    scheduler = AsyncIOScheduler(timezone=UTC, jobstores={"default": store})
    scheduler.start()
    try:
        for i, due in enumerate(due_times(count)):
            scheduler.add_job(
                baseline_record, "date", run_date=datetime.fromtimestamp(due, UTC), args=[due], id=f"d{i}"
            )
        await wait_for(BASELINE_DELAYS, count, LEAD + count * SPACING + 10)
        return list(BASELINE_DELAYS)
    finally:
        scheduler.remove_all_jobs()
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)


def delay_results(backend: str, xcore: list[float], baseline: list[float]) -> list[Result]:
    ms = 1000.0
    note = f"{len(xcore)} jobs due {SPACING * 1000:.0f} ms apart; baseline: AsyncIOScheduler + APScheduler's store"
    return [
        Result(
            AREA,
            f"start delay p50, {backend}",
            statistics.median(xcore) * ms,
            statistics.median(baseline) * ms,
            "ms",
            note=note,
        ),
        Result(
            AREA,
            f"start delay p99, {backend}",
            percentile(xcore, 99) * ms,
            percentile(baseline, 99) * ms,
            "ms",
            note=note,
        ),
    ]


async def add_job_case(backend: str, scheduler: dict[str, Any], store: BaseJobStore, ops: int, rounds: int) -> Result:
    host, plugin = await boot(scheduler)
    bare = AsyncIOScheduler(timezone=UTC, jobstores={"default": store})
    bare.start()
    xs: list[float] = []
    bs: list[float] = []
    try:
        for _ in range(rounds):
            began = time.perf_counter_ns()
            for i in range(ops):
                plugin.scheduler.add_job(plugin.noop, "interval", minutes=5, id=f"j{i}")
            xs.append((time.perf_counter_ns() - began) / ops)
            plugin.scheduler.remove_all_jobs()
            await asyncio.sleep(0)
            began = time.perf_counter_ns()
            for i in range(ops):
                bare.add_job(baseline_noop, "interval", minutes=5, id=f"j{i}")
            bs.append((time.perf_counter_ns() - began) / ops)
            bare.remove_all_jobs()
            await asyncio.sleep(0)
    finally:
        bare.shutdown(wait=False)
        await host.shutdown()
    return Result(
        AREA,
        f"add_job, {backend}",
        statistics.median(xs) / 1000,
        statistics.median(bs) / 1000,
        "us/op",
        note=f"median of {rounds} rounds of {ops} interval jobs; XCore checks the trigger, the callable "
        "and the id before storing",
    )


async def run(quick: bool) -> list[Result]:
    count = 60 if quick else 200
    ops, rounds = (100, 3) if quick else (300, 7)
    results: list[Result] = []
    memory = {"backend": "memory", "timezone": "UTC"}
    results += delay_results(
        "memory", await xcore_delays(memory, count), await baseline_delays(MemoryJobStore(), count)
    )
    results.append(await add_job_case("memory", memory, MemoryJobStore(), ops, rounds))

    async def on_redis(server: RedisServer) -> list[Result]:
        redis_section = {"backend": "redis", "url": server.url, "timezone": "UTC"}
        store = RedisJobStore(port=server.port, host="127.0.0.1", jobs_key="bench.jobs", run_times_key="bench.times")
        found = delay_results("redis", await xcore_delays(redis_section, count), await baseline_delays(store, count))
        store = RedisJobStore(port=server.port, host="127.0.0.1", jobs_key="bench.add", run_times_key="bench.add.t")
        return [*found, await add_job_case("redis", redis_section, store, ops, rounds)]

    errors: dict[str, str] = {}
    results += await on_server(lambda: RedisServer().start(), on_redis, "redis cases", errors)
    return CasesFailed.check(results, errors)
