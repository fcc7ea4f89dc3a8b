"""``services.tasks`` settings, one model per backend (the same keys under both, as for the cache)."""

from __future__ import annotations

from pydantic import Field

from xcore._builtin_services.service_urls import RedisUrl
from xcore._services import ServiceSettings


class TasksSettings(ServiceSettings):
    """Settings shared by both task backends.

    ``retries`` is how many times a failing task is tried again when ``enqueue`` does not say
    (``retries=``); the n-th retry waits ``backoff * 2**(n-1)`` seconds, at most ``max_backoff``.
    ``concurrency`` is how many tasks one process runs at once (``xcore worker --concurrency``
    overrides it). ``timeout`` bounds one run of a task; on ``redis`` it also decides how soon a task
    whose worker died is given to another worker (``2 * timeout + 10`` seconds after it took it). ``result_ttl`` is how
    long a finished task's record (status, result, error) is kept.
    """

    url: str | None = None
    retries: int = Field(3, ge=0, le=100)
    backoff: float = Field(1.0, ge=0, le=3600)
    max_backoff: float = Field(300.0, gt=0)
    concurrency: int = Field(10, gt=0, le=10_000)
    timeout: float = Field(300.0, gt=0)
    result_ttl: float = Field(86_400.0, gt=0)


class MemoryTasksSettings(TasksSettings):
    """``backend: memory``: tasks run in the process that enqueued them (``url`` is ignored)."""


class RedisTasksSettings(TasksSettings):
    """``backend: redis``: taskiq on a Redis stream; ``url`` is required, tasks run in ``xcore worker`` processes.

    ``poll_interval`` is how often a worker moves due delayed tasks and retries into the stream.
    """

    url: RedisUrl
    poll_interval: float = Field(0.05, gt=0, le=10)
