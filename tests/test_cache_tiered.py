"""``backend: tiered``: local hits, invalidation across processes through Redis pub/sub, Redis outages.

Each ``TieredCache`` below is built as a host builds it and keeps its own Redis connections and
subscription, which is all that separates two processes here; the cluster test runs them in real
separate hosts.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from xcore._builtin_services.cache.settings import TieredCacheSettings
from xcore._builtin_services.cache.tiered import TieredCache
from xcore._services import ServiceSetup
from xcore.testing.servers import RedisServer


def build(url: str, **settings: Any) -> TieredCache:
    setup = ServiceSetup.standalone("cache", "services.cache", app_name="tiered-test")
    return TieredCache(TieredCacheSettings(url=url, **settings), setup)


@pytest.fixture
async def pair(redis_url: str) -> AsyncIterator[tuple[TieredCache, TieredCache]]:
    a, b = build(redis_url), build(redis_url)
    await a.start()
    await b.start()
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def delivered(cache: TieredCache, before: int, action: Callable[[], Awaitable[Any]]) -> None:
    """Run ``action`` (in the other process) and wait until ``cache`` has applied its message."""
    await action()
    async with asyncio.timeout(5):
        while cache.invalidations == before:
            await asyncio.sleep(0.001)


async def test_a_read_is_served_locally_once_fetched(pair: tuple[TieredCache, TieredCache]) -> None:
    a, b = pair
    await a.set("k", {"v": 1})
    assert await b.get("k") == {"v": 1}
    assert "k" in b.local._data  # kept locally
    await b.remote._client.set(b.remote._p + "k", b'"behind its back"')  # Redis changes, no message
    assert await b.get("k") == {"v": 1}  # the local tier answers


@pytest.mark.parametrize("op", ["set", "delete", "delete_pattern", "clear", "incr", "set_many"])
async def test_every_write_in_one_process_is_seen_by_the_others(pair: tuple[TieredCache, TieredCache], op: str) -> None:
    a, b = pair
    await a.set("user:1", 1)
    assert await b.get("user:1") == 1  # b now holds it locally
    writes: dict[str, Callable[[], Awaitable[Any]]] = {
        "set": lambda: a.set("user:1", 2),
        "delete": lambda: a.delete("user:1"),
        "delete_pattern": lambda: a.delete_pattern("user:*"),
        "clear": lambda: a.clear(),
        "incr": lambda: a.incr("user:1", 5),
        "set_many": lambda: a.set_many({"user:1": 3}),
    }
    expected = {"set": 2, "delete": None, "delete_pattern": None, "clear": None, "incr": 6, "set_many": 3}[op]
    await delivered(b, b.invalidations, writes[op])
    assert await b.get("user:1") == expected  # no stale read once the message is delivered
    assert await b.get("user:1") == expected


async def test_own_messages_do_not_empty_the_own_local_tier(pair: tuple[TieredCache, TieredCache]) -> None:
    a, b = pair
    await a.set("mine", "x")
    await delivered(b, b.invalidations, lambda: a.set("other", "y"))
    assert a.invalidations == 0 and "mine" in a.local._data


async def test_redis_down_the_local_tier_serves_within_its_ttl_and_recovers(redis_server: RedisServer) -> None:
    url = redis_server.url
    a = build(url, local_ttl=0.5, retry_interval=0.05, timeout=0.2)
    b = build(url, local_ttl=30, retry_interval=0.05, timeout=0.2)
    await a.start()
    await b.start()
    try:
        await a.set("k", "v1", ttl=60)
        assert await a.get("k") == "v1"
        redis_server.stop()
        try:
            assert await a.get("k") == "v1"  # Redis is down: the local tier answers
            await asyncio.sleep(0.6)
            assert await a.get("k") is None  # ...within local_ttl only: then a miss, not an error
        finally:
            redis_server.start()
        async with asyncio.timeout(10):
            while not (a.subscribed.is_set() and b.subscribed.is_set()):
                await asyncio.sleep(0.02)
            for cache in (a, b):  # each one's Redis tier answers again (its own breaker probes it)
                while await cache.remote.get("probe") is None:
                    await cache.remote.set("probe", 1)
                    await asyncio.sleep(0.05)
        before = b.invalidations
        assert await b.get("k2") is None
        await delivered(b, before, lambda: a.set("k2", "after"))
        assert await b.get("k2") == "after"  # invalidation works again after the outage
    finally:
        await a.close()
        await b.close()


CHILD = """
import asyncio, sys
from xcore._builtin_services.cache.settings import TieredCacheSettings
from xcore._builtin_services.cache.tiered import TieredCache
from xcore._services import ServiceSetup

async def main():
    cache = TieredCache(TieredCacheSettings(url=sys.argv[1]), ServiceSetup.standalone("cache", "services.cache",
                        app_name="tiered-test"))
    await cache.start()
    print(await cache.get("shared"), flush=True)
    seen = cache.invalidations
    print("ready", flush=True)
    while cache.invalidations == seen:
        await asyncio.sleep(0.001)
    print(await cache.get("shared"), flush=True)
    await cache.close()

asyncio.run(main())
"""


async def test_an_invalidation_reaches_another_process(pair: tuple[TieredCache, TieredCache], redis_url: str) -> None:
    a, _ = pair
    await a.set("shared", "old")
    child = subprocess.Popen([sys.executable, "-c", CHILD, redis_url], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert await asyncio.to_thread(child.stdout.readline) == "old\n"
        assert await asyncio.to_thread(child.stdout.readline) == "ready\n"
        await a.set("shared", "new")
        assert await asyncio.to_thread(child.stdout.readline) == "new\n"
        assert await asyncio.to_thread(child.wait, 10) == 0
    finally:
        child.kill()
