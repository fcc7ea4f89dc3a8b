"""``add_job(..., run_in="tasks")``: each due run is enqueued as a task once, keyed by its due time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from xcore._builtin_services.scheduler import InvalidJobError
from xcore.sdk import TrustedBase, current_task, task
from xcore.testing.harness import boot_xcore


class Heavy(TrustedBase):
    def __init__(self) -> None:
        super().__init__()
        self.runs: list[tuple[str, dict[str, Any]]] = []

    @task
    async def crunch(self, payload: dict[str, Any]) -> None:
        run = current_task()
        assert run is not None and run.key is not None
        self.runs.append((run.key, payload))

    async def not_a_task(self) -> None:
        return None


def config(redis_url: str) -> dict[str, Any]:
    return {
        "app": {"name": "runin"},
        "services": {
            "scheduler": {"backend": "redis", "url": redis_url, "poll_interval": 0.05},
            "tasks": {"backend": "redis", "url": redis_url, "poll_interval": 0.01},
        },
    }


async def test_two_hosts_enqueue_each_due_run_once(redis_url: str) -> None:
    async with (
        boot_xcore({"heavy": Heavy}, config(redis_url)) as one,
        boot_xcore({"heavy": Heavy}, config(redis_url)) as two,
    ):
        for xt in (one, two):  # both processes add the job, as a plugin's on_load would
            xt.get_service("scheduler", plugin="heavy").add_job(
                xt.plugin("heavy").crunch, "interval", seconds=0.3, id="crunch", run_in="tasks", kwargs={"size": 3}
            )
        stop = asyncio.Event()
        worker = asyncio.create_task(one.host.get_service("tasks").run_worker(4, stop, 2))
        await asyncio.sleep(2.2)
        stop.set()
        await worker
        runs = one.plugin("heavy").runs + two.plugin("heavy").runs
        keys = [key for key, _ in runs]
        assert len(keys) >= 4
        assert len(keys) == len(set(keys))  # one task per due time
        assert all(key.startswith("scheduler:crunch:") for key in keys)
        assert all(payload == {"size": 3} for _, payload in runs)


async def test_run_in_refuses_what_cannot_be_a_task(redis_url: str) -> None:
    async with boot_xcore({"heavy": Heavy}, config(redis_url)) as xt:
        scheduler, plugin = xt.get_service("scheduler", plugin="heavy"), xt.plugin("heavy")
        with pytest.raises(InvalidJobError, match=r"not a @task of plugin 'heavy'.*crunch"):
            scheduler.add_job(plugin.not_a_task, "interval", seconds=1, run_in="tasks")
        with pytest.raises(InvalidJobError, match="only place"):
            scheduler.add_job(plugin.crunch, "interval", seconds=1, run_in="elsewhere")
        with pytest.raises(InvalidJobError, match="kwargs, not args"):
            scheduler.add_job(plugin.crunch, "interval", seconds=1, run_in="tasks", args=[1])
        job = scheduler.add_job("crunch", "interval", seconds=60, id="by-name", run_in="tasks")
        assert scheduler.get_job("by-name") is not None and job.id == "by-name"
        assert len(scheduler.get_jobs()) == 1  # the refused ones were not added
