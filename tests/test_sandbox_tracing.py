"""Traces into sandboxed plugins: the host's span travels with each request to the worker (``tp``),
and the worker's service calls come back under it, spanned by the host's capability proxies.

Runs real workers and the SDK's in-memory exporter (the otel extra: missing is a failure).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from xcore import Xcore
from xcore.web import create_app

from .test_observability_tracing import by_name
from .test_sandbox_host import echo_config

SECRET = "tok-5a1e-never-in-a-span"


@pytest.fixture
async def app(tmp_path: Path, spans: InMemorySpanExporter) -> AsyncIterator[FastAPI]:
    config = {**echo_config(tmp_path, ["cache"]), "app": {"tracing": True}}
    served = create_app(host=Xcore(config=config, discover=False))
    async with served.router.lifespan_context(served):
        yield served


@pytest.fixture
def host(app: FastAPI) -> Xcore:
    xcore: Xcore = app.state.xcore
    assert xcore.records["echo"].state == "loaded", xcore.records["echo"].error
    return xcore


async def test_a_sandboxed_actions_service_calls_join_the_callers_trace(
    host: Xcore, spans: InMemorySpanExporter
) -> None:
    tracer = otel_trace.get_tracer("test")
    with tracer.start_as_current_span("caller") as caller:
        assert await host.call("echo", "remember", {"value": SECRET}) == {"status": "ok", "value": SECRET}
    finished = spans.get_finished_spans()
    action = by_name(finished, "action echo.remember")
    assert action.parent is not None and action.parent.span_id == caller.get_span_context().span_id
    for name in ("cache.set", "cache.get"):
        call = by_name(finished, name)
        assert call.context.trace_id == caller.get_span_context().trace_id, name
        assert call.parent is not None and call.parent.span_id == action.context.span_id, name
        assert call.attributes is not None and call.attributes["xcore.plugin"] == "echo"
    assert SECRET not in repr([(s.name, dict(s.attributes or {}), s.events) for s in finished])


async def test_a_sandboxed_routes_service_calls_join_the_request_span(
    app: FastAPI, host: Xcore, spans: InMemorySpanExporter
) -> None:
    await host.call("echo", "remember", {"value": 7})
    spans.clear()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.get("/plugins/echo/remembered")
    assert response.json() == {"value": 7}
    finished = spans.get_finished_spans()
    request = next(s for s in finished if s.name.startswith("GET /plugins/echo"))
    call = by_name(finished, "cache.get")
    assert call.context.trace_id == request.context.trace_id
    assert call.parent is not None and call.parent.span_id == request.context.span_id


async def test_a_worker_cannot_attach_its_calls_to_a_trace_it_was_not_sent(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    config = {**echo_config(tmp_path, ["cache"]), "app": {"tracing": True}}
    xcore = Xcore(config=config, discover=False)
    await xcore.boot()
    try:
        forged = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"
        await xcore.call("evil", "forged_trace", {"tp": forged})
        for _ in range(100):  # the forged call is answered after the action returns
            if any(s.name == "cache.get" for s in spans.get_finished_spans()):
                break
            await asyncio.sleep(0.02)
        call = by_name(spans.get_finished_spans(), "cache.get")
        assert format(call.context.trace_id, "032x") != "ab" * 16
        assert call.parent is None or format(call.parent.trace_id, "032x") != "ab" * 16
    finally:
        await xcore.shutdown()
