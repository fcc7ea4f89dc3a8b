"""``backend: tiered``: a per-process memory cache in front of the Redis cache, kept coherent by pub/sub.

Reads are served from the process's own :class:`~.memory.MemoryCache` when it holds the key (as fast
as ``backend: memory``), else from Redis, and the value is kept locally for at most ``local_ttl``
seconds (never longer than the key lives in Redis). Every write (``set``, ``set_many``, ``delete``,
``delete_pattern``, ``clear``, ``incr``) goes to Redis first, then to the local tier, then is
published on ``<namespace>invalidate``; every other process of the app (every worker, every host)
drops the keys it names from its local tier when the message arrives. So once a process has received
the message, it no longer serves the old value; before that (a fraction of a millisecond on a LAN) it
may.

While Redis is down, the Redis tier degrades as ``backend: redis`` does (misses, skipped writes,
its circuit breaker) and the local tier keeps serving what it holds until ``local_ttl`` runs out.
Invalidations published meanwhile are lost, so when the subscription is established again the local
tier is emptied: after an outage a process never serves a value older than the outage.
"""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from xcore._builtin_services.cache.base import Cache, check_key, ttl_seconds
from xcore._builtin_services.cache.memory import MemoryCache, pack
from xcore._builtin_services.cache.redis import RedisCache
from xcore._builtin_services.cache.settings import MemoryCacheSettings, TieredCacheSettings
from xcore._services import ServiceBase, ServiceSetup
from xcore._services.breaker import CircuitBreaker

_MISS: Any = object()


