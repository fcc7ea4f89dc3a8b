"""What only the Redis backend has: key prefixes, cross-process stampede locks, and outages.

Outages are real: the session's redis-server is stopped (or frozen with SIGSTOP) inside the test
and always brought back in a ``finally``, since other tests share it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis as sync_redis

from xcore._builtin_services.cache import CacheUnavailableError, RedisCache, RedisCacheSettings
from xcore._services import ServiceSetup
from xcore.testing.conformance.boot import settings_error
from xcore.testing.servers import RedisServer, free_port


def setup_for(app: str = "testapp") -> ServiceSetup:
    return ServiceSetup.standalone("cache", "services.cache", app)


def make(url: str, app: str = "testapp", **settings: object) -> RedisCache:
    options: dict[str, object] = {"timeout": 0.3, **settings}
    return RedisCache(RedisCacheSettings(url=url, **options), setup_for(app))  # type: ignore[arg-type]


@pytest.fixture
async def cache(redis_url: str) -> AsyncIterator[RedisCache]:
    service = make(redis_url)
    await service.start()
    yield service
    await service.close()


@pytest.fixture
def raw(redis_url: str) -> Iterator[sync_redis.Redis]:
    client = sync_redis.Redis.from_url(redis_url)
    yield client
    client.close()


class Counter:
    def __init__(self, value: object = "computed", delay: float = 0.0, error: Exception | None = None) -> None:
        self.calls = 0
        self.value, self.delay, self.error = value, delay, error

    async def __call__(self) -> object:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return self.value


async def eventually_ok(cache: RedisCache) -> None:
    """Wait (bounded) until the cache round-trips through Redis again, without restarting it."""
    for _ in range(100):
        await cache.set("probe", "back")
        if await cache.get("probe") == "back":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the cache did not recover after Redis came back")


# --------------------------------------------------------------------------- prefixes


async def test_keys_live_in_the_cache_namespace(cache: RedisCache, raw: sync_redis.Redis) -> None:
    await cache.set("user:1", {"name": "ada"})
    assert raw.get("testapp:cache:key:user:1") == b'{"name":"ada"}'
    assert cache.namespace == "testapp:cache:"
    assert (await cache.health())["namespace"] == "testapp:cache:"


async def test_key_prefix_setting_overrides_the_app_name(redis_url: str, raw: sync_redis.Redis) -> None:
    cache = make(redis_url, key_prefix="shop")
    await cache.set("k", 1)
    assert raw.get("shop:cache:key:k") == b"1"
    await cache.close()


async def test_clear_and_delete_pattern_touch_only_this_prefix_and_never_keys_or_flushdb(
    redis_url: str, raw: sync_redis.Redis
) -> None:
    mine = make(redis_url, key_prefix="shop[eu]")  # glob characters in a prefix stay literal
    other = make(redis_url, app="shope")
    raw.set("unprefixed", 1)
    raw.set("shop[eu]x", 1)
    raw.set("shop[eu]:cache:x", 1)
    raw.set("shop[eu]:cachekey:x", 1)
    await other.set_many({"users:page:1": 1, "k": 2})
    await mine.set_many({f"users:page:{i}": i for i in range(700)})
    await mine.set("users:list", [1])
    raw.config_resetstat()

    assert await mine.delete_pattern("users:page:*") == 700
    assert await mine.clear() == 1

    stats = raw.info("commandstats")
    assert "cmdstat_keys" not in stats and "cmdstat_flushdb" not in stats and "cmdstat_flushall" not in stats
    assert "cmdstat_scan" in stats and "cmdstat_unlink" in stats
    assert await other.get_many(["users:page:1", "k"]) == {"users:page:1": 1, "k": 2}
    assert raw.get("unprefixed") == b"1" and raw.get("shop[eu]x") == b"1"
    assert raw.get("shop[eu]:cache:x") == b"1" and raw.get("shop[eu]:cachekey:x") == b"1"
    await mine.close()
    await other.close()


async def test_two_apps_do_not_see_each_other(redis_url: str) -> None:
    first, second = make(redis_url, app="one"), make(redis_url, app="two")
    await first.set("k", "first")
    assert await second.get("k") is None
    await first.close()
    await second.close()


async def test_data_this_cache_cannot_read_is_a_miss(
    cache: RedisCache, raw: sync_redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    raw.set("testapp:cache:key:bad", b"\x80\x04\x95 a pickle, perhaps")
    raw.set("testapp:cache:key:badtag", '~{"$decimal":"not a number"}')
    assert await cache.get("bad", "miss") == "miss"
    assert await cache.get("badtag", "miss") == "miss"
    assert await cache.get_many(["bad"]) == {}
    assert await cache.get_or_set("bad", lambda: "recomputed") == "recomputed"
    assert await cache.get("bad") == "recomputed"
    assert "cannot read" in caplog.text


# --------------------------------------------------------------------------- cross-process stampede


async def test_get_or_set_runs_once_across_processes(redis_url: str) -> None:
    """Two caches with their own pools and in-process state stand for two worker processes."""
    workers = [make(redis_url), make(redis_url)]
    factory = Counter({"report": 1}, delay=0.1)
    results = await asyncio.gather(*(w.get_or_set("cold", factory) for w in workers for _ in range(200)))
    assert factory.calls == 1
    assert all(r == {"report": 1} for r in results)
    for worker in workers:
        await worker.close()


async def test_when_the_lock_holder_fails_another_process_takes_over(redis_url: str) -> None:
    holder, waiter = make(redis_url), make(redis_url)
    failing = Counter(delay=0.1, error=RuntimeError("holder's database is down"))
    working = Counter("from the waiter")
    first = asyncio.create_task(holder.get_or_set("k", failing))
    await asyncio.sleep(0.03)  # the holder has the lock and is computing
    second = asyncio.create_task(waiter.get_or_set("k", working))
    with pytest.raises(RuntimeError, match="holder's database is down"):
        await first
    assert await second == "from the waiter"
    assert (failing.calls, working.calls) == (1, 1)
    await holder.close()
    await waiter.close()


async def test_a_delete_in_another_process_stops_a_running_computation_from_storing(
    redis_url: str, raw: sync_redis.Redis
) -> None:
    """Process A computes from the old row; process B updates it and deletes the key: A's result must
    not land in Redis afterwards, and B's next get_or_set computes afresh instead of waiting for A."""
    holder, other = make(redis_url), make(redis_url)
    reading, updated = asyncio.Event(), asyncio.Event()

    async def read_old_row() -> str:
        reading.set()
        await updated.wait()
        return "old"

    first = asyncio.create_task(holder.get_or_set("user:1", read_old_row))
    await reading.wait()
    assert await other.delete("user:1") is False
    assert await other.get_or_set("user:1", lambda: "new") == "new"
    updated.set()
    assert await first == "old"
    assert raw.get("testapp:cache:key:user:1") is not None and await holder.get("user:1") == "new"
    assert raw.get("testapp:cache:lock:user:1") is None
    await holder.close()
    await other.close()


