"""``app.tracing: true``: OpenTelemetry spans, recorded with the SDK's in-memory exporter.

A request's span contains the action it calls, the event handlers it reaches and the job it adds (its
first run continues the request's trace, as a child of the ``scheduler.add_job`` call that added it),
each span with the plugin's name; hooks get spans too. With the redis events backend the trace crosses
into another process through the event's envelope (the suite's real Redis, a real second process). No
span attribute carries the request's path or query.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from opentelemetry import trace as otel_trace  # the otel extra, installed with dev: missing is a failure
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from xcore._observability import tracing
from xcore.sdk import TrustedBase, action, ok
from xcore.testing.configs import no_services
from xcore.testing.harness import boot_xcore

SECRET = "tok-91b2-never-in-a-span"
EXPORTER = InMemorySpanExporter()


def provider() -> None:
    """One SDK provider for the whole test process (OpenTelemetry allows setting it once)."""
    if not isinstance(otel_trace.get_tracer_provider(), TracerProvider):
        sdk = TracerProvider()
        sdk.add_span_processor(SimpleSpanProcessor(EXPORTER))
        otel_trace.set_tracer_provider(sdk)


class Shop(TrustedBase):
    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.post("/orders/{order_id}")
        async def order(order_id: int) -> dict[str, Any]:
            await self.ctx.call("shop", "place", {"id": order_id})
            scheduler = self.get_service("scheduler")
            scheduler.add_job(self.deliver, "date", args=[order_id], id=f"deliver-{order_id}")
            return {"ok": True}

        return router

    @action()
    async def place(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.ctx.events.emit("order.placed", {"id": payload["id"]})
        return ok()

    async def deliver(self, order_id: int) -> None:
        Shop.delivered.set()

    delivered: asyncio.Event


class Mailer(TrustedBase):
    async def on_load(self) -> None:
        self.ctx.events.on("order.placed", self.placed)

    async def placed(self, event: Any) -> None:
        return None


def by_name(finished: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    found = [s for s in finished if s.name == name]
    assert len(found) == 1, f"{name!r} among {[s.name for s in finished]}"
    return found[0]


async def test_a_request_its_action_event_and_job_are_one_trace(spans: InMemorySpanExporter) -> None:
    Shop.delivered = asyncio.Event()
    config = {
        "app": {"tracing": True},
        "services": no_services(events={"backend": "memory"}, scheduler={"backend": "memory"}),
    }
    async with boot_xcore({"shop": Shop, "mailer": Mailer}, config) as host:
        answer = await host.client.post(f"/plugins/shop/orders/7?token={SECRET}", headers={"X-Token": SECRET})
        assert answer.status_code == 200
        await asyncio.wait_for(Shop.delivered.wait(), 10)
        await asyncio.sleep(0.05)  # the job's span ends right after the job returns
    finished = spans.get_finished_spans()
    request = by_name(finished, "POST /plugins/shop/orders/{order_id}")
    assert request.kind == otel_trace.SpanKind.SERVER
    assert request.attributes == {
        "http.request.method": "POST", "http.route": "/plugins/shop/orders/{order_id}",
        "http.response.status_code": 200, "xcore.plugin": "shop",
    }  # fmt: skip
    place = by_name(finished, "action shop.place")
    event = by_name(finished, "event order.placed -> mailer")
    job = by_name(finished, "job shop.deliver-7")
    trace_id = request.context.trace_id
    assert {s.context.trace_id for s in (place, event, job)} == {trace_id}
    emit = by_name(finished, "events.emit")  # the plugin's call on its events service
    add_job = by_name(finished, "scheduler.add_job")
    assert place.parent is not None and place.parent.span_id == request.context.span_id
    assert emit.parent is not None and emit.parent.span_id == place.context.span_id
    assert event.parent is not None and event.parent.span_id == emit.context.span_id
    assert add_job.parent is not None and add_job.parent.span_id == request.context.span_id
    assert job.parent is not None and job.parent.span_id == add_job.context.span_id
    assert place.attributes["xcore.plugin"] == "shop" and event.attributes["xcore.plugin"] == "mailer"
    assert job.attributes == {"xcore.job": "deliver-7", "xcore.plugin": "shop"}
    hooks = {s.name for s in finished if s.name.startswith("hook ")}
    assert {"hook mailer.xcore_on_load", "hook shop.xcore_get_router"} <= hooks, hooks
    assert all(s.attributes.get("xcore.plugin") for s in finished if s.name.startswith("hook "))
    for span in finished:  # no secret from the path, query or headers in any name or attribute
        assert SECRET not in span.name and "/orders/7" not in span.name
        assert all(SECRET not in str(v) and "orders/7" not in str(v) for v in span.attributes.values()), span


async def test_an_unmatched_path_and_a_failing_action_are_spans_too(spans: InMemorySpanExporter) -> None:
    class Failing(TrustedBase):
        @action()
        async def boom(self, payload: dict[str, Any]) -> dict[str, Any]:
            raise RuntimeError("boom")

    async with boot_xcore({"failing": Failing}, {"app": {"tracing": True}, "services": no_services()}) as host:
        assert (await host.client.get(f"/no/such/{SECRET}")).status_code == 404
        with pytest.raises(RuntimeError):
            await host.call("failing", "boom")
    finished = spans.get_finished_spans()
    assert by_name(finished, "GET <unmatched>").attributes["http.response.status_code"] == 404
    failed = by_name(finished, "action failing.boom")
    assert failed.status.status_code == otel_trace.StatusCode.ERROR
    assert all(SECRET not in s.name for s in finished)


async def test_tracing_off_records_nothing(spans: InMemorySpanExporter) -> None:
    async with boot_xcore({"shop": Shop}, {"services": no_services()}) as host:
        assert tracing.TRACER is None
        assert (await host.client.get("/health")).status_code == 200
    assert spans.get_finished_spans() == ()


def test_tracing_without_opentelemetry_is_a_clear_config_error(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import asyncio, sys
        sys.modules["opentelemetry.sdk"] = None  # the otel extra not installed: no SDK
        from xcore import Xcore
        from xcore._errors import ConfigError
        from xcore.testing.harness import boot_xcore
        from xcore.testing.configs import no_services

        async def serve():  # without the SDK, tracing on records into OpenTelemetry's no-op provider
            async with boot_xcore({}, {"app": {"tracing": True}, "services": no_services()}) as host:
                assert (await host.client.get("/health")).status_code == 200
        asyncio.run(serve())
        from xcore._observability import tracing
        tracing.disable()
        import opentelemetry  # FastAPI 0.165+ needs the API itself; older ones do not bring it
        del opentelemetry.trace
        sys.modules["opentelemetry.trace"] = None
        Xcore(config={"app": {"tracing": False}})  # XCore itself works without it
        try:
            Xcore(config={"app": {"tracing": True}})
        except ConfigError as exc:
            print(exc)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "app.tracing: true needs OpenTelemetry" in done.stdout and "xcore-host[otel]" in done.stdout


RECEIVER = """
import asyncio, json, sys
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from xcore.sdk import TrustedBase
from xcore.testing.harness import boot_xcore

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
heard = asyncio.Event()