class TieredCache(Cache, ServiceBase):
    """The tiered backend; see the module docstring for what a reader may see and when."""

    backend = "tiered"

    def __init__(self, settings: TieredCacheSettings, setup: ServiceSetup) -> None:
        self.remote = RedisCache(settings, setup)
        local = MemoryCacheSettings(ttl=settings.local_ttl, max_size=settings.max_size)
        self.local = MemoryCache(local)
        self._data = self.local._data  # the hot path reads it directly, as MemoryCache.get does
        self._local_ttl = settings.local_ttl
        self._default_ttl = settings.ttl
        self.channel = self.remote.namespace + "invalidate"
        self._origin = uuid.uuid4().hex
        self._url = settings.url
        self._timeout = settings.timeout
        self._log = setup.logger
        self.breaker = CircuitBreaker(settings.retry_interval)
        """Of the subscription: open while it cannot be established."""
        self._subscriber: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()
        self.invalidations = 0
        """Messages from other processes applied to the local tier (for tests and health)."""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._subscriber = asyncio.create_task(self._listen(), name="xcore-cache-invalidations")
        await self.remote.start()
        try:
            await asyncio.wait_for(self.subscribed.wait(), max(1.0, self._timeout * 4))
        except TimeoutError:
            self._log.warning("cache: the invalidation channel is not subscribed yet; the local tier stays empty")

    async def health(self) -> dict[str, Any]:
        report = await self.remote.health()
        report.update(
            backend="tiered",
            local_size=len(self._data),
            subscribed=self.subscribed.is_set(),
            invalidations=self.invalidations,
        )
        return report

    async def close(self) -> None:
        if self._subscriber is not None:
            self._subscriber.cancel()
            await asyncio.gather(self._subscriber, return_exceptions=True)
        await self.remote.close()
        await self.local.close()

    async def _listen(self) -> None:
        """Apply other processes' invalidations; re-subscribe after a failure (emptying the local tier)."""
        while True:
            client = Redis.from_url(self._url, socket_connect_timeout=max(self._timeout, 1.0))
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    self._data.clear()  # what was published while unsubscribed is lost: forget everything
                    self.subscribed.set()
                    if self.breaker.success():
                        self._log.info("cache: invalidation channel subscribed again")
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._apply(message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                self.subscribed.clear()
                if self.breaker.failure():
                    self._log.warning(
                        "cache: invalidation channel lost (%s); the local tier serves until local_ttl",
                        type(exc).__name__,
                    )
            finally:
                await client.aclose()
            await asyncio.sleep(self.breaker.retry_interval)

    def _apply(self, raw: bytes) -> None:
        try:
            origin, op, arg = json.loads(raw)
        except (ValueError, TypeError):
            self._log.warning("cache: ignored a malformed invalidation message")
            return
        if origin == self._origin:
            return
        self.invalidations += 1
        data = self._data
        if op == "keys":
            for key in arg:
                data.pop(key)
        elif op == "pattern":
            from xcore._builtin_services.cache.keyglob import compile_glob

            match = compile_glob(arg).fullmatch
            for key in [k for k in data.live_keys() if match(k)]:
                data.pop(key)
        else:
            data.clear()

    async def _publish(self, op: str, arg: Any) -> None:
        message = json.dumps([self._origin, op, arg])
        await self.remote._try("invalidation publish", lambda: self.remote._client.publish(self.channel, message))

    def _keep(self, key: str, value: Any, remote_ttl: float | None) -> None:
        seconds = self._local_ttl if remote_ttl is None else min(self._local_ttl, remote_ttl)
        if seconds > 0:
            stored, plan = pack(value)
            self._data.put(key, (stored, self.local._timer() + seconds, plan))

    # ------------------------------------------------------------------ reads

    async def get(self, key: str, default: Any = None) -> Any:
        value = await self.local.get(key, _MISS)  # the memory backend's hit path, private copies included
        if value is _MISS:
            check_key(key)
            return await self._fetch(key, default)
        return value

    async def _fetch(self, key: str, default: Any) -> Any:
        value = await self.remote.get(key, _MISS)
        if value is _MISS:
            return default
        left = await self.remote.ttl(key)
        if left is not None and self.subscribed.is_set():
            self._keep(key, value, left)
        return value

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        missing = []
        for key in keys:
            value = await self.local.get(key, _MISS)
            if value is _MISS:
                missing.append(key)
            else:
                found[key] = value
        if missing:
            found.update(await self.remote.get_many(missing))
        return found

    async def exists(self, key: str) -> bool:
        return await self.local.exists(key) or await self.remote.exists(key)

    async def ttl(self, key: str) -> float | None:
        return await self.remote.ttl(key)

    async def keys(self, pattern: str = "*") -> list[str]:
        return await self.remote.keys(pattern)

    async def get_or_set(self, key: str, factory: Callable[[], Any], ttl: float | None = None) -> Any:
        if ttl is not None:
            ttl_seconds(ttl, self._default_ttl)
        value = await self.local.get(key, _MISS)
        if value is not _MISS:
            return value
        value = await self.remote.get_or_set(key, factory, ttl)
        if self.subscribed.is_set():
            seconds = ttl_seconds(ttl, self._default_ttl)
            self._keep(key, value, None if seconds == math.inf else seconds)
        return value

    # ------------------------------------------------------------------ writes

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        await self.remote.set(key, value, ttl)
        await self.local.set(key, value, self._local_seconds(ttl))
        await self._publish("keys", [key])

    def _local_seconds(self, ttl: float | None) -> float:
        seconds = ttl_seconds(ttl, self._default_ttl)
        return min(seconds, self._local_ttl) if self._local_ttl > 0 else seconds

    async def set_many(self, values: Mapping[str, Any], ttl: float | None = None) -> None:
        await self.remote.set_many(values, ttl)
        await self.local.set_many(values, self._local_seconds(ttl))
        await self._publish("keys", list(values))

    async def delete(self, key: str) -> bool:
        removed = await self.remote.delete(key)
        local = await self.local.delete(key)
        await self._publish("keys", [key])
        return removed or local

    async def delete_pattern(self, pattern: str) -> int:
        removed = await self.remote.delete_pattern(pattern)
        await self.local.delete_pattern(pattern)
        await self._publish("pattern", pattern)
        return removed

    async def clear(self) -> int:
        removed = await self.remote.clear()
        await self.local.clear()
        await self._publish("clear", None)
        return removed

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        value = await self.remote.incr(key, amount, ttl)
        await self.local.delete(key)
        await self._publish("keys", [key])
        return value
