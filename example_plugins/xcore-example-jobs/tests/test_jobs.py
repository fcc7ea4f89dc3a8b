"""The jobs plugin on the embedded memory scheduler; ``run_job`` runs a job now."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from xcore_example_jobs import Plugin


@pytest.fixture
def xcore_plugins():
    return {"jobs": Plugin}


async def test_jobs_added_on_load(xcore_client):
    jobs = {j["id"]: j for j in (await xcore_client.get("/plugins/jobs/jobs")).json()["jobs"]}
    assert set(jobs) == {"prune", "daily_report"}
    assert jobs["prune"]["trigger"] == "interval[0:05:00]"
    assert datetime.fromisoformat(jobs["daily_report"]["next_run"]).hour == 2


async def test_run_a_job_now(xcore_host):
    run = await xcore_host.run_job("jobs", "daily_report")
    assert run["job"] == "daily_report"
    assert (await xcore_host.client.get("/plugins/jobs/runs")).json()["runs"] == [run]


async def test_a_one_time_job_fires_and_leaves_the_list(xcore_client):
    run_at = (datetime.now(UTC) + timedelta(seconds=0.3)).isoformat()
    created = await xcore_client.post("/plugins/jobs/schedule", json={"run_at": run_at, "message": "hello"})
    assert created.status_code == 201
    for _ in range(100):
        runs = (await xcore_client.get("/plugins/jobs/runs")).json()["runs"]
        if runs:
            break
        await asyncio.sleep(0.05)
    assert [(r["job"], r["detail"]) for r in runs] == [("deliver", "hello")]
    ids = {j["id"] for j in (await xcore_client.get("/plugins/jobs/jobs")).json()["jobs"]}
    assert created.json()["id"] not in ids


async def test_bad_times_are_refused_and_nothing_is_scheduled(xcore_client):
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert (await xcore_client.post("/plugins/jobs/schedule", json={"run_at": past, "message": "x"})).status_code == 422
    assert (
        await xcore_client.post("/plugins/jobs/schedule", json={"run_at": "soon", "message": "x"})
    ).status_code == 422
    assert len((await xcore_client.get("/plugins/jobs/jobs")).json()["jobs"]) == 2


async def test_schedule_action_and_cancel(xcore_host):
    answer = await xcore_host.call("jobs", "schedule", {"message": "later", "delay_seconds": 3600})
    assert answer["status"] == "ok"
    assert (await xcore_host.call("jobs", "schedule", {"message": ""}))["code"] == "invalid_payload"
    cancelled = await xcore_host.client.delete(f"/plugins/jobs/jobs/{answer['id']}")
    assert cancelled.json() == {"cancelled": answer["id"]}
    assert (await xcore_host.client.delete(f"/plugins/jobs/jobs/{answer['id']}")).status_code == 404


async def test_unload_removes_every_job(xcore_host):
    plugin = xcore_host.plugin("jobs")
    await xcore_host.call("jobs", "schedule", {"message": "later", "delay_seconds": 3600})
    await plugin.on_unload()
    assert xcore_host.get_service("scheduler", "jobs").get_jobs() == []
