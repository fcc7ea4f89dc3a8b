"""The ``events`` service: its registration, settings, per-plugin views and the host's view."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from xcore._builtin_services.events import (
    EventsService,
    MemoryEventsSettings,
    RedisEventsSettings,
    xcore_register_service,
)
from xcore._config.loader import validate
from xcore._errors import ConfigError
from xcore._events import Event, EventsView, ReservedEventName, kernel
from xcore._services import ServiceSetup, ServiceType
from xcore.sdk import PluginHandle


def service_type(name: str) -> ServiceType:
    (found,) = [t for t in xcore_register_service() if t.name == name]
    return found


def setup(app_name: str = "shop") -> ServiceSetup:
    return ServiceSetup.standalone("events", "services.events", app_name)


def settings(type_name: str, raw: dict[str, Any]) -> Any:
    return validate(service_type(type_name).config, raw, "configuration", prefix=("services", "events"))


async def memory_service(**raw: Any) -> EventsService:
    service = service_type("memory").factory(settings("memory", raw), setup())
    assert isinstance(service, EventsService)
    await service.start()
    return service


def test_both_backends_are_registered_as_events_kinds() -> None:
    types = {t.name: t for t in xcore_register_service()}
    assert set(types) == {"memory", "redis"}
    assert all(t.kind == "events" for t in types.values())
    assert types["memory"].config is MemoryEventsSettings
    assert types["redis"].config is RedisEventsSettings


@pytest.mark.parametrize(
    ("type_name", "raw", "message"),
    [
        ("memory", {"handler_timeout": 0}, "services.events.handler_timeout"),
        ("memory", {"handler_timeout": "soon"}, "services.events.handler_timeout"),
        ("memory", {"timeout": 3}, "services.events.timeout: unknown key"),
        ("redis", {}, "services.events.url: required key is missing"),
        ("redis", {"url": "http://127.0.0.1:6379"}, "services.events.url"),
        ("redis", {"url": "redis://127.0.0.1", "channel": " "}, "services.events.channel"),
        ("redis", {"url": "redis://127.0.0.1", "max_pending": 0}, "services.events.max_pending"),
    ],
)
def test_bad_settings_name_the_key(type_name: str, raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        settings(type_name, raw)


def test_settings_from_yaml_strings_are_coerced() -> None:
    parsed = settings("redis", {"url": "redis://127.0.0.1:6379/0", "handler_timeout": "2.5", "max_pending": "100"})
    assert (parsed.handler_timeout, parsed.max_pending) == (2.5, 100)


async def test_plugin_view_emits_with_its_name_and_is_built_once() -> None:
    service = await memory_service()
    handle = PluginHandle(name="accounts", instance=object())
    view = service.for_plugin(handle)
    assert isinstance(view, EventsView)
    assert service.for_plugin(handle) is view
    seen: list[Event] = []
    service.on("user.*", seen.append)
    await view.emit("user.created", {"id": 3})
    assert [(e.name, e.data, e.source) for e in seen] == [("user.created", {"id": 3}, "accounts")]
    await service.close()


async def test_plugin_unloaded_drops_only_that_plugins_subscriptions() -> None:
    service = await memory_service()
    mailer = service.for_plugin(PluginHandle(name="mailer", instance=None))
    audit = service.for_plugin(PluginHandle(name="audit", instance=None))
    calls: list[str] = []
    mailer.on("user.created", lambda e: calls.append("mailer"))
    mailer.once("user.deleted", lambda e: calls.append("mailer once"))
    audit.on("user.*", lambda e: calls.append("audit"))
    await service.plugin_unloaded("mailer")
    await service.plugin_unloaded("never-loaded")  # unknown plugins are fine
    await service.emit("user.created")
    await service.emit("user.deleted")
    assert calls == ["audit", "audit"]
    assert mailer.subscriptions() == []
    await service.close()


async def test_host_view_emits_kernel_events_with_source_xcore() -> None:
    service = await memory_service()
    plugin = service.for_plugin(PluginHandle(name="watcher", instance=None))
    seen: list[tuple[str, Any, str | None]] = []
    plugin.on("xcore.plugin.*", lambda e: seen.append((e.name, e.data, e.source)))
    await service.emit(kernel.PLUGIN_FAILED, {"plugin": "broken", "error": "ImportError: nope"})
    assert seen == [(kernel.PLUGIN_FAILED, {"plugin": "broken", "error": "ImportError: nope"}, "xcore")]
    with pytest.raises(ReservedEventName):
        await plugin.emit(kernel.PLUGIN_FAILED, {"plugin": "fake", "error": ""})
    await service.close()


async def test_host_view_subscribe_and_unsubscribe() -> None:
    service = await memory_service()
    calls: list[str] = []
    sub = service.on("a.b", lambda e: calls.append("on"))
    service.once("a.b", lambda e: calls.append("once"), priority=99)
    await service.emit("a.b")
    assert service.off(sub) == 1
    await service.emit("a.b")
    assert calls == ["once", "on"]
    await service.close()


async def test_handler_timeout_setting_applies() -> None:
    service = await memory_service(handler_timeout=0.05)

    async def hang(event: Event) -> None:
        await asyncio.Event().wait()

    service.on("slow.thing", hang)
    (result,) = await service.emit("slow.thing")
    assert result.timed_out
    await service.close()


async def test_health_reports_backend_and_counts() -> None:
    service = await memory_service()
    service.on("a.b", lambda e: None)
    assert await service.health() == {"backend": "memory", "subscriptions": 1, "pending": 0}
    await service.close()


async def test_close_waits_for_fire_and_forget_emits() -> None:
    service = await memory_service()
    done: list[str] = []

    async def slow(event: Event) -> None:
        await asyncio.sleep(0.02)
        done.append(event.name)

    service.on("late.event", slow)
    service.emit_nowait("late.event")
    await service.close()
    assert done == ["late.event"]


async def test_emit_nowait_from_a_sync_job_thread() -> None:
    service = await memory_service()
    seen: list[Any] = []
    service.on(kernel.SCHEDULER_JOB_FAILED, lambda e: seen.append(e.data))
    payload = {"plugin": "reports", "job_id": "nightly", "error": "ZeroDivisionError"}
    future = await asyncio.to_thread(service.emit_nowait, kernel.SCHEDULER_JOB_FAILED, payload)
    await asyncio.wrap_future(future)  # type: ignore[arg-type]
    assert seen == [payload]
    await service.close()
