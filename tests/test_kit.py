"""The testing kit plugin authors use: fixtures, service doubles, jobs on demand, isolation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter

from xcore._errors import ConfigError
from xcore._services import ServiceBase
from xcore.sdk import TrustedBase, action, ok
from xcore.testing.configs import no_services
from xcore.testing.doubles import LifecycleProxy, config_with_doubles
from xcore.testing.harness import PluginLoadError, boot_xcore

EVENTS: list[str] = []


class Greeter(TrustedBase):
    """Uses the cache and the scheduler, has a route and an action."""

    async def on_load(self) -> None:
        self.cache = self.get_service("cache")
        self.get_service("scheduler").add_job(func=self.tick, trigger="interval", hours=1, id="tick")
        self.ticks = 0

    async def on_unload(self) -> None:
        EVENTS.append("unloaded")

    def tick(self) -> str:
        self.ticks += 1
        return f"tick {self.ticks}"

    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/hello")
        async def hello() -> dict[str, Any]:
            return {"hello": await self.cache.get("name", "world")}

        return router

    @action("greet")
    async def greet(self, payload: dict[str, Any]) -> dict[str, Any]:
        return ok(message=f"hello {payload.get('name', 'world')}")

    @action("bad_shape")
    async def bad_shape(self, payload: dict[str, Any]) -> Any:
        return ["not", "a", "response"]


class Broken(TrustedBase):
    async def on_load(self) -> None:
        raise RuntimeError("database schema is missing")


@pytest.fixture
def xcore_plugins() -> dict[str, Any]:
    return {"greeter": Greeter}


async def test_the_host_boots_the_plugins_on_embedded_defaults_in_tmp_path(xcore_host: Any, tmp_path: Path) -> None:
    assert Path.cwd() == tmp_path
    assert (tmp_path / ".xcore" / "xcore.db").is_file()  # the embedded SQLite landed here, not in the repo
    assert {r.name for r in xcore_host.host.plugins if r.source.kind == "plugin"} == {"greeter"}
    assert type(xcore_host.plugin("greeter")) is Greeter
    report = await xcore_host.health()
    assert report["status"] == "ok"
    assert set(report["services"]) == {"default", "cache", "events", "tasks", "scheduler", "ext.storage"}


async def test_the_client_talks_to_the_app(xcore_client: Any) -> None:
    assert (await xcore_client.get("/plugins/greeter/hello")).json() == {"hello": "world"}
    ready = await xcore_client.get("/health/ready")
    assert ready.status_code == 200
    assert (await xcore_client.get("/openapi.json")).json()["paths"]["/plugins/greeter/hello"]


async def test_call_runs_an_action_and_checks_its_shape(xcore_host: Any) -> None:
    assert await xcore_host.call("greeter", "greet", {"name": "Ada"}) == {"status": "ok", "message": "hello Ada"}
    with pytest.raises(AssertionError, match="must return ok"):
        await xcore_host.call("greeter", "bad_shape", {})


async def test_run_job_runs_a_job_now_and_keeps_it_scheduled(xcore_host: Any) -> None:
    assert await xcore_host.run_job("greeter", "tick") == "tick 1"
    assert await xcore_host.run_job("greeter", "tick") == "tick 2"
    assert [job.id for job in xcore_host.get_service("scheduler", "greeter").get_jobs()] == ["tick"]
    with pytest.raises(LookupError, match="no scheduled job 'nope'; its jobs: tick"):
        await xcore_host.run_job("greeter", "nope")


class FakeCache(ServiceBase):
    """A double with the service lifecycle: handed to plugins as itself."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def get(self, key: str, default: Any = None) -> Any:
        self.asked.append(key)
        return "double"


FAKE = FakeCache()


@pytest.mark.xcore(services={"cache": FAKE})
async def test_a_service_is_replaced_by_a_double(xcore_host: Any) -> None:
    assert xcore_host.plugin("greeter").cache is FAKE
    assert (await xcore_host.client.get("/plugins/greeter/hello")).json() == {"hello": "double"}
    assert FAKE.asked == ["name"]
    report = await xcore_host.health()
    assert report["services"]["cache"]["type"] == "test-double"
    assert "ext.storage" in report["services"]  # the other embedded defaults are kept


