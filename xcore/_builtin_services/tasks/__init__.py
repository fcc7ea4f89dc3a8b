"""The built-in tasks service: ``services.tasks`` with ``backend: memory`` (embedded) or ``backend: redis``.

Registered like any third-party backend, through the ``xcore.services`` entry point ``tasks`` and the
``xcore_register_service`` hook below. A plugin marks methods with ``@task`` (``xcore.sdk``) and
enqueues them through its own view of the service::

    handle = await self.get_service("tasks").enqueue("report", {"month": 3}, delay=10, retries=3, key="report-3")
    await handle.status(); await handle.progress(); await handle.result(timeout=60); await handle.cancel()

``redis`` is backed by taskiq (taskiq-redis) and runs tasks in ``xcore worker`` processes; ``memory`` runs them in the
process that enqueued them. ``xcore tasks`` lists tasks, ``xcore tasks retry ID`` retries a dead one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xcore._builtin_services.tasks.settings import MemoryTasksSettings, RedisTasksSettings, TasksSettings
from xcore._hookspecs import hookimpl
from xcore._services import ServiceSetup, ServiceType

if TYPE_CHECKING:
    import click

    from xcore._builtin_services.tasks.memory import MemoryTasks
    from xcore._builtin_services.tasks.model import (
        TaskCancelledError,
        TaskError,
        TaskFailedError,
        TaskHandle,
        TaskNotFoundError,
        TaskUnavailableError,
        UnknownTaskError,
    )
    from xcore._builtin_services.tasks.redis import RedisTasks
    from xcore._builtin_services.tasks.service import TasksService
    from xcore._builtin_services.tasks.view import PluginTasks
else:
    from xcore._builtin_services.lazy_exports import lazy_exports

    __getattr__ = lazy_exports(
        __name__,
        {
            "MemoryTasks": ".memory",
            "RedisTasks": ".redis",
            "TasksService": ".service",
            "PluginTasks": ".view",
            **{
                name: ".model"
                for name in (
                    "TaskCancelledError",
                    "TaskError",
                    "TaskFailedError",
                    "TaskHandle",
                    "TaskNotFoundError",
                    "TaskUnavailableError",
                    "UnknownTaskError",
                )
            },
        },
    )

__all__ = [
    "MemoryTasks",
    "MemoryTasksSettings",
    "PluginTasks",
    "RedisTasks",
    "RedisTasksSettings",
    "TaskCancelledError",
    "TaskError",
    "TaskFailedError",
    "TaskHandle",
    "TaskNotFoundError",
    "TaskUnavailableError",
    "TasksService",
    "TasksSettings",
    "UnknownTaskError",
]


def build_memory(settings: MemoryTasksSettings, setup: ServiceSetup) -> MemoryTasks:
    from xcore._builtin_services.tasks.memory import MemoryTasks

    return MemoryTasks(settings, setup)


def build_redis(settings: RedisTasksSettings, setup: ServiceSetup) -> RedisTasks:
    # imported here so that XCore without the tasks extra never imports taskiq
    try:
        import taskiq
        import taskiq_redis
    except ImportError as exc:
        raise ModuleNotFoundError(
            "the redis tasks backend needs the optional packages taskiq and taskiq-redis, which are not "
            "installed; install them with: pip install 'xcore-host[tasks]'",
            name=exc.name,
        ) from exc
    del taskiq, taskiq_redis
    from xcore._builtin_services.tasks.redis import RedisTasks

    return RedisTasks(settings, setup)


@hookimpl
def xcore_register_service() -> list[ServiceType]:
    factories: list[tuple[str, Any, Any, str]] = [
        ("memory", MemoryTasksSettings, build_memory, "tasks run in the process that enqueued them (embedded)"),
        ("redis", RedisTasksSettings, build_redis, "taskiq on Redis, run by `xcore worker` (needs xcore-host[tasks])"),
    ]
    return [
        ServiceType(kind="tasks", name=name, config=config, factory=factory, description=description)
        for name, config, factory, description in factories
    ]


@hookimpl
def xcore_register_commands(cli: click.Group) -> None:
    """``xcore worker`` and ``xcore tasks``."""
    from xcore._builtin_services.tasks.cli import tasks_group, worker_command

    cli.add_command(worker_command)
    cli.add_command(tasks_group)
