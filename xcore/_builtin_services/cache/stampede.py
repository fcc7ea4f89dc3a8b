"""Single-flight: concurrent requests for the same cold key share one computation.

The first caller starts the computation as its own task; every caller, the first included, awaits
it through :func:`asyncio.shield`. So a caller that is cancelled (a client hung up) neither cancels
the computation for the others nor leaves them waiting, and an exception reaches every caller.
The key is forgotten the moment the computation ends, before any caller resumes, so a later call
starts afresh: a failure is never cached. ``forget(key)`` (the cache's ``delete``) detaches a running
computation early: later callers start a new one, and ``owns(key)`` tells the old one not to store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from xcore._observability import metrics as observed


class SingleFlight:
    """At most one running computation per key within this process."""

    __slots__ = ("_running",)

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Task[Any]] = {}

    def __len__(self) -> int:
        return len(self._running)

    def run(self, key: str, compute: Callable[..., Awaitable[Any]], *args: Any) -> asyncio.Future[Any]:
        """Await this for the result of ``compute(*args)``, or of the computation already running for ``key``.

        A plain function returning a future (not a coroutine) so that each of a thousand waiters costs
        one small future, not a coroutine frame and a closure as well.
        """
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(self._lead(key, compute, args))
            self._running[key] = task
        elif (metrics := observed.ACTIVE) is not None:
            metrics.cache_wait()
        return asyncio.shield(task)

    def forget(self, key: str) -> None:
        """Let the next call for ``key`` start a new computation (the running one carries on for its callers)."""
        self._running.pop(key, None)

    def owns(self, key: str) -> bool:
        """Whether the calling computation is still the current one for ``key`` (not forgotten since)."""
        return self._running.get(key) is asyncio.current_task()

    async def _lead(self, key: str, compute: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> Any:
        try:
            return await compute(*args)
        finally:
            if self._running.get(key) is asyncio.current_task():
                del self._running[key]
