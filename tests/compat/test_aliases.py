"""The original XCore's spellings, each on the one XCore implementation it names.

Each test names the spelling and proves it does what the XCore spelling does (and that the XCore
spelling is untouched), on a real host: embedded defaults, and the suite's Redis and PostgreSQL
where the spelling concerns them.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import xcore
from xcore import Xcore
from xcore._builtin_services.cache import Cache
from xcore._builtin_services.scheduler import InvalidJobError
from xcore._config import legacy
from xcore.sdk import TrustedBase, cached, cron, error, interval, ok, on_event
from xcore.testing.configs import no_services
from xcore.testing.harness import boot_xcore

# ----------------------------------------------------------------------------------------- imports


def test_top_level_imports_are_the_sdk_names() -> None:
    from xcore import TrustedBase as Base
    from xcore import error as err
    from xcore import ok as good

    assert (Base, good, err) == (TrustedBase, ok, error)
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        _ = xcore.nothing_here


# ----------------------------------------------------------------------------------------- responses


def test_error_accepts_msg_and_keeps_xcore_response_shape() -> None:
    assert error(msg="boom") == {"status": "error", "message": "boom", "code": None}
    assert error(msg="boom", code="x", extra=1) == {"status": "error", "message": "boom", "code": "x", "extra": 1}
    assert error("boom", "x") == error(msg="boom", code="x")
    with pytest.raises(TypeError, match="not both"):
        error("a", msg="b")
    with pytest.raises(TypeError, match="needs a message"):
        error()


async def test_a_plugins_except_block_with_msg_reports_instead_of_crashing() -> None:
    class Failing(TrustedBase):
        async def handle(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
            try:
                raise ValueError("bad input")
            except ValueError as exc:
                return error(msg=str(exc), code="validation_error")

    async with boot_xcore({"failing": Failing}) as host:
        assert await host.call("failing", "x") == {
            "status": "error",
            "message": "bad input",
            "code": "validation_error",
        }


# ----------------------------------------------------------------------------------------- context


async def test_context_spellings() -> None:
    seen: dict[str, Any] = {}

    class Peer(TrustedBase):
        async def handle(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
            return ok(echo=payload, by=self.name)

    class Caller(TrustedBase):
        async def on_load(self) -> None:
            seen["name"] = self.name
            seen["env"] = self.ctx.env.get("COMPAT_VAR")
            seen["cache"] = self.ctx.get_service("cache") is self.get_service("cache")
            seen["app_env"] = self.ctx.config.env
            seen["app_name"] = self.ctx.config.app.name
            seen["settings"] = dict(self.ctx.config)

        async def handle(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
            return await self.ctx.plugins.call("peer", "echo", payload)

    config = {"app": {"name": "shop", "env": "staging"}, "plugins": {"settings": {"caller": {"page": 5}}}}
    async with boot_xcore({"peer": Peer, "caller": Caller}, config, env={"COMPAT_VAR": "yes"}) as host:
        assert await host.call("caller", "x", {"a": 1}) == {"status": "ok", "echo": {"a": 1}, "by": "peer"}
        assert await host.host.plugins.call("peer", "x", {"b": 2}) == {"status": "ok", "echo": {"b": 2}, "by": "peer"}
        assert isinstance(host.host.plugins, list) and {r.name for r in host.host.plugins} >= {"peer", "caller"}
        assert host.host.events is host.host.get_service("events")
    assert seen == {
        "name": "caller",
        "env": "yes",
        "cache": True,
        "app_env": "staging",
        "app_name": "shop",
        "settings": {"page": 5},
    }


def test_a_plugin_may_set_its_own_name() -> None:
    class Named(TrustedBase):
        def __init__(self) -> None:
            self.name = "custom"

    assert Named().name == "custom"


async def test_on_start_runs_once_every_plugin_has_loaded() -> None:
    loaded: list[str] = []
    started: list[list[str]] = []

    class Early(TrustedBase):
        async def on_load(self) -> None:
            loaded.append("early")

        async def on_start(self) -> None:
            started.append(list(loaded))

    class Late(TrustedBase):
        load_after = ("early",)

        async def on_load(self) -> None:
            loaded.append("late")

    async with boot_xcore({"early": Early, "late": Late}):
        assert started == [["early", "late"]]  # called once, after the last plugin loaded
    assert started == [["early", "late"]]


async def test_on_start_failing_is_logged_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(TrustedBase):
        async def on_start(self) -> None:
            raise RuntimeError("cannot start")

    async with boot_xcore({"broken": Broken}) as host:
        assert host.record("broken").state == "loaded"
    assert "plugin 'broken': xcore_host_started raised" in caplog.text


# ----------------------------------------------------------------------------------------- services container


async def test_container_has_get_or_none_get_as_status_and_health_without_timeout() -> None:
    checks: dict[str, Any] = {}

    class Probe(TrustedBase):
        async def on_load(self) -> None:
            services = self.ctx.services
            checks["has"] = (services.has("cache"), services.has("db"), services.has("nope"))
            checks["none"] = services.get_or_none("nope")
            checks["cache"] = services.get_as("cache", Cache) is services["cache"]
            with pytest.raises(TypeError, match=r"service 'db' is a .*, not a Cache"):
                services.get_as("db", Cache)
            checks["status"] = services.status()

    async with boot_xcore({"probe": Probe}) as host:
        container = host.host.services
        assert container.has("db") and not container.has("nope")
        assert container.get_or_none("nope") is None and container.get_or_none("cache") is container.get("cache")
        assert container.get_as("cache", Cache) is container.get("cache")
        report = await container.health()  # the original's spelling: no timeout argument
        assert report["cache"]["status"] == "ok"
    assert checks["has"] == (True, True, False) and checks["none"] is None and checks["cache"]
    assert checks["status"]["default"] == {
        "kind": "database",
        "type": "sqlite",
        "provider": "sql",
        "status": "started",
        "error": None,
    }


# ----------------------------------------------------------------------------------------- scheduler


async def test_scheduler_job_id_jobs_and_status() -> None:
    class Jobs(TrustedBase):
        async def on_load(self) -> None:
            scheduler = self.get_service("scheduler")
            scheduler.add_job(self.tick, "interval", minutes=5, job_id="ticker")
            with pytest.raises(InvalidJobError, match="job_id is the old spelling of id"):
                scheduler.add_job(self.tick, "interval", minutes=5, id="a", job_id="b")

        async def tick(self) -> str:
            return "tick"

    async with boot_xcore({"jobs": Jobs}) as host:
        scheduler = host.get_service("scheduler", "jobs")
        assert [job.id for job in scheduler.jobs()] == ["ticker"] == [job.id for job in scheduler.get_jobs()]
        assert scheduler.status() == {
            "running": True,
            "backend": "memory",
            "timezone": str(scheduler.timezone),
            "jobs": 1,
        }
        assert await host.run_job("jobs", "ticker") == "tick"


async def test_cron_and_interval_decorators_schedule_methods() -> None:
    class Nightly(TrustedBase):
        @cron("30 2 * * *")
        async def nightly(self) -> str:
            return "night"

        @interval(minutes=5, id="refresh-job")
        def refresh(self) -> str:
            return "fresh"

        @cron(hour=4, minute=0)
        async def early(self) -> str:
            return "early"

    async with boot_xcore({"nightly": Nightly}) as host:
        jobs = {job.id: job for job in host.get_service("scheduler", "nightly").jobs()}
        assert set(jobs) == {"nightly", "refresh-job", "early"}
        assert "hour='2'" in str(jobs["nightly"].trigger) and "minute='30'" in str(jobs["nightly"].trigger)
        assert "0:05:00" in str(jobs["refresh-job"].trigger)
        assert await host.run_job("nightly", "nightly") == "night"
        assert await host.run_job("nightly", "refresh-job") == "fresh"


def test_bad_schedule_decorators_fail_at_import() -> None:
    with pytest.raises(ValueError, match="a crontab has 5 fields"):
        cron("* * *")
    with pytest.raises(ValueError, match="not both"):
        cron("* * * * *", hour=1)
    with pytest.raises(ValueError, match="unknown argument"):
        interval(minute=5)
    with pytest.raises(ValueError, match="needs a period"):
        interval()


async def test_bad_cron_field_fails_the_plugin_naming_the_field() -> None:
    class Bad(TrustedBase):
        @cron("99 * * * *")
        async def job(self) -> None: ...

    async with boot_xcore({"bad": Bad}, strict=False) as host:
        record = host.record("bad")
    assert record.state == "failed" and "minute" in str(record.error)


async def test_scheduled_methods_without_a_scheduler_are_reported(caplog: pytest.LogCaptureFixture) -> None:
    class Lonely(TrustedBase):
        @interval(seconds=10)
        async def job(self) -> None: ...

    async with boot_xcore({"lonely": Lonely}, {"services": no_services()}) as host:
        assert host.record("lonely").state == "loaded"
    assert "plugin 'lonely' has @cron/@interval methods, but services.scheduler is disabled" in caplog.text


async def test_redis_job_store_refuses_closures_saying_what_to_write(redis_url: str) -> None:
    errors: list[str] = []

    class Closures(TrustedBase):
        async def on_load(self) -> None:
            def cleanup() -> None: ...

            try:
                self.get_service("scheduler").add_job(cleanup, "interval", minutes=5, job_id="cleanup")
            except InvalidJobError as exc:
                errors.append(str(exc))

    config = {"services": no_services(scheduler={"backend": "redis", "url": redis_url})}
    async with boot_xcore({"closures": Closures}, config):
        pass
    assert len(errors) == 1
    assert "cannot be stored by the redis scheduler" in errors[0]
    assert "Schedule a method of your plugin (func=self.method) or a module-level function" in errors[0]


# ----------------------------------------------------------------------------------------- events


async def test_on_event_is_the_on_decorator() -> None:
    heard: list[Any] = []

    class Listener(TrustedBase):
        @on_event("user.created")
        async def created(self, event: Any) -> None:
            heard.append(event.data)

    async with boot_xcore({"listener": Listener}) as host:
        await host.host.events.emit("user.created", {"id": 1})
    assert heard == [{"id": 1}]


# ----------------------------------------------------------------------------------------- cache


@pytest.fixture(params=["memory", "redis"])
def cache_section(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "memory":
        return {"backend": "memory"}
    return {"backend": "redis", "url": request.getfixturevalue("redis_url"), "prefix": "compat:"}


async def test_cache_mget_mset_keys_and_get_or_set_with_a_value(cache_section: dict[str, Any]) -> None:
    async with boot_xcore({}, {"services": no_services(cache=cache_section)}) as host:
        cache = host.get_service("cache")
        await cache.mset({"user:1": {"n": 1}, "user:2": [2], "other": "x"}, ttl=60)
        assert await cache.mget(["user:1", "user:2", "user:3"]) == {"user:1": {"n": 1}, "user:2": [2]}
        assert sorted(await cache.keys("user:*")) == ["user:1", "user:2"]
        assert sorted(await cache.keys()) == ["other", "user:1", "user:2"]
        assert await cache.get_or_set("settings", {"theme": "dark"}) == {"theme": "dark"}
        assert await cache.get_or_set("settings", {"theme": "light"}) == {"theme": "dark"}  # cached: kept
        assert await cache.get_or_set("computed", lambda: 42) == 42  # a factory is still called
        if cache_section["backend"] == "redis":
            import redis

            raw = redis.Redis.from_url(cache_section["url"])
            # prefix "compat:" names the app part of the cache's namespace, as key_prefix does
            stored = [b"compat:cache:key:user:1", b"compat:cache:key:user:2"]
            assert sorted(raw.keys("compat:cache:key:user:*")) == stored
            raw.close()


async def test_cached_method_decorator() -> None:
    calls: list[int] = []

    class Users(TrustedBase):
        @cached(ttl=60)
        async def load(self, user_id: int) -> dict[str, int]:
            calls.append(user_id)
            return {"id": user_id}

        async def handle(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
            if action == "forget":
                await self.load.invalidate(payload["id"])
                return ok()
            return ok(user=await self.load(payload["id"]))

    async with boot_xcore({"users": Users}) as host:
        for _ in range(3):
            assert await host.call("users", "get", {"id": 7}) == {"status": "ok", "user": {"id": 7}}
        await host.call("users", "forget", {"id": 7})
        await host.call("users", "get", {"id": 7})
    assert calls == [7, 7]


def test_cached_refuses_sync_methods() -> None:
    with pytest.raises(TypeError, match="decorates async methods"):

        @cached
        def sync(self: Any) -> None: ...


# ----------------------------------------------------------------------------------------- databases


async def test_sqlasync_session_block_commits_or_rolls_back_on_postgres(postgres_server: Any) -> None:
    url = postgres_server.url.replace("postgresql://", "postgresql+asyncpg://", 1)
    config = {"services": no_services(databases={"async_default": {"type": "postgresql+aio", "url": url}})}
    async with boot_xcore({}, config) as host:
        db = host.get_service("async_default")
        async with db.connection() as conn:
            await conn.execute("DROP TABLE IF EXISTS compat_logs")
            await conn.execute("CREATE TABLE compat_logs (recipient TEXT)")
        async with db.session() as session:  # the original's complete-plugin example: no commit()
            await session.execute("INSERT INTO compat_logs (recipient) VALUES (:r)", {"r": "kept@x"})
        with pytest.raises(RuntimeError):
            async with db.session() as session:
                await session.execute("INSERT INTO compat_logs (recipient) VALUES (:r)", {"r": "lost@x"})
                raise RuntimeError("the block failed")
        async with db.connection() as conn:
            rows = await conn.fetch("SELECT recipient FROM compat_logs")
            await conn.execute("DROP TABLE compat_logs")
    assert [r["recipient"] for r in rows] == ["kept@x"]


async def test_postgresql_with_pool_pre_ping(
    postgres_server: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(legacy, "_warned", set())
    database = {"type": "postgresql", "url": postgres_server.url, "pool_size": 2, "pool_pre_ping": True}
    async with boot_xcore({}, {"services": no_services(databases={"default": database})}) as host:
        with host.get_service("db").session() as session:
            assert session.execute("SELECT 1").scalar() == 1
    assert caplog.text.count("services.databases.default.pool_pre_ping") == 1


@pytest.mark.parametrize("client", ["sync", "async"])
async def test_redis_database_client_setting(redis_url: str, client: str) -> None:
    class Store(TrustedBase):
        async def on_load(self) -> None:
            self.redis = self.get_service("redis_db")

        async def handle(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
            if client == "async":
                await self.redis.set("k", "v", ex=60)  # the original's async examples
                return ok(value=(await self.redis.get("k")).decode())
            self.redis.set("k", "v", ex=60)  # the spec's sync example
            return ok(value=self.redis.get("k").decode())

    database = {"type": "redis", "url": redis_url, "socket_connect_timeout": 5}
    if client == "async":
        database["client"] = "async"
    config = {"services": no_services(databases={"redis_db": database})}
    async with boot_xcore({"store": Store}, config) as host:
        assert await host.call("store", "x") == {"status": "ok", "value": "v"}
        service = host.get_service("redis_db")
        assert service.client.get("k") == b"v"  # both clients stay reachable whatever the setting
        assert await service.aio.get("k") == b"v"


# ----------------------------------------------------------------------------------------- embedded app


def users_app(host: Xcore) -> FastAPI:
    """The original quickstart's pattern: your own FastAPI app, XCore booted in its lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        await host.boot(app)
        yield
        await host.shutdown()

    app = FastAPI(lifespan=lifespan)

    @app.get("/mine")
    async def mine() -> dict[str, str]:
        return {"mine": "yes"}

    return app


