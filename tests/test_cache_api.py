"""The cache API, run identically against the memory backend and a real Redis server.

Every behaviour here is one a plugin relies on whatever ``services.cache.backend`` says, so each
test runs on both backends and must pass unchanged.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from xcore._builtin_services.cache import (
    Cache,
    MemoryCache,
    MemoryCacheSettings,
    RedisCache,
    RedisCacheSettings,
    UnsupportedValueError,
)
from xcore._services import ServiceSetup


def setup_for(app: str = "testapp") -> ServiceSetup:
    return ServiceSetup.standalone("cache", "services.cache", app)


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    service: MemoryCache | RedisCache
    if request.param == "memory":
        service = MemoryCache(MemoryCacheSettings(ttl=300))
    else:
        url = request.getfixturevalue("redis_url")
        service = RedisCache(RedisCacheSettings(url=url, ttl=300, timeout=0.5), setup_for())
    await service.start()
    yield service
    await service.close()


class Counter:
    """A factory that counts its calls."""

    def __init__(self, value: Any = "computed", delay: float = 0.0, error: Exception | None = None) -> None:
        self.calls = 0
        self.value = value
        self.delay = delay
        self.error = error

    async def __call__(self) -> Any:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return self.value


# --------------------------------------------------------------------------- get / set / delete


async def test_get_returns_default_on_miss_and_value_on_hit(cache: Cache) -> None:
    assert await cache.get("absent") is None
    assert await cache.get("absent", "fallback") == "fallback"
    await cache.set("k", {"a": 1})
    assert await cache.get("k") == {"a": 1}


async def test_every_supported_type_reads_back_as_itself(cache: Cache) -> None:
    value = {
        "when": datetime(2024, 5, 1, 8, 0, tzinfo=UTC),
        "day": date(2024, 5, 1),
        "id": UUID(int=7),
        "price": Decimal("19.90"),
        "pair": (1, "a"),
        "list": [None, True, 1.5, "x"],
    }
    await cache.set("v", value)
    back = await cache.get("v")
    assert back == value
    assert [type(back[k]) for k in value] == [type(v) for v in value.values()]
    for scalar in (Decimal("1.0"), UUID(int=1), date(2020, 1, 1), datetime(2020, 1, 1), 3, 2.5, "s", False):
        await cache.set("s", scalar)
        got = await cache.get("s")
        assert got == scalar and type(got) is type(scalar)


async def test_a_returned_value_belongs_to_the_caller(cache: Cache) -> None:
    original = {"tags": ["a"], "nested": {"n": 1}}
    await cache.set("k", original)
    original["tags"].append("changed after set")
    first = await cache.get("k")
    first["tags"].append("changed after get")
    first["nested"]["n"] = 99
    assert await cache.get("k") == {"tags": ["a"], "nested": {"n": 1}}


async def test_unstorable_value_fails_at_set_and_leaves_the_key_intact(cache: Cache) -> None:
    await cache.set("k", "old")
    with pytest.raises(UnsupportedValueError, match=r"value\['bad'\]: a builtins.set is not storable"):
        await cache.set("k", {"bad": {1, 2}})
    with pytest.raises(UnsupportedValueError, match="dict keys must be str"):
        await cache.set("k", {1: "int key"})
    assert await cache.get("k") == "old"


async def test_set_many_is_all_or_nothing_when_a_value_is_bad(cache: Cache) -> None:
    with pytest.raises(UnsupportedValueError):
        await cache.set_many({"a": 1, "b": object()})
    assert await cache.get_many(["a", "b"]) == {}
    await cache.set_many({"a": 1, "b": None, "c": [1]})
    assert await cache.get_many(["a", "b", "c", "missing"]) == {"a": 1, "b": None, "c": [1]}
    assert await cache.get_many([]) == {}


async def test_keys_must_be_strings(cache: Cache) -> None:
    for bad in (1, b"k", None, ("t",), ["unhashable"]):
        with pytest.raises(TypeError, match="cache keys must be str"):
            await cache.get(bad)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="cache keys must be str"):
            await cache.set(bad, 1)  # type: ignore[arg-type]


async def test_bad_ttl_is_refused_and_nothing_is_written(cache: Cache) -> None:
    for bad in (-1, "60", True, float("nan"), 1e20):
        with pytest.raises(ValueError, match="ttl must be a number of seconds from 0 to"):
            await cache.set("k", 1, ttl=bad)  # type: ignore[arg-type]
    assert not await cache.exists("k")
    await cache.set("k", 1)
    with pytest.raises(ValueError, match="ttl must be"):
        await cache.get_or_set("k", lambda: 2, ttl=-5)  # refused on a hit as on a miss


async def test_delete_and_exists(cache: Cache) -> None:
    await cache.set("k", None)
    assert await cache.exists("k")  # a cached None exists
    assert await cache.delete("k") is True
    assert await cache.delete("k") is False
    assert not await cache.exists("k")


async def test_delete_pattern_removes_matches_only_and_counts_them(cache: Cache) -> None:
    await cache.set_many({"users:list": 1, "users:page:1": 1, "users:page:2": 1, "user:7": 1, "users:page": 1})
    assert await cache.delete_pattern("users:page:*") == 2
    left = await cache.get_many(["users:list", "users:page:1", "users:page:2", "user:7", "users:page"])
    assert sorted(left) == ["user:7", "users:list", "users:page"]
    assert await cache.delete_pattern("nothing:*") == 0
    assert await cache.delete_pattern("user?7") == 1  # Redis glob syntax on both backends
    assert await cache.delete_pattern("users[^:]page") == 0
    assert await cache.delete_pattern("users[:]page") == 1
    assert await cache.get_many(["users:list"]) == {"users:list": 1}


async def test_clear_empties_the_cache_and_counts(cache: Cache) -> None:
    await cache.set_many({f"k{i}": i for i in range(1200)})  # more than one SCAN batch on Redis
    assert await cache.clear() == 1200
    assert await cache.get("k5") is None
    assert await cache.clear() == 0


# --------------------------------------------------------------------------- TTL


async def test_ttl_reports_default_explicit_never_and_absent(cache: Cache) -> None:
    await cache.set("default", 1)
    await cache.set("explicit", 1, ttl=60)
    await cache.set("never", 1, ttl=0)
    default_left = await cache.ttl("default")
    explicit_left = await cache.ttl("explicit")
    assert default_left is not None and 290 < default_left <= 300
    assert explicit_left is not None and 50 < explicit_left <= 60
    assert await cache.ttl("never") == math.inf
    assert await cache.ttl("absent") is None


async def test_short_ttl_expires(cache: Cache) -> None:
    await cache.set("brief", "x", ttl=0.05)
    await asyncio.sleep(0.2)
    assert await cache.get("brief", "gone") == "gone"
    assert not await cache.exists("brief")


# --------------------------------------------------------------------------- incr / decr


async def test_incr_and_decr_are_atomic_counters(cache: Cache) -> None:
    assert await cache.incr("hits") == 1
    assert await cache.incr("hits", 10) == 11
    assert await cache.decr("hits", 2) == 9
    assert await cache.decr("fresh") == -1
    results = await asyncio.gather(*(cache.incr("race") for _ in range(200)))
    assert sorted(results) == list(range(1, 201))
    assert await cache.get("race") == 200


async def test_incr_creates_with_ttl_and_keeps_an_existing_expiry(cache: Cache) -> None:
    await cache.incr("limited", ttl=30)
    left = await cache.ttl("limited")
    assert left is not None and 25 < left <= 30
    await cache.incr("limited", ttl=1000)  # existing key: its expiry is kept
    left = await cache.ttl("limited")
    assert left is not None and left <= 30
    await cache.set("forever", 5, ttl=0)
    assert await cache.incr("forever") == 6
    assert await cache.ttl("forever") == math.inf


async def test_incr_on_a_non_integer_fails_and_keeps_the_value(cache: Cache) -> None:
    for value in ("5", 5.0, True, {"n": 1}, Decimal(5)):
        await cache.set("v", value)
        with pytest.raises(TypeError, match="cannot incr/decr cache key 'v': it does not hold an integer"):
            await cache.incr("v")
        assert await cache.get("v") == value
    await cache.set("big", 2**63 - 1)
    with pytest.raises(TypeError, match="signed 64-bit range"):
        await cache.incr("big")
    assert await cache.get("big") == 2**63 - 1
    with pytest.raises(TypeError, match="amount must be an int"):
        await cache.incr("n", 1.5)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- get_or_set


async def test_get_or_set_accepts_sync_async_and_coroutine_returning_factories(cache: Cache) -> None:
    async def fetch(user_id: str) -> dict[str, str]:
        return {"id": user_id}

    assert await cache.get_or_set("sync", lambda: [1, 2]) == [1, 2]
    assert await cache.get_or_set("async", Counter({"a": 1})) == {"a": 1}
    assert await cache.get_or_set("user:1", factory=lambda: fetch("1"), ttl=600) == {"id": "1"}  # the spec's form
    assert await cache.get("user:1") == {"id": "1"}
    left = await cache.ttl("user:1")
    assert left is not None and 590 < left <= 600


async def test_get_or_set_hits_do_not_call_the_factory_even_for_none(cache: Cache) -> None:
    factory = Counter(None)
    assert await cache.get_or_set("nothing", factory) is None
    assert await cache.get_or_set("nothing", factory) is None
    assert factory.calls == 1


async def test_concurrent_get_or_set_runs_the_factory_once(cache: Cache) -> None:
    factory = Counter({"rows": [1, 2, 3]}, delay=0.05)
    results = await asyncio.gather(*(cache.get_or_set("cold", factory) for _ in range(1000)))
    assert factory.calls == 1
    assert all(r == {"rows": [1, 2, 3]} for r in results)
    results[0]["rows"].append(4)  # every caller got its own copy
    assert results[1] == {"rows": [1, 2, 3]}
    assert await cache.get("cold") == {"rows": [1, 2, 3]}


async def test_a_failing_factory_reaches_every_waiter_and_caches_nothing(cache: Cache) -> None:
    factory = Counter(delay=0.05, error=LookupError("database is gone"))
    results = await asyncio.gather(*(cache.get_or_set("doomed", factory) for _ in range(50)), return_exceptions=True)
    assert factory.calls == 1
    assert all(isinstance(r, LookupError) and str(r) == "database is gone" for r in results)
    assert not await cache.exists("doomed")
    assert await cache.get_or_set("doomed", lambda: "second try") == "second try"


async def test_an_unstorable_factory_value_fails_clearly(cache: Cache) -> None:
    with pytest.raises(UnsupportedValueError, match=r"builtins\.set"):
        await cache.get_or_set("k", lambda: {1, 2})
    assert not await cache.exists("k")


async def test_a_cancelled_caller_does_not_cancel_the_others(cache: Cache) -> None:
    factory = Counter("value", delay=0.1)
    first = asyncio.create_task(cache.get_or_set("k", factory))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(cache.get_or_set("k", factory))
    await asyncio.sleep(0.01)
    first.cancel()
    assert await second == "value"
    assert factory.calls == 1
    assert await cache.get("k") == "value"


async def test_a_delete_during_get_or_set_is_not_undone_by_the_running_computation(cache: Cache) -> None:
    """The usual invalidation: update the row, then delete its key. A computation that read the old
    row before the delete must not store it afterwards, and a caller arriving after the delete must
    not be handed that old computation's value: it computes afresh."""
    reading, updated = asyncio.Event(), asyncio.Event()

    async def read_old_row() -> str:
        reading.set()
        await updated.wait()
        return "old"

    first = asyncio.create_task(cache.get_or_set("user:1", read_old_row))
    await reading.wait()
    assert await cache.delete("user:1") is False  # nothing stored yet: still reports honestly
    after = asyncio.create_task(cache.get_or_set("user:1", lambda: "new"))
    await asyncio.sleep(0.05)
    updated.set()
    assert await first == "old"  # the caller that started it still gets its own result
    assert await after == "new"
    assert await cache.get("user:1") == "new"
    assert await cache.get_or_set("user:1", lambda: "unused") == "new"


