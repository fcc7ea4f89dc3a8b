"""``backend: memory``: APScheduler's in-process store plus claiming (trivial: one process owns it)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.memory import MemoryJobStore

from xcore._builtin_services.scheduler.outcomes import JobOutcome
from xcore._builtin_services.scheduler.stores import ClaimingStore


class MemoryStore(MemoryJobStore, ClaimingStore):  # type: ignore[misc]
    """Jobs in a sorted list in this process. The scheduler holds its store lock around every call."""

    backend = "memory"

    def __init__(self) -> None:
        super().__init__()
        self._outcomes: dict[str, JobOutcome] = {}

    def due_jobs(self, now: datetime) -> list[tuple[Job, Any]]:
        return [(job, job) for job in self.get_due_jobs(now)]

    def claim(self, job: Job, token: Any, next_run_time: datetime | None) -> bool:
        if self.lookup_job(job.id) is not token:
            return False  # replaced or removed since it was read
        if next_run_time is None:
            self.remove_job(job.id)
        else:
            job.next_run_time = next_run_time
            self.update_job(job)
        return True

    def park(self, job_id: str) -> None:
        job = self.lookup_job(job_id)
        if job is not None:
            job.next_run_time = None
            self.update_job(job)

    def ping(self) -> None:
        return None

    def count(self) -> int:
        return len(self._jobs_index)

    def remove_job(self, job_id: str) -> None:
        super().remove_job(job_id)
        self._outcomes.pop(job_id, None)

    def remove_all_jobs(self) -> None:
        super().remove_all_jobs()
        self._outcomes.clear()

    def record_outcome(self, job_id: str, outcome: JobOutcome) -> None:
        if job_id in self._jobs_index:
            self._outcomes[job_id] = outcome

    def outcomes(self, job_ids: Iterable[str]) -> dict[str, JobOutcome]:
        return {job_id: self._outcomes[job_id] for job_id in job_ids if job_id in self._outcomes}
