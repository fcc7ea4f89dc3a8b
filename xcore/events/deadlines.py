"""Handler timeouts without a timer per handler call.

``asyncio.timeout`` schedules and cancels a loop timer on every use, which would cost more than a
whole emit. Most handlers finish without ever waiting, and the bus only starts timing a coroutine
handler once it first suspends (see ``EventBus._run``). The deadline of each suspended handler call
is recorded in a dict keyed by the event being dispatched (unique per emit, even when a handler
emits in turn), and a single loop timer is kept armed while there is activity; when it fires it
cancels only the tasks whose handler is overdue. :meth:`Deadlines.timed_out` turns that
cancellation into a timeout with the same bookkeeping as ``asyncio.timeout``
(``Task.cancelling``/``uncancel``), so a cancellation coming from outside still propagates as one.
"""

from __future__ import annotations

import asyncio
from typing import Any


class Deadlines:
    """The suspended handler calls of one bus, with a shared watchdog timer."""

    __slots__ = ("_expired", "_running", "_timer", "_timer_loop", "timeout")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._running: dict[object, tuple[asyncio.Task[Any], float]] = {}  # key -> (task, deadline)
        self._expired: dict[object, int] = {}  # key -> task.cancelling() when its deadline cancelled it
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None  # set while a timer is armed

    def begin(self, key: object, task: asyncio.Task[Any]) -> None:
        """The handler call for ``key`` (the event), run by ``task``, gets ``timeout`` seconds from now."""
        loop = task.get_loop()
        self._running[key] = (task, loop.time() + self.timeout)
        if self._timer_loop is not loop:
            # Every deadline is "start + timeout": an armed timer is never later than this one.
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_at(loop.time() + self.timeout, self._fire)
            self._timer_loop = loop

    def timed_out(self, key: object, task: asyncio.Task[Any], cancelled: bool) -> bool:
        """The call raised: True when the deadline's cancellation is what ended it (a timeout)."""
        count = self._expired.pop(key, None)
        if count is None:
            return False
        remaining = task.uncancel()
        return cancelled and remaining <= count

    def end(self, key: object, task: asyncio.Task[Any]) -> None:
        """The call is over; undo the deadline's cancellation if the handler swallowed it."""
        self._running.pop(key, None)
        if self._expired and self._expired.pop(key, None) is not None:
            task.uncancel()

    def _fire(self) -> None:
        loop = self._timer_loop
        self._timer = None
        self._timer_loop = None
        if loop is None:
            return
        now = loop.time()
        earliest: float | None = None
        for key, (task, deadline) in list(self._running.items()):
            if key in self._expired or task.done() or task.get_loop() is not loop:
                continue
            if deadline <= now:
                self._expired[key] = task.cancelling()
                task.cancel("event handler timed out")
            elif earliest is None or deadline < earliest:
                earliest = deadline
        if earliest is not None:
            self._timer = loop.call_at(earliest, self._fire)
            self._timer_loop = loop
