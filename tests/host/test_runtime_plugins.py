"""Disabling, enabling and reloading plugins while the host serves (``xcore._host.runtime``), in process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from xcore import Xcore
from xcore._errors import PluginNotFoundError
from xcore._events import kernel, on
from xcore._host.reimport import ReloadRefused
from xcore._host.runtime import PluginStateError
from xcore.sdk import TrustedBase, action, ok
from xcore.testing.distributions import remove_distribution
from xcore.web import create_app

from .support import Site, config

EVENTS: list[tuple[str, Any]] = []
SEEN: list[str] = []


class Slow(TrustedBase):
    """A plugin with a slow route, an action, an event handler and a job."""

    release: asyncio.Event | None = None
    unloaded = 0

    async def on_load(self) -> None:
        self.ctx.events.on("xcore.**", lambda event: None)  # dropped with the plugin's subscriptions
        self.get_service("scheduler").add_job(tick, "interval", seconds=3600, id="tick")

    async def on_unload(self) -> None:
        type(self).unloaded += 1

    @on("shop.order")
    async def seen(self, event: Any) -> None:
        SEEN.append(event.data["id"])

    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/fast")
        async def fast() -> dict[str, str]:
            return {"slow": "fast"}

        @router.get("/wait")
        async def wait() -> dict[str, str]:
            assert Slow.release is not None
            await Slow.release.wait()
            return {"slow": "finished"}

        return router

    @action()
    async def ping(self, payload: dict[str, Any]) -> dict[str, Any]:
        return ok(pong=True)


def tick() -> None:
    pass


class Other(TrustedBase):
    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/hello")
        async def hello() -> dict[str, str]:
            return {"other": "hello"}

        return router


class Needy(TrustedBase):
    requires = ("slow",)


def _config(shutdown_timeout: float = 2.0, **plugins: Any) -> dict[str, Any]:
    """Memory events and scheduler; ``plugins`` is the config's section (only the named ones are discovered)."""
    return config(
        app={"shutdown_timeout": shutdown_timeout},
        plugins=plugins,
        services={"events": {"backend": "memory"}, "scheduler": {"backend": "memory"}},
    )


@asynccontextmanager
async def serving(host: Xcore) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(host=host)
    await host.boot(app)
    if host.services.get_or_none("events") is not None:
        host.events.on("xcore.**", lambda event: EVENTS.append((event.name, event.data)))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            yield app, client
    finally:
        await host.shutdown()


def _paths(app: FastAPI) -> set[str]:
    return {getattr(r, "path", "") for r in app.router.routes}


async def test_disable_removes_routes_actions_jobs_and_subscriptions_and_enable_brings_them_back() -> None:
    EVENTS.clear()
    SEEN.clear()
    host = Xcore(config=_config(), plugins={"slow": Slow, "other": Other}, discover=False)
    async with serving(host) as (app, client):
        assert "/plugins/slow/fast" in (await client.get("/openapi.json")).json()["paths"]
        scheduler = host.get_service("scheduler")
        assert [j["id"] for j in scheduler.describe_jobs()] == ["tick"]
        before = len(host.events.bus.subscriptions())

        report = await host.runtime.disable("slow")

        assert report["state"] == "disabled" and report["changed"]
        assert "/plugins/slow/fast" not in _paths(app)
        assert "/plugins/slow/fast" not in (await client.get("/openapi.json")).json()["paths"]
        gone = await client.get("/plugins/slow/fast")
        assert gone.status_code == 404 and "plugin 'slow' is disabled" in gone.json()["detail"]
        with pytest.raises(PluginNotFoundError, match="'slow' is disabled"):
            await host.call("slow", "ping", {})
        assert scheduler.describe_jobs() == []
        assert len(host.events.bus.subscriptions()) < before
        await host.events.emit("shop.order", {"id": "a"})
        assert SEEN == []
        assert (kernel.PLUGIN_UNLOADED, {"plugin": "slow"}) in EVENTS
        assert Slow.unloaded == 1
        assert (await client.get("/plugins/other/hello")).json() == {"other": "hello"}
        assert host.records["slow"].state == "disabled"
        assert host.pm.get_plugin("slow") is None

        again = await host.runtime.enable("slow")

        assert again["state"] == "loaded", again
        assert (await client.get("/plugins/slow/fast")).json() == {"slow": "fast"}
        assert "/plugins/slow/fast" in (await client.get("/openapi.json")).json()["paths"]
        assert await host.call("slow", "ping", {}) == ok(pong=True)
        assert [j["id"] for j in scheduler.describe_jobs()] == ["tick"]
        await host.events.emit("shop.order", {"id": "b"})
        assert SEEN == ["b"]
        assert EVENTS[-1] == (kernel.PLUGIN_LOADED, {"plugin": "slow", "version": None})
        # one route per path: nothing was mounted twice, and the away answer is gone
        assert [getattr(r, "path", "") for r in app.router.routes].count("/plugins/slow/fast") == 1
        assert not [r for r in app.router.routes if getattr(r, "name", "") == "xcore-away:slow"]


