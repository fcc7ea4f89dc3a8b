"""The host announces its lifecycle on the event bus (``xcore._events.kernel``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from xcore import Xcore, hookimpl
from xcore._errors import BootError
from xcore._events import kernel
from xcore.sdk import TrustedBase

from .support import config
from .test_services import Probe, ProbeBackend

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
        plugins={"probes": ProbeBackend(), "listener": Listener, "broken": Broken},
        discover=False,
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
    from xcore._events import on

    class Deaf(TrustedBase):
        @on("user.created")
        async def greet(self, event: Any) -> None: ...

    host = Xcore(config=config(), plugins={"deaf": Deaf}, discover=False)  # events disabled
    await host.boot()
    await host.shutdown()
    assert "plugin 'deaf' has @on(...) event handlers, but services.events is disabled" in caplog.text


class StartWatcher(TrustedBase):
    """Listens to the kernel events, implements ``xcore_host_started`` and schedules a job due now."""

    started: list[str] = []
    ran: list[str] = []

    async def on_load(self) -> None:
        self.ctx.events.on("xcore.**", lambda event: JOURNAL.append((event.name, event.data)))
        self.get_service("scheduler").add_job(
            func=self._tick, trigger="interval", seconds=0.05, id="tick", next_run_time=datetime.now(UTC)
        )

    def _tick(self) -> None:
        self.ran.append("tick")

    @hookimpl
    def xcore_host_started(self, host: Any) -> None:
        self.started.append(host.config.app.name)


async def test_strict_mode_fails_before_the_boot_is_announced_and_closes_every_service() -> None:
    JOURNAL.clear()
    StartWatcher.started.clear()
    StartWatcher.ran.clear()
    Probe.journal.clear()
    host = Xcore(
        config=config(
            app={"strict": True},
            services={
                "events": {"backend": "memory"},
                "scheduler": {"backend": "memory"},
                "extensions": {"probe": {"type": "probe"}},
            },
        ),
        plugins={"probes": ProbeBackend(), "watcher": StartWatcher, "broken": Broken},
        discover=False,
    )
    with pytest.raises(BootError, match="strict mode: plugins failed: broken: on_load raised RuntimeError: no config"):
        await host.boot()
    await asyncio.sleep(0.2)  # a resumed scheduler would have run the due job by now
    assert StartWatcher.started == []  # xcore_host_started never broadcast
    assert kernel.HOST_STARTED not in [name for name, _ in JOURNAL]
    assert StartWatcher.ran == []  # the scheduler never resumed its jobs
    assert JOURNAL == [
        (kernel.PLUGIN_LOADED, {"plugin": "watcher", "version": None}),
        (kernel.PLUGIN_FAILED, {"plugin": "broken", "error": "on_load raised RuntimeError: no config"}),
        (kernel.PLUGIN_UNLOADED, {"plugin": "watcher"}),
    ]
    assert Probe.journal == ["start ext.probe", "close ext.probe"]  # services closed, in reverse, once
    assert host.services.entries() == [] and not host.booted
    assert host.records["watcher"].state == "unloaded"
