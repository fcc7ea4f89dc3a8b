"""``GET /metrics``: the Prometheus text of this process, or of every worker in multiprocess mode.

Installed by :func:`install` when ``app.metrics`` is true (from :func:`xcore.web.install_endpoints`),
with the request-counting middleware. The endpoint is open like ``/health``: its labels hold plugin
names and route templates only (docs/observability.md), and a scrape's work is bounded by the number
of series, which the labels bound. Values read at scrape time (plugin states, pools in use) are set
just before the text is generated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import Response
from starlette.types import Scope

from xcore._observability import metrics as metrics_module
from xcore._observability.http_metrics import RequestMetrics
from xcore._observability.multiprocess import sweep_dead
from xcore._observability.tracing import RequestSpans

if TYPE_CHECKING:
    from xcore._host.facade import Xcore

log = logging.getLogger("xcore.metrics")

METRICS_PATH = "/metrics"


def install(app: FastAPI, xcore: Xcore) -> Callable[[Scope, int, float], None] | None:
    """Serve ``/metrics`` when ``app.metrics`` is on, and return what counts each answered request (for
    :class:`~xcore.http_guard.HostGuard`); span requests when ``app.tracing`` is on."""
    if xcore.config.app.tracing and app.middleware_stack is None:
        app.add_middleware(RequestSpans, plugin_prefix=xcore.config.app.plugin_prefix)
    if not xcore.config.app.metrics:
        return None
    metrics = metrics_module.enable()
    requests = RequestMetrics(metrics, xcore.config.app.plugin_prefix)

    @app.get(METRICS_PATH, tags=["xcore"], include_in_schema=False)
    async def prometheus_metrics() -> Response:
        """This process's series (or every worker's, in multiprocess mode), in Prometheus text format."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

        metrics.flush()  # on the loop's thread, like the request tallies it reads
        refresh(xcore, metrics)
        directory = metrics_module.multiprocess_dir()
        if directory is None:
            return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
        sweep_dead(directory)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, directory)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return requests.observe


def refresh(xcore: Xcore, metrics: metrics_module.Metrics) -> None:
    """Set the values that are read rather than counted: plugin states, database pools in use."""
    metrics.plugin_states((r.name, r.state) for r in xcore.records.values() if r.source.kind == "plugin")
    for entry in xcore.services.entries():
        in_use = getattr(entry.service, "pool_in_use", None)
        if callable(in_use):
            try:
                metrics.pool_in_use.labels(entry.spec.name).set(in_use())
            except Exception:
                log.debug("service %r: pool_in_use failed", entry.spec.name, exc_info=True)
