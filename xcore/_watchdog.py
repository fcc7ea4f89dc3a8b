"""A thread that watches the event loop turn, and names whoever holds it when it stops.

asyncio's timeouts are callbacks of the loop itself: code that blocks the loop (``time.sleep(30)``, blocking
I/O, a long computation in an ``async def``) holds the only thread that could cancel it, so
``asyncio.wait_for`` never fires and a plugin's ``on_load`` that never returns makes the boot endless. Nothing
inside the loop can interrupt it; Python offers no safe way to stop another thread's code either (an
exception injected into it could land in a ``finally``, inside a lock, or be swallowed by a bare ``except``).
What a thread outside the loop *can* do is notice, say who was running, and end the process cleanly
enough for a supervisor to act on it.

:class:`LoopWatchdog` does that. The loop bumps a heartbeat every ``tick``; the watchdog thread checks it
every ``tick``. The host declares what runs with :meth:`LoopWatchdog.watch` (``"plugin 'slow' on_load"``,
with the deadline that applies to it):

- a stall longer than ``warn_after`` is logged once per activity, naming it;
- a stall that lasts past the activity's deadline (plus :data:`GRACE`, in which a loop that did turn
  would have fired its own timeout) calls ``on_overrun``: by default :func:`exit_process`, which logs the
  error and exits with status 3 (what uvicorn uses for a failed startup), since a process whose loop
  is held forever serves nobody and must not look alive.

An activity that blocked past its deadline and then returned is reported by :attr:`Activity.overran` /
:attr:`Activity.elapsed`, so the caller can fail it as its timeout would have.

The watchdog only measures; it is not tied to plugins or boot, so the same class can report stalls while
serving. If the watchdog thread itself was not scheduled for a while (the whole process paused), it does
not blame the loop for that time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import NoReturn

log = logging.getLogger("xcore.watchdog")

GRACE = 1.0
"""Seconds past an activity's deadline the loop gets to turn (and fire its own timeout) before the watchdog acts."""

EXIT_STATUS = 3
"""The status :func:`exit_process` exits with: uvicorn's own for an application that failed to start."""


@dataclass
class Activity:
    """Something the loop runs under watch: a label for messages and the deadline that applies to it."""

    label: str
    deadline: float
    setting: str = ""
    """The configuration key the deadline comes from, for messages (``app.load_timeout``)."""
    remedy: str = ""
    """What the reader can do about it, appended to the overrun message."""
    started: float = field(default_factory=time.monotonic)
    blocked_for: float = 0.0
    """The longest stall of the loop seen while this activity ran, in seconds."""
    overran: bool = False
    """The loop stayed blocked past ``deadline`` + :data:`GRACE` while this activity ran."""
    warned: bool = False
    ended: float | None = None

    @property
    def elapsed(self) -> float:
        return (self.ended if self.ended is not None else time.monotonic()) - self.started

    def blocked_note(self) -> str:
        """``"; it blocked the event loop for 2.3s"`` when the loop stalled while it ran, else ``""``."""
        return f"; it blocked the event loop for {self.blocked_for:.1f}s" if self.blocked_for >= 0.1 else ""

    def overrun_message(self) -> str:
        where = f" ({self.setting})" if self.setting else ""
        message = (
            f"{self.label} has blocked the event loop for {self.blocked_for:.1f}s, past its deadline of "
            f"{self.deadline:g}s{where}: it makes a blocking call (time.sleep, blocking I/O, a long computation) "
            "in async code, which no timeout can interrupt"
        )
        return f"{message}. {self.remedy}" if self.remedy else message


def exit_process(activity: Activity) -> NoReturn:
    """Log ``activity``'s overrun and end the process at once with :data:`EXIT_STATUS`.

    ``os._exit``: the loop is held, so nothing that needs it (shutdown hooks, service closes) could run,
    and ``sys.exit`` from this thread would only end this thread.
    """
    message = f"{activity.overrun_message()}; exiting"
    log.critical(message)
    for handler in logging.getLogger().handlers:
        handler.flush()
    if not logging.getLogger().handlers:
        print(f"error: {message}", file=sys.stderr, flush=True)
    os._exit(EXIT_STATUS)


class LoopWatchdog:
    """Watches ``loop`` from a thread; use as a context manager (started on enter, stopped on exit)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        tick: float = 0.05,
        warn_after: float = 1.0,
        on_overrun: Callable[[Activity], object] | None = None,
    ) -> None:
        self.loop = loop
        self.tick = tick
        self.warn_after = warn_after
        self.on_overrun = on_overrun
        """What to do when an activity overruns; ``None``: :func:`exit_process` (looked up when needed)."""
        self._beat = time.monotonic()
        self._resumed = 0.0
        self._activity: Activity | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._handle: asyncio.TimerHandle | None = None

    def __enter__(self) -> LoopWatchdog:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """Start the heartbeat (call from the loop's thread) and the watching thread."""
        self._heartbeat()
        self._thread = threading.Thread(target=self._watch, name="xcore-loop-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._handle is not None:
            self._handle.cancel()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @contextmanager
    def watching(self, activity: Activity) -> Iterator[Activity]:
        """Declare that ``activity`` runs on the loop from now until the block ends."""
        activity.started, activity.ended = time.monotonic(), None
        outer, self._activity = self._activity, activity
        try:
            yield activity
        finally:
            activity.ended = time.monotonic()
            self._activity = outer

    def _heartbeat(self) -> None:
        self._beat = time.monotonic()
        if not self._stop.is_set():
            self._handle = self.loop.call_later(self.tick, self._heartbeat)

    def _watch(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self.tick):
            now = time.monotonic()
            if now - last > max(5 * self.tick, 0.25):
                self._resumed = now  # this thread was not scheduled either: the pause was not the loop's
            last = now
            activity = self._activity
            if activity is not None:
                self._check(activity, now)

    def _check(self, activity: Activity, now: float) -> None:
        beat = self._beat
        silent = now - max(beat, self._resumed, activity.started)
        if silent <= 2 * self.tick:
            return
        activity.blocked_for = max(activity.blocked_for, silent)
        if silent >= self.warn_after and not activity.warned:
            activity.warned = True
            log.warning(
                "the event loop has not turned for %.1fs while %s runs (a blocking call in async code?)",
                silent,
                activity.label,
            )
        due = activity.started + activity.deadline
        if not activity.overran and beat < due and now >= due + GRACE and silent >= GRACE:
            activity.overran = True
            (self.on_overrun or exit_process)(activity)


__all__ = ["GRACE", "Activity", "LoopWatchdog", "exit_process"]
