"""The plugin every process of the cluster test loads (hosts and workers); no tests here.

It records what the test checks in the cluster's Redis (``record_url``): the scheduled runs (by due
time), the tasks run and their effects (once per idempotency key), and which processes heard an event.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import redis.asyncio as aioredis
from fastapi import APIRouter

from xcore._builtin_services.scheduler import current_run
from xcore.sdk import TrustedBase, current_task, interval, task

EFFECT_ONCE = """
if redis.call('SET', KEYS[1], 1, 'NX') then redis.call('INCR', KEYS[2]) end
"""
"""The task's outside effect, made idempotent by its key: marking it done and doing it are one step."""


class Plugin(TrustedBase):
    async def on_load(self) -> None:
        self.record = aioredis.Redis.from_url(self.ctx.config["record_url"])
        self.cache = self.get_service("cache")
        self.ctx.events.on("cluster.note", self._heard)

    async def on_unload(self) -> None:
        await self.record.aclose()

    async def _heard(self, event: Any) -> None:
        await self.record.sadd(f"heard:{event.data['id']}", os.getpid())

    @interval(seconds=1)
    async def beat(self) -> None:
        run = current_run()
        assert run is not None
        await self.record.rpush("beats", f"{run.scheduled_for.timestamp():.3f}")

    @task
    async def work(self, payload: dict[str, Any]) -> int:
        run = current_task()
        assert run is not None and run.key is not None
        await self.record.rpush("task_runs", run.id)
        await asyncio.sleep(payload.get("sleep", 0.05))
        await self.record.eval(EFFECT_ONCE, 2, f"effect:{run.key}", "effects")  # the effect, once per key
        return int(payload["n"])

    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/ping")
        async def ping() -> dict[str, int]:
            return {"pid": os.getpid()}

        @router.put("/cache/{key}")
        async def put(key: str, value: str) -> dict[str, str]:
            await self.cache.set(key, value, ttl=300)
            return {"key": key}

        @router.get("/cache/{key}")
        async def get(key: str) -> dict[str, Any]:
            return {"value": await self.cache.get(key), "pid": os.getpid()}

        @router.post("/note/{note_id}")
        async def note(note_id: str) -> dict[str, str]:
            await self.ctx.events.emit("cluster.note", {"id": note_id})
            return {"id": note_id}

        @router.post("/enqueue")
        async def enqueue(count: int, sleep: float = 0.05) -> dict[str, int]:
            tasks = self.get_service("tasks")
            numbers = range(min(count, 5000))
            for start in range(0, len(numbers), 50):  # 50 enqueues in flight at a time
                await asyncio.gather(
                    *(
                        tasks.enqueue("work", {"n": n, "sleep": sleep}, key=f"work-{n}")
                        for n in numbers[start : start + 50]
                    )
                )
            return {"enqueued": count}

        return router
