"""Scheduled jobs (spec: "Scheduler Service"): interval, cron, one-time over HTTP, listing, cleanup.

* on load: ``prune`` every 5 minutes (``interval``) and ``daily_report`` at 02:00 (``cron``);
* ``POST /schedule`` runs a message once at a given time (``date``); ``GET /jobs`` lists this
  plugin's jobs (the scheduler shows each plugin only its own); ``DELETE /jobs/{id}`` cancels one;
* the action ``schedule`` does the same for other plugins, with a delay in seconds;
* on unload every job this plugin added is removed (the spec's "Scheduler Patterns").

What ran is kept in memory (``GET /runs``), newest last, at most ``MAX_RUNS`` entries.
"""

from __future__ import annotations

import uuid
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from xcore.sdk import TrustedBase, action, error, ok

MAX_RUNS = 100


class OneTimeJob(BaseModel):
    """``POST /schedule``: ``run_at`` is ISO 8601 (give an offset, or the scheduler's zone applies)."""

    run_at: datetime
    message: str = Field(min_length=1, max_length=500)


class Plugin(TrustedBase):
    async def on_load(self) -> None:
        self.scheduler = self.get_service("scheduler")
        self.runs: list[dict[str, Any]] = []
        self.jobs: list[str] = []
        self.jobs.append(
            self.scheduler.add_job(func=self.prune, trigger="interval", minutes=5, id="prune", replace_existing=True).id
        )
        self.jobs.append(
            self.scheduler.add_job(
                func=self.daily_report, trigger="cron", hour=2, minute=0, id="daily_report", replace_existing=True
            ).id
        )

    async def on_unload(self) -> None:
        for job_id in self.jobs:
            with suppress(LookupError):  # already ran (one-time jobs) or cancelled
                self.scheduler.remove_job(job_id)

    # ------------------------------------------------------------------ job functions

    def _record(self, job: str, detail: str) -> dict[str, Any]:
        run = {"job": job, "detail": detail, "at": datetime.now(UTC).isoformat()}
        self.runs.append(run)
        del self.runs[:-MAX_RUNS]
        return run

    def prune(self) -> dict[str, Any]:
        """Every 5 minutes: forget runs older than a day."""
        cutoff = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        self.runs[:] = [r for r in self.runs if r["at"] >= cutoff]
        return self._record("prune", f"{len(self.runs)} runs kept")

    def daily_report(self) -> dict[str, Any]:
        """Every day at 02:00 in the scheduler's time zone."""
        return self._record("daily_report", f"{len(self.runs)} runs in the last day")

    async def deliver(self, message: str) -> dict[str, Any]:
        """A one-time job (coroutine jobs run on the host's event loop)."""
        return self._record("deliver", message)

    def _once(self, run_at: datetime, message: str) -> str:
        job = self.scheduler.add_job(func=self.deliver, trigger="date", run_date=run_at, args=[message],
                                     id=f"once-{uuid.uuid4().hex[:12]}")  # fmt: skip
        self.jobs.append(job.id)
        return str(job.id)

    # ------------------------------------------------------------------ HTTP

    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.post("/schedule", status_code=201)
        async def schedule(job: OneTimeJob) -> dict[str, Any]:
            run_at = job.run_at if job.run_at.tzinfo else job.run_at.replace(tzinfo=self.scheduler.timezone)
            if run_at <= datetime.now(UTC):
                raise HTTPException(422, f"run_at {job.run_at.isoformat()} is in the past")
            return {"id": self._once(run_at, job.message), "run_at": run_at.isoformat()}

        @router.get("/jobs")
        async def list_jobs() -> dict[str, Any]:
            return {
                "jobs": [
                    {
                        "id": job.id,
                        "next_run": job.next_run_time.isoformat() if job.next_run_time else None,
                        "trigger": str(job.trigger),
                    }
                    for job in self.scheduler.get_jobs()
                ]
            }

        @router.delete("/jobs/{job_id}")
        async def cancel(job_id: str) -> dict[str, Any]:
            try:
                self.scheduler.remove_job(job_id)
            except LookupError:
                raise HTTPException(404, f"no job {job_id!r}") from None
            return {"cancelled": job_id}

        @router.get("/runs")
        async def runs() -> dict[str, Any]:
            return {"runs": self.runs}

        return router

    # ------------------------------------------------------------------ actions

    @action("schedule")
    async def schedule_action(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``{"message": "...", "delay_seconds": 60}`` -> ``ok(id=..., run_at=...)``."""
        message, delay = payload.get("message"), payload.get("delay_seconds", 60)
        if not isinstance(message, str) or not message:
            return error("message must be a non-empty string", code="invalid_payload")
        if not isinstance(delay, int | float) or isinstance(delay, bool) or delay <= 0:
            return error("delay_seconds must be a positive number", code="invalid_payload")
        run_at = datetime.now(UTC) + timedelta(seconds=delay)
        return ok(id=self._once(run_at, message), run_at=run_at.isoformat())
