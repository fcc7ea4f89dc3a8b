"""The tasks service (backend redis, on taskiq) against raw taskiq on the same Redis, side by side in one run.

* enqueue latency: ``await tasks.enqueue("noop", {...})`` from a plugin against taskiq's own ``kiq`` of
  a task with the same argument on a ``RedisStreamBroker`` (alternating rounds, medians). XCore writes
  the task record (a hash) and its index entry besides taskiq's message, so it pays more round trips;
* throughput per worker: tasks per second one worker drains from a stream of ``COUNT`` no-op tasks,
  XCore's worker (``RedisTasks.run_worker``: record status writes, plugin lookup, manual acks) against
  a bare taskiq ``Receiver`` with a no-op task, both with concurrency 10.

The benchmark starts its own redis-server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from redis.asyncio import Redis
from taskiq.receiver import Receiver

from benchmarks.common import Result, paired_async
from benchmarks.failures import CasesFailed, on_server
from xcore import Xcore
from xcore._builtin_services.tasks.redis import _StreamBroker
from xcore.sdk import TrustedBase, task
from xcore.testing.configs import no_services
from xcore.testing.servers import RedisServer

AREA = "tasks"


class BenchPlugin(TrustedBase):
    @task
    async def noop(self, payload: dict[str, Any]) -> None:
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


def raw_broker(url: str) -> Any:
    """taskiq-redis's stream broker with a no-op task: the same engine XCore's ``redis`` backend uses."""
    # taskiq-redis's RedisStreamBroker, noting its reading task: redis-py can swallow the receiver's one cancel
    broker = _StreamBroker(url, queue_name="raw:queue", consumer_group_name="raw", consumer_id="0", xread_count=10)

    @broker.task(task_name="raw_noop")
    async def raw_noop(value: int) -> None:
        return None

    return broker, raw_noop


async def left(redis: Redis, stream: str, group: str) -> int:
    """Messages of ``stream`` its group has not yet acknowledged (delivered or not)."""
    for info in await redis.xinfo_groups(stream):
        if info["name"] in (group, group.encode()):
            return int(info["pending"]) + int(info["lag"] or 0)
    return 0


async def on_redis(server: RedisServer, quick: bool) -> list[Result]:
    ops, rounds = (50, 7) if quick else (100, 21)
    count = 300 if quick else 1000
    host = await boot(server.url)
    broker, raw_noop = raw_broker(server.url)
    await broker.startup()
    redis = Redis.from_url(server.url)
    results = []
    try:
        service = host.get_service("tasks")

        async def xcore_enqueue() -> Any:
            return await service.enqueue_as("bench", "noop", {"n": 1})

        async def raw_enqueue() -> Any:
            return await raw_noop.kiq(1)

        x, b, _ = await paired_async(xcore_enqueue, raw_enqueue, ops, rounds)
        results.append(
            Result(
                AREA,
                "enqueue (redis) vs taskiq kiq",
                x / 1000,
                b / 1000,
                "us/op",
                note="XCore also writes the task record and its index entry",
            )
        )
        xs, bs = [], []
        for _ in range(3 if quick else 5):
            # a stopped worker leaves the messages it had fetched but not run pending: start each round afresh
            await redis.delete(service.queue, "raw:queue")
            await service.broker.startup()
            await broker.startup()
            for _ in range(count):
                await service.enqueue_as("bench", "noop", {"n": 1})
            for _ in range(count):
                await raw_noop.kiq(1)

            async def start_xcore() -> Any:
                stop = asyncio.Event()
                running = asyncio.create_task(service.run_worker(10, stop, 5))

                async def halt() -> None:
                    stop.set()
                    await running

                return halt

            async def start_raw() -> Any:
                stop = asyncio.Event()
                receiver = Receiver(broker, max_async_tasks=10, run_startup=False, wait_tasks_timeout=5)
                running = asyncio.create_task(receiver.listen(stop))

                async def halt() -> None:
                    stop.set()
                    await asyncio.wait({running}, timeout=1)
                    while not running.done():
                        if broker.reading is not None:
                            broker.reading.cancel()
                        await asyncio.wait({running}, timeout=0.1)

                return halt

            xs.append(
                await drain_rate(start_xcore, lambda: left(redis, service.queue, service.namespace + "workers"), count)
            )
            bs.append(await drain_rate(start_raw, lambda: left(redis, "raw:queue", "raw"), count))
        results.append(
            Result(
                AREA,
                "throughput per worker (concurrency 10) vs taskiq Receiver",
                statistics.median(xs),
                statistics.median(bs),
                "tasks/s",
                higher_is_better=True,
                note=f"{count} no-op tasks per round, medians of {len(xs)} rounds",
            )
        )
    finally:
        await redis.aclose()
        await broker.shutdown()
        await host.shutdown()
    return results


async def run(quick: bool) -> list[Result]:
    errors: dict[str, str] = {}
    results = await on_server(lambda: RedisServer().start(), lambda s: on_redis(s, quick), "tasks on redis", errors)
    return CasesFailed.check(results, errors)


if __name__ == "__main__":
    for result in asyncio.run(run(quick=True)):
        print(result)
