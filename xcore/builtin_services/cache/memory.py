"""``backend: memory``: a per-process cache on cachetools' ``TLRUCache``.

Each entry is ``(stored, expires_at)``; ``TLRUCache`` reads the per-key expiry through its ``ttu``
function and evicts the least recently used key beyond ``max_size``. ``stored`` is the value itself
when it is an immutable scalar (the hot path: a hit is the cache lookup and one class check), and a
:class:`Packed` JSON text for containers, decoded into a new object on every read, so that callers
mutating values see exactly what they would see on Redis.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cachetools import TLRUCache

from xcore.builtin_services.cache.base import (
    Cache,
    call_factory,
    check_amount,
    check_key,
    not_an_integer,
    out_of_range,
    ttl_seconds,
)
from xcore.builtin_services.cache.codec import SIMPLE_SCALARS, decode, encode, storable_as_is
from xcore.builtin_services.cache.keyglob import compile_glob
from xcore.builtin_services.cache.settings import CacheSettings
from xcore.builtin_services.cache.stampede import SingleFlight
from xcore.services import ServiceBase

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # Redis INCRBY's range; kept here so both backends agree


class Packed:
    """A container value in its encoded form (never handed to callers)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _expires_at(_key: str, entry: tuple[Any, float], _now: float) -> float:
    return entry[1]


def pack(value: Any) -> Any:
    return value if storable_as_is(value) else Packed(encode(value))


def unpack(stored: Any) -> Any:
    return decode(stored.text) if stored.__class__ is Packed else stored


class MemoryCache(Cache, ServiceBase):
    """The memory backend. ``timer`` (seconds, monotonic) exists for tests that move time."""

    backend = "memory"

    def __init__(self, settings: CacheSettings, *, timer: Callable[[], float] = time.monotonic) -> None:
        self._default_ttl = settings.ttl
        self._default_seconds = ttl_seconds(None, settings.ttl)
        self._max_size = settings.max_size
        self._timer = timer
        self._data: TLRUCache[str, tuple[Any, float]] = TLRUCache(settings.max_size, _expires_at, timer=timer)
        self._flight = SingleFlight()

    def _expiry(self, ttl: float | None) -> float:
        if ttl is None:
            return self._timer() + self._default_seconds
        return self._timer() + ttl_seconds(ttl, self._default_ttl)

    async def health(self) -> dict[str, Any]:
        return {"backend": "memory", "size": self._data.currsize, "max_size": self._max_size}

    async def close(self) -> None:
        self._data.clear()

    # ------------------------------------------------------------------ reads

    async def get(self, key: str, default: Any = None) -> Any:
        try:
            stored = self._data[key][0]
        except (KeyError, TypeError):
            check_key(key)
            return default
        if stored.__class__ is Packed:
            return decode(stored.text)
        return stored

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        data = self._data
        for key in keys:
            check_key(key)
            try:
                stored = data[key][0]
            except KeyError:
                continue
            found[key] = unpack(stored)
        return found

    async def exists(self, key: str) -> bool:
        check_key(key)
        return key in self._data

    async def ttl(self, key: str) -> float | None:
        check_key(key)
        try:
            expires = self._data[key][1]
        except KeyError:
            return None
        return math.inf if expires == math.inf else max(0.0, expires - self._timer())

    # ------------------------------------------------------------------ writes

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        if key.__class__ is not str:
            check_key(key)
        stored = value if value.__class__ in SIMPLE_SCALARS else pack(value)
        self._data[key] = (stored, self._expiry(ttl))

    async def set_many(self, values: Mapping[str, Any], ttl: float | None = None) -> None:
        expires = self._expiry(ttl)
        entries = []
        for key, value in values.items():
            check_key(key)
            entries.append((key, pack(value)))
        for key, stored in entries:
            self._data[key] = (stored, expires)

    async def delete(self, key: str) -> bool:
        check_key(key)
        if self._flight:
            self._flight.forget(key)  # a get_or_set running now computed from what the caller just changed
        return self._data.pop(key, None) is not None

    async def delete_pattern(self, pattern: str) -> int:
        check_key(pattern)
        match = compile_glob(pattern).fullmatch
        doomed = [key for key in self._data if match(key)]
        for key in doomed:
            self._data.pop(key, None)
        return len(doomed)

    async def keys(self, pattern: str = "*") -> list[str]:
        check_key(pattern)
        match = compile_glob(pattern).fullmatch
        return [key for key in self._data if match(key)]

    async def clear(self) -> int:
        count = sum(1 for _ in self._data)
        self._data.clear()
        return count

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        check_key(key)
        check_amount(amount)
        try:
            current, expires = self._data[key]
        except KeyError:
            current, expires = 0, self._expiry(ttl)
        if current.__class__ is not int:
            raise not_an_integer(key)
        value: int = current + amount
        if not INT64_MIN <= value <= INT64_MAX:
            raise out_of_range(key)
        self._data[key] = (value, expires)
        return value

    # ------------------------------------------------------------------ get_or_set

    async def get_or_set(self, key: str, factory: Callable[[], Any], ttl: float | None = None) -> Any:
        if ttl is not None:
            ttl_seconds(ttl, self._default_ttl)  # a bad ttl fails on a hit too, as on Redis
        try:
            stored = self._data[key][0]
        except (KeyError, TypeError):
            check_key(key)
            stored = await self._flight.run(key, self._fill, key, factory, ttl)
        if stored.__class__ is Packed:
            return decode(stored.text)
        return stored

    async def _fill(self, key: str, factory: Callable[[], Any], ttl: float | None) -> Any:
        expires_in = ttl_seconds(ttl, self._default_ttl)
        stored = pack(await call_factory(factory))
        if self._flight.owns(key):  # not deleted meanwhile: storing now would bring the old value back
            self._data[key] = (stored, self._timer() + expires_in)
        return stored
