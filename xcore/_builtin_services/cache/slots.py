"""``Slots``: a counter of free Redis connections that a burst of calls queues on, with a deadline.

redis-py's default pool raises "too many connections" when a burst exceeds it, which would look
like an outage; its ``BlockingConnectionPool`` waits instead but pays for a condition variable and a
timer on every call, even when nothing waits, a measurable share of a cache hit. Here a free slot
costs one integer test and decrement; only a caller that finds none pays for a future.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Slots:
    """At most ``size`` holders at once; ``release`` hands a slot straight to the oldest waiter.

    Use: ``if slots.free: slots.free -= 1`` else ``await slots.wait(timeout)``; then always
    ``slots.release()``.
    """

    __slots__ = ("_waiters", "free", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.free = size
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def wait(self, timeout: float) -> bool:
        """Wait for a slot; ``False`` if none came within ``timeout`` seconds (nothing to release then)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return False
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot while being cancelled: pass it on
            raise
        return True

    def release(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1
