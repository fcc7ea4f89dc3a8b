"""OpenTelemetry spans for requests, actions, hook calls, job runs, event deliveries, service calls and
SQL statements (``app.tracing``).

OpenTelemetry is an extra (``pip install "xcore-host[otel]"``): XCore imports and runs without it, and
with ``app.tracing: false`` (the default) :data:`TRACER` stays ``None``, so every instrumentation point
costs one module attribute read (``benchmarks/bench_observability.py``). With ``app.tracing: true``
XCore creates spans through the global tracer provider, which the application configures (exporter,
sampler, resource) the usual OpenTelemetry way; XCore never configures one itself.

Spans and their attributes (every one carries ``xcore.plugin``, the plugin's name, when there is one):

- ``GET /plugins/shop/items/{item_id}``: one server span per HTTP request, named by the route
  *template*; attributes ``http.request.method``, ``http.route``, ``http.response.status_code``. The
  raw path and the query string are never recorded (a token in either would end up in a trace
  backend), which is why XCore spans requests itself rather than through the FastAPI instrumentation,
  whose spans carry the full target. An incoming W3C ``traceparent`` header is honoured.
- ``action shop.ping``, ``hook shop.xcore_on_load``, ``job shop.nightly`` (``xcore.job``),
  ``event shop.pinged -> listener`` (``xcore.event``, one per handler run).
- ``cache.get``, ``main.session``: one per method call a plugin makes on a service
  (``xcore.service``, ``xcore.service.method``; :mod:`.service_spans`), and ``sql SELECT``, one client
  span per statement of the ``sql``/``sqlasync`` databases (``db.system.name``; :mod:`.sql_spans`).

No span records a call's arguments, a statement's text, or an exception's message: a failure is
recorded by :func:`failed`, with the exception's type only.

The context follows the work: actions, events and the jobs a request adds run inside its span, and
with the redis events backend the ``traceparent`` of the emitting span travels in the event's envelope
(key ``t``), so a handler in another process continues the same trace.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xcore._errors import ConfigError

T = TypeVar("T")

TRACER: Any = None
"""The ``opentelemetry.trace.Tracer`` XCore records with once ``app.tracing`` is on; ``None`` otherwise."""

PLUGIN = "xcore.plugin"


def enable() -> None:
    """Turn tracing on for this process; a clear error if the ``otel`` extra is not installed."""
    global TRACER
    if TRACER is not None:
        return
    try:
        from opentelemetry import trace
    except ImportError:
        raise ConfigError(
            'app.tracing: true needs OpenTelemetry, which is not installed: pip install "xcore-host[otel]"'
        ) from None
    from xcore import __version__

    TRACER = trace.get_tracer("xcore", __version__)


def disable() -> None:
    """Turn tracing off again (tests; a process normally keeps it for its lifetime)."""
    global TRACER
    TRACER = None


def failed(span: Any, exc: BaseException) -> None:
    """Mark ``span`` as failed by ``exc``, by its type only: an exception's message often quotes what
    the failing code was given (a cache key, a path, a statement), which may be a secret."""
    from opentelemetry.trace import Status, StatusCode

    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    span.set_status(Status(StatusCode.ERROR, name))
    span.add_event("exception", {"exception.type": name})


@contextlib.contextmanager
def _failing_by_type(current: Any) -> Iterator[Any]:
    try:
        yield current
    except Exception as exc:
        failed(current, exc)
        raise


NO_MESSAGES: dict[str, Any] = {"record_exception": False, "set_status_on_exception": False}
"""``start_as_current_span`` keywords keeping OpenTelemetry from recording an exception's message."""


@contextlib.contextmanager
def span(name: str, plugin: str | None, **attributes: Any) -> Iterator[Any]:
    """A span around the block, current for it (only called while :data:`TRACER` is set)."""
    if plugin:
        attributes[PLUGIN] = plugin
    with TRACER.start_as_current_span(name, attributes=attributes, **NO_MESSAGES) as current, _failing_by_type(current):
        yield current


