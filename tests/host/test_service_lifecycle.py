"""Services learn about the host through the optional protocols of xcore._services.hooks, and only those."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from xcore import Xcore, hookimpl
from xcore._events import on
from xcore.backends import PluginHandle, ServiceBase, ServiceSettings, ServiceSetup, ServiceType, lifecycle_methods
from xcore.sdk import TrustedBase
from xcore.testing.conformance.base import ConformanceSuite

from .support import config

XCORE = Path(__file__).resolve().parents[2] / "xcore"


class Watcher(ServiceBase):
    """A third-party backend implementing every lifecycle method; it journals the calls."""

    journal: list[str] = []

    def __init__(self, settings: ServiceSettings, setup: ServiceSetup) -> None:
        self.inspect_only = setup.inspect_only

    async def plugin_loading(self, plugin: PluginHandle) -> None:
        self.journal.append(f"loading {plugin.name}")

    async def plugin_loaded(self, plugin: PluginHandle) -> None:
        self.journal.append(f"loaded {plugin.name}")

    async def plugin_unloaded(self, plugin_name: str) -> None:
        self.journal.append(f"unloaded {plugin_name}")

    async def host_started(self) -> None:
        self.journal.append("host started")

    async def host_stopping(self) -> None:
        self.journal.append("host stopping")
        raise RuntimeError("a failing lifecycle method is logged, not fatal")


class WatcherBackend:
    @hookimpl
    def xcore_register_service(self) -> list[ServiceType]:
        return [ServiceType(kind="extension", name="watcher", config=ServiceSettings, factory=Watcher)]


class Listener(TrustedBase):
    heard: list[str] = []

    async def on_load(self) -> None:
        Watcher.journal.append("on_load listener")
        await self.ctx.events.emit("own.loading")

    @on("own.*")
    async def hear(self, event: Any) -> None:
        self.heard.append(event.name)


def boot_config() -> dict[str, Any]:
    return config(services={"events": {"backend": "memory"}, "extensions": {"watch": {"type": "watcher"}}})


async def test_a_backend_is_told_of_plugins_and_of_the_host_through_its_methods() -> None:
    Watcher.journal = []
    host = Xcore(config=boot_config(), plugins={"backend": WatcherBackend(), "listener": Listener}, discover=False)
    await host.boot()
    service = host.get_service("ext.watch")
    assert lifecycle_methods(service) == [
        "plugin_loading",
        "plugin_loaded",
        "plugin_unloaded",
        "host_started",
        "host_stopping",
    ]
    assert service.inspect_only is False
    await host.shutdown()
    assert [line for line in Watcher.journal if "backend" not in line] == [
        "loading listener",
        "on_load listener",
        "loaded listener",
        "host started",
        "host stopping",
        "unloaded listener",
    ]


async def test_the_events_service_subscribes_on_handlers_before_on_load() -> None:
    Listener.heard = []
    host = Xcore(config=boot_config(), plugins={"backend": WatcherBackend(), "listener": Listener}, discover=False)
    await host.boot()
    try:
        assert Listener.heard == ["own.loading"]  # emitted from on_load: the @on handler was already there
    finally:
        await host.shutdown()


async def test_an_inspecting_host_tells_its_services() -> None:
    host = Xcore(config=boot_config(), plugins={"backend": WatcherBackend()}, discover=False, inspect_only=True)
    await host.boot()
    try:
        assert host.get_service("ext.watch").inspect_only is True
    finally:
        await host.shutdown()


def _sources() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text())) for path in XCORE.rglob("*.py")]


def test_no_service_is_probed_by_name_outside_the_protocols() -> None:
    probes = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr")
                and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value in ("plugin_unloaded", "plugin_loaded", "host_started", "host_stopping")
            ):
                probes.append(f"{path.relative_to(XCORE)}:{node.lineno}")
    assert probes == []


def test_backends_do_not_import_the_application_cli_and_use_no_hidden_switch() -> None:
    offenders = []
    for path, tree in _sources():
        if "builtin_services" not in path.parts:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "xcore.cli":
                offenders.append(f"{path.relative_to(XCORE)}: imports xcore.cli")
        if "ContextVar" in path.read_text() and path.name == "service.py":
            offenders.append(f"{path.relative_to(XCORE)}: a ContextVar in a service")
    assert offenders == []


class WrongShapes(ServiceBase):
    def plugin_unloaded(self, plugin_name: str) -> None:  # not a coroutine: the container would await None
        return None


async def test_the_conformance_suites_check_the_lifecycle_methods() -> None:
    await ConformanceSuite().test_lifecycle_methods_follow_the_protocols(Watcher(ServiceSettings(), setup()))
    with pytest.raises(AssertionError, match=r"WrongShapes\.plugin_unloaded must be 'async def'"):
        await ConformanceSuite().test_lifecycle_methods_follow_the_protocols(WrongShapes())


def setup() -> ServiceSetup:
    return ServiceSetup.standalone("ext.watch", "services.extensions.watch")
