"""The scheduler service: one APScheduler per host, a per-plugin view of it, its lifecycle and health.

Lifecycle, as the host drives it:

* ``start()`` starts the scheduler *paused*, adds the jobs of ``services.scheduler.jobs`` and checks
  the store. Stored jobs are not run yet: their plugins are not loaded.
* ``host_started()`` (a service lifecycle method, :mod:`xcore._services.hooks`) resumes processing once every plugin has
  loaded, so a stored job due at boot runs against its freshly loaded plugin.
* ``plugin_unloaded(name)`` (called by the container after the plugin's ``on_unload``) removes that
  plugin's jobs on the memory backend; persistent stores keep them for the next start.
* ``host_stopping()`` pauses processing; ``close()`` waits up to ``shutdown_timeout`` for running
  jobs, cancels the rest and stops the scheduler.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Iterable
from contextlib import suppress
from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING
from apscheduler.util import undefined
from tzlocal import get_localzone

from xcore._builtin_services.scheduler.claiming import ClaimingScheduler
from xcore._builtin_services.scheduler.errors import StoreUnavailableError
from xcore._builtin_services.scheduler.outcomes import JobFailure, JobOutcome
from xcore._builtin_services.scheduler.runner import JobRunner, owner_label, split_id
from xcore._builtin_services.scheduler.settings import SchedulerSettings
from xcore._builtin_services.scheduler.stores import ClaimingStore
from xcore._builtin_services.scheduler.targets import JobTarget, resolve
from xcore._builtin_services.scheduler.view import JobRequest, PluginScheduler, ScheduledJob
from xcore._events import kernel
from xcore._services import ServiceBase, ServiceSetup
from xcore.sdk._context import PluginHandle

log = logging.getLogger("xcore.scheduler")

FailureListener = Callable[[JobFailure], Awaitable[None] | None]

STORE_RETRY_INTERVAL = 2.0


class SchedulerService(ServiceBase):
    """The ``scheduler`` service. Plugins get :meth:`for_plugin` views; see the module docstring."""

    def __init__(self, settings: SchedulerSettings, setup: ServiceSetup, store: ClaimingStore) -> None:
        self.settings = settings
        self.setup = setup
        self.store = store
        self.timezone: tzinfo = ZoneInfo(settings.timezone) if settings.timezone else get_localzone()
        self.scheduler = ClaimingScheduler(
            poll_interval=settings.poll_interval if store.shared else None,
            timezone=self.timezone,
            jobstore_retry_interval=STORE_RETRY_INTERVAL,
            logger=logging.getLogger("xcore.scheduler.apscheduler"),
            job_defaults={
                "misfire_grace_time": settings.misfire_grace_time,
                "coalesce": settings.coalesce,
                "max_instances": settings.max_instances,
            },
        )
        self.scheduler.add_jobstore(store, "default")
        self.lock = threading.RLock()
        self.registered: set[str] = set()
        """Stored ids added by this process since their plugin loaded (re-adding one is a conflict)."""
        self._runner: JobRunner | None = None
        self._failure_listeners: list[FailureListener] = []
        self._skips: dict[str, str] = {}
        self._observe_only = setup.inspect_only
        self._static_retry: asyncio.Task[None] | None = None
        self._app = PluginScheduler(self, "", None)

    @property
    def backend(self) -> str:
        return self.store.backend

    @property
    def persistent(self) -> str | None:
        """The backend's name when jobs are stored outside this process (and so pickled), else ``None``."""
        return self.store.backend if self.store.shared else None

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._runner = JobRunner(self, asyncio.get_running_loop(), self.settings.max_workers)
        self.scheduler.add_executor(self._runner, "default")
        self.scheduler.start(paused=True)
        try:
            await asyncio.to_thread(self.store.prepare)
            await asyncio.to_thread(self._sync_config_jobs)
            await asyncio.to_thread(self.store.ping)
        except StoreUnavailableError:
            if self.settings.jobs:
                self._static_retry = asyncio.create_task(self._retry_config_jobs())
            raise

    async def host_started(self) -> None:
        """Every plugin has loaded: start running jobs (unless this host only inspects them)."""
        if self._observe_only or not self.running:
            return
        self.scheduler.resume()

    async def host_stopping(self) -> None:
        """Shutdown begins: claim no more runs; running jobs go on until ``close()``."""
        await self._stop_claiming()

    async def _stop_claiming(self) -> None:
        """Pause, and let every run claimed so far start, so none is claimed then skipped at unload."""
        if self.scheduler.state == STATE_RUNNING:
            self.scheduler.pause()
        if self.running:
            await asyncio.to_thread(self.scheduler.settle)
        for _ in range(3):  # the runner's spawn callbacks, then each new task's first step (which resolves)
            await asyncio.sleep(0)

    async def plugin_unloaded(self, plugin_name: str) -> None:
        """Forget what ``plugin_name`` registered; on the memory backend, remove its jobs."""
        prefix = f"{plugin_name}:"
        with self.lock:
            for stored in [stored for stored in self.registered if stored.startswith(prefix)]:
                self.registered.discard(stored)
        if self.store.shared or not self.running:
            return
        for job in self.scheduler.get_jobs():
            if job.id.startswith(prefix):
                with suppress(JobLookupError):  # the plugin's own on_unload may have removed it
                    self.scheduler.remove_job(job.id)

    async def close(self) -> None:
        if self._static_retry is not None:
            self._static_retry.cancel()
        await self._stop_claiming()
        if self._runner is not None:
            await self._runner.drain(self.settings.shutdown_timeout)
        if self.running:
            await asyncio.to_thread(self.scheduler.shutdown, False)

    async def health(self) -> dict[str, Any]:
        if not self.running or not self.scheduler.loop_alive:
            raise RuntimeError("the scheduler is not running")
        await asyncio.to_thread(self.store.ping)
        jobs = await asyncio.to_thread(self.store.count)
        state = "paused" if self.scheduler.state == STATE_PAUSED else "running"
        return {
            "backend": self.backend,
            "state": state,
            "jobs": jobs,
            "running_jobs": self._runner.active if self._runner else 0,
        }

    # ------------------------------------------------------------------ plugins' views

    def for_plugin(self, plugin: PluginHandle) -> PluginScheduler:
        """The scheduler as ``plugin`` sees it: only its own jobs, under the ids it chose."""
        return PluginScheduler(self, plugin.name, plugin.instance)

    # ``host.get_service("scheduler")`` outside any plugin: the same API, in the application's own scope

    def add_job(self, func: Callable[..., Any] | str, trigger: Any = None, **options: Any) -> ScheduledJob:
        return self._app.add_job(func, trigger, **options)

    def get_jobs(self) -> list[ScheduledJob]:
        return self._app.get_jobs()

    def get_job(self, job_id: str) -> ScheduledJob | None:
        return self._app.get_job(job_id)

    def remove_job(self, job_id: str) -> None:
        self._app.remove_job(job_id)

    def pause_job(self, job_id: str) -> ScheduledJob:
        return self._app.pause_job(job_id)

    def resume_job(self, job_id: str) -> ScheduledJob | None:
        return self._app.resume_job(job_id)

    def reschedule_job(self, job_id: str, trigger: Any = None, **trigger_args: Any) -> ScheduledJob:
        return self._app.reschedule_job(job_id, trigger, **trigger_args)

    # ------------------------------------------------------------------ failure listeners

    def add_failure_listener(self, callback: FailureListener) -> None:
        """Call ``callback(JobFailure)`` on the event loop whenever a job raises (it may be a coroutine)."""
        self._failure_listeners.append(callback)

    def remove_failure_listener(self, callback: FailureListener) -> None:
        if callback in self._failure_listeners:
            self._failure_listeners.remove(callback)

    async def job_failed(self, failure: JobFailure) -> None:
        """Tell the failure listeners, and every plugin through the kernel event when events exist."""
        await self._announce(failure)
        for callback in list(self._failure_listeners):
            try:
                result = callback(failure)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("scheduler failure listener %r raised", callback)

    async def _announce(self, failure: JobFailure) -> None:
        try:
            events = self.setup.services("events")
        except KeyError:
            return
        data = {
            "plugin": failure.plugin or "",
            "job_id": failure.job_id,
            "error": f"{type(failure.error).__name__}: {failure.error}",
        }
        try:
            await events.emit(kernel.SCHEDULER_JOB_FAILED, data, source="xcore")
        except Exception:
            log.exception("kernel event %s could not be delivered", kernel.SCHEDULER_JOB_FAILED)

    # ------------------------------------------------------------------ used by the runner and the views

    def resolve(self, target: JobTarget) -> Callable[..., Any]:
        return resolve(target, self._plugin_instance)

    def _plugin_instance(self, name: str) -> object | None:
        handle = self.setup.plugins(name)
        return handle.instance if handle is not None else None

    def report_skip(self, stored_id: str, reason: str) -> None:
        """Log a skipped run once per reason (a job of an uninstalled plugin would log at every run)."""
        if self._skips.get(stored_id) != reason:
            owner, job_id = split_id(stored_id)
            log.warning(
                "job %r of %s skipped: %s; it stays stored and is skipped until this changes",
                job_id,
                owner_label(owner),
                reason,
            )
            self._skips[stored_id] = reason

    def report_resolved(self, stored_id: str) -> None:
        self._skips.pop(stored_id, None)

    async def record_outcome(self, stored_id: str, outcome: JobOutcome) -> None:
        try:
            if self.store.shared:
                await asyncio.to_thread(self.store.record_outcome, stored_id, outcome)
            else:
                self.store.record_outcome(stored_id, outcome)
        except Exception as exc:
            log.warning("could not record the outcome of job %r: %s", stored_id, exc)

    def outcomes(self, stored_ids: Iterable[str]) -> dict[str, JobOutcome]:
        return self.store.outcomes(stored_ids)

    # ------------------------------------------------------------------ inspection (``xcore jobs``)

    def describe_jobs(self) -> list[dict[str, Any]]:
        """Every job of every owner: plugin, id, trigger, next run, what it calls and its last outcome."""
        jobs = self.scheduler.get_jobs()
        outcomes = self.outcomes(job.id for job in jobs)
        rows = []
        for job in jobs:
            snapshot = ScheduledJob(job, self._app, outcomes.get(job.id))
            target: JobTarget = job.args[0]
            rows.append(
                {
                    "plugin": snapshot.plugin or ("(config)" if target.from_config else "(app)"),
                    "id": snapshot.id,
                    "trigger": str(snapshot.trigger),
                    "next_run": snapshot.next_run_time.isoformat(timespec="seconds")
                    if snapshot.next_run_time
                    else "paused",
                    "func": snapshot.func_ref,
                    "last_outcome": snapshot.last_outcome.summary() if snapshot.last_outcome else "never run",
                }
            )
        return rows

    # ------------------------------------------------------------------ jobs from the configuration

    def _sync_config_jobs(self) -> None:
        wanted = set()
        for spec in self.settings.jobs:
            options = {
                key: getattr(spec, key)
                for key in ("misfire_grace_time", "coalesce", "max_instances")
                if getattr(spec, key) is not None
            }
            self._app._add(
                JobRequest(
                    func=spec.func,
                    trigger=spec.trigger,
                    trigger_args=spec.trigger_args,
                    args=spec.args,
                    kwargs=spec.kwargs,
                    id=spec.job_id,
                    name=spec.name,
                    misfire_grace_time=options.get("misfire_grace_time", undefined),
                    coalesce=options.get("coalesce", undefined),
                    max_instances=options.get("max_instances", undefined),
                    replace_existing=True,
                    from_config=True,
                )
            )
            wanted.add(f":{spec.job_id}")
        if not self.store.shared:
            return
        for job in self.scheduler.get_jobs():
            if job.id.startswith(":") and job.args[0].from_config and job.id not in wanted:
                log.info("removing job %r: it is no longer in services.scheduler.jobs", split_id(job.id)[1])
                with suppress(JobLookupError):
                    self.scheduler.remove_job(job.id)

    async def _retry_config_jobs(self) -> None:
        while True:
            await asyncio.sleep(STORE_RETRY_INTERVAL)
            try:
                await asyncio.to_thread(self.store.prepare)  # the old layout first, never after a write
                await asyncio.to_thread(self._sync_config_jobs)
            except StoreUnavailableError:
                continue
            log.warning("scheduler store answers again: jobs of services.scheduler.jobs are in place")
            return