class Mailer(TrustedBase):
    async def on_load(self):
        self.ctx.events.on("order.placed", self.placed)

    async def placed(self, event):
        heard.set()


async def main():
    config = {"app": {"name": "traced", "tracing": True}, "services": {
        "databases": {}, "cache": {"enabled": False}, "scheduler": {"enabled": False}, "extensions": {},
        "events": {"backend": "redis", "url": sys.argv[1]}}}
    async with boot_xcore({"mailer": Mailer}, config):
        print("ready", flush=True)
        await asyncio.wait_for(heard.wait(), 20)
        await asyncio.sleep(0.05)
    print(json.dumps([
        {"name": s.name, "trace": s.context.trace_id, "parent": s.parent.span_id if s.parent else None,
         "span": s.context.span_id, "attributes": dict(s.attributes)}
        for s in exporter.get_finished_spans() if s.name.startswith("event ")
    ]), flush=True)

asyncio.run(main())
"""


async def test_the_trace_crosses_processes_through_redis_events(
    spans: InMemorySpanExporter, redis_url: str, tmp_path: Path
) -> None:
    (tmp_path / "receiver.py").write_text(RECEIVER)
    receiver = subprocess.Popen(
        [sys.executable, str(tmp_path / "receiver.py"), redis_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        ready = await asyncio.to_thread(receiver.stdout.readline)  # type: ignore[union-attr]
        assert ready.strip() == "ready", receiver.stderr.read()  # type: ignore[union-attr]
        services = no_services(events={"backend": "redis", "url": redis_url})
        async with boot_xcore({}, {"app": {"name": "traced", "tracing": True}, "services": services}) as host:
            await asyncio.sleep(0.2)  # both subscribed before the emit
            tracer = otel_trace.get_tracer("test")
            with tracer.start_as_current_span("checkout") as checkout:
                await host.host.events.emit("order.placed", {"id": 7}, source="shop")
            output, errors = await asyncio.to_thread(receiver.communicate, timeout=30)
    finally:
        if receiver.poll() is None:
            receiver.kill()
    assert receiver.returncode == 0, errors
    received = json.loads(output.strip().splitlines()[-1])
    by = {s["name"]: s for s in received}
    arrival = by["event order.placed received"]
    handler = by["event order.placed -> mailer"]
    assert arrival["trace"] == checkout.get_span_context().trace_id
    assert arrival["parent"] == checkout.get_span_context().span_id
    assert handler["trace"] == arrival["trace"] and handler["parent"] == arrival["span"]
    assert arrival["attributes"] == {"xcore.event": "order.placed", "xcore.plugin": "shop"}
