"""The in-process event bus: subscriptions, ordered dispatch, timeouts and error isolation.

Dispatch order is deterministic: higher ``priority`` first, then subscription order. Handlers run one
after the other in the emitter's task, so ``event.stop()`` can skip the rest and ``emit`` can return
what each handler returned or raised. A handler that raises, or a coroutine handler that runs past
``handler_timeout`` seconds, is logged with its plugin and the event name and recorded in the result;
it never reaches the emitter nor stops the other handlers.

Emitting must cost next to nothing when nobody listens, so the matching subscriptions of each event
name are resolved once and cached; ``subscribe``/``unsubscribe`` clear the cache.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import itertools
import logging
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator
from types import CoroutineType
from typing import Any, Protocol

from xcore._errors import XcoreError
from xcore._events.event import Event, HandlerResult
from xcore._events.patterns import Pattern, check_name, compile_pattern
from xcore._observability import metrics as observed
from xcore._observability import tracing

Handler = Callable[[Event], Any]
Results = list[HandlerResult]

DEFAULT_PRIORITY = 50
DEFAULT_TIMEOUT = 5.0
_CACHE_LIMIT = 4096  # names resolved and remembered; past this the cache starts over
_ANYONE = object()
_new_result = tuple.__new__  # builds a HandlerResult without a Python-level __new__ call per handler


class HandlerTimeout(XcoreError, TimeoutError):
    """A coroutine handler ran past the bus's ``handler_timeout`` and was cancelled."""


class Transport(Protocol):
    """Carries events to other processes. ``publish`` is synchronous: it encodes and queues."""

    def publish(self, name: str, data: Any, source: str | None) -> None: ...


def _label(handler: Handler) -> str:
    return getattr(handler, "__qualname__", None) or type(handler).__qualname__


async def _awaiting(awaitable: Awaitable[Any]) -> Any:
    """A coroutine around any other awaitable a sync handler returned (a future, a task)."""
    return await awaitable


@types.coroutine
def _resume(coro: Coroutine[Any, Any, Any], suspended_on: Any) -> Generator[Any, Any, Any]:
    """Finish a coroutine that already ran up to its first wait (it yielded ``suspended_on``).

    Hands ``suspended_on`` to the task driving us, exactly as if the coroutine had been awaited from
    the start, then delegates the rest with ``yield from``. An exception thrown in while waiting (a
    cancellation) is passed on to the coroutine.
    """
    try:
        yield suspended_on
    except BaseException as exc:
        try:
            suspended_on = coro.throw(exc)
        except StopIteration as done:
            return done.value
        return (yield from _resume(coro, suspended_on))
    return (yield from coro)  # type: ignore[misc]


class Subscription:
    """One handler subscribed to one pattern; ``cancel()`` removes it."""

    __slots__ = ("_bus", "active", "call", "handler", "label", "once", "owner", "pattern", "priority", "seq")

    def __init__(
        self, bus: EventBus, pattern: Pattern, handler: Handler, priority: int, once: bool, owner: str | None, seq: int
    ) -> None:
        self._bus = bus
        self.pattern = pattern
        self.handler = handler
        self.priority = priority
        self.once = once
        self.owner = owner
        self.seq = seq
        self.label = _label(handler)
        self.call = handler if tracing.TRACER is None else tracing.traced_handler(handler, owner, self.label)
        """What dispatch calls: the handler, or the handler inside a span when tracing is on."""
        self.active = True

    def cancel(self) -> bool:
        """Unsubscribe; returns False if it was already gone."""
        return self._bus.unsubscribe(self)

    def __repr__(self) -> str:
        state = "" if self.active else " cancelled"
        return (
            f"<Subscription {self.pattern.text!r} -> {self.label} owner={self.owner!r} "
            f"priority={self.priority}{' once' if self.once else ''}{state}>"
        )


