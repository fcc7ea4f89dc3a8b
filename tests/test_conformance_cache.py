"""XCore's cache backends (memory, redis) through the cache conformance suite."""

from __future__ import annotations

from typing import Any

import pytest

from xcore import hookimpl
from xcore._builtin_services.cache.redis import RedisCache
from xcore._builtin_services.cache.settings import RedisCacheSettings
from xcore._services import ServiceSetup, ServiceType
from xcore.testing.conformance import CacheConformance
from xcore.testing.conformance.boot import running_service
from xcore.testing.conformance.cache_suite import APP


class TestMemoryCache(CacheConformance):
    @pytest.fixture
    def service_config(self) -> dict[str, Any]:
        return {"backend": "memory"}


class TestRedisCache(CacheConformance):
    @pytest.fixture
    def service_config(self, redis_url: str) -> dict[str, Any]:
        return {"backend": "redis", "url": redis_url}


class LeakyCache(RedisCache):
    """The cache as it was before namespaces: keys under ``<app>:``, so ``clear()`` reaches every service."""

    def __init__(self, settings: RedisCacheSettings, setup: ServiceSetup) -> None:
        super().__init__(settings, setup)
        self._p = setup.app_name + ":"
        self._p_bytes = self._p.encode()
        self._match = self._p


class LeakyBackend:
    @hookimpl
    def xcore_register_service(self) -> ServiceType:
        return ServiceType("cache", "leaky", RedisCacheSettings, LeakyCache)


@pytest.mark.parametrize("app_name", [APP, "x"])
async def test_the_suite_fails_a_backend_that_ignores_its_namespace(redis_url: str, app_name: str) -> None:
    config, plugins = {"backend": "leaky", "url": redis_url}, {"leaky": LeakyBackend()}
    async with running_service("cache", config, plugins=plugins, app_name=app_name) as service:
        with pytest.raises(AssertionError):
            await CacheConformance().test_clear_and_any_pattern_stay_inside_the_namespace(
                service, config, plugins, "conformance:leaky"
            )


class TestTieredCache(CacheConformance):
    @pytest.fixture
    def service_config(self, redis_url: str) -> dict[str, Any]:
        return {"backend": "tiered", "url": redis_url}
