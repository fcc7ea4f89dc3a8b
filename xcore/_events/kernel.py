"""Kernel events: what the host itself announces, and the payload each one carries.

The host emits these with ``source="xcore"``; plugins follow them like any event
(``ctx.events.on(PLUGIN_FAILED, handler)``, or ``"xcore.plugin.*"``). They describe the process
that emits them, so the redis backend keeps them in process (a worker hears about its own plugins,
not about every worker's), and plugins cannot emit names in the ``xcore.`` namespace.
"""

from __future__ import annotations

from typing import Any, TypedDict

PLUGIN_LOADED = "xcore.plugin.loaded"
PLUGIN_FAILED = "xcore.plugin.failed"
PLUGIN_UNLOADED = "xcore.plugin.unloaded"
SERVICE_UNHEALTHY = "xcore.service.unhealthy"
SERVICE_RECOVERED = "xcore.service.recovered"
SCHEDULER_JOB_FAILED = "xcore.scheduler.job_failed"
LOOP_STALLED = "xcore.loop.stalled"
TASK_FAILED = "xcore.tasks.task_failed"
HOST_STARTED = "xcore.host.started"
HOST_STOPPING = "xcore.host.stopping"
BOOTED = "xcore.booted"
"""The original XCore's name for boot finished; sent right after HOST_STARTED with the same payload."""


class PluginLoaded(TypedDict):
    """A plugin finished ``on_load`` and its routes and actions are live."""

    plugin: str
    version: str | None


class PluginFailed(TypedDict):
    """A plugin could not load (import, ``on_load``, router, missing requirement...)."""

    plugin: str
    error: str


class PluginUnloaded(TypedDict):
    """A plugin's ``on_unload`` ran; its subscriptions are removed right after this event."""

    plugin: str


class ServiceUnhealthy(TypedDict):
    """A service's health check started failing (sent once per outage, not on every check)."""

    service: str
    error: str


class ServiceRecovered(TypedDict):
    """A service that was unhealthy answers its health check again."""

    service: str


class SchedulerJobFailed(TypedDict):
    """A scheduled job raised; ``plugin`` is the job's owner."""

    plugin: str
    job_id: str
    error: str


class LoopStalled(TypedDict):
    """Something held the event loop past ``app.stall_threshold`` (:mod:`xcore._observability.stalls`).

    ``activity`` is the route (method and template), job, action or event handler that ran; ``where``
    the innermost line of plugin code (``file.py:12 in func``); either may say it is unknown.
    """

    seconds: float
    plugin: str | None
    activity: str
    where: str | None


class TaskFailed(TypedDict):
    """A run of a task raised; ``dead`` is true when its retries are used up (it is now a dead letter)."""

    plugin: str
    task: str
    task_id: str
    attempt: int
    error: str
    dead: bool


class HostStarted(TypedDict):
    """Boot finished: ``plugins`` lists the loaded plugins in load order (failures came as PLUGIN_FAILED)."""

    plugins: list[str]


class HostStopping(TypedDict):
    """Shutdown began (empty payload); plugins are still loaded when this is delivered."""


PAYLOADS: dict[str, type[Any]] = {
    PLUGIN_LOADED: PluginLoaded,
    PLUGIN_FAILED: PluginFailed,
    PLUGIN_UNLOADED: PluginUnloaded,
    SERVICE_UNHEALTHY: ServiceUnhealthy,
    SERVICE_RECOVERED: ServiceRecovered,
    SCHEDULER_JOB_FAILED: SchedulerJobFailed,
    LOOP_STALLED: LoopStalled,
    TASK_FAILED: TaskFailed,
    HOST_STARTED: HostStarted,
    HOST_STOPPING: HostStopping,
    BOOTED: HostStarted,
}
"""Every kernel event name and the ``TypedDict`` describing its ``data``."""

KERNEL_EVENTS: tuple[str, ...] = tuple(PAYLOADS)
