"""A worker process of ``test_scheduler_processes`` (no tests here): one app process with one plugin.

Run as ``python -m tests.test_scheduler_worker '<config json>'``: boots a real host whose plugin adds
the same interval job in ``on_load`` (as the seed's examples do, without ``replace_existing``) and
records every run it executes in a Redis list, prints ``ready``, and shuts down when stdin closes.
Kept apart from the test module so that the workers do not import pytest.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import redis

from xcore._builtin_services.scheduler import current_run
from xcore.sdk import TrustedBase

BEAT = 0.2


class CounterPlugin(TrustedBase):
    """The plugin every worker loads; ``record`` is the job, resolved on whichever process runs it."""

    async def on_load(self) -> None:
        self.redis = redis.Redis.from_url(self.ctx.config["record_url"])
        self.scheduler = self.get_service("scheduler")
        self.scheduler.add_job(func=self.record, trigger="interval", seconds=BEAT, args=["beat"], id="beat")

    def record(self, label: str) -> None:
        run = current_run()
        assert run is not None
        self.redis.rpush("runs", json.dumps([label, run.scheduled_for.timestamp(), time.time(), os.getpid()]))

    async def on_unload(self) -> None:
        self.redis.close()


def worker_config(store_url: str, record_url: str) -> dict[str, Any]:
    """An app on the Redis scheduler backend; backends it does not use are disabled (faster workers)."""
    unused = ["sql", "sqlasync", "redis", "cache", "events", "email", "storage"]
    return {
        "app": {"name": "procs"},
        "services": {
            "databases": {},
            "extensions": {},
            "cache": {"enabled": False},
            "events": {"enabled": False},
            "scheduler": {"backend": "redis", "url": store_url, "key_prefix": "procs"},
        },
        "plugins": {"disabled": unused, "settings": {"counter": {"record_url": record_url}}},
    }


async def serve_worker(config: dict[str, Any]) -> None:
    from xcore import Xcore

    host = Xcore(config=config, plugins={"counter": CounterPlugin}, discover=False)
    await host.boot()
    failed = [r.error for r in host.plugins if r.state == "failed"]
    print("ready" if not failed else f"failed {failed}", flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # the test closes stdin to stop us
    await host.shutdown()


if __name__ == "__main__":
    asyncio.run(serve_worker(json.loads(sys.argv[1])))
