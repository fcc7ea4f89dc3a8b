"""What happened at a job's last run, and what a failure listener receives.

The last outcome of each job is kept by its store (in Redis or the database for persistent
backends), so ``xcore jobs`` run from another process shows it too.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

OutcomeStatus = Literal["ok", "error", "missed", "skipped", "cancelled"]


@dataclass(frozen=True)
class JobOutcome:
    """The last run of a job: when it was due, when it ran, how it ended, and the error if any.

    ``status``: ``ok``; ``error`` (the job raised); ``missed`` (due longer ago than
    ``misfire_grace_time``); ``skipped`` (its plugin is not loaded, or ``max_instances`` runs are still
    going); ``cancelled`` (shutdown stopped it).
    """

    status: OutcomeStatus
    scheduled_for: datetime
    started_at: datetime | None = None
    duration: float | None = None
    error: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "status": self.status,
                "scheduled_for": self.scheduled_for.isoformat(),
                "started_at": self.started_at.isoformat() if self.started_at else None,
                "duration": self.duration,
                "error": self.error,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> JobOutcome:
        data: dict[str, Any] = json.loads(text)
        started = data.get("started_at")
        return cls(
            status=data["status"],
            scheduled_for=datetime.fromisoformat(data["scheduled_for"]),
            started_at=datetime.fromisoformat(started) if started else None,
            duration=data.get("duration"),
            error=data.get("error"),
        )

    def summary(self) -> str:
        """One line for ``xcore jobs``: ``ok at 2030-01-01T02:00:00+00:00`` or ``error: ValueError: ...``."""
        when = (self.started_at or self.scheduled_for).isoformat(timespec="seconds")
        return f"{self.status} at {when}" + (f": {self.error}" if self.error else "")


@dataclass(frozen=True)
class JobFailure:
    """Passed to failure listeners when a job raises: the kernel's "scheduler job failed" event."""

    plugin: str | None
    job_id: str
    scheduled_for: datetime
    error: BaseException
    traceback: str


@dataclass(frozen=True)
class RunInfo:
    """The run in progress, readable from inside a job through :func:`current_run`."""

    plugin: str | None
    job_id: str
    scheduled_for: datetime


_current_run: ContextVar[RunInfo | None] = ContextVar("xcore_scheduler_run", default=None)


def current_run() -> RunInfo | None:
    """The job run executing in this context (``None`` outside a job).

    ``scheduled_for`` is the same in every process, so ``(job_id, scheduled_for)`` is a natural
    idempotency key for whatever a job writes.
    """
    return _current_run.get()
