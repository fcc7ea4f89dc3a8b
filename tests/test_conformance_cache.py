"""XCore's cache backends (memory, redis) through the cache conformance suite."""

from __future__ import annotations

from typing import Any

import pytest

from xcore.testing.conformance import CacheConformance


class TestMemoryCache(CacheConformance):
    @pytest.fixture
    def service_config(self) -> dict[str, Any]:
        return {"backend": "memory"}


class TestRedisCache(CacheConformance):
    @pytest.fixture
    def service_config(self, redis_url: str) -> dict[str, Any]:
        return {"backend": "redis", "url": redis_url}
