"""What a plugin gets from ``get_service("scheduler")``: the scheduler API, scoped to its own jobs.

Job ids are stored as ``"<plugin>:<id>"``, so two plugins may use the same id and each sees, changes
and removes only its own jobs, under the ids it chose. The methods keep APScheduler 3's names and
synchronous calling style (``add_job``, ``get_jobs``, ``get_job``, ``remove_job``, ``pause_job``,
``resume_job``, ``reschedule_job``); the job objects returned are snapshots of the job at that time.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.triggers.base import BaseTrigger
from apscheduler.util import get_callable_name, undefined

from xcore._builtin_services.scheduler.errors import DuplicateJobError, InvalidJobError, JobNotFoundError
from xcore._builtin_services.scheduler.outcomes import JobOutcome
from xcore._builtin_services.scheduler.runner import split_id
from xcore._builtin_services.scheduler.targets import RUN_TARGET_REF, JobTarget, Unresolved, make_target
from xcore._builtin_services.scheduler.triggers import build_trigger, parse_datetime
from xcore._observability import tracing

if TYPE_CHECKING:
    from xcore._builtin_services.scheduler.core import SchedulerCore


class ScheduledJob:
    """A job as its plugin sees it: ``id`` is the id the plugin chose; ``next_run_time`` is ``None`` when paused.

    ``last_outcome`` is the :class:`~xcore._builtin_services.scheduler.outcomes.JobOutcome` of its last
    run (``None`` before the first). ``pause()``, ``resume()``, ``reschedule()`` and ``remove()`` act on
    the stored job, as APScheduler's ``Job`` methods do.
    """

    __slots__ = (
        "_pending",
        "_target",
        "_view",
        "coalesce",
        "id",
        "last_outcome",
        "max_instances",
        "misfire_grace_time",
        "name",
        "next_run_time",
        "plugin",
        "trigger",
    )

    def __init__(self, job: Job, view: PluginScheduler, outcome: JobOutcome | None = None) -> None:
        owner, job_id = split_id(job.id)
        self.id: str = job_id
        self.plugin: str | None = owner or None
        self.name: str = job.name
        self.trigger: BaseTrigger = job.trigger
        self.next_run_time: datetime | None = getattr(job, "next_run_time", None)
        self.misfire_grace_time: int | None = getattr(job, "misfire_grace_time", None)
        self.coalesce: bool | None = getattr(job, "coalesce", None)
        self.max_instances: int | None = getattr(job, "max_instances", None)
        self.last_outcome = outcome
        self._target: JobTarget = job.args[0]
        self._pending: bool = bool(job.pending)
        self._view = view

    @property
    def func_ref(self) -> str:
        """What the job calls: ``plugin.method`` or ``package.module:function``."""
        return self._target.describe()

    @property
    def func(self) -> Callable[..., Any] | str:
        """The callable the job would run now, or its reference if it cannot be resolved here."""
        try:
            return self._view._service.resolve(self._target)
        except Unresolved:
            return self.func_ref

    @property
    def args(self) -> tuple[Any, ...]:
        return self._target.arguments()[0]

    @property
    def kwargs(self) -> dict[str, Any]:
        return self._target.arguments()[1]

    @property
    def pending(self) -> bool:
        """True while the scheduler has not started: the job is not in its store yet."""
        return self._pending

    def pause(self) -> ScheduledJob:
        return self._view.pause_job(self.id)

    def resume(self) -> ScheduledJob | None:
        return self._view.resume_job(self.id)

    def reschedule(self, trigger: Any, **trigger_args: Any) -> ScheduledJob:
        return self._view.reschedule_job(self.id, trigger, **trigger_args)

    def remove(self) -> None:
        self._view.remove_job(self.id)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ScheduledJob):
            return (self.plugin, self.id) == (other.plugin, other.id)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.plugin, self.id))

    def __repr__(self) -> str:
        return f"<ScheduledJob (id={self.id} name={self.name} plugin={self.plugin})>"

    def __str__(self) -> str:
        status = f"next run at: {self.next_run_time.isoformat()}" if self.next_run_time else "paused"
        return f"{self.name} (trigger: {self.trigger}, {status})"


@dataclass(frozen=True, kw_only=True)
class JobRequest:
    """One ``add_job`` call (or one ``services.scheduler.jobs`` entry), as :meth:`PluginScheduler._add` takes it.

    ``undefined`` (APScheduler's marker) leaves an option to the scheduler's job defaults.
    """

    func: Callable[..., Any] | str
    trigger: str | BaseTrigger | None = None
    trigger_args: dict[str, Any] = field(default_factory=dict)
    args: list[Any] | tuple[Any, ...] | None = None
    kwargs: dict[str, Any] | None = None
    id: str | None = None
    name: str | None = None
    misfire_grace_time: int | object | None = undefined
    coalesce: bool | object = undefined
    max_instances: int | object = undefined
    next_run_time: datetime | str | object | None = undefined
    replace_existing: bool = False
    from_config: bool = False
    run_in: str = ""
    """A task name: each due run is enqueued on the tasks service instead of running here."""


class PluginScheduler:
    """The scheduler as seen by one plugin (``owner``); ``""`` is the application's own scope."""

    def __init__(self, service: SchedulerCore, owner: str, instance: object | None) -> None:
        self._service = service
        self._owner = owner
        self._instance = instance
        self._prefix = f"{owner}:"

    @property
    def plugin(self) -> str | None:
        return self._owner or None

    @property
    def running(self) -> bool:
        return self._service.running

    @property
    def timezone(self) -> tzinfo:
        return self._service.timezone

    def _stored(self, job_id: str) -> str:
        if not isinstance(job_id, str) or not job_id:
            raise InvalidJobError(f"a job id must be a non-empty string, not {job_id!r}")
        return self._prefix + job_id

    def _snapshots(self, jobs: list[Job]) -> list[ScheduledJob]:
        outcomes = self._service.outcomes([job.id for job in jobs])
        return [ScheduledJob(job, self, outcomes.get(job.id)) for job in jobs]

    # ------------------------------------------------------------------ APScheduler-style API

    def add_job(
        self,
        func: Callable[..., Any] | str,
        trigger: str | BaseTrigger | None = None,
        args: list[Any] | tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        id: str | None = None,
        name: str | None = None,
        misfire_grace_time: Any = undefined,
        coalesce: Any = undefined,
        max_instances: Any = undefined,
        next_run_time: Any = undefined,
        jobstore: str = "default",
        executor: str = "default",
        replace_existing: bool = False,
        job_id: str | None = None,
        run_in: str | None = None,
        **trigger_args: Any,
    ) -> ScheduledJob:
        """Schedule ``func``; see APScheduler's ``add_job``. Bad input raises :class:`InvalidJobError`.

        ``job_id=`` is the original XCore's spelling of ``id=``.

        Adding an id that exists raises :class:`DuplicateJobError` unless ``replace_existing=True``;
        except that on a persistent store, a job this process has not added since its plugin loaded
        and that is identical (same function, trigger and arguments) is kept as it is: a plugin that
        adds its jobs in ``on_load`` works unchanged across restarts and with several worker processes.
        ``jobstore`` and ``executor`` exist for APScheduler compatibility; only ``"default"`` is valid.

        ``run_in="tasks"`` hands each due run to the tasks service instead of running it here: ``func``
        is one of the plugin's ``@task`` methods (or its task name) and ``kwargs`` its payload. The run
        is enqueued with the idempotency key ``scheduler:<job id>:<due time>``, so it is enqueued once
        per due time across processes, and runs on a worker.
        """
        task_name = ""
        if run_in is not None:
            func, task_name = self._task_target(func, run_in, args)
        if job_id is not None:
            if id is not None and id != job_id:
                raise InvalidJobError(
                    f"add_job got id={id!r} and job_id={job_id!r}: job_id is the old spelling of id, give one of them"
                )
            id = job_id
        for option, value in (("jobstore", jobstore), ("executor", executor)):
            if value != "default":
                raise InvalidJobError(
                    f"{option}={value!r}: the XCore scheduler has one {option}, 'default' "
                    "(the store is chosen by services.scheduler.backend)"
                )
        return self._add(
            JobRequest(
                func=func,
                trigger=trigger,
                trigger_args=trigger_args,
                args=args,
                kwargs=kwargs,
                id=id,
                name=name,
                misfire_grace_time=misfire_grace_time,
                coalesce=coalesce,
                max_instances=max_instances,
                next_run_time=next_run_time,
                replace_existing=replace_existing,
                run_in=task_name,
            )
        )

    def _add(self, request: JobRequest) -> ScheduledJob:
        """Schedule one job (from ``add_job``, or from ``services.scheduler.jobs`` when ``from_config``)."""
        service = self._service
        job_id = uuid4().hex if request.id is None else request.id
        stored = self._stored(job_id)
        if tracing.TRACER is not None:
            tracing.job_added(stored)  # its first run continues the trace of the request that added it
        built = build_trigger(request.trigger, request.trigger_args, service.timezone)
        target, resolved = make_target(
            request.func, self._owner, self._instance, request.args, request.kwargs, service.persistent
        )
        target.from_config = request.from_config
        target.run_in = request.run_in
        options = _job_options(request.misfire_grace_time, request.coalesce, request.max_instances)
        if request.next_run_time is undefined:
            first = built.get_next_fire_time(None, datetime.now(service.timezone))
            if first is None:
                raise InvalidJobError(f"job {job_id!r}: its trigger {built} never fires (is end_date in the past?)")
        else:
            when = request.next_run_time
            first = None if when is None else parse_datetime(when, service.timezone, "next_run_time")
        with service.lock:
            if not request.replace_existing:
                kept = self._keep_identical(stored, job_id, target, built)
                if kept is not None:
                    return kept
            try:
                job = service.scheduler.add_job(
                    RUN_TARGET_REF,
                    trigger=built,
                    args=(target,),
                    id=stored,
                    name=request.name or get_callable_name(resolved),
                    next_run_time=first,
                    replace_existing=request.replace_existing,
                    **options,
                )
            except ConflictingIdError:
                kept = self._keep_identical(stored, job_id, target, built)  # another process added it just now
                if kept is not None:
                    return kept
                raise DuplicateJobError(self._owner, job_id) from None
            except (TypeError, ValueError) as exc:
                raise InvalidJobError(f"job {job_id!r}: {exc}") from None
            service.registered.add(stored)
        return ScheduledJob(job, self)

    def _task_target(self, func: Any, run_in: str, args: Any) -> tuple[Any, str]:
        """``add_job(run_in="tasks")``: the task's name, and a callable taking its payload as kwargs."""
        from xcore._builtin_services.tasks.lookup import task_names

        if run_in != "tasks":
            raise InvalidJobError(f"run_in={run_in!r}: the only place a job can be handed to is 'tasks'")
        if args:
            raise InvalidJobError("a job with run_in='tasks' takes its payload as kwargs, not args")
        if self._instance is None:
            raise InvalidJobError("run_in='tasks' needs a plugin: tasks are a plugin's @task methods")
        names = task_names(self._instance)
        wanted = (
            func
            if isinstance(func, str)
            else next((n for n, attr in names.items() if getattr(self._instance, attr, None) == func), None)
        )
        if wanted not in names:
            raise InvalidJobError(
                f"run_in='tasks': {func!r} is not a @task of plugin {self._owner!r} "
                f"(its tasks: {', '.join(sorted(names)) or 'none'})"
            )
        return _hand_to_tasks, wanted

    def _keep_identical(self, stored: str, job_id: str, target: JobTarget, trigger: BaseTrigger) -> ScheduledJob | None:
        existing = self._service.scheduler.get_job(stored)
        if existing is None:
            return None
        same = (
            stored not in self._service.registered
            and type(existing.trigger) is type(trigger)
            and str(existing.trigger) == str(trigger)
            and existing.args[0].same_as(target)
        )
        if not same:
            raise DuplicateJobError(self._owner, job_id)
        self._service.registered.add(stored)
        return self._snapshots([existing])[0]

    def get_jobs(self) -> list[ScheduledJob]:
        """This plugin's jobs, soonest first (paused jobs last)."""
        jobs = [job for job in self._service.scheduler.get_jobs() if job.id.startswith(self._prefix)]
        return self._snapshots(jobs)

    def jobs(self) -> list[ScheduledJob]:
        """The original XCore's name of :meth:`get_jobs`."""
        return self.get_jobs()

    def status(self) -> dict[str, Any]:
        """Whether the scheduler runs, its backend and timezone, and how many jobs this plugin has."""
        return {
            "running": self.running,
            "backend": self._service.backend,
            "timezone": str(self.timezone),
            "jobs": len(self.get_jobs()),
        }

    def get_job(self, job_id: str) -> ScheduledJob | None:
        job = self._service.scheduler.get_job(self._stored(job_id))
        return self._snapshots([job])[0] if job is not None else None

    def remove_job(self, job_id: str) -> None:
        """Remove a job; an unknown id raises :class:`JobNotFoundError` (an APScheduler ``JobLookupError``)."""
        stored = self._stored(job_id)
        try:
            self._service.scheduler.remove_job(stored)
        except JobLookupError:
            raise JobNotFoundError(self._owner, job_id) from None
        finally:
            self._service.registered.discard(stored)

    def remove_all_jobs(self) -> None:
        """Remove every job of this plugin."""
        for job in self._service.scheduler.get_jobs():
            if job.id.startswith(self._prefix):
                with suppress(JobLookupError):
                    self._service.scheduler.remove_job(job.id)
                self._service.registered.discard(job.id)

    def pause_job(self, job_id: str) -> ScheduledJob:
        return self._modify(job_id, lambda stored: self._service.scheduler.pause_job(stored))

    def resume_job(self, job_id: str) -> ScheduledJob | None:
        """Resume a paused job; returns ``None`` (and removes the job) if its trigger has no run left."""
        stored = self._stored(job_id)
        try:
            job = self._service.scheduler.resume_job(stored)
        except JobLookupError:
            raise JobNotFoundError(self._owner, job_id) from None
        return self._snapshots([job])[0] if job is not None else None

    def reschedule_job(
        self, job_id: str, trigger: str | BaseTrigger | None = None, **trigger_args: Any
    ) -> ScheduledJob:
        """Give a job a new trigger; its next run is computed from the new trigger."""
        built = build_trigger(trigger, trigger_args, self._service.timezone)
        first = built.get_next_fire_time(None, datetime.now(self._service.timezone))
        if first is None:
            raise InvalidJobError(f"job {job_id!r}: its new trigger {built} never fires")
        return self._modify(
            job_id, lambda stored: self._service.scheduler.modify_job(stored, trigger=built, next_run_time=first)
        )

    def _modify(self, job_id: str, change: Callable[[str], Job]) -> ScheduledJob:
        try:
            job = change(self._stored(job_id))
        except JobLookupError:
            raise JobNotFoundError(self._owner, job_id) from None
        return self._snapshots([job])[0]

    def __repr__(self) -> str:
        return f"<scheduler of {self._owner or 'the application'} ({self._service.backend})>"


def _job_options(misfire_grace_time: Any, coalesce: Any, max_instances: Any) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if misfire_grace_time is not undefined:
        if misfire_grace_time is not None and (
            isinstance(misfire_grace_time, bool) or not isinstance(misfire_grace_time, int) or misfire_grace_time <= 0
        ):
            raise InvalidJobError(
                f"misfire_grace_time must be None or a positive number of seconds, not {misfire_grace_time!r}"
            )
        options["misfire_grace_time"] = misfire_grace_time
    if coalesce is not undefined:
        options["coalesce"] = bool(coalesce)
    if max_instances is not undefined:
        if isinstance(max_instances, bool) or not isinstance(max_instances, int) or max_instances <= 0:
            raise InvalidJobError(f"max_instances must be a positive integer, not {max_instances!r}")
        options["max_instances"] = max_instances
    return options


def hand_to_tasks(**payload: Any) -> None:
    """Stands for a ``run_in="tasks"`` job's function: the runner enqueues the task instead of calling it."""
    raise RuntimeError("a run_in='tasks' job runs only through the XCore scheduler's job runner")


_hand_to_tasks = hand_to_tasks
