"""Exactly once across processes: three real app processes share one Redis job store.

Each worker (``tests/test_scheduler_worker.py``) boots a real host whose plugin adds the same
interval job in ``on_load`` and records every run it executes in a Redis list. Meanwhile the test
process, which never runs jobs itself, adds one-shot jobs for that plugin. Every scheduled run must
appear exactly once, and a job added elsewhere must start within the poll interval.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from tests.test_scheduler_support import LivePlugins, make_setup
from tests.test_scheduler_worker import BEAT, CounterPlugin, worker_config
from xcore._builtin_services.scheduler import RedisSchedulerSettings, build_redis
from xcore.sdk._context import PluginHandle

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 3
DATE_JOBS = 10


def start_workers(config: dict[str, Any], logs: list[Path]) -> list[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return [
        subprocess.Popen(
            [sys.executable, "-m", "tests.test_scheduler_worker", json.dumps(config)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
        )
        for log in logs
    ]


def stop_workers(workers: list[subprocess.Popen[str]]) -> None:
    for worker in workers:
        if worker.stdin:
            worker.stdin.close()  # the worker shuts its host down and exits
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


async def test_every_due_run_executes_exactly_once_across_processes(redis_url: str, tmp_path: Path) -> None:
    logs = [tmp_path / f"worker{i}.log" for i in range(WORKERS)]
    workers = start_workers(worker_config(redis_url, redis_url), logs)
    recorder = redis.Redis.from_url(redis_url)

    def runs() -> list[list[Any]]:
        return [json.loads(raw) for raw in recorder.lrange("runs", 0, -1)]  # type: ignore[union-attr]

    adder = build_redis(RedisSchedulerSettings(url=redis_url, key_prefix="procs"), make_setup(LivePlugins()))
    try:
        for worker, log in zip(workers, logs, strict=True):
            line = await asyncio.wait_for(asyncio.to_thread(worker.stdout.readline), 60)  # type: ignore[union-attr]
            assert line.strip() == "ready", f"worker did not boot: {line!r}\n{log.read_text()[-3000:]}"
        await adder.start()  # never told the host started: this process adds jobs but runs none
        template = CounterPlugin()  # stands for the plugin: only (plugin name, method name) is stored
        scheduler = adder.for_plugin(PluginHandle("counter", template))
        added_at = time.time()
        scheduler.add_job(template.record, "date", args=["now"], id="now")  # due at once
        for i in range(DATE_JOBS):
            run_date = (datetime.now(UTC) + timedelta(seconds=0.4 + i * 0.1)).isoformat()
            scheduler.add_job(template.record, "date", args=[f"d{i}"], id=f"d{i}", run_date=run_date)
        wanted = {"now", *(f"d{i}" for i in range(DATE_JOBS))}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done = runs()
            if {r[0] for r in done} >= wanted and sum(r[0] == "beat" for r in done) >= 10:
                break
            await asyncio.sleep(0.1)
    finally:
        stop_workers(workers)
        await adder.close()

    done = runs()
    recorder.close()
    labels = Counter(r[0] for r in done)
    assert labels["now"] == 1 and all(labels[f"d{i}"] == 1 for i in range(DATE_JOBS)), labels
    beats = sorted(r[1] for r in done if r[0] == "beat")
    assert len(beats) >= 10
    assert len(beats) == len(set(beats)), "an interval run executed twice"
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(beats)]
    assert all(abs(gap - BEAT) < 0.01 for gap in gaps), f"missed runs: {gaps}"
    now_run = next(r for r in done if r[0] == "now")
    assert now_run[2] - added_at < 3.0, "a job added elsewhere was not picked up within the poll interval"
    assert all(w.returncode == 0 for w in workers), [log.read_text()[-2000:] for log in logs]