async def test_booting_into_your_own_app_serves_the_same_endpoints() -> None:
    class Hello(TrustedBase):
        async def handle(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
            return ok(message=f"Hello, {payload['name']}!")

    host = Xcore(config={"app": {"api_key": "k"}}, plugins={"hello": Hello}, discover=False)
    app = users_app(host)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/mine")).json() == {"mine": "yes"}
            assert (await client.get("/health")).json() == {"status": "ok"}
            assert (await client.get("/health/ready")).json()["status"] == "ok"
            body = {"name": "Ann"}
            for path in ("/plugins/hello/actions/greet", "/app/hello/greet"):
                assert (await client.post(path, json=body)).status_code == 401
                answer = await client.post(path, json=body, headers={"X-API-Key": "k"})
                assert answer.json() == {"status": "ok", "message": "Hello, Ann!"}
    assert app.state.xcore is host


async def test_create_app_and_boot_install_the_endpoints_once() -> None:
    from xcore.web import create_app

    app = create_app(host=Xcore(config={"app": {"api_key": "k"}}, discover=False))
    async with app.router.lifespan_context(app):
        paths = [getattr(route, "path", None) for route in app.router.routes]
    assert paths.count("/health") == 1 and paths.count("/app/{plugin}/{action}") == 1


# ----------------------------------------------------------------------------------------- logging


@pytest.fixture(autouse=True)
def _propagate_xcore_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)


