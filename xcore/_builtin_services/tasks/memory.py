"""``backend: memory``: tasks run in the process that enqueued them, with the same API as ``redis``.

The embedded default, so that ``xcore serve`` alone runs tasks: delays are event-loop timers, at most
``concurrency`` tasks run at once, retries, dead letters, cancel and progress behave as on Redis. What
it cannot give: a task still queued or running when the process stops is lost, and ``xcore worker``
has nothing to consume (use ``backend: redis`` for work that must survive a restart).
"""

from __future__ import annotations

import asyncio
from typing import Any

from xcore._builtin_services.tasks.model import TERMINAL, TaskRecord
from xcore._builtin_services.tasks.service import TasksService
from xcore._builtin_services.tasks.settings import MemoryTasksSettings
from xcore._services import ServiceSetup

MAX_RECORDS = 100_000
"""Finished records beyond this many are dropped oldest first, so a busy process stays bounded."""


class MemoryTasks(TasksService):
    backend = "memory"

    def __init__(self, settings: MemoryTasksSettings, setup: ServiceSetup) -> None:
        super().__init__(settings, setup)
        self._records: dict[str, dict[str, str]] = {}
        self._keys: dict[str, str] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._slots: asyncio.Semaphore | None = None

    async def health(self) -> dict[str, Any]:
        return {"backend": "memory", "queued": len(self._timers), "running": len(self._running)}

    async def _store_new(self, record: TaskRecord, delay: float) -> str | None:
        key = f"{record.plugin}:{record.key}" if record.key else ""
        if key:
            existing = self._keys.get(key)
            if existing is not None and existing in self._records:
                return existing
            self._keys[key] = record.id
        self._prune()
        self._records[record.id] = record.fields()
        self._schedule(record.id, delay)
        return None

    def _prune(self) -> None:
        if len(self._records) < MAX_RECORDS:
            return
        for task_id in [t for t, r in self._records.items() if r["status"] in TERMINAL][: MAX_RECORDS // 10]:
            self._records.pop(task_id, None)

    def _schedule(self, task_id: str, delay: float) -> None:
        loop = asyncio.get_running_loop()
        self._timers[task_id] = loop.call_later(delay, self._spawn, task_id)

    def _spawn(self, task_id: str) -> None:
        self._timers.pop(task_id, None)
        task = asyncio.get_running_loop().create_task(self._deliver(task_id), name=f"xcore-task:{task_id}")
        self._running[task_id] = task
        task.add_done_callback(lambda _: self._running.pop(task_id, None))

    async def _deliver(self, task_id: str) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.settings.concurrency)
        async with self._slots:
            delay = await self.run(task_id)
        if delay is not None:
            self._schedule(task_id, delay)

    async def _load(self, task_id: str) -> TaskRecord | None:
        fields = self._records.get(task_id)
        return None if fields is None else TaskRecord.from_fields(fields)

    async def _update(self, task_id: str, **fields: Any) -> None:
        record = self._records.get(task_id)
        if record is not None:
            record.update({k: str(v) for k, v in fields.items()})

    async def _finished(self, record: TaskRecord) -> None:
        return None

    async def _redeliver(self, record: TaskRecord) -> None:
        self._schedule(record.id, 0)

    async def _abort(self, record: TaskRecord) -> None:
        timer = self._timers.pop(record.id, None)
        if timer is not None:
            timer.cancel()
        task = self._running.get(record.id)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _recent(self, limit: int) -> list[TaskRecord]:
        ids = list(self._records)[-limit:]
        return [TaskRecord.from_fields(self._records[i]) for i in reversed(ids)]

    async def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        running = list(self._running.values())
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=5)
        await super().close()
