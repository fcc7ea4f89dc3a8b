"""``backend: redis``: the cache shared by every process of the app, inside its own namespace.

The namespace is the one the host hands the service (``ServiceSetup.namespace``, ``<app>:cache:``;
``key_prefix`` replaces the ``<app>`` part). Values are kept at ``<namespace>key:<key>``, the
``get_or_set`` locks at ``<namespace>lock:<key>``. ``clear()`` and ``delete_pattern()`` walk
``<namespace>key:<pattern>`` (the namespace escaped, so it matches only itself) with ``SCAN`` and
``UNLINK`` in batches (never ``KEYS``, never ``FLUSHDB``), and unlink only names that really start
with ``<namespace>key:``: whatever pattern a plugin passes, the scheduler's jobs, the events service's
keys, a Redis database's keys and this cache's own locks are out of reach. Values are :mod:`.codec` JSON text, read
back as bytes and decoded here (redis-py 8 speaks RESP3 and returns bytes unless told otherwise).

A cache must never take the app down with it. While Redis is unreachable or slow, ``get`` misses,
writes are logged and skipped, ``get_or_set`` returns the factory's value, and ``health`` reports the
error; only ``incr``/``decr`` raise :class:`CacheUnavailableError`, since a counter cannot pretend.
Each call is bounded by ``timeout`` (socket timeouts, no retries), and a circuit breaker
(:mod:`xcore._services.breaker`) makes calls skip Redis for ``retry_interval`` seconds after a failure
instead of each waiting out a timeout; then one call probes it while the others keep skipping, so a
Redis that hangs costs what a miss costs, and the cache recovers by itself when Redis answers again.

Cross-process stampede protection: the one task per process that misses takes a short lock
(``SET <namespace>lock:<key> <token> NX PX``), computes, stores and releases it; the other processes poll
for the value with a growing pause. If the lock holder fails, its lock is released without a value
and a waiting process takes over (so every process sees its own factory's exception, not a
stranger's). The lock expires after ``lock_timeout`` if its holder dies.
"""

from __future__ import annotations

import asyncio
import math
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from xcore._builtin_services.cache.base import (
    Cache,
    CacheUnavailableError,
    call_factory,
    check_amount,
    check_key,
    not_an_integer,
    out_of_range,
    ttl_seconds,
)
from xcore._builtin_services.cache.codec import decode, encode
from xcore._builtin_services.cache.keyglob import escape
from xcore._builtin_services.cache.settings import RedisCacheSettings
from xcore._builtin_services.cache.slots import Slots
from xcore._builtin_services.cache.stampede import SingleFlight
from xcore._errors import ConfigError
from xcore._observability import metrics as observed
from xcore._redaction import redact_text
from xcore._services import ServiceBase, ServiceSetup
from xcore._services.breaker import CircuitBreaker
from xcore._services.namespaces import service_namespace

SCAN_BATCH = 500
POLL_FIRST, POLL_MAX = 0.002, 0.05
"""Pause bounds (seconds) of a process waiting for another process's ``get_or_set``."""

_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
_FAILURES = (RedisError, OSError)
_DOWN: Any = object()