async def test_an_embedded_app_keeps_its_own_routes_and_error_pages() -> None:
    """Installed before the app's own routes, XCore's probes and the original's ``/app/...`` path still
    come after them, and the app's own 404 and 422 pages stay its own."""
    from fastapi import HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    from xcore.web import install_endpoints

    for api_key in ("k", None):
        host = Xcore(config={"app": {"api_key": api_key}}, discover=False)

        @asynccontextmanager
        async def lifespan(app: FastAPI, host: Xcore = host) -> Any:
            await host.boot(app)
            yield
            await host.shutdown()

        app = FastAPI(lifespan=lifespan)
        install_endpoints(app, host)  # as the getting-started page says, for the request guard

        @app.post("/app/users/create")
        async def create() -> dict[str, str]:
            return {"created": "by the app"}

        @app.get("/health")
        async def own_health() -> dict[str, str]:
            return {"health": "the app's own"}

        @app.get("/typed/{n}")
        async def typed(n: int) -> dict[str, int]:
            return {"n": n}

        @app.exception_handler(404)
        async def not_found(request: Request, exc: HTTPException) -> JSONResponse:
            return JSONResponse({"error": "custom not found page"}, status_code=404)

        @app.exception_handler(RequestValidationError)
        async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
            return JSONResponse({"error": "custom validation page"}, status_code=422)

        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                assert (await client.post("/app/users/create")).json() == {"created": "by the app"}
                assert (await client.get("/health")).json() == {"health": "the app's own"}
                assert (await client.get("/nope")).json() == {"error": "custom not found page"}
                assert (await client.get("/typed/x")).json() == {"error": "custom validation page"}
                assert (await client.get("/health/ready")).json() == {"status": "ok"}
