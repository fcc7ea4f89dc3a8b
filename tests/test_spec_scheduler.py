"""Spec "Scheduler Service": the two scheduler examples, run as written, as plugins.

Sections covered (working-with-services.md), each on the memory scheduler + SQLite and on the spec's
Redis scheduler (timezone Europe/Paris) + PostgreSQL:
- "Adding Jobs": test_adding_jobs_example (interval and cron jobs added on load, a one-time job over
  HTTP that really fires, the job listing, the ``schedule`` action)
- "Scheduler Patterns": test_scheduler_patterns_example (the cleanup job deletes expired sessions;
  its ``on_unload`` removes the job, checked on Redis by booting more hosts on the same store)
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests import spec_support
from tests.spec_support import Backend, load_example
from xcore._builtin_services.scheduler.errors import InvalidJobError
from xcore.sdk import TrustedBase

spec_backend = spec_support.spec_backend  # the fixture, made visible to this module's tests


async def wait_for_output(capsys: pytest.CaptureFixture[str], text: str, seconds: float = 10.0) -> str:
    """Captured stdout once ``text`` appears in it (jobs run on the scheduler's own threads)."""
    seen = ""
    for _ in range(int(seconds / 0.05)):
        seen += capsys.readouterr().out
        if text in seen:
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"{text!r} was not printed within {seconds}s; printed: {seen!r}")


async def test_adding_jobs_example(spec_backend: Backend, xcore_boot: Any, capsys: pytest.CaptureFixture[str]) -> None:
    example = load_example("Adding Jobs", "from xcore.sdk import ok")
    xcore = await xcore_boot(plugins={"jobs": example.Plugin}, config=spec_backend.config, env=spec_backend.env)

    listed = (await xcore.client.get("/plugins/jobs/jobs")).json()["jobs"]
    by_id = {job["id"]: job for job in listed}
    assert set(by_id) == {"cleanup_job", "daily_report"}
    assert "interval[0:05:00]" in by_id["cleanup_job"]["trigger"]
    assert "cron[hour='2', minute='0']" in by_id["daily_report"]["trigger"]
    daily = datetime.fromisoformat(by_id["daily_report"]["next_run"])
    if spec_backend.name == "servers":  # the spec's scheduler block sets timezone: Europe/Paris
        assert daily.astimezone(ZoneInfo("Europe/Paris")).hour == 2
    assert (daily.hour, daily.minute) == (2, 0)

    await xcore.run_job("jobs", "cleanup_job")  # the kit runs a job now, leaving it scheduled
    assert "Running cleanup at" in capsys.readouterr().out

    run_at = (datetime.now(UTC) + timedelta(seconds=0.5)).isoformat()
    scheduled = await xcore.client.post("/plugins/jobs/schedule", json={"run_at": run_at, "payload": {"order": 7}})
    assert scheduled.json() == {"scheduled": True}
    assert len((await xcore.client.get("/plugins/jobs/jobs")).json()["jobs"]) == 3
    await wait_for_output(capsys, "Executing scheduled task with: {'order': 7}")
    for _ in range(100):  # a date job is removed once it has run
        if len((await xcore.client.get("/plugins/jobs/jobs")).json()["jobs"]) == 2:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the one-time job is still listed after it ran")

    answer = await xcore.call("jobs", "schedule", {"report": "weekly"})
    assert answer["status"] == "ok"
    assert datetime.fromisoformat(answer["scheduled_for"]) > datetime.now()
    ipc = [job for job in xcore.get_service("scheduler", "jobs").get_jobs() if job.id.startswith("ipc_task_")]
    assert len(ipc) == 1
    due_in = ipc[0].next_run_time - datetime.now(UTC)
    assert timedelta(seconds=50) < due_in <= timedelta(minutes=1)  # "1 minute from now", whatever the timezone
    await xcore.run_job("jobs", ipc[0].id)
    assert "IPC scheduled task executed: {'report': 'weekly'}" in capsys.readouterr().out

    with pytest.raises(InvalidJobError, match="run_date='not a date' is not a date and time"):
        await xcore.client.post("/plugins/jobs/schedule", json={"run_at": "not a date"})
    assert len((await xcore.client.get("/plugins/jobs/jobs")).json()["jobs"]) == 3  # nothing was added


class Keeper(TrustedBase):
    """A control plugin whose job is not removed on unload: a persistent store must keep it."""

    async def on_load(self) -> None:
        self.get_service("scheduler").add_job(func=self.tick, trigger="interval", hours=1, id="kept")

    def tick(self) -> None:
        pass


class Inspector(TrustedBase):
    """Loaded under a plugin's name in a second host, to see that plugin's stored jobs."""


async def test_scheduler_patterns_example(spec_backend: Backend, xcore_boot: Any) -> None:
    example = load_example("Scheduler Patterns", "from xcore.sdk import TrustedBase")
    plugins = {"sessions": example.Plugin, "keeper": Keeper}
    xcore = await xcore_boot(plugins=plugins, config=spec_backend.config, env=spec_backend.env)
    plugin = xcore.plugin("sessions")
    assert plugin.jobs == ["Plugin_cleanup"]  # f"{self.__class__.__name__}_cleanup"
    assert [job.id for job in xcore.get_service("scheduler", "sessions").get_jobs()] == ["Plugin_cleanup"]

    now = datetime.now(UTC)
    if spec_backend.dialect == "sqlite":  # NOW() on SQLite is UTC text; store the same form
        ddl = "CREATE TABLE sessions (id INTEGER PRIMARY KEY, expires_at TIMESTAMP)"
        past, future = (f"{t:%Y-%m-%d %H:%M:%S.%f}" for t in (now - timedelta(hours=1), now + timedelta(hours=1)))
    else:
        ddl = "CREATE TABLE sessions (id SERIAL PRIMARY KEY, expires_at TIMESTAMPTZ)"
        past, future = now - timedelta(hours=1), now + timedelta(hours=1)
    db = xcore.get_service("db")
    with db.session() as session:
        session.execute(ddl)
        session.execute("INSERT INTO sessions (expires_at) VALUES (:t)", {"t": past})
        session.execute("INSERT INTO sessions (expires_at) VALUES (:t)", {"t": future})
        session.commit()

    await xcore.run_job("sessions", "Plugin_cleanup")
    with db.session() as session:
        assert session.execute("SELECT COUNT(*) FROM sessions").scalar() == 1  # only the expired one went

    if spec_backend.name == "embedded":
        await plugin.on_unload()  # memory jobs end with the process: check the method itself
        assert xcore.get_service("scheduler", "sessions").get_jobs() == []
        return

    await xcore.host.shutdown()  # on_unload runs; the Redis store keeps what was not removed
    second = await xcore_boot(
        plugins={"sessions": Inspector, "keeper": Inspector}, config=spec_backend.config, env=spec_backend.env
    )
    assert second.get_service("scheduler", "sessions").get_jobs() == []
    assert [job.id for job in second.get_service("scheduler", "keeper").get_jobs()] == ["kept"]
    await second.host.shutdown()

    # booting the example again on the same store works as written: its add_job (no replace_existing)
    # meets no leftover job with its id; the kit fails the boot if on_load raises
    again = await xcore_boot(plugins={"sessions": example.Plugin}, config=spec_backend.config, env=spec_backend.env)
    assert [job.id for job in again.get_service("scheduler", "sessions").get_jobs()] == ["Plugin_cleanup"]