class EventBus:
    """Subscriptions and dispatch for one process (one per events service).

    ``transport``, when set, receives every emitted event before the local handlers run; events
    arriving from other processes are dispatched with :meth:`deliver`, locally only.
    """

    def __init__(self, *, handler_timeout: float = DEFAULT_TIMEOUT, logger: logging.Logger | None = None) -> None:
        if handler_timeout <= 0:
            raise ValueError(f"handler_timeout must be > 0 seconds, got {handler_timeout!r}")
        self.handler_timeout = handler_timeout
        self.log = logger or logging.getLogger("xcore.events")
        self.transport: Transport | None = None
        self._exact: dict[str, list[Subscription]] = {}
        self._wild: list[Subscription] = []
        self._cache: dict[str, tuple[Subscription, ...]] = {}
        self._seq = itertools.count()
        self._pending: set[asyncio.Future[Results] | concurrent.futures.Future[Results]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ subscriptions

    def subscribe(
        self,
        pattern: str,
        handler: Handler,
        *,
        priority: int = DEFAULT_PRIORITY,
        once: bool = False,
        owner: str | None = None,
    ) -> Subscription:
        """Call ``handler(event)`` for every event whose name matches ``pattern``."""
        compiled = compile_pattern(pattern)
        if not callable(handler):
            raise TypeError(f"event handler for {pattern!r} must be callable, got {type(handler).__name__}")
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise TypeError(f"event priority for {pattern!r} must be an int, got {priority!r}")
        sub = Subscription(self, compiled, handler, priority, once, owner, next(self._seq))
        if compiled.is_exact:
            self._exact.setdefault(compiled.text, []).append(sub)
        else:
            self._wild.append(sub)
        self._cache.clear()
        return sub

    def unsubscribe(self, sub: Subscription) -> bool:
        """Remove one subscription; it stops receiving at once, even mid-dispatch."""
        if not sub.active:
            return False
        sub.active = False
        if sub.pattern.is_exact:
            subs = self._exact.get(sub.pattern.text, [])
            if sub in subs:
                subs.remove(sub)
            if not subs:
                self._exact.pop(sub.pattern.text, None)
        elif sub in self._wild:
            self._wild.remove(sub)
        self._cache.clear()
        return True

    def subscriptions(self, owner: Any = _ANYONE) -> list[Subscription]:
        """Live subscriptions in subscription order, all of them or those of one owner."""
        subs = [s for group in self._exact.values() for s in group] + self._wild
        subs.sort(key=lambda s: s.seq)
        return subs if owner is _ANYONE else [s for s in subs if s.owner == owner]

    def unsubscribe_matching(self, pattern: str, handler: Handler | None = None, *, owner: Any = _ANYONE) -> int:
        """Remove the subscriptions on exactly ``pattern`` (and ``handler``, if given); returns how many."""
        text = compile_pattern(pattern).text
        found = [
            s for s in self.subscriptions(owner) if s.pattern.text == text and (handler is None or s.handler == handler)
        ]
        return sum(self.unsubscribe(s) for s in found)

    def remove_owner(self, owner: str) -> int:
        """Drop every subscription of a plugin (it unloaded); returns how many were removed."""
        return sum(self.unsubscribe(s) for s in self.subscriptions(owner))

    def handlers_for(self, name: str) -> tuple[Subscription, ...]:
        """The subscriptions an event called ``name`` reaches, in dispatch order."""
        try:
            subs = self._cache.get(name)
        except TypeError:
            subs = None
        return self._resolve(name) if subs is None else subs

    def _resolve(self, name: str) -> tuple[Subscription, ...]:
        check_name(name)
        found = list(self._exact.get(name, ()))
        found += [s for s in self._wild if s.pattern.matches(name)]
        found.sort(key=lambda s: (-s.priority, s.seq))
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        subs = self._cache[name] = tuple(found)
        return subs

    # ------------------------------------------------------------------ emitting

    async def emit(self, name: str, data: Any = None, source: str | None = None) -> Results:
        """Send the event to its transport (if any) and run the local handlers; see the module doc."""
        subs = self.handlers_for(name)
        if self.transport is not None:
            self.transport.publish(name, data, source)
        if (metrics := observed.ACTIVE) is not None:
            metrics.event_emitted(source)
        if not subs:
            return []
        return await self._run(subs, Event(name, data, source))

    async def deliver(self, name: str, data: Any = None, source: str | None = None, remote: bool = True) -> Results:
        """Run the local handlers only: for events that arrived from another process."""
        subs = self.handlers_for(name)
        if not subs:
            return []
        return await self._run(subs, Event(name, data, source, remote))

    def emit_nowait(
        self, name: str, data: Any = None, source: str | None = None
    ) -> asyncio.Future[Results] | concurrent.futures.Future[Results]:
        """Fire and forget: dispatch in a background task the bus keeps until it finishes.

        The name (and, with redis, the data) is checked before returning, so a bad event raises
        here. Handler failures are logged like with ``emit``; the returned future holds the results.
        Called from a thread without a running event loop (a sync scheduler job), the event is
        handed to the bus's loop and a ``concurrent.futures.Future`` is returned.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self._emit_from_thread(name, data, source)
        self._loop = loop
        subs = self.handlers_for(name)
        if self.transport is not None:
            self.transport.publish(name, data, source)
        if (metrics := observed.ACTIVE) is not None:
            metrics.event_emitted(source)
        if not subs:
            done: asyncio.Future[Results] = loop.create_future()
            done.set_result([])
            return done
        task = loop.create_task(self._run(subs, Event(name, data, source)))
        self._track(task, name)
        return task

    def _emit_from_thread(self, name: str, data: Any, source: str | None) -> concurrent.futures.Future[Results]:
        loop = self._loop
        if loop is None or loop.is_closed():
            raise RuntimeError(
                f"cannot emit {name!r}: no running event loop in this thread and the event bus is not started"
            )
        check_name(name)
        future = asyncio.run_coroutine_threadsafe(self.emit(name, data, source), loop)
        self._track(future, name)
        return future

    def _track(self, future: asyncio.Future[Results] | concurrent.futures.Future[Results], name: str) -> None:
        self._pending.add(future)

        def finished(done: Any) -> None:
            self._pending.discard(done)
            if done.cancelled():
                return
            error = done.exception()
            if error is not None:
                self.log.error("event %r: background emit failed: %s", name, error, exc_info=error)

        future.add_done_callback(finished)

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop that events emitted from other threads are handed to."""
        self._loop = loop

    @property
    def pending(self) -> int:
        """Background emits still running."""
        return len(self._pending)

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait for background emits (at shutdown); those still running after ``timeout`` are cancelled."""
        waiting = [asyncio.wrap_future(f) if isinstance(f, concurrent.futures.Future) else f for f in self._pending]
        if not waiting:
            return
        _, late = await asyncio.wait(waiting, timeout=timeout)
        for future in late:
            future.cancel()
        if late:
            await asyncio.wait(late, timeout=1.0)  # let the cancellations run their cleanups
            self.log.warning(
                "%d background event dispatch(es) still running after %ss were cancelled", len(late), timeout
            )

    # ------------------------------------------------------------------ dispatch

    async def _run(self, subs: tuple[Subscription, ...], event: Event) -> Results:
        results: Results = []
        metrics = observed.ACTIVE
        for sub in subs:
            if not sub.active:
                continue
            if sub.once:
                self.unsubscribe(sub)
            if metrics is not None:
                metrics.event_delivered(sub.owner)
            try:
                value = sub.call(event)
                if type(value) is not CoroutineType and value is not None and inspect.isawaitable(value):
                    value = _awaiting(value)
                if type(value) is CoroutineType:
                    # Run the handler up to its first wait ourselves: most finish right there, and only
                    # a handler that really waits is worth a deadline (an asyncio.timeout costs ~5x an
                    # emit: benchmarks/bench_events.py, docs/events.md "Cost").
                    try:
                        suspended_on = value.send(None)
                    except StopIteration as done:
                        value = done.value
                    else:
                        value = await self._finish_in_time(value, suspended_on, sub)
            except Exception as exc:
                results.append(self._failed(sub, event, exc))
            except asyncio.CancelledError as exc:
                # The handler's own (it awaited a task it cancelled): its failure, unless our task is cancelled.
                task = asyncio.current_task()
                if task is None or task.cancelling():
                    raise
                results.append(self._failed(sub, event, exc))
            else:
                results.append(_new_result(HandlerResult, (sub, value, None, False)))
            if event._stopped:
                break
        return results

    async def _finish_in_time(self, coro: Coroutine[Any, Any, Any], suspended_on: Any, sub: Subscription) -> Any:
        """Finish a handler that suspended, within ``handler_timeout`` (plain ``asyncio.timeout``)."""
        if asyncio.current_task() is None:  # driven by something other than an asyncio task: nothing to cancel
            return await _resume(coro, suspended_on)
        deadline = asyncio.timeout(self.handler_timeout)
        try:
            async with deadline:
                return await _resume(coro, suspended_on)
        except TimeoutError:
            if deadline.expired():
                raise HandlerTimeout(self._timeout_text(sub)) from None
            raise

    def _timeout_text(self, sub: Subscription) -> str:
        return f"handler {sub.label} did not finish within {self.handler_timeout:g}s"

    def _failed(self, sub: Subscription, event: Event, exc: BaseException) -> HandlerResult:
        timed_out = isinstance(exc, HandlerTimeout)
        plugin = sub.owner or "(host)"
        if timed_out:
            self.log.error(
                "event %r: handler %s of plugin %r timed out after %ss",
                event.name,
                sub.label,
                plugin,
                self.handler_timeout,
            )
        else:
            self.log.error(
                "event %r: handler %s of plugin %r raised %s: %s",
                event.name,
                sub.label,
                plugin,
                type(exc).__name__,
                exc,
                exc_info=exc,
            )
        return _new_result(HandlerResult, (sub, None, exc, timed_out))
