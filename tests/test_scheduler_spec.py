"""The spec's scheduler examples, verbatim, as plugins of a real host on the memory and Redis backends.

The snippets below are copied from ``working-with-services.md`` ("Adding Jobs" with its ``/schedule``
and ``/jobs`` routes and its ``schedule`` action; "Scheduler Patterns" with its ``on_unload``). Each
runs in a namespace holding the imports the page's first example makes (``TrustedBase``, ``ok``,
``error``): "Adding Jobs" calls ``ok`` without importing it, and "Scheduler Patterns" imports nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from xcore import Xcore
from xcore.web import create_app

ADDING_JOBS = '''
from xcore.sdk import TrustedBase
from datetime import datetime, timedelta


class Plugin(TrustedBase):

    async def on_load(self) -> None:
        self.scheduler = self.get_service("scheduler")

        # Add recurring job
        self.scheduler.add_job(
            func=self._cleanup_task,
            trigger="interval",
            minutes=5,
            id="cleanup_job",
            replace_existing=True
        )

        # Add daily job
        self.scheduler.add_job(
            func=self._daily_report,
            trigger="cron",
            hour=2,
            minute=0,
            id="daily_report"
        )

    def _cleanup_task(self):
        """Run every 5 minutes."""
        print(f"Running cleanup at {datetime.now()}")
        # Cleanup logic here

    def _daily_report(self):
        """Run every day at 2:00 AM."""
        print(f"Generating daily report at {datetime.now()}")
        # Report generation logic

    def get_router(self):
        from fastapi import APIRouter
        router = APIRouter()

        @router.post("/schedule")
        async def schedule_task(data: dict):
            """Schedule a one-time task."""
            run_at = data.get("run_at")  # ISO format

            self.scheduler.add_job(
                func=self._scheduled_task,
                trigger="date",
                run_date=run_at,
                args=[data.get("payload")],
                id=f"task_{datetime.now().timestamp()}",
                replace_existing=False
            )

            return {"scheduled": True}

        @router.get("/jobs")
        async def list_jobs():
            """List scheduled jobs for this plugin."""
            jobs = self.scheduler.get_jobs()
            return {
                "jobs": [
                    {
                        "id": job.id,
                        "next_run": job.next_run_time.isoformat() if job.next_run_time else None,
                        "trigger": str(job.trigger)
                    }
                    for job in jobs
                ]
            }

        return router

    def _scheduled_task(self, payload: dict):
        """Execute scheduled task."""
        print(f"Executing scheduled task with: {payload}")

    async def handle(self, action: str, payload: dict) -> dict:
        if action == "schedule":
            # Schedule for 1 minute from now
            run_at = datetime.now() + timedelta(minutes=1)

            self.scheduler.add_job(
                func=self._ipc_scheduled_task,
                trigger="date",
                run_date=run_at,
                args=[payload],
                id=f"ipc_task_{datetime.now().timestamp()}"
            )

            return ok(scheduled_for=run_at.isoformat())

        return ok()

    def _ipc_scheduled_task(self, payload: dict):
        """Handle scheduled IPC task."""
        print(f"IPC scheduled task executed: {payload}")
'''

SCHEDULER_PATTERNS = '''
class Plugin(TrustedBase):

    async def on_load(self) -> None:
        self.scheduler = self.get_service("scheduler")
        self.jobs = []

        # Schedule cleanup job
        job = self.scheduler.add_job(
            func=self._cleanup_expired_sessions,
            trigger="interval",
            minutes=30,
            id=f"{self.__class__.__name__}_cleanup"
        )
        self.jobs.append(job.id)

    async def on_unload(self) -> None:
        """Remove plugin jobs on unload."""
        for job_id in self.jobs:
            try:
                self.scheduler.remove_job(job_id)
            except:
                pass

    def _cleanup_expired_sessions(self):
        """Cleanup job that runs every 30 minutes."""
        try:
            # Get database service
            db = self.get_service("db")
            with db.session() as session:
                session.execute(
                    "DELETE FROM sessions WHERE expires_at < NOW()"
                )
                session.commit()
        except Exception as e:
            print(f"Cleanup error: {e}")
'''


def load_snippet(source: str, name: str) -> type:
    namespace: dict[str, Any] = {"__name__": f"tests.test_scheduler_spec.{name}"}
    exec("from xcore.sdk import TrustedBase, ok, error", namespace)
    exec(compile(source, f"<spec: {name}>", "exec"), namespace)
    plugin: type = namespace["Plugin"]
    plugin.__module__ = __name__
    plugin.__qualname__ = name
    return plugin


AddingJobsPlugin = load_snippet(ADDING_JOBS, "AddingJobsPlugin")
SchedulerPatternsPlugin = load_snippet(SCHEDULER_PATTERNS, "SchedulerPatternsPlugin")
SPEC_PLUGINS = {"adding_jobs": AddingJobsPlugin, "patterns": SchedulerPatternsPlugin}


def spec_config(scheduler: dict[str, Any]) -> dict[str, Any]:
    # the spec's section: enabled, backend, timezone (plus the Redis URL of the test server)
    return {"services": {"databases": {}, "extensions": {}, "scheduler": {"enabled": True, **scheduler}}}


@pytest.fixture(params=["memory", "redis"])
def scheduler_section(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "memory":
        return {"backend": "memory", "timezone": "Europe/Paris"}
    return {"backend": "redis", "url": request.getfixturevalue("redis_url"), "timezone": "Europe/Paris"}


@pytest.fixture
async def client(scheduler_section: dict[str, Any]) -> AsyncIterator[tuple[Xcore, httpx.AsyncClient]]:
    host = Xcore(config=spec_config(scheduler_section), plugins=SPEC_PLUGINS, discover=False)
    app = create_app(host=host)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield host, http


async def wait_for_output(capsys: pytest.CaptureFixture[str], text: str, timeout: float = 10.0) -> str:
    seen = ""
    for _ in range(int(timeout / 0.02)):
        seen += capsys.readouterr().out
        if text in seen:
            return seen
        await asyncio.sleep(0.02)
    raise AssertionError(f"{text!r} was not printed; output so far: {seen!r}")


async def test_adding_jobs_example_runs_as_written(
    client: tuple[Xcore, httpx.AsyncClient], capsys: pytest.CaptureFixture[str]
) -> None:
    host, http = client
    assert all(r.state == "loaded" for r in host.plugins if r.source.kind == "plugin")

    listed = (await http.get("/plugins/adding_jobs/jobs")).json()["jobs"]
    by_id = {job["id"]: job for job in listed}
    assert set(by_id) == {"cleanup_job", "daily_report"}
    assert by_id["cleanup_job"]["trigger"] == "interval[0:05:00]"
    assert by_id["daily_report"]["trigger"] == "cron[hour='2', minute='0']"
    daily = datetime.fromisoformat(by_id["daily_report"]["next_run"])
    assert (daily.hour, daily.minute) == (2, 0)
    assert daily.utcoffset() in (timedelta(hours=1), timedelta(hours=2))  # 2:00 in Europe/Paris

    run_at = (datetime.now(UTC) + timedelta(milliseconds=300)).isoformat()
    response = await http.post("/plugins/adding_jobs/schedule", json={"run_at": run_at, "payload": {"order": 42}})
    assert response.json() == {"scheduled": True}
    await wait_for_output(capsys, "Executing scheduled task with: {'order': 42}")

    reply = await host.call("adding_jobs", "schedule", {"user": "ada"})
    assert reply["status"] == "ok"
    ipc = [
        job for job in (await http.get("/plugins/adding_jobs/jobs")).json()["jobs"] if job["id"].startswith("ipc_task_")
    ]
    assert len(ipc) == 1
    due_in = datetime.fromisoformat(ipc[0]["next_run"]) - datetime.now(UTC)
    assert timedelta(seconds=50) < due_in <= timedelta(minutes=1)  # "1 minute from now", whatever the timezone


async def test_a_bad_run_date_from_the_route_is_a_clear_error(client: tuple[Xcore, httpx.AsyncClient]) -> None:
    _, http = client
    from xcore.builtin_services.scheduler import InvalidJobError

    with pytest.raises(InvalidJobError, match="run_date='next tuesday' is not a date"):
        await http.post("/plugins/adding_jobs/schedule", json={"run_at": "next tuesday", "payload": {}})


async def test_scheduler_patterns_example_cleans_up_on_unload(
    scheduler_section: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    host = Xcore(config=spec_config(scheduler_section), plugins=SPEC_PLUGINS, discover=False)
    await host.boot()
    patterns = next(r for r in host.plugins if r.name == "patterns").handle.instance  # type: ignore[union-attr]
    assert patterns.jobs == ["Plugin_cleanup"]
    scheduler = host.get_service("scheduler")
    assert {(row["plugin"], row["id"]) for row in scheduler.describe_jobs()} >= {("patterns", "Plugin_cleanup")}
    await host.shutdown()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]

    # boot again on the same store: every on_load succeeds as written (no duplicate-id failure)
    again = Xcore(config=spec_config(scheduler_section), plugins=SPEC_PLUGINS, discover=False)
    await again.boot()
    try:
        assert [r.error for r in again.plugins if r.state == "failed"] == []
        rows = {(row["plugin"], row["id"]) for row in again.get_service("scheduler").describe_jobs()}
        assert rows == {("adding_jobs", "cleanup_job"), ("adding_jobs", "daily_report"), ("patterns", "Plugin_cleanup")}
    finally:
        await again.shutdown()
