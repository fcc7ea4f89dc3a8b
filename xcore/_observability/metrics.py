"""The Prometheus series of a host, and the calls through which XCore and service backends count.

Off by default: :data:`ACTIVE` is ``None`` until a host with ``app.metrics: true`` boots, and every
instrumentation point is ``m = metrics.ACTIVE; if m is not None: ...``, one module attribute read.
When on, the series live in one :class:`Metrics` per process (several hosts in one process share it,
as they share prometheus-client's own default registry).

Labels are bounded by construction, since every label value is a distinct series kept forever:

- routes are the route's *template* (``/plugins/shop/items/{item_id}``), never the raw path; a request
  no route matched counts under one ``route="<unmatched>"``, whatever its path, and a method outside
  the standard nine counts as ``OTHER``;
- actions and jobs are named by their callers (an HTTP client names the action), so each plugin gets at
  most :data:`MAX_NAMES` distinct names, then ``<other>``; an action the plugin does not know counts as
  ``<unknown>``;
- events are counted by emitting plugin (``source``) and receiving plugin, never by event name.

No label carries a query string, a header, a payload or a configuration value, so no secret reaches one.

Service backends (built-in or third-party) count through the same public calls: :meth:`Metrics.cache_hit`,
:meth:`Metrics.cache_miss`, :meth:`Metrics.cache_wait`, :meth:`Metrics.pool_wait`; a service with a
connection pool also answers ``pool_in_use() -> int``, read at each scrape (docs/observability.md).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

T = TypeVar("T")

ACTIVE: Metrics | None = None
"""The process's metrics once enabled; ``None`` (the default) means nothing is counted."""

MAX_NAMES = 100
"""Distinct action or job names counted per plugin; more are counted as ``<other>``."""

OTHER = "<other>"
UNKNOWN = "<unknown>"
UNMATCHED = "<unmatched>"
HOST = ""
"""The ``plugin`` label of what belongs to no plugin (XCore's own routes, the app's, the host's jobs)."""

