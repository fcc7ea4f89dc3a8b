"""The stall watchdog: a thread that notices when something holds the event loop, and names it.

One event loop serves every plugin, so a trusted plugin's route that calls ``time.sleep(2)`` (or reads a
file, or computes for a second) stops every other request, ``/health`` included, and nothing inside the
loop can even notice. This watchdog runs outside it, while the host serves:

- the loop runs a heartbeat callback every :data:`TICK` seconds; the heartbeat measures how late it
  ran, which is how long the loop was held, exactly;
- the watchdog thread wakes every :data:`TICK` seconds too; when the heartbeat is more than
  ``app.stall_threshold`` late, the loop is held *now*, so the thread takes one sample of the loop
  thread's stack (``sys._current_frames()``) and reads from it what runs: the innermost route (its
  template, from the request's scope), action, job or event handler, the plugin it belongs to, and the
  innermost line of plugin code;
- when the loop turns again, the heartbeat reports the stall with that sample: one log line
  (``xcore.stalls``), ``xcore_loop_stalls_total{plugin}`` and ``xcore_loop_stall_seconds`` when metrics
  are on, and the kernel event ``xcore.loop.stalled``.

Nothing is added to the request path: all the work happens in the thread, and only while the loop is
held. The report names a route by its template and code by file name, line and function; it never
includes a path, a query string, headers or local values, so no secret reaches the log or the event.
This is not :mod:`xcore.watchdog` (boot: it ends a process whose ``on_load`` holds the loop forever);
this one only reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
import time
import types
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from xcore._observability import metrics as observed
from xcore._observability.http_metrics import plugin_of

if TYPE_CHECKING:
    from xcore._host.facade import Xcore

log = logging.getLogger("xcore.stalls")

TICK = 0.02
"""Seconds between heartbeats (and between the thread's looks): the finest stall it can time."""

_JOB = ("xcore._builtin_services.scheduler.runner", "JobRunner._run_once")
_EVENT = ("xcore._events.bus", "EventBus._run")
_ACTION = ("xcore._host.dispatch", "ActionDispatcher.call")


@dataclass(frozen=True)
class Stall:
    """One stall: how long the loop was held, and what held it (as far as one sample of the stack tells)."""

    seconds: float
    plugin: str | None
    activity: str
    """``route GET /plugins/shop/items/{id}``, ``job 'nightly'``, ``action 'ping'``, ``event handler ...``."""
    where: str | None
    """The innermost line of plugin code: ``shop_plugin.py:42 in list_items``."""

    def message(self) -> str:
        who = f"plugin {self.plugin!r}" if self.plugin else "code of no known plugin"
        at = f" at {self.where}" if self.where else ""
        return (
            f"the event loop was blocked for {self.seconds:.2f}s by {who} ({self.activity}){at}: every other "
            "request waited; move blocking work off the loop (await asyncio.to_thread(...))"
        )


class StallWatchdog:
    """Reports every stall of ``loop`` longer than ``threshold`` seconds to ``report`` (see the module doc)."""

    def __init__(
        self,
        threshold: float,
        report: Callable[[Stall], None],
        *,
        plugin_modules: Callable[[], dict[str, str]] = dict,
        plugin_prefix: str = "/plugins",
    ) -> None:
        self.threshold = threshold
        self._report = report
        self._plugin_modules = plugin_modules
        self._prefix = plugin_prefix + "/"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._due = 0.0
        """When the next heartbeat should run (monotonic); the thread compares the clock with it."""
        self._beats = 0
        self._sample: tuple[int, Stall] | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start watching the running loop (call from inside it)."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._schedule()
        self._thread = threading.Thread(target=self._watch, name="xcore-stall-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._handle is not None:
            self._handle.cancel()
        if self._thread is not None:
            self._thread.join(timeout=1.0)

    # ------------------------------------------------------------------ in the loop

    def _schedule(self) -> None:
        assert self._loop is not None
        self._due = time.monotonic() + TICK
        self._handle = self._loop.call_later(TICK, self._beat)

    def _beat(self) -> None:
        late = time.monotonic() - self._due
        sample, beat = self._sample, self._beats
        self._beats += 1
        self._sample = None
        if late >= self.threshold and not self._stop.is_set():
            found = sample[1] if sample is not None and sample[0] == beat else None
            if found is None:
                found = Stall(late, None, "unknown (the stall ended before the watchdog looked)", None)
            stall = Stall(round(late, 3), found.plugin, found.activity, found.where)
            try:
                self._report(stall)
            except Exception:
                log.exception("reporting a stall failed")
        self._schedule()

    # ------------------------------------------------------------------ in the watchdog thread

    def _watch(self) -> None:
        while not self._stop.wait(TICK):
            beat = self._beats
            if time.monotonic() - self._due < self.threshold:
                continue
            if self._sample is not None and self._sample[0] == beat:
                continue  # this stall is sampled already
            frame = sys._current_frames().get(self._loop_thread)
            if frame is None:
                continue
            try:
                self._sample = (beat, self.describe(frame))
            except Exception:  # a frame changing under us; the next look tries again
                log.debug("sampling the loop's stack failed", exc_info=True)

    def describe(self, frame: types.FrameType | None) -> Stall:
        """What the loop thread runs at ``frame``: the innermost activity, its plugin, the plugin's line."""
        modules = self._plugin_modules()
        plugin: str | None = None
        where: str | None = None
        activity: str | None = None
        while frame is not None:
            if where is None and (owner := _module_plugin(frame.f_globals.get("__name__", ""), modules)):
                plugin, where = owner, _line(frame)
            if activity is None and (found := self._activity(frame)) is not None:
                activity, context_plugin = found
                plugin = plugin or context_plugin
            frame = frame.f_back
        return Stall(0.0, plugin, activity or "no route, job, action or event handler", where)

    def _activity(self, frame: types.FrameType) -> tuple[str, str | None] | None:
        code = frame.f_code
        key = (frame.f_globals.get("__name__"), code.co_qualname)
        if key == _ACTION:
            plugin, action = frame.f_locals.get("plugin"), frame.f_locals.get("action")
            return f"action {action!r}", str(plugin)
        if key == _JOB:
            owner, job = frame.f_locals.get("owner"), frame.f_locals.get("job_id")
            return f"job {job!r}", str(owner) if owner else None
        if key == _EVENT:
            sub, event = frame.f_locals.get("sub"), frame.f_locals.get("event")
            name = getattr(event, "name", "?")
            return f"event handler {getattr(sub, 'label', '?')} for {name!r}", getattr(sub, "owner", None)
        if "scope" in code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]:
            scope = frame.f_locals.get("scope")
            route = scope.get("route") if isinstance(scope, dict) and scope.get("type") == "http" else None
            path = getattr(route, "path", None)
            if path is not None:
                return f"route {scope['method']} {path}", plugin_of(path, self._prefix) or None  # type: ignore[index]
        return None


def _module_plugin(module: str, modules: dict[str, str]) -> str | None:
    while module:
        if module in modules:
            return modules[module]
        module = module.rpartition(".")[0]
    return None


def _line(frame: types.FrameType) -> str:
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno} in {frame.f_code.co_name}"


