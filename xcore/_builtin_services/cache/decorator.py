"""``@cache.cached()``: an async function whose results are cached by their arguments.

The key is ``<namespace>:<arguments>``, where the namespace defaults to the function's module and
qualified name and the arguments are the bound call (``f(1)`` and ``f(x=1)`` share a key) encoded
with the cache codec. Long argument lists are hashed so keys stay short. Every key of a function
starts with its namespace, so ``fn.invalidate_all()`` is one ``delete_pattern``.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from xcore._builtin_services.cache.codec import UnsupportedValueError, encode
from xcore._builtin_services.cache.keyglob import escape

if TYPE_CHECKING:
    from xcore._builtin_services.cache.base import Cache

MAX_READABLE_ARGS = 120


class CachedFunction:
    """The wrapper ``cached`` returns: call it like the function, plus ``invalidate`` helpers."""

    def __init__(
        self, cache: Cache, fn: Callable[..., Awaitable[Any]], ttl: float | None, namespace: str | None
    ) -> None:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"cache.cached() decorates async functions; {fn!r} is not one")
        self._cache = cache
        self._fn = fn
        self._ttl = ttl
        self._signature = inspect.signature(fn)
        self.namespace = namespace or f"{fn.__module__}.{fn.__qualname__}"
        functools.update_wrapper(self, fn)

    def key(self, *args: Any, **kwargs: Any) -> str:
        """The cache key of this call."""
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = []
        for name, value in bound.arguments.items():
            kind = self._signature.parameters[name].kind
            arguments.append(dict(sorted(value.items())) if kind is inspect.Parameter.VAR_KEYWORD else value)
        try:
            text = encode(arguments)
        except UnsupportedValueError as exc:
            raise UnsupportedValueError(f"{self.namespace}: arguments cannot form a cache key: {exc}") from None
        if len(text) > MAX_READABLE_ARGS:
            text = "#" + hashlib.sha256(text.encode()).hexdigest()
        return f"{self.namespace}:{text}"

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return await self._cache.get_or_set(self.key(*args, **kwargs), lambda: self._fn(*args, **kwargs), self._ttl)

    async def invalidate(self, *args: Any, **kwargs: Any) -> bool:
        """Forget the cached result of this call; ``True`` if there was one."""
        return await self._cache.delete(self.key(*args, **kwargs))

    async def invalidate_all(self) -> int:
        """Forget every cached result of this function; returns how many."""
        return await self._cache.delete_pattern(escape(self.namespace) + ":*")