_INCR = """
local created = redis.call('EXISTS', KEYS[1]) == 0
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if created and ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value
"""
_DELETE = """
local removed = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[2])
return removed
"""
_STORE_IF_LOCKED = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
if ARGV[3] == '' then redis.call('SET', KEYS[1], ARGV[2]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
"""
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def describe(exc: BaseException) -> str:
    text = str(exc)
    return redact_text(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


class RedisCache(Cache, ServiceBase):
    """The Redis backend; see the module docstring for its failure behaviour."""

    backend = "redis"

    def __init__(self, settings: RedisCacheSettings, setup: ServiceSetup) -> None:
        self.namespace = service_namespace(settings.key_prefix, setup.name) if settings.key_prefix else setup.namespace
        self._p = self.namespace + "key:"
        self._p_bytes = self._p.encode()
        self._lock_p = self.namespace + "lock:"
        self._match = escape(self._p)
        self._default_ttl = settings.ttl
        self._lock_ms = max(1, round(settings.lock_timeout * 1000))
        self._url = redact_text(settings.url)
        self._log = setup.logger
        try:
            self._client: Redis = Redis.from_url(
                settings.url,
                max_connections=settings.max_connections,
                socket_timeout=settings.timeout,
                socket_connect_timeout=settings.connect_timeout,
                retry=Retry(NoBackoff(), 0),
                decode_responses=False,
            )
        except ValueError as exc:
            raise ConfigError(f"{setup.key_path}.url: not a usable Redis URL: {redact_text(str(exc))}") from None
        self._incr_script = self._client.register_script(_INCR)
        self._unlock_script = self._client.register_script(_UNLOCK)
        self._delete_script = self._client.register_script(_DELETE)
        self._store_script = self._client.register_script(_STORE_IF_LOCKED)
        self._flight = SingleFlight()
        self._slots = Slots(settings.max_connections)  # one per pooled connection; bursts queue here
        self._timeout = settings.timeout
        self.breaker = CircuitBreaker(settings.retry_interval)
        """Open while Redis fails: calls skip it, and one probes it each ``retry_interval``."""
        self.last_error: str | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.health()

    async def health(self) -> dict[str, Any]:
        try:
            await self._client.ping()
        except _FAILURES as exc:
            self._failed(exc, "health check")
            raise CacheUnavailableError(
                f"Redis at {self._url} is unreachable: {self.last_error} (circuit {self.breaker.state}: "
                f"calls skip Redis and one probes it every {self.breaker.retry_interval:g}s)"
            ) from None
        if self.breaker.success():
            self._recovered()
        return {
            "backend": "redis",
            "url": self._url,
            "namespace": self.namespace,
            "breaker": self.breaker.describe(),
        }

    async def close(self) -> None:
        await self._client.aclose()

    # ------------------------------------------------------------------ failure handling

    async def _try(
        self, doing: str, command: Callable[[], Awaitable[Any]], reraise: tuple[type[Exception], ...] = ()
    ) -> Any:
        """``await command()``, or ``_DOWN`` when Redis fails (logged) or the breaker skips it."""
        breaker = self.breaker
        if not breaker.allow():
            return _DOWN
        slots = self._slots
        if slots.free:
            slots.free -= 1
        elif not await slots.wait(self._timeout):
            self._log.warning(
                "cache %s skipped: all %d Redis connections stayed busy for %gs", doing, slots.size, self._timeout
            )
            return _DOWN
        elif breaker.state != "closed":  # Redis failed while this call queued: skip it too
            slots.release()
            return _DOWN
        try:
            result = await command()
        except _FAILURES as exc:
            if isinstance(exc, reraise):
                if breaker.success():  # Redis answered, with an error the caller handles
                    self._recovered()
                raise
            self._failed(exc, doing)
            return _DOWN
        finally:
            slots.release()
        if breaker.success():
            self._recovered()
        return result

    def _failed(self, exc: BaseException, doing: str) -> None:
        if not isinstance(exc, _UNREACHABLE):  # Redis answered, with an error about this call
            if self.breaker.success():
                self._recovered()
            self._log.warning("cache %s failed at Redis %s: %s", doing, self._url, describe(exc))
            return
        self.last_error = describe(exc)
        if self.breaker.failure():  # one line per outage, not one per call
            self._log.warning(
                "cache: Redis at %s is unreachable (%s); reads miss and writes are skipped until it answers",
                self._url,
                self.last_error,
            )

    def _recovered(self) -> None:
        self._log.info("cache: Redis at %s answers again", self._url)

    def _px(self, ttl: float | None) -> int | None:
        seconds = ttl_seconds(ttl, self._default_ttl)
        return None if seconds == math.inf else max(1, round(seconds * 1000))

    def _decode(self, raw: bytes, key: str, default: Any) -> Any:
        try:
            return decode(raw)
        except Exception as exc:  # a value some other program wrote under our prefix: a miss
            self._log.warning(
                "cache key %r holds data this cache cannot read (%s); treated as a miss", key, describe(exc)
            )
            return default

    # ------------------------------------------------------------------ reads

    async def get(self, key: str, default: Any = None) -> Any:
        check_key(key)
        raw = await self._try("get", lambda: self._client.get(self._p + key))
        if raw is None or raw is _DOWN:
            return default
        return self._decode(raw, key, default)

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        wanted = list(keys)
        for key in wanted:
            check_key(key)
        if not wanted:
            return {}
        raws = await self._try("get_many", lambda: self._client.mget([self._p + k for k in wanted]))
        if raws is _DOWN:
            return {}
        found: dict[str, Any] = {}
        for key, raw in zip(wanted, raws, strict=True):
            if raw is not None and (value := self._decode(raw, key, _DOWN)) is not _DOWN:
                found[key] = value
        return found

    async def exists(self, key: str) -> bool:
        check_key(key)
        count = await self._try("exists", lambda: self._client.exists(self._p + key))
        return count is not _DOWN and count > 0

    async def ttl(self, key: str) -> float | None:
        check_key(key)
        ms = await self._try("ttl", lambda: self._client.pttl(self._p + key))
        if ms is _DOWN or ms == -2:
            return None
        return math.inf if ms == -1 else ms / 1000

    # ------------------------------------------------------------------ writes

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        check_key(key)
        text = encode(value)
        px = self._px(ttl)
        await self._try("set", lambda: self._client.set(self._p + key, text, px=px))

    async def set_many(self, values: Mapping[str, Any], ttl: float | None = None) -> None:
        px = self._px(ttl)
        items = []
        for key, value in values.items():
            check_key(key)
            items.append((self._p + key, encode(value)))
        if not items:
            return

        async def write() -> None:
            async with self._client.pipeline(transaction=False) as pipe:
                for name, text in items:
                    pipe.set(name, text, px=px)
                await pipe.execute()

        await self._try("set_many", write)

    async def delete(self, key: str) -> bool:
        """Also drops the key's ``get_or_set`` lock, in the same call: a computation running now (in any
        process) read what the caller has just changed, so it must not store its value afterwards."""
        check_key(key)
        if self._flight:
            self._flight.forget(key)
        keys = [self._p + key, self._lock_p + key]
        count = await self._try("delete", lambda: self._delete_script(keys=keys))
        return count is not _DOWN and count > 0

    async def delete_pattern(self, pattern: str) -> int:
        check_key(pattern)
        return await self._unlink_matching(self._match + pattern)

    async def clear(self) -> int:
        return await self._unlink_matching(self._match + "*")

    async def keys(self, pattern: str = "*") -> list[str]:
        check_key(pattern)
        found: list[str] = []

        async def scan() -> None:
            found.clear()  # a retried scan starts over
            async for name in self._client.scan_iter(match=self._match + pattern, count=SCAN_BATCH):
                found.append(name.decode()[len(self._p) :])

        await self._try("keys", scan)
        return found

    async def _unlink_matching(self, match: str) -> int:
        removed = 0

        async def unlink_all() -> None:
            nonlocal removed
            batch: list[bytes] = []
            async for name in self._client.scan_iter(match=match, count=SCAN_BATCH):
                if not name.startswith(self._p_bytes):  # belt and braces: never outside our own keys
                    continue
                batch.append(name)
                if len(batch) >= SCAN_BATCH:
                    removed += await self._client.unlink(*batch)
                    batch.clear()
            if batch:
                removed += await self._client.unlink(*batch)

        await self._try("delete_pattern", unlink_all)
        return removed

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        check_key(key)
        check_amount(amount)
        px = self._px(ttl)
        name = self._p + key
        try:
            value = await self._try(
                "incr", lambda: self._incr_script(keys=[name], args=[amount, px or ""]), reraise=(ResponseError,)
            )
        except ResponseError as exc:
            raise (out_of_range(key) if "overflow" in str(exc) else not_an_integer(key)) from None
        if value is _DOWN:
            raise CacheUnavailableError(
                f"cannot incr/decr cache key {key!r}: Redis at {self._url} is unreachable ({self.last_error})"
            )
        return int(value)

    # ------------------------------------------------------------------ get_or_set

    async def get_or_set(self, key: str, factory: Callable[[], Any], ttl: float | None = None) -> Any:
        """See :meth:`Cache.get_or_set`. Concurrent calls for one key in this process share a single
        lookup as well as a single computation: a burst on a hot or cold key costs one round trip."""
        check_key(key)
        px = self._px(ttl)
        raw = await self._flight.run(key, self._lookup_or_fill, key, factory, px)
        try:
            return decode(raw)
        except Exception as exc:  # data some other program wrote under our prefix: replace it
            self._log.warning("cache key %r holds data this cache cannot read (%s); recomputing it", key, describe(exc))
        await self._try("delete", lambda: self._client.delete(self._p + key))
        return decode(await self._flight.run(key, self._lookup_or_fill, key, factory, px))

    async def _lookup_or_fill(self, key: str, factory: Callable[[], Any], px: int | None) -> str | bytes:
        """The stored text of ``key``, computed behind the cross-process lock on a miss."""
        name, lock = self._p + key, self._lock_p + key
        raw = await self._try("get", lambda: self._client.get(name))
        if raw is not None and raw is not _DOWN:
            if (metrics := observed.ACTIVE) is not None:
                metrics.cache_hit()
            return raw  # type: ignore[no-any-return]
        token = secrets.token_hex(16)
        pause = POLL_FIRST
        while True:
            acquired = await self._try(
                "get_or_set lock", lambda: self._client.set(lock, token, nx=True, px=self._lock_ms)
            )
            if acquired is _DOWN:
                return encode(await call_factory(factory))
            if acquired:
                try:
                    raw = await self._try("get", lambda: self._client.get(name))
                    if raw is not None and raw is not _DOWN:  # filled between our miss and our lock
                        return raw  # type: ignore[no-any-return]
                    return await self._compute_and_store(key, lock, token, factory, px)
                finally:
                    await self._try("get_or_set unlock", lambda: self._unlock_script(keys=[lock], args=[token]))
            while True:  # another process computes: wait for its value, or for its lock to go
                await asyncio.sleep(pause)
                pause = min(pause * 2, POLL_MAX)
                polled = await self._try("get_or_set poll", lambda: self._client.mget([name, lock]))
                if polled is _DOWN:
                    return encode(await call_factory(factory))
                raw, holder = polled
                if raw is not None:
                    return raw  # type: ignore[no-any-return]
                if holder is None:
                    break

    async def _compute_and_store(
        self, key: str, lock: str, token: str, factory: Callable[[], Any], px: int | None
    ) -> str:
        """Store the factory's value only while our lock stands: ``delete`` drops it (as does its expiry,
        after which another process has taken over), and a value computed before a delete is stale."""
        text = encode(await call_factory(factory))
        if self._flight.owns(key):
            keys, args = [self._p + key, lock], [token, text, px or ""]
            await self._try("set", lambda: self._store_script(keys=keys, args=args))
        return text