async def test_requests_in_flight_finish_and_others_never_fail_during_a_disable() -> None:
    Slow.release = asyncio.Event()
    host = Xcore(config=_config(), plugins={"slow": Slow, "other": Other}, discover=False)
    async with serving(host) as (_app, client):
        inflight = asyncio.create_task(client.get("/plugins/slow/wait"))
        while host._lifecycle.gates["slow"].active == 0:
            await asyncio.sleep(0.01)
        disabling = asyncio.create_task(host.runtime.disable("slow"))
        await asyncio.sleep(0.05)
        assert not disabling.done()  # waiting for the request inside the plugin
        draining = await client.get("/plugins/slow/fast")
        assert draining.status_code == 503 and draining.headers["retry-after"]
        assert "requests in flight are finishing" in draining.json()["detail"]
        others = await asyncio.gather(*(client.get("/plugins/other/hello") for _ in range(20)))
        assert {r.status_code for r in others} == {200}
        Slow.release.set()
        assert (await inflight).json() == {"slow": "finished"}
        report = await disabling
        assert report["in_flight_left"] == 0 and report["state"] == "disabled"


async def test_a_request_that_does_not_finish_is_bounded_by_the_shutdown_timeout() -> None:
    Slow.release = asyncio.Event()
    host = Xcore(config=_config(shutdown_timeout=0.3), plugins={"slow": Slow}, discover=False)
    async with serving(host) as (_app, client):
        inflight = asyncio.create_task(client.get("/plugins/slow/wait"))
        while host._lifecycle.gates["slow"].active == 0:
            await asyncio.sleep(0.01)
        report = await asyncio.wait_for(host.runtime.disable("slow"), 5)
        assert report["in_flight_left"] == 1
        Slow.release.set()
        await inflight


async def test_bad_requests_are_refused_with_the_reason() -> None:
    host = Xcore(config=_config(), plugins={"slow": Slow, "needy": Needy}, discover=False)
    async with serving(host):
        with pytest.raises(PluginStateError, match="'slow' is required by loaded plugin\\(s\\) needy"):
            await host.runtime.disable("slow")
        assert host.records["slow"].state == "loaded"
        with pytest.raises(PluginNotFoundError, match="no plugin named 'nope'; plugins: needy, slow"):
            await host.runtime.disable("nope")
        await host.runtime.disable("needy")
        await host.runtime.disable("slow")
        refused = await host.runtime.enable("needy")
        assert refused["state"] == "failed" and "requires plugin 'slow', which is not loaded" in refused["error"]


PLUGIN_V = """
from fastapi import APIRouter
from xcore.sdk import TrustedBase

COUNTER = []

class Plugin(TrustedBase):
    def get_router(self):
        router = APIRouter()

        @router.get("/version")
        async def version():
            COUNTER.append(1)
            return {{"code": "{code}", "count": len(COUNTER)}}

        return router
"""


def _install(site: Site, module: str, version: str, code: str) -> None:
    remove_distribution(site.root, f"xcore-shop-{site.tag}", packages=(f"{module}.py",))
    site.distribution(
        f"xcore-shop-{site.tag}",
        {"xcore.plugins": {"shop": f"{module}:Plugin"}},
        {f"{module}.py": PLUGIN_V.format(code=code)},
        version=version,
    )


