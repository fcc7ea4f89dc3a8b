"""The cache conformance suite: what plugins may rely on from any ``cache`` backend.

The API is the spec's (``get``, ``set``, ``delete``, ``get_or_set``, ``delete_pattern``, ``clear``,
``ttl``, ``incr``) with the contract written in ``xcore._builtin_services.cache.base``::

    class TestMyCache(CacheConformance):
        @pytest.fixture
        def service_config(self, redis_url):
            return {"backend": "my-cache", "url": redis_url}
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from xcore._services.namespaces import service_namespace
from xcore.testing.conformance.base import ConformanceSuite
from xcore.testing.conformance.boot import CONFORMANCE_APP, running_service

VALUES: list[Any] = ["text", "", 42, -1, 3.5, True, False, [1, "two", None], {"user": {"id": 7, "tags": ["a", "b"]}}]

HOSTILE_PATTERNS = ["*", "**", "?*", "*:*", "[", "[*", "]", "\\", "\\*", "*\\", "..", "../*", "[a-z]*", "[^x]*", ":*"]
"""Patterns a plugin may pass to ``delete_pattern``; none may reach beyond the cache's namespace."""

APP = CONFORMANCE_APP
NEIGHBOUR_APP = f"{CONFORMANCE_APP}-neighbour"
"""The app names of the suite's host and of a second host with the same cache section: the neighbour's
namespace starts with the same letters, so a backend matching ``<app>*`` instead of its namespace fails."""


class CacheConformance(ConformanceSuite):
    """Round trips, expiry, get_or_set, patterns, counters."""

    kind = "cache"
    section_name = "cache"

    @pytest.fixture
    def key(self, unique: str) -> str:
        return f"conformance:{unique}"

    async def test_a_missing_key_gives_none_or_the_default(self, service: Any, key: str) -> None:
        assert await service.get(f"{key}:missing") is None
        assert await service.get(f"{key}:missing", "fallback") == "fallback"

    @pytest.mark.parametrize("value", VALUES, ids=[type(v).__name__ + str(i) for i, v in enumerate(VALUES)])
    async def test_set_then_get_returns_an_equal_value(self, service: Any, key: str, value: Any) -> None:
        await service.set(key, value, ttl=60)
        got = await service.get(key)
        assert got == value and type(got) is type(value)

    async def test_ttl_reports_the_seconds_left(self, service: Any, key: str) -> None:
        await service.set(key, "v", ttl=30)
        left = await service.ttl(key)
        assert left is not None and 0 < left <= 30
        assert await service.ttl(f"{key}:missing") is None

    async def test_a_value_expires_after_its_ttl(self, service: Any, key: str) -> None:
        await service.set(key, "short-lived", ttl=0.5)
        assert await service.get(key) == "short-lived"
        await asyncio.sleep(0.8)
        assert await service.get(key) is None

    async def test_delete_removes_and_reports_whether_the_key_existed(self, service: Any, key: str) -> None:
        await service.set(key, "v")
        assert await service.delete(key) is True
        assert await service.get(key) is None
        assert await service.delete(key) is False

    async def test_get_or_set_computes_once_with_a_sync_factory(self, service: Any, key: str) -> None:
        calls: list[int] = []

        def factory() -> dict[str, int]:
            calls.append(1)
            return {"n": len(calls)}

        assert await service.get_or_set(key, factory=factory, ttl=60) == {"n": 1}
        assert await service.get_or_set(key, factory=factory, ttl=60) == {"n": 1}
        assert calls == [1]

    async def test_get_or_set_awaits_a_factory_returning_a_coroutine(self, service: Any, key: str) -> None:
        async def fetch_user(user_id: str) -> dict[str, str]:
            return {"id": user_id}

        # the spec's own form: factory=lambda: self._fetch_user_from_db(user_id)
        assert await service.get_or_set(key, factory=lambda: fetch_user("42"), ttl=600) == {"id": "42"}
        assert await service.get(key) == {"id": "42"}

    async def test_concurrent_get_or_set_runs_the_factory_once(self, service: Any, key: str) -> None:
        calls: list[int] = []

        async def slow() -> str:
            calls.append(1)
            await asyncio.sleep(0.05)
            return "computed"

        results = await asyncio.gather(*(service.get_or_set(key, factory=slow, ttl=60) for _ in range(10)))
        assert results == ["computed"] * 10
        assert calls == [1]

    async def test_a_failing_factory_caches_nothing(self, service: Any, key: str) -> None:
        def broken() -> str:
            raise RuntimeError("database down")

        with pytest.raises(RuntimeError, match="database down"):
            await service.get_or_set(key, factory=broken, ttl=60)
        assert await service.get(key) is None

    async def test_delete_pattern_removes_only_matching_keys(self, service: Any, key: str) -> None:
        for name in ("users:page:1", "users:page:2", "users:list", "orders:page:1"):
            await service.set(f"{key}:{name}", name, ttl=60)
        await service.delete_pattern(f"{key}:users:page:*")
        assert await service.get(f"{key}:users:page:1") is None
        assert await service.get(f"{key}:users:page:2") is None
        assert await service.get(f"{key}:users:list") == "users:list"
        assert await service.get(f"{key}:orders:page:1") == "orders:page:1"

    async def test_clear_removes_every_key(self, service: Any, key: str) -> None:
        await service.set(f"{key}:a", 1, ttl=60)
        await service.set(f"{key}:b", 2, ttl=60)
        await service.clear()
        assert await service.get(f"{key}:a") is None
        assert await service.get(f"{key}:b") is None

    async def test_clear_and_any_pattern_stay_inside_the_namespace(
        self, service: Any, service_config: dict[str, Any], service_plugins: dict[str, object], key: str
    ) -> None:
        """The host hands the backend ``ServiceSetup.namespace``; everything it removes lies inside it.

        A second host (another app, so another namespace) uses the same section, the same server: its
        key survives every pattern and ``clear()``. On a Redis URL, keys of other services planted in
        the same database survive too, and every key the cache writes lies in ``<app>:cache:``.
        """
        planted = _plant_neighbours(service_config, key)
        try:
            async with running_service(
                self.kind, service_config, name=self.section_name, plugins=service_plugins, app_name=NEIGHBOUR_APP
            ) as neighbour:
                await neighbour.set(key, "the neighbour's", ttl=60)
                await service.set(key, "mine", ttl=60)
                if planted is not None:
                    planted.check_written()
                for pattern in HOSTILE_PATTERNS:
                    await service.delete_pattern(pattern)
                await service.clear()
                assert await service.get(key) is None
                assert await neighbour.get(key) == "the neighbour's"
            if planted is not None:
                planted.check_intact()
        finally:
            if planted is not None:
                planted.remove()

    async def test_incr_counts_from_zero_and_by_amount(self, service: Any, key: str) -> None:
        assert await service.incr(key) == 1
        assert await service.incr(key) == 2
        assert await service.incr(key, 5) == 7
        assert await service.get(key) == 7

    async def test_concurrent_incr_loses_no_update(self, service: Any, key: str) -> None:
        await asyncio.gather(*(service.incr(key) for _ in range(50)))
        assert await service.get(key) == 50

    async def test_incr_of_a_non_integer_is_refused_and_the_value_kept(self, service: Any, key: str) -> None:
        await service.set(key, "text", ttl=60)
        with pytest.raises(TypeError):
            await service.incr(key)
        assert await service.get(key) == "text"

    async def test_health_reports_ok(self, service: Any) -> None:
        await service.health()


