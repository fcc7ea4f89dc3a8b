"""``backend: memory``: a per-process cache (:class:`~xcore._builtin_services.cache.store.ExpiringLRU`).

Each entry is ``(stored, expires_at, plan)``, and ``plan`` says how ``stored`` is read back:

* ``None``: ``stored`` is the value itself, immutable (str, int, float, bool, None, bytes, date, UUID,
  Decimal, and tuples or frozensets of those): the hot path, no copy at all;
* a :data:`~xcore._builtin_services.cache.snapshot.Plan`: ``stored`` is a private copy of a plain
  container (dicts and lists of JSON scalars), copied along the plan on every read, containers only;
* :data:`TAGGED`: ``stored`` is the codec's tagged text for the others, decoded on every read;

so that callers mutating values see exactly what they would see on Redis: a value you get back is
your own. The plan sits in the entry rather than in an object wrapping the copy: one allocation fewer
on every ``set`` of a container.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from xcore._builtin_services.cache.base import (
    Cache,
    call_factory,
    check_amount,
    check_key,
    not_an_integer,
    out_of_range,
    ttl_seconds,
)
from xcore._builtin_services.cache.codec import SIMPLE_SCALARS, decode, encode_tagged, storable_as_is
from xcore._builtin_services.cache.keyglob import compile_glob
from xcore._builtin_services.cache.settings import CacheSettings
from xcore._builtin_services.cache.snapshot import NotPlain, copy_of, snapshot, snapshot_dict
from xcore._builtin_services.cache.stampede import SingleFlight
from xcore._builtin_services.cache.store import ExpiringLRU
from xcore._observability import metrics as observed
from xcore._services import ServiceBase

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # Redis INCRBY's range; kept here so both backends agree


TAGGED: Any = object()
"""The plan of an entry whose value is stored as the codec's tagged text."""


def pack(value: Any) -> tuple[Any, Any]:
    """``(stored, plan)`` for ``value``; raises ``UnsupportedValueError`` for what cannot be stored."""
    if storable_as_is(value):
        return value, None
    kind = value.__class__
    if kind is dict or kind is list:
        try:
            return snapshot(value)
        except (NotPlain, RecursionError):
            pass
    return encode_tagged(value), TAGGED


def unpack(stored: Any, plan: Any) -> Any:
    if plan is None:
        return stored
    if plan is TAGGED:
        return decode(stored)
    return copy_of(stored, plan)


class MemoryCache(Cache, ServiceBase):
    """The memory backend. ``timer`` (seconds, monotonic) exists for tests that move time."""

    backend = "memory"

    def __init__(self, settings: CacheSettings, *, timer: Callable[[], float] = time.monotonic) -> None:
        self._default_ttl = settings.ttl
        self._default_seconds = ttl_seconds(None, settings.ttl)
        self._max_size = settings.max_size
        self._timer = timer
        self._data = ExpiringLRU(settings.max_size, timer)
        self._entries = self._data.entries  # read directly on the hot paths below
        self._move_to_end = self._entries.move_to_end
        self._put = self._data.put
        self._flight = SingleFlight()

    def _expiry(self, ttl: float | None) -> float:
        if ttl is None:
            return self._timer() + self._default_seconds
        return self._timer() + ttl_seconds(ttl, self._default_ttl)

    async def health(self) -> dict[str, Any]:
        return {"backend": "memory", "size": len(self._data), "max_size": self._max_size}

    async def close(self) -> None:
        self._data.clear()

    # ------------------------------------------------------------------ reads

    async def get(self, key: str, default: Any = None) -> Any:
        try:
            entry = self._entries[key]  # ExpiringLRU.get, inlined: this is the hot path
        except (KeyError, TypeError):
            check_key(key)
            return default
        if entry[1] <= self._timer():
            self._data.pop(key)
            return default
        self._move_to_end(key)
        plan = entry[2]  # unpack(), inlined too: one call fewer on every hit
        if plan is None:
            return entry[0]
        if plan is TAGGED:
            return decode(entry[0])
        return copy_of(entry[0], plan)

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        data = self._data
        for key in keys:
            check_key(key)
            entry = data.get(key)
            if entry is not None:
                found[key] = unpack(entry[0], entry[2])
        return found

    async def exists(self, key: str) -> bool:
        check_key(key)
        return self._data.peek(key) is not None

    async def ttl(self, key: str) -> float | None:
        check_key(key)
        entry = self._data.peek(key)
        if entry is None:
            return None
        expires = entry[1]
        return math.inf if expires == math.inf else max(0.0, expires - self._timer())

    # ------------------------------------------------------------------ writes

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        if type(key) is not str:
            check_key(key)
        kind = type(value)  # pack(), inlined for the common kinds: scalars and dicts
        if kind in SIMPLE_SCALARS:
            stored, plan = value, None
        elif kind is dict:
            try:
                stored, plan = snapshot_dict(value)
            except (NotPlain, RecursionError):
                stored, plan = encode_tagged(value), TAGGED
        else:
            stored, plan = pack(value)
        expires = self._timer() + self._default_seconds if ttl is None else self._expiry(ttl)
        self._put(key, (stored, expires, plan))

    async def set_many(self, values: Mapping[str, Any], ttl: float | None = None) -> None:
        expires = self._expiry(ttl)
        entries = []
        for key, value in values.items():
            check_key(key)
            entries.append((key, pack(value)))
        for key, (stored, plan) in entries:
            self._data.put(key, (stored, expires, plan))

    async def delete(self, key: str) -> bool:
        check_key(key)
        if self._flight:
            self._flight.forget(key)  # a get_or_set running now computed from what the caller just changed
        return self._data.pop(key) is not None

    async def delete_pattern(self, pattern: str) -> int:
        check_key(pattern)
        match = compile_glob(pattern).fullmatch
        doomed = [key for key in self._data.live_keys() if match(key)]
        for key in doomed:
            self._data.pop(key)
        return len(doomed)

    async def keys(self, pattern: str = "*") -> list[str]:
        check_key(pattern)
        match = compile_glob(pattern).fullmatch
        return [key for key in self._data.live_keys() if match(key)]

    async def clear(self) -> int:
        count = len(self._data)
        self._data.clear()
        return count

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        check_key(key)
        check_amount(amount)
        entry = self._data.get(key)
        current, expires, _ = entry if entry is not None else (0, self._expiry(ttl), None)
        if current.__class__ is not int:
            raise not_an_integer(key)
        value: int = current + amount
        if not INT64_MIN <= value <= INT64_MAX:
            raise out_of_range(key)
        self._data.put(key, (value, expires, None))
        return value

    # ------------------------------------------------------------------ get_or_set

    async def get_or_set(self, key: str, factory: Callable[[], Any], ttl: float | None = None) -> Any:
        if ttl is not None:
            ttl_seconds(ttl, self._default_ttl)  # a bad ttl fails on a hit too, as on Redis
        try:
            entry = self._data.get(key)
        except TypeError:
            entry = None
        if entry is None:
            check_key(key)
            stored, plan = await self._flight.run(key, self._fill, key, factory, ttl)
        else:
            stored, plan = entry[0], entry[2]
            if (metrics := observed.ACTIVE) is not None:
                metrics.cache_hit()
        return unpack(stored, plan)

    async def _fill(self, key: str, factory: Callable[[], Any], ttl: float | None) -> tuple[Any, Any]:
        expires_in = ttl_seconds(ttl, self._default_ttl)
        stored, plan = pack(await call_factory(factory))
        if self._flight.owns(key):  # not deleted meanwhile: storing now would bring the old value back
            self._data.put(key, (stored, self._timer() + expires_in, plan))
        return stored, plan
