"""What only the memory backend has: LRU eviction at ``max_size`` and per-key expiry on its clock."""

from __future__ import annotations

import math

import pytest

from xcore._builtin_services.cache import MemoryCache, MemoryCacheSettings


class Clock:
    """A monotonic clock the test moves by hand, so expiry is tested without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_each_key_expires_after_its_own_ttl() -> None:
    clock = Clock()
    cache = MemoryCache(MemoryCacheSettings(ttl=60), timer=clock)
    await cache.set("short", 1, ttl=5)
    await cache.set("default", 2)
    await cache.set("never", 3, ttl=0)
    await cache.set("box", {"a": [1]}, ttl=10)
    clock.now += 5.01
    assert await cache.get("short") is None
    assert await cache.get("box") == {"a": [1]}
    assert await cache.ttl("default") == pytest.approx(54.99)
    clock.now += 55
    assert await cache.get_many(["short", "default", "never", "box"]) == {"never": 3}
    assert await cache.ttl("never") == math.inf
    assert not await cache.exists("default")


async def test_get_or_set_after_expiry_computes_again() -> None:
    clock = Clock()
    cache = MemoryCache(MemoryCacheSettings(ttl=60), timer=clock)
    calls = []
    assert await cache.get_or_set("k", lambda: calls.append(1) or len(calls), ttl=1) == 1
    assert await cache.get_or_set("k", lambda: calls.append(1) or len(calls), ttl=1) == 1
    clock.now += 2
    assert await cache.get_or_set("k", lambda: calls.append(1) or len(calls), ttl=1) == 2


async def test_incr_on_an_expired_counter_starts_again() -> None:
    clock = Clock()
    cache = MemoryCache(MemoryCacheSettings(), timer=clock)
    assert await cache.incr("rate", 5, ttl=1) == 5
    clock.now += 1.5
    assert await cache.incr("rate", 5, ttl=1) == 5


async def test_least_recently_used_key_is_evicted_beyond_max_size() -> None:
    cache = MemoryCache(MemoryCacheSettings(max_size=3))
    await cache.set_many({"a": 1, "b": 2, "c": 3})
    assert await cache.get("a") == 1  # "a" is now the most recently used; "b" the least
    await cache.set("d", 4)
    assert await cache.get_many(["a", "b", "c", "d"]) == {"a": 1, "c": 3, "d": 4}
    health = await cache.health()
    assert health == {"backend": "memory", "size": 3, "max_size": 3}


async def test_expired_keys_are_evicted_before_live_ones() -> None:
    clock = Clock()
    cache = MemoryCache(MemoryCacheSettings(max_size=2), timer=clock)
    await cache.set("old", 1, ttl=1)
    await cache.set("live", 2, ttl=100)
    clock.now += 2
    await cache.set("new", 3)
    assert await cache.get_many(["old", "live", "new"]) == {"live": 2, "new": 3}


async def test_clear_and_delete_pattern_do_not_count_expired_keys() -> None:
    clock = Clock()
    cache = MemoryCache(MemoryCacheSettings(), timer=clock)
    await cache.set_many({"page:1": 1, "page:2": 2})
    await cache.set("page:3", 3, ttl=1)
    clock.now += 2
    assert await cache.delete_pattern("page:*") == 2
    await cache.set("x", 1)
    await cache.set("y", 1, ttl=1)
    clock.now += 2
    assert await cache.clear() == 1


async def test_close_empties_the_cache() -> None:
    cache = MemoryCache(MemoryCacheSettings())
    await cache.set("k", 1)
    await cache.close()
    assert await cache.get("k") is None


async def test_immutable_values_are_kept_without_a_copy_and_containers_are_private_copies() -> None:
    cache = MemoryCache(MemoryCacheSettings())
    immutables = ["text", b"bytes", (1, ("a", b"b")), frozenset({1, (2, 3)}), 10**30]
    for index, value in enumerate(immutables):
        await cache.set(f"k{index}", value)
        assert await cache.get(f"k{index}") is value
    row = {"id": 1, "roles": ["admin"]}
    await cache.set("row", row)
    row["roles"].append("set-after")
    got = await cache.get("row")
    assert got == {"id": 1, "roles": ["admin"]}
    got["roles"].append("mine")
    assert await cache.get("row") == {"id": 1, "roles": ["admin"]}
    holder = (1, [2])  # a tuple holding a list is copied like any container
    await cache.set("holder", holder)
    back = await cache.get("holder")
    assert back == holder and back is not holder
    back[1].append(3)
    assert await cache.get("holder") == (1, [2])


async def test_rewriting_keys_keeps_the_expiry_index_bounded() -> None:
    clock = Clock()
    cache = MemoryCache(MemoryCacheSettings(max_size=10), timer=clock)
    for index in range(11):  # the index exists once the store has been full
        await cache.set(f"k{index}", index, ttl=60)
    for round_ in range(1000):
        await cache.set(f"k{round_ % 5}", round_, ttl=60)
    store = cache._data
    assert store._expiries is not None and len(store._expiries) <= 2 * 10 + 64 + 1
    clock.now += 61
    await cache.set("fresh", 1)
    assert await cache.health() == {"backend": "memory", "size": 1, "max_size": 10}


async def test_the_expiry_index_built_when_the_store_fills_follows_later_writes() -> None:
    """The heap of expiries is built when the store is first full; every write after that must reach it."""
    clock = Clock()
    cache = MemoryCache(MemoryCacheSettings(max_size=3), timer=clock)
    for _ in range(2):  # clear() drops the index: the second round builds it again
        await cache.set_many({"a": 1, "b": 2, "c": 3}, ttl=100)
        await cache.set("d", 4, ttl=100)  # full: "a" (least recently used) goes, the index is built
        await cache.set("b", 5, ttl=1)  # rewritten once the index exists: it now expires first
        clock.now += 2
        await cache.set("e", 6, ttl=100)  # full again: the expired "b" goes, not the least recently used "c"
        assert await cache.get_many(["a", "b", "c", "d", "e"]) == {"c": 3, "d": 4, "e": 6}
        assert await cache.clear() == 3


async def test_nested_containers_are_private_at_every_level() -> None:
    cache = MemoryCache(MemoryCacheSettings())
    value = [{"a": [1, {"b": 2}], "s": "x"}, [], {"n": None, "f": 1.5}]
    await cache.set("tree", value)
    value[0]["a"][1]["b"] = "changed by the caller after set"
    value.append("more")
    first = await cache.get("tree")
    assert first == [{"a": [1, {"b": 2}], "s": "x"}, [], {"n": None, "f": 1.5}]
    first[0]["a"][1]["b"] = "changed by a reader"
    first[1].append(1)
    second = await cache.get("tree")
    assert second == [{"a": [1, {"b": 2}], "s": "x"}, [], {"n": None, "f": 1.5}]
    assert second[0]["a"][1] is not first[0]["a"][1] and second[1] is not first[1]
    many = await cache.get_many(["tree"])
    assert many["tree"] == second and many["tree"][0] is not second[0]