def plugin_modules(records: Iterable[Any]) -> dict[str, str]:
    """Module name -> plugin, for the loaded plugins (a plugin object's module, or the module it is)."""
    found: dict[str, str] = {}
    for record in records:
        handle = getattr(record, "handle", None)
        if record.state != "loaded" or handle is None:
            continue
        instance = handle.instance
        module = instance.__name__ if isinstance(instance, types.ModuleType) else type(instance).__module__
        if module and not module.startswith("xcore."):  # a sandboxed plugin's proxy runs no plugin code here
            found.setdefault(module, record.name)
    return found


def watch_host(host: Xcore) -> StallWatchdog | None:
    """Start the stall watchdog for ``host`` (``app.stall_threshold``; 0 turns it off)."""
    threshold = host.config.app.stall_threshold
    if threshold <= 0:
        return None
    from xcore._events import kernel
    from xcore._host.announce import announce

    tasks: set[asyncio.Task[None]] = set()

    def report(stall: Stall) -> None:
        log.warning("%s", stall.message())
        if (metrics := observed.ACTIVE) is not None:
            metrics.loop_stalled(stall.plugin, stall.seconds)
        task = asyncio.get_running_loop().create_task(announce(host.services, kernel.LOOP_STALLED, asdict(stall)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    cache: dict[str, Any] = {}

    def modules() -> dict[str, str]:
        states = tuple((r.name, r.state) for r in host.records.values())
        if cache.get("states") != states:  # plugins load and unload while serving: rebuild only then
            cache["states"], cache["modules"] = states, plugin_modules(host.records.values())
        result: dict[str, str] = cache["modules"]
        return result

    watchdog = StallWatchdog(threshold, report, plugin_modules=modules, plugin_prefix=host.config.app.plugin_prefix)
    with contextlib.suppress(RuntimeError):
        watchdog.start()
        return watchdog
    return None
