"""Counting HTTP requests per plugin and route template, as pure ASGI middleware.

Routing happens inside the app this wraps; Starlette's router records the route it chose in the
request's scope (``scope["route"]``), so once the response is sent the middleware knows the route's
template without matching anything itself. Each (route template, method) pair gets its three pre-bound series
children on first use; after that a request costs a dict lookup, two increments and one observation.
Only routes and the nine standard methods are keys, so the lookup table is as bounded as the labels.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xcore.observability.metrics import HOST, STANDARD_METHODS, UNMATCHED, Metrics


def plugin_of(path: str, plugin_prefix: str) -> str:
    """The plugin a route template belongs to (``/plugins/shop/...`` -> ``shop``), else ``""``."""
    if not path.startswith(plugin_prefix):
        return HOST
    name = path[len(plugin_prefix) :].split("/", 1)[0]
    return HOST if not name or name.startswith("{") else name


class RequestMetrics:
    """ASGI middleware: ``xcore_http_requests``, ``..._errors`` and ``..._duration_seconds`` per route."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, plugin_prefix: str) -> None:
        self.app = app
        self.metrics = metrics
        self.plugin_prefix = plugin_prefix + "/"
        self._series: dict[tuple[str | None, str], tuple[Any, Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        began = time.perf_counter()
        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - began
            route = scope.get("route")
            key = (None if route is None else route.path, scope["method"])
            series = self._series.get(key)
            if series is None:
                series = self._bind(*key)
            series[0].inc()
            series[2].observe(elapsed)
            if status >= 500:
                series[1].inc()

    def _bind(self, path: str | None, method: str) -> tuple[Any, Any, Any]:
        """The series children of route template ``path`` and ``method``, made once (bounded: see the module doc)."""
        known = method if method in STANDARD_METHODS else "OTHER"
        labels = (UNMATCHED, UNMATCHED, known) if path is None else (plugin_of(path, self.plugin_prefix), path, known)
        m = self.metrics
        series = (m.http_requests.labels(*labels), m.http_errors.labels(*labels), m.http_latency.labels(*labels))
        if known == method:  # a made-up method shares the OTHER children without adding a key per spelling
            self._series[(path, method)] = series
        return series
