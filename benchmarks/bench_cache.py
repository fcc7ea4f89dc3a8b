"""The cache service against the raw libraries it wraps, side by side in one run.

* memory get/set through the service (``host.get_service("cache")``) against cachetools' fastest hit
  path, ``cache[key]`` in a coroutine, on a ``TTLCache`` of the same size (target <= 1.5x);
* a container value on the memory backend: the service hands out a private copy (copied from its
  private snapshot, containers only), raw cachetools hands out the shared object; and ``copy.deepcopy``
  instead, which is the alternative the memory backend deliberately does not use;
* Redis get/set through the service against raw ``redis.asyncio`` on the same server (target <= 1.15x);
* tiered: a local-tier hit through the service against the memory backend's hit (target <= 1.5x), and
  the invalidation latency, from ``set`` in this process to the other process's local tier dropping
  the key, p99 over 200 writes, against a raw Redis PUBLISH -> subscriber in another process (target
  p99 <= 5 ms);
* the stampede: 1,000 concurrent ``get_or_set`` on one cold key with a 5 ms factory, against the naive
  get / compute / set a plugin would write without it (which calls the factory 1,000 times).

Paths run back to back in alternating rounds (``paired_async``); figures are medians. The benchmark
starts its own redis-server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import copy
import statistics
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from cachetools import TLRUCache, TTLCache
from redis.asyncio import BlockingConnectionPool, Redis

from benchmarks.common import Result, paired_async
from benchmarks.failures import CasesFailed, on_server
from xcore import Xcore
from xcore.testing.configs import no_services
from xcore.testing.servers import RedisServer

AREA = "cache"
ROW = {"id": 42, "username": "ada", "email": "ada@example.test", "roles": ["admin", "dev"], "active": True}
STAMPEDE_CALLERS = 1000
FACTORY_SECONDS = 0.005


async def boot(cache: dict[str, Any]) -> Xcore:
    host = Xcore(config={"app": {"name": "bench"}, "services": no_services(cache=cache)}, discover=False)
    await host.boot()
    return host


def ratio_note(overhead: float, extra: str = "") -> str:
    return f"median paired overhead {overhead:.0f} ns/op" + (f"; {extra}" if extra else "")


async def memory_cases(quick: bool) -> list[Result]:
    ops, rounds = (2_000, 31) if quick else (3_000, 101)
    host = await boot({"backend": "memory", "max_size": 10_000})
    try:
        cache = host.get_service("cache")
        raw: TTLCache[str, Any] = TTLCache(10_000, 300)
        await cache.set("hit", "value")
        raw["hit"] = "value"

        async def raw_get(key: str) -> Any:
            return raw[key]

        async def raw_set(key: str, value: Any) -> None:
            raw[key] = value

        get, set_ = cache.get, cache.set
        results = []
        x, b, d = await paired_async(lambda: get("hit"), lambda: raw_get("hit"), ops, rounds)
        results.append(
            Result(AREA, "memory get hit (str) vs TTLCache[key]", x, b, "ns/op", target=1.5, note=ratio_note(d))
        )
        x, b, d = await paired_async(lambda: set_("k", "value"), lambda: raw_set("k", "value"), ops, rounds)
        results.append(
            Result(AREA, "memory set (str) vs TTLCache[key] = v", x, b, "ns/op", target=1.5, note=ratio_note(d))
        )

        await cache.set("row", ROW)
        raw["row"] = ROW
        assert await cache.get("row") == ROW

        async def deepcopy_get(key: str) -> Any:
            return copy.deepcopy(raw[key])

        x, b, d = await paired_async(lambda: get("row"), lambda: raw_get("row"), ops, rounds)
        results.append(
            Result(
                AREA,
                "memory get hit (dict) vs TTLCache[key]",
                x,
                b,
                "ns/op",
                note=ratio_note(d, "the service returns a private copy, raw cachetools the shared object; no target"),
            )
        )
        x, b, d = await paired_async(lambda: set_("row2", ROW), lambda: raw_set("row2", ROW), ops, rounds)
        results.append(
            Result(
                AREA,
                "memory set (dict) vs TTLCache[key] = v",
                x,
                b,
                "ns/op",
                note=ratio_note(d, "the service stores a private copy, raw cachetools the shared object; no target"),
            )
        )
        x, b, d = await paired_async(lambda: get("row"), lambda: deepcopy_get("row"), ops, rounds)
        results.append(
            Result(
                AREA,
                "memory get hit (dict) vs deepcopy(TTLCache[key])",
                x,
                b,
                "ns/op",
                note=ratio_note(d, "why containers are copied along a plan rather than deep-copied"),
            )
        )
    finally:
        await host.shutdown()
    return results


async def redis_cases(quick: bool, url: str) -> list[Result]:
    ops, rounds = (100, 9) if quick else (200, 31)
    host = await boot({"backend": "redis", "url": url})
    raw = Redis.from_url(url)
    try:
        cache = host.get_service("cache")
        await cache.set("hit", "value")
        hit, other = f"{cache.namespace}key:hit", f"{cache.namespace}key:k"  # where the cache keeps them
        text = await raw.get(hit)
        assert text == b'"value"', text
        get, set_ = cache.get, cache.set
        results = []
        x, b, d = await paired_async(lambda: get("hit"), lambda: raw.get(hit), ops, rounds)
        results.append(
            Result(
                AREA,
                "redis get hit vs redis.asyncio get",
                x,
                b,
                "ns/op",
                target=1.15,
                note=ratio_note(d, "raw returns the bytes undecoded"),
            )
        )
        x, b, d = await paired_async(
            lambda: set_("k", "value", ttl=300), lambda: raw.set(other, text, px=300_000), ops, rounds
        )
        results.append(Result(AREA, "redis set vs redis.asyncio set", x, b, "ns/op", target=1.15, note=ratio_note(d)))
    finally:
        await raw.aclose()
        await host.shutdown()
    return results


INVALIDATION_WRITES = 200

LISTENER = """
import asyncio, sys, time
from xcore._builtin_services.cache.settings import TieredCacheSettings
from xcore._builtin_services.cache.tiered import TieredCache
from xcore._services import ServiceSetup