async def test_reload_picks_up_an_upgraded_distribution(site: Site) -> None:
    module = site.module("shop")
    _install(site, module, "1.0.0", "one")
    host = Xcore(config=_config(enabled=["shop"]), discover=True)
    async with serving(host) as (_app, client):
        assert (await client.get("/plugins/shop/version")).json() == {"code": "one", "count": 1}
        _install(site, module, "2.0.0", "two")  # what pip install -U does on disk

        report = await host.runtime.reload("shop")

        assert report["state"] == "loaded", report
        assert (report["previous_version"], report["version"]) == ("1.0.0", "2.0.0")
        # the new code, with fresh module state
        assert (await client.get("/plugins/shop/version")).json() == {"code": "two", "count": 1}
        assert host.records["shop"].source.version == "2.0.0"

        _install(site, module, "3.0.0", 'three" +')  # a syntax error in the new version
        broken = await host.runtime.reload("shop")
        assert broken["state"] == "failed" and "SyntaxError" in broken["error"]
        answer = await client.get("/plugins/shop/version")
        assert answer.status_code == 404 and "failed to load" in answer.json()["detail"]


async def test_a_plugin_installed_after_boot_can_be_enabled(site: Site) -> None:
    host = Xcore(config=_config(enabled=["shop"]), discover=True)
    async with serving(host) as (_app, client):
        module = site.module("shop")
        _install(site, module, "1.0.0", "late")
        report = await host.runtime.enable("shop")
        assert report["state"] == "loaded"
        assert (await client.get("/plugins/shop/version")).json()["code"] == "late"


async def test_reload_refuses_a_package_shared_with_another_loaded_plugin(site: Site) -> None:
    module = site.module("pair")
    site.distribution(
        f"xcore-pair-{site.tag}",
        {"xcore.plugins": {"left": f"{module}:Left", "right": f"{module}:Right"}},
        {
            f"{module}.py": "from xcore.sdk import TrustedBase\nclass Left(TrustedBase): pass\n"
            "class Right(TrustedBase): pass\n"
        },
    )
    host = Xcore(config=_config(enabled=["left", "right"]), discover=True)
    async with serving(host):
        with pytest.raises(ReloadRefused, match=f"shares the package '{module}' with loaded plugin\\(s\\) right"):
            await host.runtime.reload("left")
        assert host.records["left"].state == "loaded"


class Configured(TrustedBase):
    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/greeting")
        async def greeting() -> dict[str, Any]:
            return {"greeting": self.ctx.config.get("greeting")}

        return router


async def test_a_reloaded_configuration_applies_plugins_and_reports_what_needs_a_restart(tmp_path: Any) -> None:
    import yaml

    from xcore._errors import ConfigError

    path = tmp_path / "integration.yaml"

    def write(plugins: dict[str, Any], app: dict[str, Any] | None = None, **services: Any) -> None:
        data = _config(**plugins)
        data["app"].update(app or {})
        data["services"].update(services)
        path.write_text(yaml.safe_dump(data))

    write({"settings": {"configured": {"greeting": "hello"}}})
    host = Xcore(path, plugins={"configured": Configured, "other": Other}, discover=False)
    async with serving(host) as (_app, client):
        assert (await client.get("/plugins/configured/greeting")).json() == {"greeting": "hello"}

        write({"disabled": ["other"], "settings": {"configured": {"greeting": "bonjour"}}}, app={"name": "renamed"})
        report = await host.reloader.reload()

        assert report["needs_restart"] == ["app.name"]
        assert sorted((c["plugin"], c["action"], c["state"]) for c in report["plugins"]) == [
            ("configured", "settings", "loaded"),
            ("other", "disable", "disabled"),
        ]
        assert (await client.get("/plugins/configured/greeting")).json() == {"greeting": "bonjour"}
        assert (await client.get("/plugins/other/hello")).status_code == 404
        assert host.config.app.name == "xcore"  # not applied: it needs a restart

        write({"disabled": ["other"], "settings": {"configured": {"greeting": "ciao"}}}, cache={"backend": "nope"})
        with pytest.raises(ConfigError, match=r"services\.cache"):
            await host.reloader.reload()
        assert host.reloader.last is not None and host.reloader.last["status"] == "refused"
        assert (await client.get("/plugins/configured/greeting")).json() == {"greeting": "bonjour"}  # old kept

        path.write_text("plugins: {enabled: 5}\n")
        with pytest.raises(ConfigError, match=r"plugins\.enabled"):
            await host.reloader.reload()

        write({})  # other comes back
        report = await host.reloader.reload()
        assert ("other", "enable", "loaded") in [(c["plugin"], c["action"], c["state"]) for c in report["plugins"]]
        assert (await client.get("/plugins/other/hello")).json() == {"other": "hello"}


