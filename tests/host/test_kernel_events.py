"""The host announces its lifecycle on the event bus (``xcore.events.kernel``)."""

from __future__ import annotations

from typing import Any

import pytest

from xcore import Xcore
from xcore.events import kernel
from xcore.sdk import TrustedBase

from .support import config
from .test_services import ProbeBackend

JOURNAL: list[tuple[str, Any]] = []


class Listener(TrustedBase):
    async def on_load(self) -> None:
        self.ctx.events.on("xcore.**", lambda event: JOURNAL.append((event.name, event.data)))


class Broken(TrustedBase):
    load_after = ("listener",)

    async def on_load(self) -> None:
        raise RuntimeError("no config")


async def test_plugin_lifecycle_and_service_health_transitions_are_announced() -> None:
    JOURNAL.clear()
    host = Xcore(
        config=config(services={"events": {"backend": "memory"}, "extensions": {"probe": {"type": "probe"}}}),
        plugins={"probes": ProbeBackend(), "listener": Listener, "broken": Broken}, discover=False,
    )
    await host.boot()
    probe = host.get_service("ext.probe")
    await host.health()
    probe.settings = probe.settings.model_copy(update={"healthy": False})
    await host.health()
    await host.health()  # still down: announced once per outage
    probe.settings = probe.settings.model_copy(update={"healthy": True})
    await host.health()
    await host.shutdown()
    assert JOURNAL == [
        (kernel.PLUGIN_LOADED, {"plugin": "listener", "version": None}),  # it subscribed in its own on_load
        (kernel.PLUGIN_LOADED, {"plugin": "probes", "version": None}),
        (kernel.PLUGIN_FAILED, {"plugin": "broken", "error": "on_load raised RuntimeError: no config"}),
        (kernel.HOST_STARTED, {"plugins": ["listener", "probes"]}),
        (kernel.BOOTED, {"plugins": ["listener", "probes"]}),  # the original XCore's name for it
        (kernel.SERVICE_UNHEALTHY, {"service": "ext.probe", "error": "RuntimeError: backend says no"}),
        (kernel.SERVICE_RECOVERED, {"service": "ext.probe"}),
        (kernel.HOST_STOPPING, {}),
        (kernel.PLUGIN_UNLOADED, {"plugin": "probes"}),
        (kernel.PLUGIN_UNLOADED, {"plugin": "listener"}),  # its subscriptions go right after this event
    ]


async def test_event_handlers_without_an_events_service_are_reported(caplog: pytest.LogCaptureFixture) -> None:
    from xcore.events import on

    class Deaf(TrustedBase):
        @on("user.created")
        async def greet(self, event: Any) -> None: ...

    host = Xcore(config=config(), plugins={"deaf": Deaf}, discover=False)  # events disabled
    await host.boot()
    await host.shutdown()
    assert "plugin 'deaf' has @on(...) event handlers, but services.events is disabled" in caplog.text
