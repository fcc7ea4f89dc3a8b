"""The tasks service (backend redis, on arq) against raw arq on the same Redis, side by side in one run.

* enqueue latency: ``await tasks.enqueue("noop", {...})`` from a plugin against arq's own
  ``ArqRedis.enqueue_job`` of a function with the same argument (alternating rounds, medians). XCore
  writes the task record (a hash) and its index entry besides arq's job, so it pays one more round trip;
* throughput per worker: tasks per second one worker drains from a queue of ``COUNT`` no-op tasks,
  XCore's worker loop (``RedisTasks.run_worker``: record status writes, plugin lookup) against a bare
  arq ``Worker`` with a no-op function, both with concurrency 10.

The benchmark starts its own redis-server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from arq.connections import ArqRedis
from arq.worker import Worker, func
from redis.asyncio import ConnectionPool

from benchmarks.common import Result, paired_async
from benchmarks.failures import CasesFailed, on_server
from xcore import Xcore
from xcore.sdk import TrustedBase, task
from xcore.testing.configs import no_services
from xcore.testing.servers import RedisServer

AREA = "tasks"


class BenchPlugin(TrustedBase):
    @task
    async def noop(self, payload: dict[str, Any]) -> None:
        return None


async def raw_noop(ctx: dict[str, Any], value: int) -> None:
    return None


async def boot(url: str) -> Xcore:
    config = {
        "app": {"name": "bench"},
        "services": no_services(tasks={"backend": "redis", "url": url, "poll_interval": 0.01}),
    }
    host = Xcore(config=config, plugins={"bench": BenchPlugin}, discover=False)
    await host.boot()
    return host


async def drain_rate(start: Any, queued: Any, count: int) -> float:
    """Tasks per second until the queue (``queued()`` returns what is left) is empty."""
    began = time.perf_counter()
    stop = await start()
    while await queued() > 0:
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - began
    await stop()
    return count / elapsed


async def on_redis(server: RedisServer, quick: bool) -> list[Result]:
    ops, rounds = (50, 7) if quick else (100, 21)
    count = 300 if quick else 1000
    host = await boot(server.url)
    raw = ArqRedis(ConnectionPool.from_url(server.url), default_queue_name="raw:queue")
    results = []
    try:
        service = host.get_service("tasks")

        async def xcore_enqueue() -> Any:
            return await service.enqueue_as("bench", "noop", {"n": 1})

        async def raw_enqueue() -> Any:
            return await raw.enqueue_job("raw_noop", 1)

        x, b, _ = await paired_async(xcore_enqueue, raw_enqueue, ops, rounds)
        results.append(
            Result(
                AREA,
                "enqueue (redis) vs arq enqueue_job",
                x / 1000,
                b / 1000,
                "us/op",
                note="XCore also writes the task record and its index entry",
            )
        )
        await raw.flushdb()

        xs, bs = [], []
        for _ in range(3 if quick else 5):
            for _ in range(count):
                await service.enqueue_as("bench", "noop", {"n": 1})
            for _ in range(count):
                await raw.enqueue_job("raw_noop", 1)

            async def start_xcore() -> Any:
                stop = asyncio.Event()
                running = asyncio.create_task(service.run_worker(10, stop, 5))

                async def halt() -> None:
                    stop.set()
                    await running

                return halt

            async def start_raw() -> Any:
                worker = Worker(
                    [func(raw_noop, name="raw_noop")],
                    redis_pool=raw,
                    queue_name="raw:queue",
                    max_jobs=10,
                    handle_signals=False,
                    poll_delay=0.01,
                    keep_result=1,
                    log_results=False,
                )
                running = asyncio.create_task(worker.main())

                async def halt() -> None:
                    running.cancel()
                    await asyncio.gather(running, return_exceptions=True)

                return halt

            xs.append(await drain_rate(start_xcore, lambda: raw.zcard(service.queue), count))
            bs.append(await drain_rate(start_raw, lambda: raw.zcard("raw:queue"), count))
        results.append(
            Result(
                AREA,
                "throughput per worker (concurrency 10) vs arq Worker",
                statistics.median(xs),
                statistics.median(bs),
                "tasks/s",
                higher_is_better=True,
                note=f"{count} no-op tasks per round, medians of {len(xs)} rounds",
            )
        )
    finally:
        await raw.aclose(close_connection_pool=True)
        await host.shutdown()
    return results


async def run(quick: bool) -> list[Result]:
    errors: dict[str, str] = {}
    results = await on_server(lambda: RedisServer().start(), lambda s: on_redis(s, quick), "tasks on redis", errors)
    return CasesFailed.check(results, errors)


if __name__ == "__main__":
    for result in asyncio.run(run(quick=True)):
        print(result)