STANDARD_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds; a plugin route usually answers in well under a millisecond, so the low end is finer than the default."""
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)

PLUGIN_STATES = ("registered", "loaded", "failed", "disabled", "unloaded")


def enable() -> Metrics:
    """Turn metrics on for this process (idempotent) and return them."""
    global ACTIVE
    if ACTIVE is None:
        ACTIVE = Metrics()
    return ACTIVE


def multiprocess_dir() -> str | None:
    """The directory worker processes share their values through, when multiprocess mode is on."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class _Bounded:
    """Per-plugin sets of names seen, each capped at :data:`MAX_NAMES`."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[str, set[str]] = {}

    def name(self, plugin: str, name: str) -> str:
        seen = self._seen.setdefault(plugin, set())
        if name in seen:
            return name
        if len(seen) >= MAX_NAMES:
            return OTHER
        seen.add(name)
        return name


class Metrics:
    """Every series XCore exports (see docs/observability.md for names and labels)."""

    def __init__(self) -> None:
        self.multiprocess = multiprocess_dir() is not None
        self.registry = CollectorRegistry(auto_describe=True)
        """Where the series are registered in a single process; in multiprocess mode the scrape reads
        every worker's files instead (registering them too would export each series twice)."""
        reg = None if self.multiprocess else self.registry

        def counter(name: str, text: str, labels: Iterable[str] = ()) -> Counter:
            return Counter(name, text, list(labels), registry=reg)

        def histogram(name: str, text: str, labels: Iterable[str], buckets: tuple[float, ...]) -> Histogram:
            return Histogram(name, text, list(labels), registry=reg, buckets=buckets)

        def gauge(name: str, text: str, labels: Iterable[str], mode: Literal["livesum", "livemax"]) -> Gauge:
            return Gauge(name, text, list(labels), registry=reg, multiprocess_mode=mode)

        route = ("plugin", "route", "method")
        self.http_requests = counter("xcore_http_requests", "HTTP requests answered, by route template", route)
        self.http_errors = counter("xcore_http_request_errors", "HTTP requests answered 5xx or raising", route)
        self.http_latency = histogram(
            "xcore_http_request_duration_seconds", "Time to answer an HTTP request", route, LATENCY_BUCKETS
        )
        action = ("plugin", "action")
        self.action_calls = counter("xcore_action_calls", "Action calls (in process and over HTTP)", action)
        self.action_errors = counter("xcore_action_errors", "Action calls that raised", action)
        self.action_latency = histogram("xcore_action_duration_seconds", "Time an action took", action, LATENCY_BUCKETS)
        job = ("plugin", "job")
        self.job_runs = counter("xcore_job_runs", "Scheduled job runs started", job)
        self.job_failures = counter("xcore_job_failures", "Scheduled job runs that raised", job)
        self.job_duration = histogram("xcore_job_duration_seconds", "Time a job run took", job, JOB_BUCKETS)
        self.job_lateness = histogram(
            "xcore_job_lateness_seconds", "How long after its scheduled time a job run started", job, JOB_BUCKETS
        )
        self.cache_hits = counter("xcore_cache_hits", "get_or_set / @cached lookups answered from the cache")
        self.cache_misses = counter("xcore_cache_misses", "get_or_set / @cached lookups that ran the factory")
        self.cache_waits = counter(
            "xcore_cache_stampede_waits", "get_or_set lookups that waited for a computation already running"
        )
        self.pool_in_use = gauge(
            "xcore_db_pool_in_use", "Database connections checked out, at the last scrape", ["database"], "livesum"
        )
        self.pool_waits = counter(
            "xcore_db_pool_waits", "Times a caller waited for a pooled database connection", ["database"]
        )
        self.events_emitted = counter("xcore_events_emitted", "Events emitted, by emitting plugin", ["source"])
        self.events_delivered = counter(
            "xcore_events_delivered", "Event handler runs, by the handler's plugin", ["plugin"]
        )
        self.plugin_state = gauge(
            "xcore_plugin_state", "1 for each plugin's current state", ["plugin", "state"], "livemax"
        )
        self.plugin_boot = gauge(
            "xcore_plugin_boot_seconds",
            "Time a plugin took to load (on_load, router, actions)",
            ["plugin"],
            "livemax",
        )
        self.loop_stalls = counter(
            "xcore_loop_stalls", "Times the event loop was held past app.stall_threshold, by plugin", ["plugin"]
        )
        self.loop_stall_seconds = histogram(
            "xcore_loop_stall_seconds", "How long each reported stall held the event loop", (), JOB_BUCKETS
        )
        self.flushers: list[Callable[[], None]] = []
        """What holds counts not yet in the series (the request middleware): called before each scrape."""
        self._actions = _Bounded()
        self._jobs = _Bounded()
        self._action_series: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
        self._emitted: dict[str | None, Any] = {}
        self._delivered: dict[str | None, Any] = {}

    def flush(self) -> None:
        """Bring every series up to date (before a scrape, and at shutdown)."""
        for flush in self.flushers:
            flush()

    # ------------------------------------------------------------------ actions

    async def timed_action(self, plugin: str, action: str, call: Awaitable[T]) -> T:
        """Await ``call`` (the action's coroutine), counting it under ``plugin`` / ``action``."""
        from xcore.sdk._responses import ActionNotFound

        began = time.perf_counter()
        try:
            result = await call
        except ActionNotFound:
            self._action(plugin, UNKNOWN)[1].inc()
            raise
        except BaseException:
            calls, errors, latency = self._action(plugin, action)
            calls.inc()
            errors.inc()
            latency.observe(time.perf_counter() - began)
            raise
        calls, _, latency = self._action(plugin, action)
        calls.inc()
        latency.observe(time.perf_counter() - began)
        return result

    def _action(self, plugin: str, action: str) -> tuple[Any, Any, Any]:
        series = self._action_series.get((plugin, action))
        if series is None:
            name = self._actions.name(plugin, action) if action != UNKNOWN else UNKNOWN
            labels = (plugin, name)
            series = (
                self.action_calls.labels(*labels), self.action_errors.labels(*labels),
                self.action_latency.labels(*labels),
            )  # fmt: skip
            if name == action:  # a name past the cap is not remembered, so the cache stays bounded too
                self._action_series[(plugin, action)] = series
        return series

    # ------------------------------------------------------------------ jobs

    def job_started(self, plugin: str | None, job: str, late: float) -> tuple[str, str]:
        """Count a run of ``job`` starting ``late`` seconds after its time; returns its labels."""
        owner = plugin or HOST
        labels = (owner, self._jobs.name(owner, job))
        self.job_runs.labels(*labels).inc()
        self.job_lateness.labels(*labels).observe(max(late, 0.0))
        return labels

    def job_finished(self, labels: tuple[str, str], duration: float, failed: bool) -> None:
        self.job_duration.labels(*labels).observe(duration)
        if failed:
            self.job_failures.labels(*labels).inc()

    # ------------------------------------------------------------------ events

    def event_emitted(self, source: str | None) -> None:
        child = self._emitted.get(source)
        if child is None:
            child = self._emitted[source] = self.events_emitted.labels(source or HOST)
        child.inc()

    def event_delivered(self, plugin: str | None) -> None:
        child = self._delivered.get(plugin)
        if child is None:
            child = self._delivered[plugin] = self.events_delivered.labels(plugin or HOST)
        child.inc()

    # ------------------------------------------------------------------ services (built-in or third-party)

    def cache_hit(self) -> None:
        self.cache_hits.inc()

    def cache_miss(self) -> None:
        self.cache_misses.inc()

    def cache_wait(self) -> None:
        self.cache_waits.inc()

    def pool_wait(self, database: str) -> None:
        self.pool_waits.labels(database).inc()

    # ------------------------------------------------------------------ plugins and the loop

    def plugin_loaded(self, plugin: str, seconds: float) -> None:
        self.plugin_boot.labels(plugin).set(seconds)

    def plugin_states(self, states: Iterable[tuple[str, str]]) -> None:
        """Set ``xcore_plugin_state`` from (plugin, state) pairs: 1 for the current state, 0 for the others."""
        for plugin, current in states:
            for state in PLUGIN_STATES:
                self.plugin_state.labels(plugin, state).set(1 if state == current else 0)

    def loop_stalled(self, plugin: str | None, seconds: float) -> None:
        self.loop_stalls.labels(plugin or HOST).inc()
        self.loop_stall_seconds.observe(seconds)
