"""``services.scheduler`` settings, one model per backend, and the static ``jobs:`` list.

Every backend accepts every key of the section, so switching ``backend: memory`` to ``redis`` or
``database`` needs no other edit; a key a backend does not use is ignored by it. The job defaults
(``misfire_grace_time``, ``coalesce``, ``max_instances``) apply to every job that does not set its own.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationInfo,
    field_validator,
    model_validator,
)

from xcore._builtin_services.service_urls import RedisUrl, url_or_configured_redis
from xcore._services import ServiceSettings

_FUNC_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class StaticJobSettings(BaseModel):  # type: ignore[no-redef]  # pydantic.mypy: a field named kwargs
    """One entry of ``services.scheduler.jobs``: a job the configuration owns.

    ``func`` is ``"package.module:function"``; ``trigger`` is ``interval``, ``cron`` or ``date``; every
    other key is an argument of that trigger (``minutes: 5``, ``hour: 2``, ``run_date: ...``). ``id``
    defaults to ``func``. The configuration is the source of truth for these jobs: they are replaced at
    every start, and a config job no longer listed is removed from a persistent store.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    func: str
    trigger: str
    id: str | None = Field(None, min_length=1)
    name: str | None = None
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    misfire_grace_time: int | None = Field(None, ge=1)
    coalesce: bool | None = None
    max_instances: int | None = Field(None, ge=1)

    @field_validator("func")
    @classmethod
    def _func(cls, value: str) -> str:
        if not _FUNC_REF.match(value):
            raise ValueError("must be written 'package.module:function'")
        return value

    @property
    def job_id(self) -> str:
        return self.id or self.func

    @property
    def trigger_args(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class SchedulerSettings(ServiceSettings):
    """Settings shared by every scheduler backend.

    ``timezone`` is the wall clock of cron triggers and of date strings without an offset (default:
    the machine's zone). ``misfire_grace_time`` is how late, in seconds, a run may still start
    (``null``: however late); ``coalesce`` folds several missed runs of a job into one;
    ``max_instances`` caps concurrent runs of one job in one process. Sync job functions run on a pool
    of ``max_workers`` threads. ``shutdown_timeout`` is how long shutdown waits for running jobs before
    cancelling them.
    """

    persistent: ClassVar[str | None] = None
    """The backend's name when it pickles jobs (``redis``, ``database``), else ``None``."""

    timezone: str | None = None
    misfire_grace_time: int | None = Field(30, ge=1)
    coalesce: bool = True
    max_instances: int = Field(1, ge=1)
    max_workers: int = Field(10, ge=1)
    shutdown_timeout: float = Field(10.0, gt=0)
    jobs: list[StaticJobSettings] = Field(default_factory=list)
    # persistent backends (ignored by memory)
    url: str | None = None
    key_prefix: str | None = Field(None, min_length=1)
    database: str = Field("db", min_length=1)
    table_prefix: str = "xcore_scheduler"
    poll_interval: float = Field(1.0, gt=0, le=60)
    timeout: float = Field(2.0, gt=0)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as 'Europe/Paris' or 'UTC')") from None
        return value

    @field_validator("table_prefix")
    @classmethod
    def _table(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError("must be a plain SQL identifier (letters, digits, underscores)")
        return value

    @field_validator("jobs")
    @classmethod
    def _unique_ids(cls, value: list[StaticJobSettings]) -> list[StaticJobSettings]:
        seen: set[str] = set()
        for job in value:
            if job.job_id in seen:
                raise ValueError(f"two jobs have the id {job.job_id!r}; give each an 'id'")
            seen.add(job.job_id)
        return value

    @field_validator("jobs")
    @classmethod
    def _jobs_resolve(cls, value: list[StaticJobSettings], info: ValidationInfo) -> list[StaticJobSettings]:
        """Each job's function must import and its trigger arguments must build: checked here, so that
        ``xcore config check`` rejects a bad job as boot would."""
        from tzlocal import get_localzone

        from xcore._builtin_services.scheduler.targets import make_target
        from xcore._builtin_services.scheduler.triggers import build_trigger
        from xcore._errors import XcoreError

        zone = info.data.get("timezone")
        tz = ZoneInfo(zone) if zone else get_localzone()
        for index, spec in enumerate(value):
            try:
                build_trigger(spec.trigger, spec.trigger_args, tz)
                make_target(spec.func, "", None, spec.args, spec.kwargs, cls.persistent)
            except XcoreError as exc:
                raise ValueError(f"entry {index} ({spec.job_id}): {exc}") from None
        return value


class MemorySchedulerSettings(SchedulerSettings):
    """``backend: memory``: jobs live in this process only and end with it."""


class RedisSchedulerSettings(SchedulerSettings):
    """``backend: redis``: jobs in Redis, shared by every process of the app.

    Without ``url`` (the spec's own block names none), the Redis the configuration already names:
    the cache's ``url`` when the cache is on Redis, else the first ``type: redis`` database. Which
    one is logged at boot and shown by ``xcore config check``; with none, ``url`` is required.
    """

    persistent = "redis"

    url: RedisUrl

    @model_validator(mode="wrap")
    @classmethod
    def _configured_redis(cls, data: Any, handler: ModelWrapValidatorHandler[Any], info: ValidationInfo) -> Any:
        return url_or_configured_redis(data, handler, info, "services.scheduler")


class DatabaseSchedulerSettings(SchedulerSettings):
    """``backend: database``: jobs in a table of the SQL database named by ``database`` (default ``db``)."""

    persistent = "database"

    @field_validator("database")
    @classmethod
    def _names_a_sql_database(cls, value: str, info: ValidationInfo) -> str:
        """With the configuration at hand (the host's validation context), ``database`` must name one of
        its databases (``db``: the first), of a synchronous SQL type, so config check rejects it as boot would."""
        sections = getattr(info.context, "sections", None)
        if sections is None:
            return value
        databases = [s for s in sections if s.kind == "database"]
        named = [s for s in databases if s.key_path == f"services.databases.{value}"]
        if not named and value == "db" and databases:
            named = databases[:1]
        if not named:
            known = ", ".join(s.key_path.rsplit(".", 1)[-1] for s in databases) or "(none)"
            raise ValueError(f"no database named {value!r} in services.databases (databases: {known})")
        if named[0].type_name in ("sqlasync", "redis"):
            raise ValueError(
                f"database {value!r} is of type {named[0].type_name!r}; the scheduler needs a synchronous SQL "
                "database (type postgresql, sqlite, mysql or sql)"
            )
        return value
