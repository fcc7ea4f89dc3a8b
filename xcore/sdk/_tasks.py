"""``@task``: a plugin method the ``tasks`` service can run in a worker, and what a running task can ask.

::

    class Plugin(TrustedBase):
        @task
        async def report(self, payload: dict) -> dict:
            for i, month in enumerate(payload["months"]):
                ...
                report_progress((i + 1) / len(payload["months"]), f"month {month}")
            return {"rows": 120}

        async def on_load(self) -> None:
            handle = await self.get_service("tasks").enqueue("report", {"months": [1, 2]}, retries=3)

A task is called with its payload (a JSON dict) and runs with the plugin's own services and settings,
in whichever process runs tasks (``xcore worker`` with the redis backend, the web process itself with
the memory backend). Sync tasks run on a thread. Delivery is at least once: a task may run again after
a worker dies mid-run, so a task with outside effects checks :func:`current_task` ``.key`` (or its id)
to do them once.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar, overload

F = TypeVar("F", bound=Callable[..., Any])

TASK_MARK = "__xcore_task__"


@dataclass(frozen=True)
class TaskRun:
    """The task running in this context: ``attempt`` counts from 1, ``key`` is the idempotency key."""

    id: str
    plugin: str
    name: str
    attempt: int
    key: str | None
    report: Callable[[float, str | None], None]


_current: ContextVar[TaskRun | None] = ContextVar("xcore_task", default=None)


@overload
def task(func: F) -> F: ...
@overload
def task(*, name: str | None = None) -> Callable[[F], F]: ...
def task(func: Any = None, *, name: str | None = None) -> Any:
    """Mark a method (sync or async) as a task called ``name`` (default: the method's name)."""

    def decorate(fn: F) -> F:
        task_name = name or fn.__name__
        if not isinstance(task_name, str) or not task_name:
            raise ValueError(f"@task name must be a non-empty string, got {task_name!r}")
        setattr(fn, TASK_MARK, task_name)
        return fn

    return decorate(func) if func is not None else decorate


def current_task() -> TaskRun | None:
    """The task this code runs in, or ``None`` outside a task."""
    return _current.get()


def report_progress(value: float, message: str | None = None) -> None:
    """Record the running task's progress (a number, e.g. a fraction from 0 to 1) and an optional
    message; ``handle.progress()`` reads it. Works from sync and async tasks; written in the background."""
    run = _current.get()
    if run is None:
        raise RuntimeError("report_progress() is called outside a task")
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise TypeError(f"report_progress: value must be a number, got {value!r}")
    if message is not None and not isinstance(message, str):
        raise TypeError(f"report_progress: message must be a str, got {type(message).__name__}")
    run.report(float(value), message)
