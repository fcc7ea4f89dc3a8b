"""``TasksService``: the API both backends offer, and the one way a task is run and its outcome recorded.

A backend stores records and delivers task ids to :meth:`TasksService.run`, which resolves the
plugin's ``@task`` method on the live plugin, calls it with the payload and writes the outcome: a
value (``succeeded``), or a failure that is retried after ``backoff * 2**(n-1)`` seconds until
``retries`` are used up, then ``dead`` (a dead letter: listed by ``xcore tasks --status failed``,
retried by ``xcore tasks retry ID``). Every failed run is announced as the kernel event
``xcore.tasks.task_failed``. A run delivered for a task already finished or cancelled does nothing,
which is what makes a repeated delivery (at least once) harmless to the record.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from xcore._builtin_services.tasks.lookup import find_task
from xcore._builtin_services.tasks.model import (
    LISTED_AS,
    TERMINAL,
    TaskHandle,
    TaskNotFoundError,
    TaskRecord,
    encode_payload,
)
from xcore._builtin_services.tasks.settings import TasksSettings
from xcore._events import kernel
from xcore._redaction import active_secrets, describe_exception
from xcore._services import ServiceBase, ServiceSetup
from xcore.sdk._tasks import TaskRun, _current

if TYPE_CHECKING:
    from xcore._builtin_services.tasks.view import PluginTasks
    from xcore.sdk._context import PluginHandle

log = logging.getLogger("xcore.tasks")

MAX_KEY_LENGTH = 200


class TasksService(ServiceBase, ABC):
    """The tasks service; :meth:`for_plugin` gives each plugin its own view (its tasks only)."""

    backend = ""

    def __init__(self, settings: TasksSettings, setup: ServiceSetup) -> None:
        self.settings = settings
        self.setup = setup
        self._writes: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ what a backend provides

    @abstractmethod
    async def _store_new(self, record: TaskRecord, delay: float) -> str | None:
        """Store and deliver ``record`` after ``delay`` seconds; if its key is taken, the id holding it."""

    @abstractmethod
    async def _load(self, task_id: str) -> TaskRecord | None: ...

    @abstractmethod
    async def _update(self, task_id: str, **fields: Any) -> None: ...

    @abstractmethod
    async def _finished(self, record: TaskRecord) -> None:
        """The task reached a terminal status: expire its record after ``result_ttl``; list dead ones."""

    @abstractmethod
    async def _redeliver(self, record: TaskRecord) -> None:
        """Deliver a dead task again (``retry``)."""

    @abstractmethod
    async def _abort(self, record: TaskRecord) -> None:
        """Stop a queued or running task from running (its status is already ``cancelled``)."""

    @abstractmethod
    async def _recent(self, limit: int) -> list[TaskRecord]:
        """The most recently enqueued records, newest first."""

    # ------------------------------------------------------------------ API

    def for_plugin(self, plugin: PluginHandle) -> PluginTasks:
        from xcore._builtin_services.tasks.view import PluginTasks

        return PluginTasks(self, plugin.name)

    async def enqueue_as(
        self,
        plugin: str,
        name: str,
        payload: Any = None,
        *,
        delay: float = 0,
        retries: int | None = None,
        key: str | None = None,
    ) -> TaskHandle:
        """Enqueue ``plugin``'s task ``name``; see :meth:`PluginTasks.enqueue`."""
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay < math.inf:
            raise ValueError(f"task {plugin}.{name}: delay must be a number of seconds >= 0, got {delay!r}")
        if retries is None:
            retries = self.settings.retries
        elif isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 100:
            raise ValueError(f"task {plugin}.{name}: retries must be an int from 0 to 100, got {retries!r}")
        if key is not None and (not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH):
            raise ValueError(
                f"task {plugin}.{name}: key must be a non-empty str of at most {MAX_KEY_LENGTH} characters, got {key!r}"
            )
        handle = self.setup.plugins(plugin)
        if handle is not None:
            find_task(plugin, handle.instance, name)  # an unknown task fails here, in the caller
        record = TaskRecord(uuid4().hex, plugin, name, encode_payload(plugin, name, payload), retries, key or "")
        existing = await self._store_new(record, float(delay))
        if existing is not None:
            return TaskHandle(self, existing, existing=True)
        return TaskHandle(self, record.id)

    async def record(self, task_id: str) -> TaskRecord:
        record = await self._load(task_id)
        if record is None:
            raise TaskNotFoundError(f"no task with id {task_id!r} (never enqueued, or expired after result_ttl)")
        return record

    def handle(self, task_id: str) -> TaskHandle:
        return TaskHandle(self, task_id)

    async def cancel(self, task_id: str) -> bool:
        record = await self.record(task_id)
        if record.status in TERMINAL:
            return False
        await self._update(task_id, status="cancelled", updated_at=time.time())
        record.status = "cancelled"
        await self._abort(record)
        await self._finished(record)
        return True

    async def retry(self, task_id: str) -> TaskHandle:
        """Run a dead task again, with its retries renewed; other statuses raise ``ValueError``."""
        record = await self.record(task_id)
        if record.status != "dead":
            raise ValueError(f"task {task_id} is {record.status}, not dead: only failed (dead) tasks can be retried")
        await self._update(task_id, status="queued", failures=0, error="", updated_at=time.time())
        await self._redeliver(record)
        return TaskHandle(self, task_id)

    async def list_tasks(
        self, status: str | None = None, plugin: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Recent tasks, newest first; ``status`` is one of ``queued running failed succeeded cancelled``."""
        wanted: Iterable[str] | None = None
        if status is not None:
            if status not in LISTED_AS:
                raise ValueError(f"status must be one of {', '.join(LISTED_AS)}, got {status!r}")
            wanted = LISTED_AS[status]
        rows = []
        for record in await self._recent(max(limit * 10, 1000)):
            if (wanted is None or record.status in wanted) and (plugin is None or record.plugin == plugin):
                rows.append(record.describe())
                if len(rows) >= limit:
                    break
        return rows

    # ------------------------------------------------------------------ running a task

    def backoff(self, failures: int) -> float:
        return float(min(self.settings.backoff * 2 ** (failures - 1), self.settings.max_backoff))

    async def run(self, task_id: str) -> float | None:
        """Run one delivery of ``task_id``; the delay before the next try, or ``None`` when done."""
        record = await self._begin(task_id)
        if record is None:
            return None  # a repeated delivery of a finished task, or a cancelled one
        attempt = record.attempts
        run = TaskRun(task_id, record.plugin, record.name, attempt, record.key or None, self._reporter(task_id))
        token = _current.set(run)
        try:
            value = await self._call(record)
            result = json.dumps(value, allow_nan=False)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return await self._failed(record, attempt, exc)
        finally:
            _current.reset(token)
        await self._succeed(record, result)
        return None

    async def _begin(self, task_id: str) -> TaskRecord | None:
        """Mark a delivered task running (one more attempt) and return it; ``None`` if it is finished."""
        record = await self._load(task_id)
        if record is None or record.status in TERMINAL:
            return None
        record.attempts += 1
        record.status = "running"
        await self._update(task_id, status="running", attempts=record.attempts, updated_at=time.time())
        return record

    async def _succeed(self, record: TaskRecord, result: str) -> None:
        """Record the result, unless the task was cancelled while it ran."""
        current = await self._load(record.id)
        if current is not None and current.status == "cancelled":
            return
        await self._update(record.id, status="succeeded", result=result, error="", updated_at=time.time())
        record.status = "succeeded"
        await self._finished(record)

    async def _call(self, record: TaskRecord) -> Any:
        plugin = self.setup.plugins(record.plugin)
        if plugin is None:
            raise LookupError(f"plugin {record.plugin!r} is not loaded in this process")
        func = find_task(record.plugin, plugin.instance, record.name)
        payload = json.loads(record.payload)
        if inspect.iscoroutinefunction(func):
            return await asyncio.wait_for(func(payload), self.settings.timeout)
        result = await asyncio.wait_for(asyncio.to_thread(func, payload), self.settings.timeout)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def _failed(self, record: TaskRecord, attempt: int, exc: Exception) -> float | None:
        failures = record.failures + 1
        error = describe_exception(exc, active_secrets())
        final = failures > record.retries
        log.log(
            logging.ERROR if final else logging.WARNING,
            "task %s.%s (%s) failed on attempt %d%s: %s",
            record.plugin,
            record.name,
            record.id,
            attempt,
            " (dead: retries used up)" if final else "",
            error,
        )
        status = "dead" if final else "retrying"
        await self._update(record.id, status=status, failures=failures, error=error, updated_at=time.time())
        await self._announce(record, attempt, error, final)
        if final:
            record.status = "dead"
            await self._finished(record)
            return None
        return self.backoff(failures)

    async def _announce(self, record: TaskRecord, attempt: int, error: str, final: bool) -> None:
        try:
            events = self.setup.services("events")
        except KeyError:
            return
        data = {
            "plugin": record.plugin,
            "task": record.name,
            "task_id": record.id,
            "attempt": attempt,
            "error": error,
            "dead": final,
        }
        try:
            await events.emit(kernel.TASK_FAILED, data, source="xcore")
        except Exception:
            log.exception("kernel event %s could not be delivered", kernel.TASK_FAILED)

    def _reporter(self, task_id: str) -> Any:
        loop = asyncio.get_running_loop()

        def write(value: float, message: str | None) -> None:
            task = loop.create_task(self._update(task_id, progress=repr(value), message=message or ""))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

        def report(value: float, message: str | None) -> None:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                write(value, message)
            else:
                loop.call_soon_threadsafe(write, value, message)

        return report

    async def close(self) -> None:
        if self._writes:
            await asyncio.wait(list(self._writes), timeout=1)
