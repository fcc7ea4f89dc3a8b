"""The built-in scheduler service (APScheduler 3): ``backend: memory``, ``redis`` or ``database``.

Registered through ``xcore_register_service`` like any third-party backend. A plugin gets its own
view of the scheduler from ``get_service("scheduler")``::

    self.scheduler = self.get_service("scheduler")
    self.scheduler.add_job(func=self._cleanup_task, trigger="interval", minutes=5,
                           id="cleanup_job", replace_existing=True)

Sync functions run on a thread pool, coroutine functions on the app's event loop. With ``redis`` or
``database``, jobs survive restarts and are shared by every process of the app; each due run executes
exactly once across them, and ``func=self.method`` is stored as (plugin, method) and run on the live
plugin. ``xcore jobs`` lists every job with its next run and last outcome.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xcore._builtin_services.scheduler.settings import (
    DatabaseSchedulerSettings,
    MemorySchedulerSettings,
    RedisSchedulerSettings,
    SchedulerSettings,
)
from xcore._errors import ConfigError
from xcore._hookspecs import hookimpl
from xcore._services import ServiceSetup, ServiceType
from xcore._services.namespaces import service_namespace

if TYPE_CHECKING:
    import click

    from xcore._builtin_services.scheduler.errors import (
        DuplicateJobError,
        InvalidJobError,
        JobNotFoundError,
        SchedulerError,
        StoreUnavailableError,
    )
    from xcore._builtin_services.scheduler.outcomes import JobFailure, JobOutcome, RunInfo, current_run
    from xcore._builtin_services.scheduler.service import SchedulerService
    from xcore._builtin_services.scheduler.view import PluginScheduler, ScheduledJob
else:
    # Importing the backend declares it; APScheduler loads only when a scheduler is built.
    from xcore._builtin_services.lazy_exports import lazy_exports

    __getattr__ = lazy_exports(
        __name__,
        {
            "DuplicateJobError": ".errors",
            "InvalidJobError": ".errors",
            "JobNotFoundError": ".errors",
            "SchedulerError": ".errors",
            "StoreUnavailableError": ".errors",
            "JobFailure": ".outcomes",
            "JobOutcome": ".outcomes",
            "RunInfo": ".outcomes",
            "current_run": ".outcomes",
            "SchedulerService": ".service",
            "PluginScheduler": ".view",
            "ScheduledJob": ".view",
        },
    )


def build_memory(settings: MemorySchedulerSettings, setup: ServiceSetup) -> SchedulerService:
    from xcore._builtin_services.scheduler.service import SchedulerService
    from xcore._builtin_services.scheduler.stores.memory import MemoryStore

    return SchedulerService(settings, setup, MemoryStore())


def build_redis(settings: RedisSchedulerSettings, setup: ServiceSetup) -> SchedulerService:
    from xcore._builtin_services.scheduler.service import SchedulerService
    from xcore._builtin_services.scheduler.stores.redis import RedisStore

    namespace = service_namespace(settings.key_prefix, setup.name) if settings.key_prefix else setup.namespace
    # Before namespaces, the store's keys were <key_prefix>:jobs..., by default xcore:<app>:scheduler:jobs...
    legacy = settings.key_prefix or f"xcore:{setup.app_name}:scheduler"
    return SchedulerService(settings, setup, RedisStore(settings.url, namespace, settings.timeout, legacy))


def build_database(settings: DatabaseSchedulerSettings, setup: ServiceSetup) -> SchedulerService:
    from sqlalchemy.engine import Engine

    from xcore._builtin_services.scheduler.service import SchedulerService
    from xcore._builtin_services.scheduler.stores.database import DatabaseStore

    where = f"{setup.key_path}.database"
    try:
        database: Any = setup.services(settings.database)
    except KeyError as exc:
        raise ConfigError(f"{where}: {exc.args[0] if exc.args else exc}") from None
    engine = getattr(database, "engine", None)
    if not isinstance(engine, Engine):
        raise ConfigError(
            f"{where}: service {settings.database!r} is not a synchronous SQL database (the scheduler needs one "
            "of type postgresql, sqlite, mysql or sql, whose service exposes a SQLAlchemy Engine)"
        )
    return SchedulerService(
        settings, setup, DatabaseStore(lambda: database.engine, settings.database, settings.table_prefix)
    )


@hookimpl
def xcore_register_service() -> list[ServiceType]:
    return [
        ServiceType(
            "scheduler",
            "memory",
            MemorySchedulerSettings,
            build_memory,
            "APScheduler jobs in this process (the embedded default)",
        ),
        ServiceType(
            "scheduler",
            "redis",
            RedisSchedulerSettings,
            build_redis,
            "APScheduler jobs in Redis: persistent, each run executed once across processes",
        ),
        ServiceType(
            "scheduler",
            "database",
            DatabaseSchedulerSettings,
            build_database,
            "APScheduler jobs in a table of a SQL database: persistent, each run executed once",
        ),
    ]


@hookimpl
def xcore_register_commands(cli: click.Group) -> None:
    """``xcore jobs``."""
    from xcore._builtin_services.scheduler.cli import jobs_command

    cli.add_command(jobs_command)


__all__ = [
    "DatabaseSchedulerSettings",
    "DuplicateJobError",
    "InvalidJobError",
    "JobFailure",
    "JobNotFoundError",
    "JobOutcome",
    "MemorySchedulerSettings",
    "PluginScheduler",
    "RedisSchedulerSettings",
    "RunInfo",
    "ScheduledJob",
    "SchedulerError",
    "SchedulerService",
    "SchedulerSettings",
    "StoreUnavailableError",
    "build_database",
    "build_memory",
    "build_redis",
    "current_run",
    "xcore_register_commands",
    "xcore_register_service",
]
