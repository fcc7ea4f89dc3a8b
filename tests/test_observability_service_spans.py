"""``app.tracing: true``: a span per service call a plugin makes and per SQL statement, in the trace.

Real services throughout: the memory and Redis caches, ``sqlasync`` and ``sql`` on SQLite and the
suite's PostgreSQL, ``redis_db`` on the suite's Redis, and a third-party backend registered through
``xcore_register_service`` with no tracing code of its own. Every test also checks that a secret
passed as an argument (a cache key, a literal inlined in SQL) reaches no span name, attribute,
event or status. With tracing off a plugin gets the very object it got before.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import types
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from xcore import hookimpl
from xcore._builtin_services.cache.base import Cache
from xcore._builtin_services.scheduler.view import PluginScheduler
from xcore._observability import service_spans, sql_spans, tracing
from xcore._observability.service_spans import service_call_span
from xcore.backends import ServiceBase, ServiceSettings, ServiceSetup, ServiceType
from xcore.sdk import TrustedBase, action, ok
from xcore.testing.configs import no_services
from xcore.testing.harness import boot_xcore
from xcore.testing.servers import PostgresServer

from .test_observability_tracing import by_name

SECRET = "sk-live-7f3a-never-in-a-span"
INTERNAL, CLIENT = otel_trace.SpanKind.INTERNAL, otel_trace.SpanKind.CLIENT


def assert_no_secret(finished: tuple[ReadableSpan, ...]) -> None:
    for span in finished:
        texts = [span.name, span.status.description or "", *map(str, span.attributes.values())]
        for event in span.events:
            texts += [event.name, *map(str, event.attributes.values())]
        assert not [t for t in texts if SECRET in t], span.to_json()


def child_of(span: ReadableSpan, parent: ReadableSpan) -> bool:
    return span.parent is not None and span.parent.span_id == parent.context.span_id


def service_attributes(plugin: str, service: str, method: str) -> dict[str, str]:
    return {"xcore.plugin": plugin, "xcore.service": service, "xcore.service.method": method}


# ------------------------------------------------------------------------- a third-party backend


class Counter(ServiceBase):
    """A backend's service class, with every shape of member a plugin may use."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.label = "counter"

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    async def add(self, key: str, amount: int = 1) -> int:
        if amount < 0:
            raise ValueError(f"cannot add {amount} to {key!r}")  # the message quotes the key
        self.counts[key] = self.counts.get(key, 0) + amount
        return self.counts[key]

    def peek(self, key: str) -> int:
        return self.counts.get(key, 0)

    @contextlib.asynccontextmanager
    async def batch(self) -> AsyncIterator[Counter]:
        await asyncio.sleep(0)
        yield self

    def tally(self) -> Tally:
        return Tally(self)

    async def names(self) -> AsyncIterator[str]:
        for key in sorted(self.counts):
            yield key


class Tally:
    """A plain ``with`` manager a method returns, usable without ``with`` as well."""

    def __init__(self, counter: Counter) -> None:
        self.counter = counter

    def __enter__(self) -> Tally:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def count(self) -> int:
        return self.counter.total


class CounterSettings(ServiceSettings):
    pass


def counter_backend() -> types.ModuleType:
    module = types.ModuleType("counter_backend")

    def build(settings: CounterSettings, setup: ServiceSetup) -> Counter:
        return Counter()

    @hookimpl
    def xcore_register_service() -> list[ServiceType]:
        return [ServiceType("extension", "counter", CounterSettings, build)]

    module.xcore_register_service = xcore_register_service  # type: ignore[attr-defined]
    return module


