"""``Cache``: the API both backends offer, identical down to their errors.

Plugins receive a ``Cache`` from ``get_service("cache")`` and can annotate with it. What every
method promises, whichever backend is configured:

* Values are what JSON carries plus ``tuple``, ``datetime``, ``date``, ``UUID`` and ``Decimal``, read
  back as the same types (see :mod:`.codec`). ``set`` of anything else raises
  :class:`~.codec.UnsupportedValueError` and leaves the key as it was.
* A value you get back is yours: mutating it never changes the cache, and mutating an object after
  ``set`` never changes what was cached. (Redis hands out freshly decoded objects; the memory
  backend keeps immutable scalars by reference and containers as private copies, so it behaves the same.)
* ``ttl`` is in seconds: ``None`` uses the configured default, ``0`` means the key never expires.
* A cached ``None`` is a hit: ``get_or_set`` does not call the factory for it.
* Keys are ``str``; anything else raises ``TypeError``.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from xcore._builtin_services.cache.decorator import CachedFunction
from xcore._errors import XcoreError
from xcore._observability import metrics as observed

T = TypeVar("T")
AsyncFn = TypeVar("AsyncFn", bound=Callable[..., Awaitable[Any]])

Factory = Callable[[], "T | Awaitable[T]"]


class CacheUnavailableError(XcoreError, ConnectionError):
    """Redis cannot be reached for an operation that has no honest fallback (``incr``/``decr``).

    Reads, writes and ``get_or_set`` degrade instead (a miss, a skipped write, the factory's value).
    """


def not_an_integer(key: str) -> TypeError:
    return TypeError(f"cannot incr/decr cache key {key!r}: it does not hold an integer")


def out_of_range(key: str) -> TypeError:
    return TypeError(f"cannot incr/decr cache key {key!r}: the result leaves the signed 64-bit range")


def check_key(key: object) -> None:
    """Refuse non-``str`` keys: Redis would stringify them and the memory backend would not."""
    if key.__class__ is not str:
        raise TypeError(f"cache keys must be str, got {type(key).__name__} {key!r}")


def check_amount(amount: object) -> int:
    if amount.__class__ is not int:
        raise TypeError(f"incr/decr amount must be an int, got {type(amount).__name__} {amount!r}")
    return amount  # type: ignore[return-value]


MAX_TTL = 10**9
"""About 31 years: beyond it Redis refuses the expiry, so both backends refuse it (use 0 for never)."""


def ttl_seconds(ttl: object, default: float) -> float:
    """Seconds a key lives, ``math.inf`` for never; ``None`` means the configured default."""
    if ttl is None:
        ttl = default
    if ttl.__class__ not in (int, float) or not 0 <= ttl <= MAX_TTL:  # type: ignore[operator]
        raise ValueError(f"ttl must be a number of seconds from 0 to {MAX_TTL} (0: never expires), got {ttl!r}")
    return float(ttl) if ttl else math.inf  # type: ignore[arg-type]


async def call_factory(factory: Callable[[], Any] | Any) -> Any:
    """Run a sync factory, an async one, or a lambda returning a coroutine (the spec's form).

    A value that is not callable is the value itself: ``get_or_set(key, {...})``, as the original
    XCore's docs write it.
    """
    if (metrics := observed.ACTIVE) is not None:
        metrics.cache_miss()  # every backend's get_or_set computes through here
    if not callable(factory):
        return factory
    result = factory()
    if inspect.isawaitable(result):
        result = await result
    return result


class Cache(ABC):
    """The cache API; see the module docstring for the guarantees every backend keeps."""

    backend: str = ""

    @abstractmethod
    async def get(self, key: str, default: Any = None) -> Any:
        """The cached value, or ``default`` on a miss (or while Redis is unreachable)."""

    @abstractmethod
    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store ``value`` for ``ttl`` seconds; raises ``UnsupportedValueError`` for what cannot be stored."""

    @abstractmethod
    async def delete(self, key: str) -> bool:
        """Remove ``key``; ``True`` if it existed."""

    @abstractmethod
    async def delete_pattern(self, pattern: str) -> int:
        """Remove every key matching the Redis-style glob ``pattern``; returns how many were removed."""

    @abstractmethod
    async def clear(self) -> int:
        """Remove every key of this cache (on Redis, only this cache's namespace); returns the count."""

    @abstractmethod
    async def exists(self, key: str) -> bool:
        """Whether ``key`` holds a live value (a cached ``None`` exists)."""

    @abstractmethod
    async def get_or_set(self, key: str, factory: Callable[[], Any], ttl: float | None = None) -> Any:
        """The cached value, or the factory's value, stored on the way.

        ``factory`` may be sync, async, or return an awaitable; a value that is not callable is
        stored as it is. Concurrent calls for one cold key run
        it once and all get its value (across processes too on Redis); if it raises, nothing is
        cached and every waiting caller gets the exception.
        """

    @abstractmethod
    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The hits among ``keys``, as a dict; missing keys are left out."""

    @abstractmethod
    async def set_many(self, values: Mapping[str, Any], ttl: float | None = None) -> None:
        """Store every item; if one value cannot be stored, none is."""

    @abstractmethod
    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        """Atomically add ``amount`` to the integer at ``key`` and return the new value.

        A missing key starts at 0 and is created with ``ttl`` (default: the configured one); an
        existing key keeps its expiry. A value that is not an integer raises ``TypeError``.
        """

    async def keys(self, pattern: str = "*") -> list[str]:
        """The live keys matching the Redis-style glob ``pattern`` (on Redis, within ``key_prefix``).

        Walks the whole cache: meant for administration and tests, not for a request's hot path.
        """
        raise NotImplementedError(f"the {self.backend or type(self).__name__} cache backend cannot list its keys")

    async def mget(self, keys: Iterable[str]) -> dict[str, Any]:
        """The original XCore's name of :meth:`get_many`."""
        return await self.get_many(keys)

    async def mset(self, values: Mapping[str, Any], ttl: float | None = None) -> None:
        """The original XCore's name of :meth:`set_many`."""
        await self.set_many(values, ttl)

    async def decr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        """Atomically subtract ``amount``; see :meth:`incr`."""
        return await self.incr(key, -check_amount(amount), ttl)

    @abstractmethod
    async def ttl(self, key: str) -> float | None:
        """Seconds left before ``key`` expires: ``None`` if absent, ``math.inf`` if it never expires."""

    def cached(self, ttl: float | None = None, *, namespace: str | None = None) -> Callable[[AsyncFn], CachedFunction]:
        """Decorate an async function so its result is cached by its arguments.

        ::

            @cache.cached(ttl=60)
            async def load_user(user_id: str) -> dict: ...

            await load_user("42")             # computed, then cached under the function's name + args
            await load_user.invalidate("42")  # forget that one result

        Arguments must be storable values (they form the key). Concurrent calls with the same
        arguments share one computation, as with :meth:`get_or_set`.
        """

        def decorate(fn: AsyncFn) -> CachedFunction:
            return CachedFunction(self, fn, ttl, namespace)

        return decorate
