"""``xcore tasks``, ``xcore tasks retry ID`` and ``xcore worker``, run as the commands they are."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.test_tasks import Other, Worky
from xcore.testing.harness import boot_xcore

ROOT = Path(__file__).resolve().parent.parent


def write_config(tmp_path: Path, tasks: dict[str, Any]) -> Path:
    config = {
        "app": {"name": "tasktest"},
        "plugins": {
            "local": {"worky": "tests.test_tasks:Worky", "other": "tests.test_tasks:Other"},
            "enabled": ["worky", "other"],
        },
        "services": {"databases": {}, "extensions": {}, "tasks": tasks},
    }
    path = tmp_path / "integration.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def xcore(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "xcore", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )


async def test_tasks_lists_the_dead_letters_and_retry_queues_one_again(tmp_path: Path, redis_url: str) -> None:
    settings = {"backend": "redis", "url": redis_url, "backoff": 0.01, "retries": 0, "poll_interval": 0.01}
    path = write_config(tmp_path, settings)
    async with boot_xcore(
        {"worky": Worky, "other": Other}, {"app": {"name": "tasktest"}, "services": {"tasks": settings}}
    ) as xt:
        service = xt.host.get_service("tasks")
        stop = asyncio.Event()
        worker = asyncio.create_task(service.run_worker(2, stop, 1))
        dead = await xt.get_service("tasks", plugin="worky").enqueue("flaky", {"fail_times": 99})
        for _ in range(500):
            if await dead.status() == "dead":
                break
            await asyncio.sleep(0.01)
        stop.set()
        await worker
        listed = await asyncio.to_thread(xcore, "tasks", "--status", "failed", "--json", "-c", str(path))
        assert listed.returncode == 0, listed.stderr
        rows = json.loads(listed.stdout)
        assert [(r["id"], r["task"], r["status"]) for r in rows] == [(dead.id, "flaky", "dead")]
        assert "RuntimeError: boom 1" in rows[0]["error"]
        table = await asyncio.to_thread(xcore, "tasks", "-c", str(path))
        assert dead.id in table.stdout and "dead" in table.stdout
        retried = await asyncio.to_thread(xcore, "tasks", "retry", dead.id, "-c", str(path))
        assert retried.returncode == 0 and f"task {dead.id} queued again" in retried.stdout, retried.stderr
        assert await dead.status() == "queued"
        again = await asyncio.to_thread(xcore, "tasks", "retry", dead.id, "-c", str(path))
        assert again.returncode == 1 and "is queued, not dead" in again.stderr
        unknown = await asyncio.to_thread(xcore, "tasks", "retry", "nope", "-c", str(path))
        assert unknown.returncode == 1 and "no task with id 'nope'" in unknown.stderr


def test_worker_refuses_the_memory_backend_with_the_reason(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"backend": "memory"})
    result = xcore("worker", "-c", str(path))
    assert result.returncode == 1
    assert "services.tasks.backend is 'memory'" in result.stderr and "backend: redis" in result.stderr