async def test_a_lock_left_by_a_dead_process_expires(cache: RedisCache, raw: sync_redis.Redis) -> None:
    raw.set("testapp:cache:lock:k", "token of a crashed worker", px=150)
    factory = Counter("after the lock expired")
    assert await cache.get_or_set("k", factory) == "after the lock expired"
    assert factory.calls == 1
    assert raw.get("testapp:cache:lock:k") is None  # released after computing


# --------------------------------------------------------------------------- outages


async def test_redis_down_degrades_and_recovers_without_restart(
    redis_server: RedisServer, cache: RedisCache, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "xcore.service.cache")
    await cache.set("k", "v")
    redis_server.stop()
    try:
        assert await cache.get("k", "miss") == "miss"
        await cache.set("k2", 1)  # logged, skipped
        assert await cache.delete("k") is False
        assert await cache.get_many(["k"]) == {}
        assert await cache.set_many({"a": 1}) is None
        assert await cache.exists("k") is False
        assert await cache.ttl("k") is None
        assert await cache.delete_pattern("*") == 0
        assert await cache.clear() == 0
        assert await cache.get_or_set("g", lambda: "from the factory") == "from the factory"
        factory = Counter("once", delay=0.05)
        assert await asyncio.gather(*(cache.get_or_set("cold", factory) for _ in range(100))) == ["once"] * 100
        assert factory.calls == 1
        with pytest.raises(CacheUnavailableError, match=r"cannot incr/decr cache key 'n': Redis at .* is unreachable"):
            await cache.incr("n")
        with pytest.raises(CacheUnavailableError, match="is unreachable: ConnectionError"):
            await cache.health()
        assert caplog.text.count("is unreachable (") == 1  # one warning per outage, not one per call
    finally:
        if redis_server.process is None:
            redis_server.start()
    await eventually_ok(cache)
    assert (await cache.health())["backend"] == "redis"
    assert await cache.incr("n") == 1
    assert "answers again" in caplog.text


async def test_a_redis_that_stops_answering_costs_one_timeout_not_a_hang(
    redis_server: RedisServer, cache: RedisCache
) -> None:
    await cache.set("k", "v")
    assert redis_server.process is not None
    pid = redis_server.process.pid
    os.kill(pid, signal.SIGSTOP)  # accepts connections, never answers
    try:
        assert await asyncio.wait_for(cache.get("k", "miss"), 5) == "miss"
        await asyncio.wait_for(cache.set("k", "new"), 5)
        assert await asyncio.wait_for(cache.get_or_set("g", lambda: "computed"), 5) == "computed"
        with pytest.raises(CacheUnavailableError, match="TimeoutError"):
            await asyncio.wait_for(cache.health(), 5)
    finally:
        os.kill(pid, signal.SIGCONT)
    await eventually_ok(cache)
    assert await cache.get("k") == "v"  # the write during the freeze was skipped, the old value stands


