"""The scheduler loop: APScheduler's ``BackgroundScheduler`` whose due-job pass claims each run first.

APScheduler 3 lets every process that shares a job store run every due job. Here a process runs a due
run only after its store's ``claim`` moved the job on atomically (see
:mod:`xcore._builtin_services.scheduler.stores`), so each due run executes exactly once however many
processes share the store. The pass runs on the scheduler's own thread: store I/O, even against a
slow or unreachable Redis, never blocks the app's event loop. With a shared store the loop also wakes
every ``poll_interval`` seconds, so a job another process added starts on time here too.
"""

from __future__ import annotations

import logging
import threading
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any

from apscheduler.executors.base import MaxInstancesReachedError
from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING

from xcore._builtin_services.scheduler.runner import JobRunner, owner_label, split_id
from xcore._builtin_services.scheduler.stores import ClaimingStore

log = logging.getLogger("xcore.scheduler")

MAX_WAIT = 3600.0


def due_run_times(job: Job, now: datetime) -> list[datetime]:
    """Every scheduled time of ``job`` from its next run time up to ``now``, oldest first."""
    times: list[datetime] = []
    when = job.next_run_time
    while when is not None and when <= now:
        times.append(when)
        when = job.trigger.get_next_fire_time(when, now)
    return times


class ClaimingScheduler(BackgroundScheduler):  # type: ignore[misc]
    """A ``BackgroundScheduler`` that claims each due run from its store before starting it."""

    def __init__(self, *, poll_interval: float | None, **options: Any) -> None:
        self.poll_interval = poll_interval
        self._store_errors: dict[str, str] = {}
        self._pass_lock = threading.Lock()
        self._planned: datetime | None = None  # when the loop wakes next by itself (None: not known)
        self._adding = threading.local()
        super().__init__(**options)

    def _process_jobs(self) -> float | None:
        with self._pass_lock:
            self._planned = None
            if self.state != STATE_RUNNING:
                return None
            try:
                wait = self._pass()
            except Exception:
                log.exception("scheduler pass failed; retrying in %gs", self.jobstore_retry_interval)
                wait = float(self.jobstore_retry_interval)
            if wait is not None:
                self._planned = datetime.now(self.timezone) + timedelta(seconds=wait)
            return wait

    def _real_add_job(self, job: Job, jobstore_alias: str, replace_existing: bool) -> None:
        self._adding.job = job
        try:
            super()._real_add_job(job, jobstore_alias, replace_existing)
        finally:
            self._adding.job = None

    def wakeup(self) -> None:
        # A job added for later than the loop's next wake-up needs no wake-up: waking the loop for
        # each of many add_job calls would make it compete with the caller for the GIL and the lock.
        added = getattr(getattr(self._adding, "job", None), "next_run_time", None)  # set by now
        planned = self._planned
        if added is not None and planned is not None and added >= planned:
            return
        super().wakeup()

    def settle(self) -> None:
        """Block until the pass in progress, if any, has ended (call after ``pause()``)."""
        with self._pass_lock:
            return None

    def _pass(self) -> float | None:
        now = datetime.now(self.timezone)
        waits: list[float] = []
        for alias, store in list(self._jobstores.items()):
            assert isinstance(store, ClaimingStore)
            # the memory store is a plain list: guard it like APScheduler does; shared stores are atomic
            guard: AbstractContextManager[Any] = nullcontext() if store.shared else self._jobstores_lock
            with guard:
                try:
                    due = store.due_jobs(now)
                    for job, token in due:
                        if self.state != STATE_RUNNING:
                            break  # paused mid-pass: shutdown has begun
                        self._start_due(store, job, token, now)
                    next_time = store.get_next_run_time()
                except Exception as exc:
                    self._store_failed(alias, store, exc)
                    waits.append(float(self.jobstore_retry_interval))
                    continue
            self._store_recovered(alias, store)
            if next_time is not None:
                waits.append(next_time.timestamp() - datetime.now(self.timezone).timestamp())
            if store.shared and self.poll_interval:
                waits.append(self.poll_interval)
        return min(MAX_WAIT, max(0.0, min(waits))) if waits else None

    def _start_due(self, store: ClaimingStore, job: Job, token: Any, now: datetime) -> None:
        try:
            run_times = due_run_times(job, now)
            if not run_times:
                return
            if job.coalesce:
                run_times = run_times[-1:]
            next_run = job.trigger.get_next_fire_time(run_times[-1], now)
        except Exception:
            owner, job_id = split_id(job.id)
            log.exception("job %r of %s: its trigger failed; the job is left unscheduled", job_id, owner_label(owner))
            store.park(job.id)
            return
        if not store.claim(job, token, next_run):
            return  # another process claimed this run, or the job changed since it was read
        executor = self._lookup_executor(job.executor)
        try:
            executor.submit_job(job, run_times)
        except MaxInstancesReachedError:
            if isinstance(executor, JobRunner):
                executor.skipped_max_instances(job, run_times)
        except Exception:
            log.exception("job %r could not be started", job.id)

    def _store_failed(self, alias: str, store: ClaimingStore, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"
        if self._store_errors.get(alias) != message:
            log.warning(
                "scheduler store %s failed; retrying every %gs: %s",
                store.describe(),
                self.jobstore_retry_interval,
                message,
            )
        self._store_errors[alias] = message

    def _store_recovered(self, alias: str, store: ClaimingStore) -> None:
        if self._store_errors.pop(alias, None) is not None:
            log.warning("scheduler store %s answers again", store.describe())

    @property
    def loop_alive(self) -> bool:
        """Whether the scheduler's thread is running."""
        thread: threading.Thread | None = getattr(self, "_thread", None)
        return thread is not None and thread.is_alive()
