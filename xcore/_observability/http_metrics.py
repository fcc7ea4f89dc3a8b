"""Counting HTTP requests per plugin and route template.

XCore's request guard (:class:`~xcore.http_guard.HostGuard`, the outermost ASGI layer XCore adds)
already sees every request's status, so it hands each answered request to :meth:`RequestMetrics.observe`
rather than the count costing an ASGI layer of its own. Routing happened inside; Starlette's router
records the route it chose in the request's scope (``scope["route"]``), so the route's template is known
without matching anything again.

The request path must stay within a few percent of an unmeasured one (``benchmarks/bench_observability.py``),
and prometheus-client's own ``inc``/``observe`` take a lock each, about 1.6 us per request for a counter
and a histogram. So a request only adds to plain numbers of its route's :class:`RouteTally` (a count,
an error count, a sum and a bucket, found by bisection), on the loop's thread; :meth:`RequestMetrics.flush`
hands the totals to the Prometheus series every :data:`FLUSH_INTERVAL` seconds, before every scrape
and at shutdown. Each (route template, method) pair gets its tally, and its pre-bound series children,
on first use; only routes and the nine standard methods are keys, so the table is as bounded as the labels.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left
from typing import Any

from starlette.types import Scope

from xcore._observability.metrics import HOST, LATENCY_BUCKETS, STANDARD_METHODS, UNMATCHED, Metrics

FLUSH_INTERVAL = 1.0
"""Seconds between hand-overs of the request tallies to the Prometheus series (a scrape flushes first)."""


def plugin_of(path: str, plugin_prefix: str) -> str:
    """The plugin a route template belongs to (``/plugins/shop/...`` -> ``shop``), else ``""``."""
    if not path.startswith(plugin_prefix):
        return HOST
    name = path[len(plugin_prefix) :].split("/", 1)[0]
    return HOST if not name or name.startswith("{") else name


class RouteTally:
    """The requests of one route and method since the last flush, and the series they go to."""

    __slots__ = ("buckets", "children", "count", "errors", "seconds")

    def __init__(self, children: tuple[Any, Any, Any]) -> None:
        self.children = children
        self.count = 0
        self.errors = 0
        self.seconds = 0.0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)

    def flush(self) -> None:
        if not self.count:
            return
        requests, errors, latency = self.children
        requests.inc(self.count)
        if self.errors:
            errors.inc(self.errors)
        latency._sum.inc(self.seconds)  # prometheus-client's own parts of Histogram.observe, in bulk
        for index, count in enumerate(self.buckets):
            if count:
                latency._buckets[index].inc(count)
        self.count = self.errors = 0
        self.seconds = 0.0
        self.buckets = [0] * len(self.buckets)


class RequestMetrics:
    """``xcore_http_requests``, ``..._errors`` and ``..._duration_seconds`` per route: :meth:`observe` is
    called by :class:`~xcore.http_guard.HostGuard` once each request is answered (no ASGI layer of its own)."""

    def __init__(self, metrics: Metrics, plugin_prefix: str) -> None:
        self.metrics = metrics
        self.plugin_prefix = plugin_prefix + "/"
        self._tallies: dict[tuple[str | None, str], RouteTally] = {}
        self._timer: asyncio.TimerHandle | None = None
        metrics.flushers.append(self.flush)

    def observe(self, scope: Scope, status: int, elapsed: float) -> None:
        """Add one answered request to its route's tally."""
        route = scope.get("route")
        path = None if route is None else route.path
        if path is not None and path[:1] == "/" and not path.startswith(self.plugin_prefix):
            path = self._absolute(path, scope["path"])
        key = (path, scope["method"])
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._bind(*key)
        tally.count += 1
        tally.seconds += elapsed
        tally.buckets[bisect_left(LATENCY_BUCKETS, elapsed)] += 1
        if status >= 500:
            tally.errors += 1

    def _absolute(self, path: str, requested: str) -> str:
        """A route of a router included as a whole keeps its path relative to the plugin's prefix."""
        if not requested.startswith(self.plugin_prefix):
            return path
        plugin = requested[len(self.plugin_prefix) :].partition("/")[0]
        return f"{self.plugin_prefix}{plugin}{path}"

    def _bind(self, path: str | None, method: str) -> RouteTally:
        """The tally of route template ``path`` and ``method``, made once (bounded: see the module docstring)."""
        known = method if method in STANDARD_METHODS else "OTHER"
        if known != method and (path, known) in self._tallies:
            return self._tallies[(path, known)]  # a made-up method shares OTHER without adding a key per spelling
        labels = (UNMATCHED, UNMATCHED, known) if path is None else (plugin_of(path, self.plugin_prefix), path, known)
        m = self.metrics
        children = (m.http_requests.labels(*labels), m.http_errors.labels(*labels), m.http_latency.labels(*labels))
        tally = RouteTally(children)
        self._tallies[(path, known)] = tally
        if self._timer is None:
            self._schedule()
        return tally

    def _schedule(self) -> None:  # the first request starts the timer: a loop is running by then
        try:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_INTERVAL, self._tick)
        except RuntimeError:  # no loop (a test calling the middleware oddly): flushed by scrapes only
            self._timer = None

    def _tick(self) -> None:
        self.flush()
        self._schedule()

    def flush(self) -> None:
        """Hand every tally to its Prometheus series (on the loop's thread: tallies are not locked)."""
        for tally in list(self._tallies.values()):
            tally.flush()