class BareMailer:
    """A double without start/health/close: the kit adds them."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, to: str, subject: str, body: str) -> None:
        self.sent.append(to)


async def test_doubles_for_absent_services_and_bare_objects(xcore_boot: Any) -> None:
    mailer = BareMailer()

    class Notifier(TrustedBase):
        async def on_load(self) -> None:
            self.email = self.get_service("ext.email")

        @action("notify")
        async def notify(self, payload: dict[str, Any]) -> dict[str, Any]:
            await self.email.send(to=payload["to"], subject="hi", body="...")
            return ok()

    xcore = await xcore_boot(plugins={"notifier": Notifier}, services={"ext.email": mailer, "db": object()})
    assert isinstance(xcore.plugin("notifier").email, LifecycleProxy)
    await xcore.call("notifier", "notify", {"to": "ann@example.test"})
    assert mailer.sent == ["ann@example.test"]
    assert (await xcore.health())["status"] == "ok"


def test_config_with_doubles_rewrites_only_the_named_sections() -> None:
    config = {"app": {"name": "shop"}, "services": {"databases": {"main": {"type": "sqlite"}, "other": {"type": "x"}}}}
    rewritten, doubles = config_with_doubles(config, {"db": 1, "cache": 2, "ext.email": 3, "redis_db": 4})
    assert rewritten["app"] == {"name": "shop"}
    assert rewritten["services"]["databases"] == {
        "main": {"type": "test-double"},  # "db" is the first database
        "other": {"type": "x"},
        "redis_db": {"type": "test-double"},
    }
    assert rewritten["services"]["cache"] == {"backend": "test-double"}
    assert rewritten["services"]["extensions"]["email"] == {"type": "test-double"}
    assert rewritten["services"]["extensions"]["storage"]["type"] == "local"  # embedded default kept
    assert config["services"]["databases"]["main"] == {"type": "sqlite"}  # the caller's dict is untouched
    assert doubles.doubles == {"main": 1, "cache": 2, "ext.email": 3, "redis_db": 4}


async def test_a_plugin_that_fails_to_load_fails_the_boot_with_its_error(xcore_boot: Any) -> None:
    with pytest.raises(PluginLoadError, match="broken: on_load raised RuntimeError: database schema is missing"):
        await xcore_boot(plugins={"broken": Broken})


async def test_strict_false_lets_a_test_inspect_the_failure(xcore_boot: Any) -> None:
    xcore = await xcore_boot(plugins={"broken": Broken, "greeter": Greeter}, strict=False)
    assert xcore.record("broken").state == "failed"
    with pytest.raises(LookupError, match="plugin 'broken' is failed: on_load raised"):
        xcore.plugin("broken")
    with pytest.raises(LookupError, match="no plugin named 'nobody'; plugins: broken, greeter"):
        xcore.record("nobody")
    assert (await xcore.client.get("/health/ready")).status_code == 503


async def test_a_bad_config_is_the_same_error_as_in_production(xcore_boot: Any) -> None:
    with pytest.raises(ConfigError, match=r"services\.cache: unknown cache type 'memcached'"):
        await xcore_boot(plugins={"greeter": Greeter}, config={"services": {"cache": {"backend": "memcached"}}})


async def test_several_hosts_are_isolated_and_all_shut_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    EVENTS.clear()
    async with boot_xcore({"greeter": Greeter}) as first, boot_xcore({"greeter": Greeter}) as second:
        assert first.plugin("greeter") is not second.plugin("greeter")
        await first.run_job("greeter", "tick")
        assert second.plugin("greeter").ticks == 0
    assert EVENTS == ["unloaded", "unloaded"]


@pytest.mark.xcore(plugins={})
async def test_installed_plugins_are_not_discovered_unless_asked(xcore_host: Any) -> None:
    assert [r for r in xcore_host.host.plugins if r.source.kind == "plugin"] == []


class Crashing(TrustedBase):
    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/boom")
        async def boom() -> None:
            raise RuntimeError("boom")

        return router


async def test_route_exceptions_reach_the_test_or_become_a_500(xcore_boot: Any) -> None:
    raising = await xcore_boot(plugins={"crash": Crashing})
    with pytest.raises(RuntimeError, match="boom"):
        await raising.client.get("/plugins/crash/boom")
    served = await xcore_boot(plugins={"crash": Crashing}, raise_app_exceptions=False)
    answer = await served.client.get("/plugins/crash/boom")
    assert (answer.status_code, answer.json()) == (500, {"detail": "Internal Server Error"})


async def test_no_services_boots_only_the_sections_named(xcore_boot: Any) -> None:
    bare = await xcore_boot(config={"services": no_services()})
    assert (await bare.health())["services"] == {}
    cached = await xcore_boot(config={"services": no_services(cache={"backend": "memory"})})
    assert list((await cached.health())["services"]) == ["cache"]
    assert no_services() is not no_services()  # a fresh dict each time: callers may change it
    with pytest.raises(TypeError, match=r"unknown section\(s\) caches; known: databases, cache"):
        no_services(caches={"backend": "memory"})
