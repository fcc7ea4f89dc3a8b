"""The service container: names, order, health, start failures, teardown, per-plugin views."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from xcore import Xcore, hookimpl
from xcore._errors import BootError, ServiceError
from xcore._services import ServiceBase, ServiceSettings, ServiceSetup, ServiceType
from xcore.sdk import PluginHandle, TrustedBase

from .support import config


class ProbeSettings(ServiceSettings):
    fail_start: bool = False
    fail_close: bool = False
    health_delay: float = 0.0
    healthy: bool = True
    error_text: str = "backend says no"
    pool_exhausted: bool = False


class Probe(ServiceBase):
    """A service recording its lifecycle in a journal shared by the test."""

    journal: list[str] = []

    def __init__(self, settings: ProbeSettings, setup: ServiceSetup) -> None:
        self.settings, self.name = settings, setup.name
        self.key_path = setup.key_path

    async def start(self) -> None:
        self.journal.append(f"start {self.name}")
        if self.settings.fail_start:
            raise ConnectionRefusedError("connection refused")

    async def health(self) -> dict[str, Any] | None:
        await asyncio.sleep(self.settings.health_delay)
        if not self.settings.healthy:
            raise RuntimeError(self.settings.error_text)
        if self.settings.pool_exhausted:
            raise TimeoutError("pool exhausted for redis://app:hunter2@cache/0")
        return {"detail": "fine"}

    async def close(self) -> None:
        self.journal.append(f"close {self.name}")
        if self.settings.fail_close:
            raise RuntimeError("close failed")


class Scoped(Probe):
    def for_plugin(self, plugin: PluginHandle) -> str:
        return f"view of {self.name} for {plugin.name}"


class ProbeBackend:
    @hookimpl
    def xcore_register_service(self) -> list[ServiceType]:
        return [
            ServiceType(kind=kind, name="probe", config=ProbeSettings, factory=Probe)
            for kind in ("database", "cache", "scheduler", "extension", "events")
        ] + [ServiceType(kind="extension", name="scoped", config=ProbeSettings, factory=Scoped)]


class Consumer(TrustedBase):
    async def on_load(self) -> None:
        self.seen = {name: self.get_service(name) for name in self.ctx.services}


ALL_PROBES = {
    "databases": {"main": {"type": "probe"}, "replica": {"type": "probe"}},
    "cache": {"backend": "probe"},
    "scheduler": {"backend": "probe"},
    "events": {"backend": "probe"},
    "extensions": {"mail": {"type": "probe"}, "views": {"type": "scoped"}},
}


@pytest.fixture(autouse=True)
def clear_journal() -> None:
    Probe.journal.clear()


async def boot(services: dict[str, Any], **sections: Any) -> Xcore:
    host = Xcore(
        config=config(services=services, **sections),
        plugins={"probes": ProbeBackend(), "consumer": Consumer},
        discover=False,
    )
    await host.boot()
    return host


async def test_services_are_built_in_order_named_and_closed_in_reverse() -> None:
    host = await boot(ALL_PROBES)
    consumer = host.records["consumer"].handle.instance  # type: ignore[union-attr]
    assert sorted(consumer.seen) == ["cache", "db", "events", "ext.mail", "ext.views", "main", "replica", "scheduler"]
    assert consumer.seen["db"] is consumer.seen["main"]
    assert consumer.seen["ext.views"] == "view of ext.views for consumer"
    assert host.get_service("ext.mail").key_path == "services.extensions.mail"
    await host.shutdown()
    built = ["main", "replica", "cache", "events", "scheduler", "ext.mail", "ext.views"]
    assert Probe.journal == [f"start {n}" for n in built] + [f"close {n}" for n in reversed(built)]


async def test_unknown_service_name_is_a_key_error_listing_the_names() -> None:
    host = await boot({"cache": {"backend": "probe"}})
    try:
        ctx = host.records["consumer"].context
        assert ctx is not None
        with pytest.raises(KeyError) as info:
            ctx.services["dbb"]
        assert str(info.value) == "no service named 'dbb'. Available services: cache"
        assert ctx.services.get("dbb") is None and "cache" in ctx.services and "dbb" not in ctx.services
        with pytest.raises(TypeError):
            ctx.services["x"] = 1  # type: ignore[index]
    finally:
        await host.shutdown()


async def test_health_runs_concurrently_each_check_bounded_by_the_timeout() -> None:
    services = {
        "extensions": {
            "slow": {"type": "probe", "health_delay": 5},
            "sick": {"type": "probe", "healthy": False},
            "good": {"type": "probe"},
        }
    }
    host = await boot(services, app={"health_timeout": 0.2})
    try:
        report = await host.health()
        assert report["status"] == "error"
        slow, sick, good = (report["services"][f"ext.{n}"] for n in ("slow", "sick", "good"))
        assert slow["status"] == "error" and "timed out after 0.2s" in slow["error"]
        assert sick == {**sick, "status": "error", "error": "RuntimeError: backend says no"}
        assert good["status"] == "ok" and good["detail"] == "fine" and good["latency_ms"] >= 0
        assert report["plugins"]["consumer"] == {"status": "ok", "state": "loaded"}
    finally:
        await host.shutdown()


async def test_a_service_that_fails_to_start_leaves_the_host_up_unless_required() -> None:
    host = await boot({"extensions": {"flaky": {"type": "probe", "fail_start": True}}})
    try:
        assert host.records["consumer"].state == "loaded"
        assert host.services.entry("ext.flaky").start_error == "ConnectionRefusedError: connection refused"
    finally:
        await host.shutdown()
    with pytest.raises(BootError, match=r"services\.extensions\.flaky: required service 'ext.flaky' failed"):
        await boot({"extensions": {"flaky": {"type": "probe", "fail_start": True, "required": True}}})
    assert Probe.journal[-1] == "close ext.flaky", "a failed boot still closes what it built"


async def test_every_service_is_closed_even_when_one_close_raises(caplog: pytest.LogCaptureFixture) -> None:
    host = await boot(
        {
            "databases": {"a": {"type": "probe"}},
            "extensions": {"b": {"type": "probe", "fail_close": True}, "c": {"type": "probe"}},
        }
    )
    await host.shutdown()
    assert Probe.journal[-3:] == ["close ext.c", "close ext.b", "close a"]
    assert "closing service 'ext.b' (services.extensions.b) failed" in caplog.text


async def test_two_backends_registering_one_type_is_an_error_naming_both() -> None:
    class Twin(ProbeBackend):
        pass

    host = Xcore(config=config(), plugins={"probes": ProbeBackend(), "twin": Twin()}, discover=False)
    with pytest.raises(ServiceError, match=r"registered twice: by plugin 'probes' .* and by plugin 'twin'"):
        await host.boot()


async def test_disabled_cache_section_means_no_cache_service() -> None:
    host = await boot({"cache": {"enabled": False}})
    try:
        assert "cache" not in host.services.names()
    finally:
        await host.shutdown()


async def test_a_backend_timeout_error_is_its_own_error_not_our_deadline_and_is_redacted() -> None:
    host = await boot({"extensions": {"pool": {"type": "probe", "pool_exhausted": True}}})
    try:
        report = (await host.health())["services"]["ext.pool"]
        assert report["error"] == "TimeoutError: pool exhausted for redis://app:***@cache/0"
    finally:
        await host.shutdown()


async def test_service_errors_in_health_reports_mask_the_configs_secret_values() -> None:
    sick = {"type": "probe", "healthy": False, "error_text": "token s3cr3t-token rejected"}
    host = Xcore(
        config=config(
            services={"extensions": {"api": sick}}, plugins={"settings": {"x": {"password": "s3cr3t-token"}}}
        ),
        plugins={"probes": ProbeBackend()},
        discover=False,
    )
    await host.boot()
    try:
        assert (await host.health())["services"]["ext.api"]["error"] == "RuntimeError: token *** rejected"
    finally:
        await host.shutdown()
