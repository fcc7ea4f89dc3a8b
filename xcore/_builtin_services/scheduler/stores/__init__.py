"""Job stores the XCore scheduler claims due runs from, one module per backend.

A store is an APScheduler job store (so APScheduler's own add/modify/remove paths use it) with a few
more operations the claiming loop needs:

* ``due_jobs(now)`` returns the due jobs, each with a *token*: the exact stored state that was read.
* ``claim(job, token, next_run_time)`` atomically moves the job on to its next run time (or deletes a
  finished one) only if its stored state is still ``token``. Of several processes that read the same
  due run, exactly one claim succeeds, and only that process runs it: the run is keyed by the job and
  its scheduled time, which is what makes each due run execute once across processes.
* ``park(job_id)`` takes a job that cannot be processed out of the due set without deleting it.
* ``record_outcome`` / ``outcomes`` keep each job's last outcome next to the job.
"""

from __future__ import annotations

import io
import logging
import pickle
from abc import abstractmethod
from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar

from apscheduler.job import Job
from apscheduler.jobstores.base import BaseJobStore

from xcore._builtin_services.scheduler.outcomes import JobOutcome

log = logging.getLogger("xcore.scheduler")

PICKLE_PROTOCOL = pickle.HIGHEST_PROTOCOL

_MOVED = ("xcore.builtin_services.", "xcore._builtin_services.")
"""Jobs stored before XCore's implementation modules got private names name the old package, both in
the job function's reference and in the pickled :class:`JobTarget`; they load under the new one."""


def _moved(module: str) -> str:
    old, new = _MOVED
    return new + module.removeprefix(old) if module.startswith(old) else module


class _JobStateUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        return super().find_class(_moved(module), name)


def load_job_state(state: bytes) -> dict[str, Any]:
    """A stored job's state, with references to modules XCore has since moved pointed at their new home."""
    loaded: dict[str, Any] = _JobStateUnpickler(io.BytesIO(state)).load()
    if isinstance(loaded.get("func"), str):
        loaded["func"] = _moved(loaded["func"])
    return loaded


class ClaimingStore(BaseJobStore):  # type: ignore[misc]
    """An APScheduler job store plus the operations of the claiming loop (see the module docstring)."""

    shared: ClassVar[bool] = False
    """True when several processes use the same jobs (they must then claim each run)."""

    backend: ClassVar[str] = ""

    @abstractmethod
    def due_jobs(self, now: datetime) -> list[tuple[Job, Any]]:
        """Jobs due at ``now`` with their tokens, earliest first."""

    @abstractmethod
    def claim(self, job: Job, token: Any, next_run_time: datetime | None) -> bool:
        """Move ``job`` to ``next_run_time`` (delete it if ``None``) if it is still as read; True if done."""

    @abstractmethod
    def park(self, job_id: str) -> None:
        """Stop ``job_id`` from being due (its state stays in the store, unscheduled)."""

    @abstractmethod
    def ping(self) -> None:
        """Raise if the store does not answer."""

    @abstractmethod
    def count(self) -> int:
        """How many jobs the store holds (every owner)."""

    @abstractmethod
    def record_outcome(self, job_id: str, outcome: JobOutcome) -> None:
        """Keep ``outcome`` as the last outcome of ``job_id`` (ignored if the job is gone)."""

    @abstractmethod
    def outcomes(self, job_ids: Iterable[str]) -> dict[str, JobOutcome]:
        """The last outcome of each of ``job_ids`` that has one."""

    def describe(self) -> str:
        """The store as named in errors and health reports (no secrets)."""
        return self.backend

    def prepare(self) -> None:
        """Work due before the first job is read or written (a store may adopt an older layout here).

        Called at start and again by each retry while the store was unreachable at start, so it must
        be idempotent; a store whose calls could otherwise come first does it inside them too.
        """

    # ------------------------------------------------------------------ shared by the persistent stores

    def _serialize(self, job: Job) -> bytes:
        return pickle.dumps(job.__getstate__(), PICKLE_PROTOCOL)

    def _restore(self, state: bytes) -> Job:
        job: Job = Job.__new__(Job)
        job.__setstate__(load_job_state(state))
        job._scheduler = self._scheduler
        job._jobstore_alias = self._alias
        return job

    def _restore_many(self, rows: Iterable[tuple[str, bytes | None]]) -> list[tuple[Job, bytes]]:
        """Restore jobs, skipping (and reporting) any that cannot be read: they stay in the store."""
        restored = []
        for job_id, state in rows:
            if state is None:
                continue
            try:
                restored.append((self._restore(state), state))
            except Exception as exc:
                self._unreadable(job_id, exc)
        return restored

    def _unreadable(self, job_id: str, exc: BaseException) -> None:
        log.error(
            "scheduler store %s: job %r cannot be read and is left unscheduled: %s: %s",
            self.describe(),
            job_id,
            type(exc).__name__,
            exc,
        )
        try:
            self.park(job_id)
        except Exception:
            log.debug("parking unreadable job %r failed", job_id, exc_info=True)