class Shop(TrustedBase):
    @action()
    async def count(self, payload: dict[str, Any]) -> dict[str, Any]:
        counter = self.get_service("ext.counter", Counter)
        await counter.add("apples", 2)
        counter.peek("apples")
        async with counter.batch():
            await self.get_service("ext.counter").add("pears")
        found = [key async for key in counter.names()]
        with counter.tally() as tally:
            await counter.add("plums")  # inside the ``with`` block: a child of its span
            assert isinstance(tally, Tally)
        direct = counter.tally()  # used without ``with``: its span ends at the first use
        assert isinstance(direct, Tally) and direct.count() == 4
        await counter.add("figs")
        return ok(total=counter.total, found=found)

    @action()
    async def secret(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.get_service("ext.counter").add(SECRET, -1)
        return ok()


COUNTER_CONFIG = {"services": no_services(extensions={"counter": {"type": "counter"}}, scheduler={"backend": "memory"})}


async def test_a_third_party_service_is_spanned_and_stays_itself(spans: InMemorySpanExporter) -> None:
    config = {"app": {"tracing": True}, **COUNTER_CONFIG}
    async with boot_xcore({"shop": Shop, "counter": counter_backend()}, config) as host:
        real = host.host.get_service("ext.counter")
        seen = host.get_service("ext.counter", "shop")
        plugin = host.plugin("shop")
        assert seen is not real and isinstance(seen, Counter) and isinstance(seen, ServiceBase)
        assert plugin.get_service("ext.counter", Counter) is seen  # one proxy per plugin and service
        assert plugin.ctx.services.get_as("ext.counter", Counter) is seen
        assert inspect.iscoroutinefunction(seen.add) and inspect.isasyncgenfunction(seen.names)
        seen.label = "renamed"  # writes reach the real object, reads and properties come from it
        assert real.label == "renamed" and seen.counts is real.counts
        answer = await host.call("shop", "count")
        assert answer["total"] == 5 and answer["found"] == ["apples", "pears"] and real.total == 5 == seen.total
        with pytest.raises(ValueError, match="cannot add -1"):
            await host.call("shop", "secret")
    finished = spans.get_finished_spans()
    count = by_name(finished, "action shop.count")
    adds = [s for s in finished if s.name == "ext.counter.add" and s.status.is_ok]
    batch = by_name(finished, "ext.counter.batch")
    peek = by_name(finished, "ext.counter.peek")
    assert len(adds) == 4 and all(s.kind == INTERNAL for s in (*adds, batch, peek))
    assert child_of(adds[0], count) and child_of(peek, count) and child_of(batch, count)
    assert child_of(adds[1], batch)  # a call inside the ``async with`` block nests under it
    block, direct = sorted((s for s in finished if s.name == "ext.counter.tally"), key=lambda s: s.start_time)
    assert child_of(adds[2], block) and child_of(block, count)  # ``with``: the whole block
    assert child_of(direct, count) and direct.end_time <= adds[3].start_time and child_of(adds[3], count)
    assert adds[0].attributes == service_attributes("shop", "ext.counter", "add")
    assert batch.attributes == service_attributes("shop", "ext.counter", "batch")
    assert not [s for s in finished if s.name == "ext.counter.names"]  # a generator method is left as it is
    failed = [s for s in finished if s.name == "ext.counter.add" and not s.status.is_ok]
    assert len(failed) == 1 and failed[0].status.status_code == otel_trace.StatusCode.ERROR
    assert failed[0].status.description == "ValueError"
    assert [(e.name, dict(e.attributes)) for e in failed[0].events] == [("exception", {"exception.type": "ValueError"})]
    assert child_of(failed[0], by_name(finished, "action shop.secret"))
    assert_no_secret(finished)


async def test_with_tracing_off_a_plugin_gets_the_very_same_objects(spans: InMemorySpanExporter) -> None:
    async with boot_xcore({"shop": Shop, "counter": counter_backend()}, COUNTER_CONFIG) as host:
        assert tracing.TRACER is None
        assert host.get_service("ext.counter", "shop") is host.host.get_service("ext.counter")
        assert host.plugin("shop").get_service("ext.counter", Counter) is host.host.get_service("ext.counter")
        scheduler = host.get_service("scheduler", "shop")
        assert type(scheduler) is PluginScheduler and host.get_service("scheduler", "shop") is scheduler
        assert type(host.get_service("ext.counter", "shop")) is Counter
        await host.call("shop", "count")
    assert spans.get_finished_spans() == ()


# ------------------------------------------------------------------------------------------ the cache


class Store(TrustedBase):
    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.put("/items/{key}")
        async def put(key: str) -> dict[str, Any]:
            await self.get_service("cache").set(key, {"value": 1}, ttl=60)
            await self.ctx.call("store", "read", {"key": key})
            return {"ok": True}

        return router

    @action()
    async def read(self, payload: dict[str, Any]) -> dict[str, Any]:
        cache = self.get_service("cache", Cache)
        value = await cache.get(payload["key"])
        with contextlib.suppress(TypeError):  # not an integer: the error's message quotes the key
            await cache.incr(payload["key"])
        return ok(value=value)


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_cache_calls_nest_in_the_request_and_the_action(
    spans: InMemorySpanExporter, backend: str, request: pytest.FixtureRequest
) -> None:
    cache: dict[str, Any] = {"backend": "memory"}
    if backend == "redis":
        cache = {"backend": "redis", "url": request.getfixturevalue("redis_url")}
    config = {"app": {"tracing": True}, "services": no_services(cache=cache)}
    async with boot_xcore({"store": Store}, config) as host:
        assert isinstance(host.get_service("cache", "store"), Cache)
        assert (await host.client.put(f"/plugins/store/items/{SECRET}")).status_code == 200
    finished = spans.get_finished_spans()
    put = by_name(finished, "PUT /plugins/store/items/{key}")
    read = by_name(finished, "action store.read")
    stored, got, incr = by_name(finished, "cache.set"), by_name(finished, "cache.get"), by_name(finished, "cache.incr")
    assert child_of(stored, put) and child_of(read, put) and child_of(got, read) and child_of(incr, read)
    assert got.attributes == service_attributes("store", "cache", "get") and got.kind == INTERNAL
    assert got.status.is_ok and incr.status.status_code == otel_trace.StatusCode.ERROR
    assert incr.status.description == "TypeError"
    assert_no_secret(finished)


# ------------------------------------------------------------------------------------------------ SQL

TABLE = "traced_notes"


class Notes(TrustedBase):
    """Writes and reads through ``db.session()``: ``sqlasync`` in the task, ``sql`` in a thread."""

    async def on_load(self) -> None:
        db = self.get_service("main")
        drop, create = f"DROP TABLE IF EXISTS {TABLE}", f"CREATE TABLE {TABLE} (body TEXT)"
        if hasattr(db, "connection"):  # sqlasync
            async with db.connection() as conn:
                await conn.execute(drop)
                await conn.execute(create)
        else:
            await asyncio.to_thread(self._sync, drop, create)

    def _sync(self, *statements: str) -> int:
        with self.get_service("main").session() as session:
            rows = [session.execute(statement) for statement in statements]
            session.commit()
            return len(rows[-1].all()) if rows[-1].returns_rows else 0

    @action()
    async def write(self, payload: dict[str, Any]) -> dict[str, Any]:
        insert = f"INSERT INTO {TABLE} (body) VALUES ('{SECRET}')"  # a literal inlined by the author
        select = f"SELECT body FROM {TABLE} WHERE body = '{SECRET}'"
        db = self.get_service("main")
        if not hasattr(db, "connection"):
            return ok(rows=await asyncio.to_thread(self._sync, insert, select))
        async with db.session() as session:
            await session.execute(insert)
            rows = (await session.execute(select)).all()
        return ok(rows=len(rows))

    @action()
    async def broken(self, payload: dict[str, Any]) -> dict[str, Any]:
        statement = f"SELECT body FROM no_such_table WHERE body = '{SECRET}'"
        db = self.get_service("main")
        if not hasattr(db, "connection"):
            await asyncio.to_thread(self._sync, statement)
        async with db.session() as session:
            await session.execute(statement)
        return ok()


@pytest.fixture(params=["sqlasync-sqlite", "sqlasync-postgresql", "sql-sqlite", "sql-postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    kind, system = request.param.split("-")
    if system == "sqlite":
        yield {"type": kind, "url": f"sqlite{'+aiosqlite' if kind == 'sqlasync' else ''}:///{tmp_path}/notes.db"}
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    yield {"type": kind, "url": server.url}  # the plugin drops and creates its table as it loads


async def test_each_sql_statement_is_a_span_inside_the_session_block(
    spans: InMemorySpanExporter, database: dict[str, Any]
) -> None:
    system = "sqlite" if database["url"].startswith("sqlite") else "postgresql"
    config = {"app": {"tracing": True}, "services": no_services(databases={"main": database})}
    async with boot_xcore({"notes": Notes}, config) as host:
        assert (await host.call("notes", "write"))["rows"] == 1
        with pytest.raises(Exception, match="no_such_table"):
            await host.call("notes", "broken")
    finished = spans.get_finished_spans()
    write = by_name(finished, "action notes.write")
    session = next(s for s in finished if s.name == "main.session" and child_of(s, write))
    assert session.attributes == service_attributes("notes", "main", "session") and session.status.is_ok
    statements = {s.name: s for s in finished if s.name.startswith("sql ") and child_of(s, session)}
    assert {"sql INSERT", "sql SELECT"} <= set(statements), [s.name for s in finished]
    assert statements["sql INSERT"].kind == CLIENT
    assert statements["sql INSERT"].attributes == {
        "db.system.name": system, "db.operation.name": "INSERT", "xcore.service": "main", "xcore.plugin": "notes",
    }  # fmt: skip
    broken = by_name(finished, "action notes.broken")
    block = next(s for s in finished if s.name == "main.session" and child_of(s, broken))
    failed = [s for s in finished if s.name == "sql SELECT" and child_of(s, block)]
    assert len(failed) == 1 and failed[0].status.status_code == otel_trace.StatusCode.ERROR
    assert block.status.status_code == otel_trace.StatusCode.ERROR
    assert [e.attributes.get("exception.type") for e in failed[0].events] == [failed[0].status.description]
    assert_no_secret(finished)  # neither the statement's literal nor the database error's message


async def test_a_statement_outside_any_trace_gets_no_span(spans: InMemorySpanExporter, tmp_path: Path) -> None:
    database = {"type": "sql", "url": f"sqlite:///{tmp_path}/quiet.db"}
    config = {"app": {"tracing": True}, "services": no_services(databases={"main": database})}
    async with boot_xcore({}, config) as host:
        await host.host.services.health()  # the host's own probe: no plugin, no current span
        tracer = otel_trace.get_tracer("test")
        with tracer.start_as_current_span("app code"):
            await host.host.services.health()
    names = [s.name for s in spans.get_finished_spans()]
    assert names.count("sql SELECT") == 1 and "app code" in names


def test_the_operation_is_a_known_keyword_never_the_statement_text() -> None:
    assert sql_spans.operation("  select 1") == "SELECT"
    assert sql_spans.operation("/* hint */ -- note\n(SELECT 1) UNION (SELECT 2)") == "SELECT"
    assert sql_spans.operation("WITH x AS (SELECT 1) SELECT * FROM x") == "WITH"
    assert sql_spans.operation(f"{SECRET} = 1") == "OTHER"
    assert sql_spans.operation("") == "OTHER" and sql_spans.operation(None) == "OTHER"


# ------------------------------------------------------------------------------------ redis_db


class Keys(TrustedBase):
    @action()
    async def touch(self, payload: dict[str, Any]) -> dict[str, Any]:
        aio, sync = self.get_service("kv"), self.get_service("kvs")
        await aio.set(aio.key(SECRET), "1")  # redis-py's async command: a plain method returning a coroutine
        async with aio.pipeline() as pipe:
            pipe.get(aio.key(SECRET))
            values = await pipe.execute()
        return ok(values=[v.decode() for v in values], sync=sync.get(aio.key(SECRET)).decode())


async def test_redis_db_commands_sync_async_and_a_pipeline_block(spans: InMemorySpanExporter, redis_url: str) -> None:
    databases = {
        "kv": {"type": "redis", "url": redis_url, "client": "async"},
        "kvs": {"type": "redis", "url": redis_url},
    }
    config = {"app": {"tracing": True}, "services": no_services(databases=databases)}
    async with boot_xcore({"keys": Keys}, config) as host:
        assert await host.call("keys", "touch") == ok(values=["1"], sync="1")
    finished = spans.get_finished_spans()
    touch = by_name(finished, "action keys.touch")
    command, pipeline = by_name(finished, "kv.set"), by_name(finished, "kv.pipeline")
    sync = by_name(finished, "kvs.get")
    assert all(child_of(s, touch) for s in (command, pipeline, sync))
    assert command.attributes == service_attributes("keys", "kv", "set")
    assert pipeline.end_time > pipeline.start_time and command.end_time <= pipeline.start_time
    assert_no_secret(finished)


# ---------------------------------------------------------------------------- for the sandbox's proxies


async def test_service_call_span_is_one_span_or_nothing(spans: InMemorySpanExporter) -> None:
    with service_call_span("cache", "get", "shop") as nothing:
        assert nothing is None  # tracing off: a no-op
    assert spans.get_finished_spans() == ()
    tracing.enable()
    with pytest.raises(KeyError), service_call_span("cache", "get", "shop"):
        raise KeyError(SECRET)
    (span,) = spans.get_finished_spans()
    assert span.name == "cache.get" and span.attributes == service_attributes("shop", "cache", "get")
    assert span.status.description == "KeyError"
    assert_no_secret((span,))


def test_a_class_that_cannot_be_proxied_is_handed_out_as_it_is(spans: InMemorySpanExporter) -> None:
    tracing.enable()
    ordered = collections.OrderedDict(a=1)  # a C type: no instance of a subclass without its constructor
    assert service_spans.traced(ordered, "ext.ordered", "shop") is ordered
    counter = Counter()
    proxy = service_spans.traced(counter, "ext.counter", "shop")
    assert (
        isinstance(proxy, Counter)
        and proxy.peek("x") == 0
        and type(proxy) is type(service_spans.traced(counter, "c", None))
    )
    assert [s.name for s in spans.get_finished_spans()] == ["ext.counter.peek"]


def test_a_block_left_in_another_context_copy_ends_quietly(
    spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    """FastAPI runs a sync generator dependency's ``with service.block()`` enter and exit in two
    thread-pool calls, each in its own context copy: the span still ends, and nothing logs an error."""
    import contextvars

    tracing.enable()
    proxy = service_spans.traced(Counter(), "ext.counter", "shop")
    manager = proxy.tally()
    kind = type(manager)  # what a ``with`` statement calls
    contextvars.copy_context().run(kind.__enter__, manager)
    contextvars.copy_context().run(kind.__exit__, manager, None, None, None)
    assert "ext.counter.tally" in [s.name for s in spans.get_finished_spans()]
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text


def test_a_proxy_never_runs_the_real_objects_finaliser(spans: InMemorySpanExporter) -> None:
    import gc

    class Pooled(Counter):
        closed = 0

        def __del__(self) -> None:
            Pooled.closed += 1  # a real finaliser would close the shared pool here

    tracing.enable()
    real = Pooled()
    proxy = service_spans.traced(real, "ext.pooled", "shop")
    assert isinstance(proxy, Pooled)
    del proxy
    gc.collect()
    assert Pooled.closed == 0