class Timed(TieredCache):
    def _apply(self, raw):
        super()._apply(raw)
        print(time.monotonic(), flush=True)

async def raw_listener(url):
    from redis.asyncio import Redis
    client = Redis.from_url(url)
    async with client.pubsub() as pubsub:
        await pubsub.subscribe("raw:invalidate")
        print("ready", flush=True)
        async for message in pubsub.listen():
            if message["type"] == "message":
                print(time.monotonic(), flush=True)

async def main(url, mode):
    if mode == "raw":
        await raw_listener(url)
        return
    cache = Timed(TieredCacheSettings(url=url), ServiceSetup.standalone("cache", "services.cache", app_name="bench"))
    await cache.start()
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def invalidation_latencies(url: str, mode: str, write: Callable[[int], Awaitable[Any]]) -> list[float]:
    """Milliseconds from each ``write(i)`` to its message arriving in a listener process (``mode``)."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", LISTENER, url, mode], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert (await asyncio.to_thread(child.stdout.readline)).strip() == "ready"
        sent = []
        for index in range(INVALIDATION_WRITES):
            sent.append(time.monotonic())  # CLOCK_MONOTONIC: one clock for every process of the machine
            await write(index)
            await asyncio.sleep(0.002)
        received = [float(await asyncio.to_thread(child.stdout.readline)) for _ in sent]
    finally:
        child.kill()
        child.wait()
    return [(r - s) * 1000 for s, r in zip(sent, received, strict=True)]


async def tiered_cases(quick: bool, url: str) -> list[Result]:
    from benchmarks.common import percentile

    ops, rounds = (2_000, 31) if quick else (3_000, 101)
    tiered_host = await boot({"backend": "tiered", "url": url})
    memory_host = await boot({"backend": "memory"})
    raw = Redis.from_url(url)
    try:
        tiered, memory = tiered_host.get_service("cache"), memory_host.get_service("cache")
        await tiered.set("hit", "value")
        await memory.set("hit", "value")
        tget, mget = tiered.get, memory.get
        results = []
        x, b, d = await paired_async(lambda: tget("hit"), lambda: mget("hit"), ops, rounds)
        results.append(
            Result(AREA, "tiered get local hit vs memory backend hit", x, b, "ns/op", target=1.5, note=ratio_note(d))
        )
        xs = await invalidation_latencies(url, "tiered", lambda i: tiered.set("hit", i))
        bs = await invalidation_latencies(url, "raw", lambda i: raw.publish("raw:invalidate", "x"))
        results.append(
            Result(
                AREA,
                "tiered invalidation to another process, p99 vs raw PUBLISH",
                percentile(xs, 99),
                percentile(bs, 99),
                "ms",
                target=None,
                note=f"p50 {statistics.median(xs):.2f} ms vs {statistics.median(bs):.2f} ms; "
                f"goal p99 <= 5 ms; {INVALIDATION_WRITES} writes",
            )
        )
    finally:
        await raw.aclose()
        await tiered_host.shutdown()
        await memory_host.shutdown()
    return results


async def timed_burst(call: Callable[[], Awaitable[Any]]) -> float:
    """Milliseconds for ``STAMPEDE_CALLERS`` concurrent ``call()`` to all finish."""
    began = time.perf_counter()
    await asyncio.gather(*(call() for _ in range(STAMPEDE_CALLERS)))
    return (time.perf_counter() - began) * 1000


async def stampede_case(
    label: str,
    cache_section: dict[str, Any],
    naive_get: Callable[[str], Awaitable[Any]],
    naive_set: Callable[[str, Any], Awaitable[Any]],
    rounds: int,
) -> Result:
    host = await boot(cache_section)
    try:
        cache = host.get_service("cache")
        calls = {"xcore": 0, "naive": 0}

        def factory_for(path: str) -> Callable[[], Awaitable[dict[str, Any]]]:
            async def factory() -> dict[str, Any]:
                calls[path] += 1
                await asyncio.sleep(FACTORY_SECONDS)
                return ROW

            return factory

        async def naive(key: str) -> Any:
            value = await naive_get(key)
            if value is None:
                value = await factory_for("naive")()
                await naive_set(key, value)
            return value

        xs: list[float] = []
        bs: list[float] = []
        for index in range(rounds):
            key = f"cold:{index}"
            calls["xcore"] = 0
            xs.append(await timed_burst(partial(cache.get_or_set, key, factory_for("xcore"))))
            if calls["xcore"] != 1:
                raise AssertionError(f"{label}: the factory ran {calls['xcore']} times for one cold key")
            calls["naive"] = 0
            bs.append(await timed_burst(partial(naive, key)))
        return Result(
            AREA,
            f"{label} stampede: {STAMPEDE_CALLERS} get_or_set, one cold key",
            statistics.median(xs),
            statistics.median(bs),
            "ms/burst",
            note=f"factory calls: service 1, naive get/compute/set {calls['naive']}; "
            f"factory takes {FACTORY_SECONDS * 1000:.0f} ms; no target",
        )
    finally:
        await host.shutdown()


async def run(quick: bool) -> list[Result]:
    results: list[Result] = []
    errors: dict[str, str] = {}
    rounds = 3 if quick else 7
    results += await memory_cases(quick)

    memory_raw: TLRUCache[str, Any] = TLRUCache(10_000, lambda _k, _v, now: now + 300)

    async def memory_get(key: str) -> Any:
        return memory_raw.get(key)

    async def memory_set(key: str, value: Any) -> None:
        memory_raw[key] = value

    results.append(await stampede_case("memory", {"backend": "memory"}, memory_get, memory_set, rounds))

    async def on_redis(server: RedisServer) -> list[Result]:
        found = await redis_cases(quick, server.url)
        found += await tiered_cases(quick, server.url)
        pool = BlockingConnectionPool.from_url(server.url, max_connections=50)  # as the service's pool
        raw = Redis.from_pool(pool)

        async def redis_get(key: str) -> Any:
            return await raw.get(f"naive:{key}")

        async def redis_set(key: str, value: Any) -> None:
            await raw.set(f"naive:{key}", str(value), px=300_000)

        try:
            found.append(await stampede_case("redis", {"backend": "redis", "url": server.url}, redis_get, redis_set,
                                             rounds))  # fmt: skip
        except AssertionError as exc:
            errors["redis stampede"] = str(exc)
        finally:
            await raw.aclose()
        return found

    results += await on_server(lambda: RedisServer().start(), on_redis, "redis get/set and stampede", errors)
    return CasesFailed.check(results, errors)


if __name__ == "__main__":
    for result in asyncio.run(run(quick=True)):
        print(
            f"{result.case:60} {result.xcore:12.1f} {result.baseline:12.1f} {result.unit:9} x{result.ratio:.2f}  "
            f"{result.note}"
        )
