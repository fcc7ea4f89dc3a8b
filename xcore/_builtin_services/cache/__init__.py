"""The built-in cache service: ``services.cache`` with ``backend: memory`` or ``backend: redis``.

Registered like any third-party backend, through the ``xcore.services`` entry point ``cache`` and
the ``xcore_register_service`` hook below. Plugins get it with ``self.get_service("cache")``; both
backends offer the same :class:`Cache` API (see :mod:`.base` for its guarantees)::

    user = await self.cache.get_or_set(f"user:{user_id}", lambda: self._fetch_user(user_id), ttl=600)
    await self.cache.delete_pattern("users:page:*")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xcore._builtin_services.cache.settings import (
    CacheSettings,
    MemoryCacheSettings,
    RedisCacheSettings,
    TieredCacheSettings,
)
from xcore._hookspecs import hookimpl
from xcore._services import ServiceSetup, ServiceType

if TYPE_CHECKING:
    from xcore._builtin_services.cache.base import Cache, CacheUnavailableError
    from xcore._builtin_services.cache.codec import UnsupportedValueError
    from xcore._builtin_services.cache.decorator import CachedFunction
    from xcore._builtin_services.cache.memory import MemoryCache
    from xcore._builtin_services.cache.redis import RedisCache
    from xcore._builtin_services.cache.tiered import TieredCache
else:
    # Importing the backend declares it; redis-py loads only when a Redis cache is built.
    from xcore._builtin_services.lazy_exports import lazy_exports

    __getattr__ = lazy_exports(
        __name__,
        {
            "Cache": ".base",
            "CacheUnavailableError": ".base",
            "UnsupportedValueError": ".codec",
            "CachedFunction": ".decorator",
            "MemoryCache": ".memory",
            "RedisCache": ".redis",
            "TieredCache": ".tiered",
        },
    )

__all__ = [
    "Cache",
    "CacheSettings",
    "CacheUnavailableError",
    "CachedFunction",
    "MemoryCache",
    "MemoryCacheSettings",
    "RedisCache",
    "RedisCacheSettings",
    "TieredCache",
    "TieredCacheSettings",
    "UnsupportedValueError",
]


def build_memory(settings: MemoryCacheSettings, setup: ServiceSetup) -> MemoryCache:
    from xcore._builtin_services.cache.memory import MemoryCache

    return MemoryCache(settings)


def build_redis(settings: RedisCacheSettings, setup: ServiceSetup) -> RedisCache:
    from xcore._builtin_services.cache.redis import RedisCache

    return RedisCache(settings, setup)


def build_tiered(settings: TieredCacheSettings, setup: ServiceSetup) -> TieredCache:
    from xcore._builtin_services.cache.tiered import TieredCache

    return TieredCache(settings, setup)


@hookimpl
def xcore_register_service() -> list[ServiceType]:
    factories: list[tuple[str, Any, Any, str]] = [
        ("memory", MemoryCacheSettings, build_memory, "per-process LRU cache with per-key TTL"),
        ("redis", RedisCacheSettings, build_redis, "Redis cache shared by every process, in <app>:cache:"),
        (
            "tiered",
            TieredCacheSettings,
            build_tiered,
            "per-process memory tier in front of Redis, pub/sub invalidation",
        ),
    ]
    return [
        ServiceType(kind="cache", name=name, config=config, factory=factory, description=description)
        for name, config, factory, description in factories
    ]