SANDBOXED = """
import os

from xcore.sdk import TrustedBase, action, ok


class Plugin(TrustedBase):
    @action()
    async def which(self, payload):
        return ok(code="{code}", pid=os.getpid())
"""


async def test_reloading_a_sandboxed_plugin_starts_a_new_worker_on_the_new_code(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uuid

    module = f"sbx_reload_{uuid.uuid4().hex[:8]}"
    code = tmp_path / "code"
    code.mkdir()
    (code / f"{module}.py").write_text(SANDBOXED.format(code="one"))
    monkeypatch.syspath_prepend(str(code))
    data = _config(local={"boxed": f"{module}:Plugin"}, sandboxed={"boxed": {"sandbox": {"data_dir": str(tmp_path)}}})
    host = Xcore(config=data, discover=False)
    async with serving(host):
        first = await host.call("boxed", "which", {})
        assert first["code"] == "one" and first["pid"] != __import__("os").getpid()
        assert module not in __import__("sys").modules  # the host never imports sandboxed code

        (code / f"{module}.py").write_text(SANDBOXED.format(code="two"))
        report = await host.runtime.reload("boxed")

        assert report["state"] == "loaded", report
        second = await host.call("boxed", "which", {})
        assert second["code"] == "two" and second["pid"] != first["pid"]
        assert not _alive(first["pid"])  # the old worker was stopped by the unload


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie not reaped yet counts as gone
        return open(f"/proc/{pid}/stat").read().split(")")[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class FailsOnce(TrustedBase):
    attempts = 0

    async def on_load(self) -> None:
        type(self).attempts += 1
        if type(self).attempts == 1:
            raise RuntimeError("database not ready yet")

    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/ok")
        async def fine() -> dict[str, bool]:
            return {"ok": True}

        return router


async def test_a_plugin_that_failed_at_boot_can_be_enabled_once_its_cause_is_fixed() -> None:
    host = Xcore(config=_config(), plugins={"flaky": FailsOnce}, discover=False)
    async with serving(host) as (_app, client):
        assert host.records["flaky"].state == "failed"
        report = await host.runtime.enable("flaky")
        assert report["state"] == "loaded" and report["error"] is None, report
        assert (await client.get("/plugins/flaky/ok")).json() == {"ok": True}


async def test_a_third_party_service_hears_the_runtime_changes_through_its_lifecycle_methods() -> None:
    from .test_service_lifecycle import Watcher, WatcherBackend

    Watcher.journal.clear()
    data = config(services={"extensions": {"watcher": {"type": "watcher"}}})
    host = Xcore(config=data, plugins={"watchers": WatcherBackend(), "other": Other}, discover=False)
    async with serving(host):
        Watcher.journal.clear()
        await host.runtime.disable("other")
        await host.runtime.enable("other")
        await host.runtime.reload("other")
    assert Watcher.journal[:5] == [
        "unloaded other",
        "loading other",
        "loaded other",
        "unloaded other",
        "loading other",
    ]


async def test_a_configuration_reload_orders_dependent_plugins_and_reports_what_it_could_not_do(
    tmp_path: Any,
) -> None:
    import yaml

    path = tmp_path / "integration.yaml"
    path.write_text(yaml.safe_dump(_config(disabled=["slow", "needy"])))
    host = Xcore(path, plugins={"needy": Needy, "slow": Slow}, discover=False)
    async with serving(host):
        path.write_text(yaml.safe_dump(_config()))  # needy (registered first) requires slow
        report = await host.reloader.reload()
        assert {(c["plugin"], c["state"]) for c in report["plugins"]} == {("slow", "loaded"), ("needy", "loaded")}

        path.write_text(yaml.safe_dump(_config(disabled=["slow", "needy"])))  # needy must leave first
        report = await host.reloader.reload()
        assert [(c["plugin"], c["state"]) for c in report["plugins"]] == [("needy", "disabled"), ("slow", "disabled")]

        await host.reloader.reload()
        path.write_text(yaml.safe_dump(_config()))
        await host.reloader.reload()
        path.write_text(yaml.safe_dump(_config(disabled=["slow"])))  # needy stays: slow cannot leave
        report = await host.reloader.reload()
        [refused] = report["plugins"]
        assert refused["plugin"] == "slow" and "required by loaded plugin(s) needy" in refused["error"]
        assert host.records["slow"].state == "loaded"


class Alpha(TrustedBase):
    async def health(self) -> dict[str, str]:
        return {"who": "alpha"}


class Beta(TrustedBase):
    async def health(self) -> dict[str, str]:
        return {"who": "beta"}


async def test_a_plugin_registered_at_runtime_never_answers_for_another() -> None:
    host = Xcore(config=_config(), plugins={"alpha": Alpha, "beta": Beta}, discover=False)
    async with serving(host):
        alpha = host.records["alpha"]
        assert alpha.hooks is not None and await alpha.hooks.call("xcore_health", ctx=alpha.context) == {"who": "alpha"}
        await host.runtime.disable("beta")
        assert await alpha.hooks.call("xcore_health", ctx=alpha.context) == {
            "who": "alpha"
        }  # alpha's caller is built now
        await host.runtime.enable("beta")  # a new object, registered after alpha's caller was built
        assert await alpha.hooks.call("xcore_health", ctx=alpha.context) == {"who": "alpha"}


class SlowAction(TrustedBase):
    release: asyncio.Event | None = None

    @action()
    async def wait(self, payload: dict[str, Any]) -> dict[str, Any]:
        assert SlowAction.release is not None
        await SlowAction.release.wait()
        return ok(waited=True)


async def test_a_disable_waits_for_an_http_action_call_in_flight() -> None:
    SlowAction.release = asyncio.Event()
    data = _config()
    data["app"]["api_key"] = "action-key-123"
    host = Xcore(config=data, plugins={"acting": SlowAction}, discover=False)
    async with serving(host) as (_app, client):
        headers = {"X-API-Key": "action-key-123"}
        calling = asyncio.create_task(client.post("/plugins/acting/actions/wait", json={}, headers=headers))
        while host.runtime.gate("acting").active == 0:
            await asyncio.sleep(0.01)
        disabling = asyncio.create_task(host.runtime.disable("acting"))
        await asyncio.sleep(0.1)
        assert not disabling.done()
        refused = await client.post("/plugins/acting/actions/wait", json={}, headers=headers)
        assert refused.status_code == 404 and "'acting' is being disabled" in refused.json()["message"]
        SlowAction.release.set()
        assert (await calling).json() == ok(waited=True)
        assert (await disabling)["in_flight_left"] == 0
        before = dict(host._lifecycle.gates)
        for name in ("nope1", "nope2"):
            await client.post(f"/plugins/{name}/actions/x", json={}, headers=headers)
        assert host._lifecycle.gates == before  # unknown names add nothing


async def test_reloading_a_plugins_directory_plugin_runs_its_edited_file(tmp_path: Any) -> None:
    folder = tmp_path / "plugins" / "notes"
    (folder / "src").mkdir(parents=True)
    (folder / "plugin.yaml").write_text("name: notes\nversion: 1.0.0\n")
    main = folder / "src" / "main.py"
    main.write_text(PLUGIN_V.format(code="first"))
    host = Xcore(config=_config(directory=str(tmp_path / "plugins")), discover=False)
    async with serving(host) as (_app, client):
        assert (await client.get("/plugins/notes/version")).json()["code"] == "first"
        main.write_text(PLUGIN_V.format(code="second"))
        (folder / "plugin.yaml").write_text("name: notes\nversion: 1.1.0\n")
        report = await host.runtime.reload("notes")
        assert (report["state"], report["previous_version"], report["version"]) == ("loaded", "1.0.0", "1.1.0")
        assert (await client.get("/plugins/notes/version")).json() == {"code": "second", "count": 1}