async def test_a_frozen_redis_costs_what_a_miss_costs_then_recovers_after_a_probe(
    redis_server: RedisServer, redis_url: str
) -> None:
    """Issue 13: SIGSTOP dropped throughput from ~1,800 to ~40 req/s, since every call waited out its
    timeout. With the defaults (short timeout, circuit breaker), only the calls in flight when Redis
    froze and one probe per ``retry_interval`` wait; every other call skips Redis at once."""
    settings = RedisCacheSettings(url=redis_url, key_prefix="testapp")  # type: ignore[arg-type]
    cache = RedisCache(settings, setup_for())
    await cache.set("k", "v")
    assert (await cache.health())["breaker"] == {"state": "closed"}
    assert redis_server.process is not None
    pid, wave, waves = redis_server.process.pid, 20, 10
    durations: list[float] = []

    async def timed_get() -> object:
        began = time.perf_counter()
        try:
            return await cache.get("k", "miss")
        finally:
            durations.append(time.perf_counter() - began)

    os.kill(pid, signal.SIGSTOP)  # accepts connections, never answers
    try:
        began = time.perf_counter()
        for _ in range(waves):  # 200 gets in waves of 20 concurrent calls, spanning several intervals
            assert await asyncio.gather(*(timed_get() for _ in range(wave))) == ["miss"] * wave
            await asyncio.sleep(0.1)
        elapsed = time.perf_counter() - began
        assert cache.breaker.state in ("open", "half-open")
        with pytest.raises(CacheUnavailableError, match=r"circuit (open|half-open): calls skip Redis"):
            await cache.health()
    finally:
        os.kill(pid, signal.SIGCONT)
    # a call that reached the frozen Redis waited at least the timeout; a skipped one never waits
    waited = sum(1 for seconds in durations if seconds >= settings.timeout * 0.9)
    intervals = elapsed / settings.retry_interval
    assert waited <= wave + intervals + 1, (waited, intervals)  # the first wave, then one probe per interval
    assert elapsed < waves * 0.1 + 3, elapsed
    # once Redis answers, the next probe closes the circuit and reads hit again
    for _ in range(50):
        if await cache.get("k") == "v":
            break
        await asyncio.sleep(0.1)
    assert await cache.get("k") == "v"
    assert cache.breaker.state == "closed"
    assert (await cache.health())["breaker"] == {"state": "closed"}
    await cache.close()


async def test_cache_built_while_redis_is_down_works_once_it_starts(redis_server: RedisServer, redis_url: str) -> None:
    redis_server.stop()
    try:
        cache = make(redis_url)
        with pytest.raises(CacheUnavailableError):
            await cache.start()  # the host records it as unhealthy and keeps it registered
        assert await cache.get_or_set("k", lambda: 1) == 1
    finally:
        if redis_server.process is None:
            redis_server.start()
    await eventually_ok(cache)
    await cache.close()


async def test_passwords_never_reach_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    cache = make(f"redis://user:hunter2-secret@127.0.0.1:{free_port()}/0")
    with pytest.raises(CacheUnavailableError) as info:
        await cache.health()
    await cache.get("k")
    assert "hunter2-secret" not in str(info.value)
    assert "redis://user:***@127.0.0.1" in str(info.value)
    assert "hunter2-secret" not in caplog.text and "***" in caplog.text
    await cache.close()
    bad = await settings_error("cache", {"backend": "redis", "url": "redis://user:hunter2-secret@127.0.0.1:notaport/0"})
    assert "services.cache.url: Value error, is not a usable Redis URL (Port could not be cast" in str(bad)
    assert "hunter2-secret" not in str(bad)


# --------------------------------------------------------------------------- connection limits and odd data


async def test_a_burst_beyond_the_pool_queues_instead_of_failing(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache = make(redis_url, max_connections=2, timeout=5)
    await cache.set("k", "v")
    values = await asyncio.gather(*(cache.get("k") for _ in range(300)))
    assert values == ["v"] * 300
    counts = await asyncio.gather(*(cache.incr("n") for _ in range(100)))
    assert sorted(counts) == list(range(1, 101))
    assert "unreachable" not in caplog.text and "busy" not in caplog.text
    await cache.close()


async def test_a_key_of_another_type_is_a_logged_miss_not_an_outage(
    cache: RedisCache, raw: sync_redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    raw.rpush("testapp:cache:key:list", "a")
    assert await cache.get("list", "miss") == "miss"
    assert "WRONGTYPE" in caplog.text
    with pytest.raises(TypeError, match="does not hold an integer"):
        await cache.incr("list")
    await cache.set("k", 1)  # Redis is fine: nothing is skipped
    assert await cache.get("k") == 1
    assert "unreachable" not in caplog.text
