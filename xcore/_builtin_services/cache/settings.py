"""``services.cache`` settings, one model per backend.

Both backends accept every key of the section so that switching ``backend: redis`` to
``backend: memory`` (or back) needs no other edit: the spec's example carries ``max_size`` under a
Redis cache and ``url`` is harmless under a memory one. Keys a backend does not use are ignored by it.
"""

from __future__ import annotations

from pydantic import Field

from xcore._builtin_services.service_urls import RedisUrl
from xcore._services import ServiceSettings


class CacheSettings(ServiceSettings):
    """Settings shared by both cache backends.

    ``ttl`` is the default lifetime in seconds of a key written without ``ttl=`` (``0``: never
    expires). Redis keys live in the cache's namespace ``<app>:cache:``; ``key_prefix`` replaces the
    ``<app>`` part (default: ``app.name``). ``clear()`` and ``delete_pattern()`` never reach beyond it.
    ``timeout`` bounds each Redis call (short: a local Redis answers in well under a millisecond, and a
    late answer is worth no more than a miss); ``connect_timeout`` bounds opening a connection (TLS to
    a distant server needs longer). After a call fails, calls skip Redis for ``retry_interval``
    seconds, then one probes it (a circuit breaker), so a Redis that stops answering costs one timeout
    per interval, not one per call. ``lock_timeout`` is how long a process may hold the cross-process
    ``get_or_set`` lock before another process takes over the computation.
    ``max_connections`` caps the Redis connection pool; calls beyond it wait for a free connection.
    """

    url: str | None = None
    ttl: float = Field(300, ge=0, le=10**9)
    max_size: int = Field(10_000, gt=0)
    key_prefix: str | None = Field(None, min_length=1)
    timeout: float = Field(0.25, gt=0)
    connect_timeout: float = Field(1.0, gt=0)
    retry_interval: float = Field(0.5, gt=0)
    lock_timeout: float = Field(10.0, gt=0)
    max_connections: int = Field(50, gt=0)


class MemoryCacheSettings(CacheSettings):
    """``backend: memory``: a per-process LRU of at most ``max_size`` keys (``url`` is ignored)."""


class RedisCacheSettings(CacheSettings):
    """``backend: redis``: ``url`` is required (``redis://``, ``rediss://`` or ``unix://``)."""

    url: RedisUrl


class TieredCacheSettings(RedisCacheSettings):
    """``backend: tiered``: Redis (``url``) with a per-process memory tier of ``max_size`` keys in front.

    ``local_ttl`` is the longest a process keeps a value in its memory tier (never longer than the key
    lives in Redis): the bound on how stale a read can be if an invalidation message is lost (while
    Redis is down, or between two subscriptions). ``0`` keeps nothing locally.
    """

    local_ttl: float = Field(30.0, ge=0, le=10**6)
