"""``@cached(ttl=...)`` on a plugin method: its results cached by its arguments in the ``cache`` service.

The original XCore SDK's decorator, mapped onto the cache's own ``cache.cached()`` (one
implementation: keys, stampede protection and ``invalidate`` are the cache's). The cache is looked
up on first call, through the plugin's ``get_service("cache")``, so the method can be declared on
the class before the plugin has a context::

    class Plugin(TrustedBase):
        @cached(ttl=60)
        async def load_user(self, user_id: str) -> dict: ...

        async def forget(self, user_id: str) -> None:
            await self.load_user.invalidate(user_id)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any


class CachedMethod:
    """A descriptor: each plugin instance gets its own :class:`CachedFunction` around the bound method."""

    def __init__(self, fn: Callable[..., Awaitable[Any]], ttl: float | None, namespace: str | None) -> None:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"@cached decorates async methods; {fn.__qualname__} is not one")
        self._fn = fn
        self._ttl = ttl
        self._namespace = namespace or f"{fn.__module__}.{fn.__qualname__}"
        self._attr = f"__xcore_cached_{fn.__name__}"
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    def __set_name__(self, owner: type, name: str) -> None:
        self._attr = f"__xcore_cached_{name}"

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        bound = instance.__dict__.get(self._attr)
        if bound is None:
            from xcore._builtin_services.cache.decorator import CachedFunction  # the cache backends load on use

            cache = instance.get_service("cache")
            bound = CachedFunction(cache, self._fn.__get__(instance, owner), self._ttl, self._namespace)
            instance.__dict__[self._attr] = bound
        return bound


def cached(ttl: Any = None, *, namespace: str | None = None) -> Any:
    """Cache an async plugin method's results for ``ttl`` seconds (default: the cache's ``ttl``).

    ``@cached`` without parentheses is ``@cached()``.
    """
    if callable(ttl):
        return CachedMethod(ttl, None, namespace)

    def decorate(fn: Callable[..., Any]) -> CachedMethod:
        return CachedMethod(fn, ttl, namespace)

    return decorate


__all__ = ["CachedMethod", "cached"]
