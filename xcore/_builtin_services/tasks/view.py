"""``get_service("tasks")`` in a plugin: enqueue its own tasks, and see or retry only its own."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from xcore._builtin_services.tasks.model import TaskHandle, TaskNotFoundError

if TYPE_CHECKING:
    from xcore._builtin_services.tasks.service import TasksService


class PluginTasks:
    """The tasks service as one plugin sees it: the tasks it enqueues are its own ``@task`` methods."""

    def __init__(self, service: TasksService, plugin: str) -> None:
        self._service = service
        self.plugin = plugin

    @property
    def backend(self) -> str:
        return self._service.backend

    async def enqueue(
        self,
        name: str,
        payload: dict[str, Any] | None = None,
        *,
        delay: float = 0,
        retries: int | None = None,
        key: str | None = None,
    ) -> TaskHandle:
        """Run this plugin's ``@task`` ``name`` with ``payload`` (a JSON dict) after ``delay`` seconds.

        ``retries`` (default: ``services.tasks.retries``) is how often a failing run is tried again.
        ``key`` is an idempotency key: while a task enqueued with that key is known (until
        ``result_ttl`` after it finished), enqueueing again returns its handle (``handle.existing``)
        instead of a new task. Raises ``UnknownTaskError`` for a name that is not a ``@task`` of this
        plugin, ``TypeError`` for a payload that is not JSON.
        """
        return await self._service.enqueue_as(self.plugin, name, payload, delay=delay, retries=retries, key=key)

    async def get(self, task_id: str) -> TaskHandle:
        """The handle of one of this plugin's tasks; ``TaskNotFoundError`` for any other id."""
        record = await self._service.record(task_id)
        if record.plugin != self.plugin:
            raise TaskNotFoundError(f"no task with id {task_id!r} (never enqueued, or expired after result_ttl)")
        return TaskHandle(self._service, task_id)

    async def list(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """This plugin's recent tasks, newest first (``status``: queued, running, failed, succeeded, cancelled)."""
        return await self._service.list_tasks(status, self.plugin, limit)

    async def dead(self, limit: int = 100) -> builtins.list[dict[str, Any]]:
        """This plugin's dead letters: tasks that failed on every try."""
        return await self.list("failed", limit)

    async def retry(self, task_id: str) -> TaskHandle:
        """Run one of this plugin's dead tasks again."""
        await self.get(task_id)
        return await self._service.retry(task_id)
