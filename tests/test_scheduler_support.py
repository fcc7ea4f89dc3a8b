"""Shared helpers of the scheduler tests (no tests here): live plugin registries and bounded waits."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from xcore._builtin_services.scheduler import SchedulerService, current_run
from xcore._services import ServiceSetup
from xcore.sdk._context import PluginHandle

WAIT = 10.0
"""Upper bound of every wait for a job to run: a hung scheduler fails the test instead of hanging it."""


class LivePlugins:
    """What the host's ``setup.plugins`` answers: the plugins loaded right now."""

    def __init__(self) -> None:
        self.handles: dict[str, PluginHandle] = {}

    def load(self, name: str, instance: object) -> PluginHandle:
        self.handles[name] = PluginHandle(name, instance)
        return self.handles[name]

    def unload(self, name: str) -> None:
        self.handles.pop(name, None)

    def __call__(self, name: str) -> PluginHandle | None:
        return self.handles.get(name)


def make_setup(plugins: LivePlugins, services: dict[str, Any] | None = None, app: str = "testapp") -> ServiceSetup:
    return ServiceSetup.standalone("scheduler", "services.scheduler", app, plugins.handles, services)


async def running(service: SchedulerService) -> SchedulerService:
    """Start ``service`` and let it run jobs, as a booted host does."""
    await service.start()
    await service.host_started()
    return service


async def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)


class Recorder:
    """A plugin-like object whose methods jobs call; holds a lock, so it cannot be pickled."""

    def __init__(self, label: str = "") -> None:
        self.label = label
        self.lock = threading.Lock()
        self.calls: list[tuple[Any, ...]] = []
        self.threads: list[str] = []

    def tick(self, *args: Any) -> None:
        with self.lock:
            self.calls.append(args)
            self.threads.append(threading.current_thread().name)

    async def atick(self, *args: Any) -> None:
        self.calls.append(args)
        self.threads.append(threading.current_thread().name)

    def stamp(self) -> None:
        """Record the scheduled time of the run, the key that must be unique across processes."""
        run = current_run()
        assert run is not None
        with self.lock:
            self.calls.append((run.job_id, run.scheduled_for))

    def boom(self) -> None:
        raise ValueError(f"boom from {self.label or 'recorder'}")