async def traced(name: str, plugin: str | None, call: Awaitable[T], **attributes: Any) -> T:
    """Await ``call`` inside a span."""
    with span(name, plugin, **attributes):
        return await call


def traced_handler(handler: Callable[[Any], Any], owner: str | None, label: str) -> Callable[[Any], Any]:
    """``handler`` of an event subscription, running in an ``event NAME -> plugin`` span."""
    import inspect

    def name(event: Any) -> str:
        return f"event {event.name} -> {owner or 'host'}"

    if inspect.iscoroutinefunction(handler):

        async def traced_async(event: Any) -> Any:
            with span(name(event), owner, **{"xcore.event": event.name, "xcore.handler": label}):
                return await handler(event)

        return traced_async

    def traced_sync(event: Any) -> Any:
        with span(name(event), owner, **{"xcore.event": event.name, "xcore.handler": label}):
            return handler(event)

    return traced_sync


_job_parents: dict[str, str] = {}
_JOB_PARENTS_LIMIT = 10_000


def job_added(job_id: str) -> None:
    """Remember the span a job was added in, so its first run continues that trace."""
    parent = traceparent()
    if parent is None:
        return
    if len(_job_parents) >= _JOB_PARENTS_LIMIT:
        del _job_parents[next(iter(_job_parents))]
    _job_parents[job_id] = parent


@contextlib.contextmanager
def job_span(job_id: str, plugin: str | None, name: str) -> Iterator[Any]:
    """The span of one job run: a child of the span the job was added in, for its first run."""
    attributes: dict[str, Any] = {"xcore.job": name}
    if plugin:
        attributes[PLUGIN] = plugin
    parent = remote_context(_job_parents.pop(job_id, None))
    with (
        TRACER.start_as_current_span(
            f"job {plugin or 'host'}.{name}", context=parent, attributes=attributes, **NO_MESSAGES
        ) as s,
        _failing_by_type(s),
    ):
        yield s


def traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, to send along with an event (``None``: no span)."""
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get("traceparent")


def remote_context(parent: object) -> Any:
    """The context a ``traceparent`` received from another process continues (``None`` if unusable)."""
    if not isinstance(parent, str):
        return None
    from opentelemetry.propagate import extract

    return extract({"traceparent": parent})


def fastapi_telemetry() -> dict[str, Any]:
    """``FastAPI(...)`` keywords turning off FastAPI's own request spans and exception logs (0.165+).

    FastAPI records them by itself whenever a tracer provider is configured, with the raw path and the
    query string as attributes (it masks five signature parameters, not a ``?token=``): a secret in
    either would reach the trace backend. XCore's own request spans (:class:`RequestSpans`) replace
    them; FastAPI's metrics stay on.
    """
    import inspect

    from fastapi import FastAPI

    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "logs": False}}


class RequestSpans:
    """ASGI middleware: one server span per HTTP request, named by method and route template."""

    def __init__(self, app: ASGIApp, *, plugin_prefix: str) -> None:
        self.app = app
        self.plugin_prefix = plugin_prefix + "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracer = TRACER
        if scope["type"] != "http" or tracer is None:
            await self.app(scope, receive, send)
            return
        from opentelemetry import trace
        from opentelemetry.propagate import extract
        from opentelemetry.trace import Status, StatusCode

        from xcore._observability.http_metrics import plugin_of

        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k == b"traceparent"}
        method = scope["method"]
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with tracer.start_as_current_span(
            f"HTTP {method}", context=extract(headers), kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": method}, start_time=time.time_ns(), **NO_MESSAGES,
        ) as current:  # fmt: skip
            try:
                await self.app(scope, receive, send_status)
            except Exception as exc:
                failed(current, exc)
                raise
            finally:
                route = getattr(scope.get("route"), "path", None) or "<unmatched>"
                current.update_name(f"{method} {route}")
                current.set_attribute("http.route", route)
                current.set_attribute("http.response.status_code", status)
                if plugin := plugin_of(route, self.plugin_prefix):
                    current.set_attribute(PLUGIN, plugin)
                if status >= 500:
                    current.set_status(Status(StatusCode.ERROR))
