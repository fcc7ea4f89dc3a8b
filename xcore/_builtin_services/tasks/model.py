"""What a task is to both backends: its record, its statuses, its handle and its errors.

A record is a flat mapping of strings (a Redis hash on ``redis``, a dict in memory), so that the
worker's status writes and the task's progress writes never overwrite each other's fields.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from xcore._errors import XcoreError

if TYPE_CHECKING:
    from xcore._builtin_services.tasks.service import TasksService

TaskStatus = Literal["queued", "running", "retrying", "succeeded", "dead", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "dead", "cancelled"})
LISTED_AS: dict[str, frozenset[str]] = {
    "queued": frozenset({"queued", "retrying"}),
    "running": frozenset({"running"}),
    "failed": frozenset({"dead"}),
    "succeeded": frozenset({"succeeded"}),
    "cancelled": frozenset({"cancelled"}),
}
"""What ``xcore tasks --status X`` shows: ``failed`` are the dead letters (retries used up)."""


class TaskError(XcoreError):
    """Base of the tasks service's errors."""


class UnknownTaskError(TaskError, LookupError):
    """The plugin has no ``@task`` of that name."""


class TaskNotFoundError(TaskError, LookupError):
    """No task has that id (never enqueued, or its record expired after ``result_ttl``)."""


class TaskFailedError(TaskError):
    """``handle.result()`` of a task that ended dead (it raised on every try)."""


class TaskCancelledError(TaskError):
    """``handle.result()`` of a cancelled task."""


class TaskUnavailableError(TaskError, ConnectionError):
    """The task store (Redis) cannot be reached: the task was not enqueued."""


def encode_payload(plugin: str, name: str, payload: Any) -> str:
    """The payload as JSON text; a task's payload crosses processes, so it must be JSON."""
    if payload is None:
        payload = {}
    if not isinstance(payload, Mapping):
        raise TypeError(f"task {plugin}.{name}: the payload must be a dict, got {type(payload).__name__}")
    try:
        return json.dumps(payload, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"task {plugin}.{name}: the payload must be JSON (str keys, JSON values): {exc}") from None


@dataclass
class TaskRecord:
    """One task as stored. ``failures`` counts failed runs (retries are decided on it); ``attempts``
    counts starts, so a run interrupted by a dying worker shows as an extra attempt."""

    id: str
    plugin: str
    name: str
    payload: str
    retries: int
    key: str = ""
    status: str = "queued"
    attempts: int = 0
    failures: int = 0
    result: str = ""
    error: str = ""
    progress: str = ""
    message: str = ""
    job: str = ""
    enqueued_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    def fields(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.__dict__.items()}

    @classmethod
    def from_fields(cls, raw: Mapping[str, str]) -> TaskRecord:
        return cls(
            id=raw["id"],
            plugin=raw["plugin"],
            name=raw["name"],
            payload=raw.get("payload", "{}"),
            retries=int(raw.get("retries", 0)),
            key=raw.get("key", ""),
            status=raw.get("status", "queued"),
            attempts=int(raw.get("attempts", 0)),
            failures=int(raw.get("failures", 0)),
            result=raw.get("result", ""),
            error=raw.get("error", ""),
            progress=raw.get("progress", ""),
            message=raw.get("message", ""),
            job=raw.get("job", ""),
            enqueued_at=float(raw.get("enqueued_at", 0)),
            updated_at=float(raw.get("updated_at", 0)),
        )

    def describe(self) -> dict[str, Any]:
        """The record as ``xcore tasks`` and ``handle.info()`` show it (no payload: it may hold data)."""
        return {
            "id": self.id,
            "plugin": self.plugin,
            "task": self.name,
            "status": self.status,
            "attempts": self.attempts,
            "failures": self.failures,
            "retries": self.retries,
            "key": self.key or None,
            "progress": float(self.progress) if self.progress else None,
            "message": self.message or None,
            "error": self.error or None,
            "enqueued_at": self.enqueued_at,
            "updated_at": self.updated_at,
        }


class TaskHandle:
    """What ``enqueue`` returns: the task's id, and its status, progress, result and cancel.

    ``existing`` is ``True`` when ``enqueue(..., key=...)`` found a task with that idempotency key
    and returned it instead of enqueueing another.
    """

    __slots__ = ("_service", "existing", "id")

    def __init__(self, service: TasksService, task_id: str, existing: bool = False) -> None:
        self._service = service
        self.id = task_id
        self.existing = existing

    async def info(self) -> dict[str, Any]:
        return (await self._service.record(self.id)).describe()

    async def status(self) -> str:
        return (await self._service.record(self.id)).status

    async def progress(self) -> tuple[float | None, str | None]:
        """The last ``report_progress(value, message)`` of the task: ``(None, None)`` before any."""
        record = await self._service.record(self.id)
        return (float(record.progress) if record.progress else None, record.message or None)

    async def result(self, timeout: float | None = None, poll: float = 0.02) -> Any:
        """Wait for the task to finish and return its value; raises :class:`TaskFailedError` if it ended
        dead, :class:`TaskCancelledError` if cancelled, ``TimeoutError`` after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            pause = poll
            while True:
                record = await self._service.record(self.id)
                if record.status == "succeeded":
                    return json.loads(record.result) if record.result else None
                if record.status == "dead":
                    raise TaskFailedError(f"task {record.plugin}.{record.name} ({self.id}) failed: {record.error}")
                if record.status == "cancelled":
                    raise TaskCancelledError(f"task {record.plugin}.{record.name} ({self.id}) was cancelled")
                await asyncio.sleep(pause)
                pause = min(pause * 1.5, 0.5)

    async def cancel(self) -> bool:
        """Cancel the task: a queued one never runs, a running async one is interrupted. ``False`` if it
        had already finished."""
        return await self._service.cancel(self.id)

    def __repr__(self) -> str:
        return f"<TaskHandle {self.id}>"