class _Planted:
    """Keys of other services written straight into the Redis database a cache section names."""

    def __init__(self, url: str, key: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.namespace = service_namespace(APP, "cache")
        self.key = key
        self.keys = {
            service_namespace(APP, "scheduler") + "jobs": b"job",
            service_namespace(APP, "events") + key: b"event",
            service_namespace(APP, "redis_db") + key: b"row",
            self.namespace.rstrip(":"): b"beside the namespace",
            self.namespace.rstrip(":") + "x:" + key: b"beside the namespace",
            key: b"no namespace",
        }
        self.client.mset(self.keys)

    def check_written(self) -> None:
        """Every key holding the test's token is planted, or in the cache's namespace (or the neighbour's)."""
        owners = (self.namespace, service_namespace(NEIGHBOUR_APP, "cache"))
        for raw in self.client.scan_iter(match=f"*{self.key}*"):
            name = raw.decode()
            assert name in self.keys or name.startswith(owners), f"the cache wrote {name!r} outside {self.namespace!r}"

    def check_intact(self) -> None:
        found = {name: self.client.get(name) for name in self.keys}
        assert found == self.keys, "a cache call removed keys of other services"

    def remove(self) -> None:
        try:
            self.client.delete(*self.keys)
        finally:
            self.client.close()


def _plant_neighbours(service_config: dict[str, Any], key: str) -> _Planted | None:
    """On a Redis-backed section (a ``url`` naming Redis), plant other services' keys beside the cache."""
    url = service_config.get("url")
    if isinstance(url, str) and url.startswith(("redis://", "rediss://", "unix://")):
        return _Planted(url, key)
    return None
