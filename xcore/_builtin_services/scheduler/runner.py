"""Running a claimed job: coroutine functions on the app's event loop, sync functions on a thread pool.

Each run becomes an asyncio task, so shutdown can wait for running jobs up to a timeout and then
cancel what is left. A job that raises is logged with its plugin and id, its outcome is kept and the
failure listeners hear of it; the scheduler carries on.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from apscheduler.executors.base import BaseExecutor
from apscheduler.job import Job

from xcore._builtin_services.scheduler.outcomes import JobFailure, JobOutcome, RunInfo, _current_run
from xcore._builtin_services.scheduler.targets import JobTarget, Unresolved
from xcore._observability import metrics as observed
from xcore._observability import tracing

if TYPE_CHECKING:
    from xcore._builtin_services.scheduler.core import SchedulerCore

log = logging.getLogger("xcore.scheduler")


def split_id(stored_id: str) -> tuple[str, str]:
    """``"plugin:job id"`` -> ``("plugin", "job id")``; the application's own jobs have owner ``""``."""
    owner, _, job_id = stored_id.partition(":")
    return owner, job_id


def owner_label(owner: str) -> str:
    return f"plugin {owner!r}" if owner else "the application"


def is_coroutine_callable(func: Callable[..., Any]) -> bool:
    while isinstance(func, partial):
        func = func.func
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(getattr(func, "__call__", None))  # noqa: B004


class JobRunner(BaseExecutor):  # type: ignore[misc]
    """The scheduler's only executor; ``submit_job`` is called from the scheduler's own thread."""

    def __init__(self, service: SchedulerCore, loop: asyncio.AbstractEventLoop, max_workers: int) -> None:
        super().__init__()
        self._service = service
        self._loop = loop
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="xcore-job")
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def active(self) -> int:
        """Runs in progress in this process."""
        return len(self._tasks)

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        self._loop.call_soon_threadsafe(self._spawn, job, run_times)

    def _spawn(self, job: Job, run_times: list[datetime]) -> None:
        task = self._loop.create_task(self._run(job, run_times), name=f"xcore-job:{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job: Job, run_times: list[datetime]) -> None:
        try:
            for run_time in run_times:
                await self._run_once(job, run_time)
        finally:
            self._run_job_success(job.id, [])

    async def _run_once(self, job: Job, run_time: datetime) -> None:
        service = self._service
        target: JobTarget = job.args[0]
        owner, job_id = split_id(job.id)
        late = (datetime.now(UTC) - run_time).total_seconds()
        if job.misfire_grace_time is not None and late > job.misfire_grace_time:
            log.warning(
                "job %r of %s missed its run at %s by %.1fs (misfire_grace_time=%ss)",
                job_id,
                owner_label(owner),
                run_time.isoformat(),
                late,
                job.misfire_grace_time,
            )
            await service.record_outcome(job.id, JobOutcome("missed", run_time, error=f"late by {late:.1f}s"))
            return
        try:
            func = service.resolve(target) if not target.run_in else self._enqueuer(owner, job_id, run_time, target)
            args, kwargs = target.arguments()
        except Unresolved as exc:
            service.report_skip(job.id, str(exc))
            await service.record_outcome(job.id, JobOutcome("skipped", run_time, error=str(exc)))
            return
        service.report_resolved(job.id)
        _current_run.set(RunInfo(owner or None, job_id, run_time))
        started = datetime.now(run_time.tzinfo)
        began = time.perf_counter()
        metrics = observed.ACTIVE
        counted = metrics.job_started(owner or None, job_id, late) if metrics is not None else None
        failed, failure = True, None
        span: AbstractContextManager[Any] = nullcontext()
        if tracing.TRACER is not None:
            span = tracing.job_span(job.id, owner or None, job_id)
        try:
            span.__enter__()
            if is_coroutine_callable(func):
                await func(*args, **kwargs)
            else:
                call = partial(func, *args, **kwargs)
                result = await self._loop.run_in_executor(self._pool, contextvars.copy_context().run, call)
                if inspect.isawaitable(result):
                    await result
        except asyncio.CancelledError:
            await asyncio.shield(
                service.record_outcome(
                    job.id,
                    JobOutcome("cancelled", run_time, started, time.perf_counter() - began, "cancelled at shutdown"),
                )
            )
            raise
        except Exception as exc:
            failure = exc
            duration = time.perf_counter() - began
            log.error(
                "job %r of %s failed (scheduled for %s): %s: %s",
                job_id,
                owner_label(owner),
                run_time.isoformat(),
                type(exc).__name__,
                exc,
                exc_info=exc,
            )
            await service.record_outcome(
                job.id, JobOutcome("error", run_time, started, duration, f"{type(exc).__name__}: {exc}")
            )
            text = "".join(traceback.format_exception(exc))
            await service.job_failed(JobFailure(owner or None, job_id, run_time, exc, text))
        else:
            failed = False
            await service.record_outcome(job.id, JobOutcome("ok", run_time, started, time.perf_counter() - began))
        finally:
            span.__exit__(type(failure) if failure else None, failure, None)
            if metrics is not None and counted is not None:
                metrics.job_finished(counted, time.perf_counter() - began, failed)

    def _enqueuer(self, owner: str, job_id: str, run_time: datetime, target: JobTarget) -> Callable[..., Any]:
        """A ``run_in="tasks"`` job's run: enqueue its task, keyed by the due time (one task per due run)."""
        try:
            tasks = self._service.setup.services("tasks")
        except KeyError as exc:
            raise Unresolved(f"run_in='tasks' but no tasks service is configured: {exc}") from None

        async def enqueue(**payload: Any) -> None:
            await tasks.enqueue_as(owner, target.run_in, payload, key=f"scheduler:{job_id}:{run_time.isoformat()}")

        return enqueue

    async def drain(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for running jobs, then cancel those still running."""
        pending = set(self._tasks)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=timeout)
        if pending:
            names = ", ".join(sorted(t.get_name().removeprefix("xcore-job:") for t in pending))
            log.warning("shutdown: cancelling %d job(s) still running after %gs: %s", len(pending), timeout, names)
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=1.0)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def skipped_max_instances(self, job: Job, run_times: list[datetime]) -> None:
        """Called by the scheduler's thread when ``max_instances`` runs of ``job`` are still going."""
        owner, job_id = split_id(job.id)
        log.warning(
            "job %r of %s skipped its run at %s: %d run(s) still going (max_instances=%d)",
            job_id,
            owner_label(owner),
            run_times[-1].isoformat(),
            job.max_instances,
            job.max_instances,
        )
        outcome = JobOutcome(
            "skipped", run_times[-1], error=f"previous run still going (max_instances={job.max_instances})"
        )
        if not self._loop.is_closed():  # closed: the app is going away
            asyncio.run_coroutine_threadsafe(self._service.record_outcome(job.id, outcome), self._loop)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