# --------------------------------------------------------------------------- decorator


async def test_cached_decorator_caches_by_arguments(cache: Cache) -> None:
    calls: list[tuple[str, int]] = []

    @cache.cached(ttl=60)
    async def load(user_id: str, page: int = 1) -> dict[str, Any]:
        calls.append((user_id, page))
        return {"user": user_id, "page": page}

    assert await load("7") == {"user": "7", "page": 1}
    assert await load("7", 1) == {"user": "7", "page": 1}
    assert await load(user_id="7", page=1) == {"user": "7", "page": 1}
    assert await load("7", page=2) == {"user": "7", "page": 2}
    assert calls == [("7", 1), ("7", 2)]
    assert load.__name__ == "load"

    assert await load.invalidate("7") is True
    await load("7")
    assert calls[-1] == ("7", 1)
    assert await load.invalidate_all() == 2
    await load("7", 2)
    assert len(calls) == 4
    left = await cache.ttl(load.key("7", 2))
    assert left is not None and 50 < left <= 60


async def test_cached_decorator_refuses_sync_functions_and_unkeyable_arguments(cache: Cache) -> None:
    with pytest.raises(TypeError, match="decorates async functions"):
        cache.cached()(lambda: 1)  # type: ignore[arg-type,return-value]

    @cache.cached()
    async def by_object(thing: object) -> int:
        return 1

    with pytest.raises(UnsupportedValueError, match="arguments cannot form a cache key"):
        await by_object(object())


async def test_cached_decorator_hashes_long_arguments(cache: Cache) -> None:
    @cache.cached(namespace="reports")
    async def report(ids: list[int]) -> int:
        return sum(ids)

    assert await report(list(range(500))) == sum(range(500))
    key = report.key(list(range(500)))
    assert key.startswith("reports:#") and len(key) < 80
    assert await cache.get(key) == sum(range(500))
