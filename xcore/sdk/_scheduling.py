"""``@cron(...)`` and ``@interval(...)``: schedule plugin methods declaratively.

The decorators only mark a method; when the plugin has loaded (after its ``on_load``),
:func:`schedule_marked` adds one job per mark through the plugin's own scheduler view, with the
method's name as the job id, so the job is the plugin's like any ``add_job`` (listed by
``xcore jobs``, removed at unload) and a persistent store keeps it across restarts::

    class Plugin(TrustedBase):
        @cron("0 2 * * *")             # crontab: minute hour day month day-of-week
        async def nightly(self): ...

        @interval(minutes=5)
        async def refresh(self): ...

These are the original XCore SDK's decorators, mapped onto ``scheduler.add_job``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from xcore.sdk._context import PluginContext

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__xcore_schedule__"
_CRON_FIELDS = ("minute", "hour", "day", "month", "day_of_week")
_INTERVAL_FIELDS = frozenset({"weeks", "days", "hours", "minutes", "seconds", "start_date", "end_date", "jitter"})

log = logging.getLogger("xcore.sdk")


@dataclass(frozen=True)
class ScheduleMark:
    trigger: str
    fields: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


def _mark(schedule: ScheduleMark) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        setattr(func, _MARK, [*getattr(func, _MARK, ()), schedule])
        return func

    return decorate


def cron(expression: str | None = None, *, id: str | None = None, **fields: Any) -> Callable[[F], F]:
    """Run the method on a cron schedule: a crontab string (``"*/5 * * * *"``) or APScheduler's
    cron fields (``hour=2, minute=0``). Fields are checked when the plugin loads."""
    if expression is not None:
        parts = expression.split()
        if len(parts) != len(_CRON_FIELDS):
            raise ValueError(
                f"cron({expression!r}): a crontab has 5 fields (minute hour day month day-of-week), got {len(parts)}"
            )
        if fields:
            raise ValueError(f"cron({expression!r}): give a crontab string or cron fields, not both")
        fields = dict(zip(_CRON_FIELDS, parts, strict=True))
    if not fields:
        raise ValueError("cron() needs a crontab string or cron fields such as hour=2, minute=0")
    return _mark(ScheduleMark("cron", fields, id))


def interval(*, id: str | None = None, **fields: Any) -> Callable[[F], F]:
    """Run the method every ``weeks``/``days``/``hours``/``minutes``/``seconds``."""
    unknown = set(fields) - _INTERVAL_FIELDS
    if unknown:
        raise ValueError(
            f"interval(): unknown argument(s) {', '.join(sorted(unknown))}; use {', '.join(sorted(_INTERVAL_FIELDS))}"
        )
    if not fields:
        raise ValueError("interval() needs a period, e.g. interval(minutes=5)")
    return _mark(ScheduleMark("interval", fields, id))


def schedule_marked(instance: object, ctx: PluginContext) -> int:
    """Add a job for every ``@cron``/``@interval`` method of a loaded plugin; returns how many.

    With no scheduler service the marks cannot run: a warning says so instead of failing the plugin.
    """
    found: list[tuple[str, ScheduleMark]] = []
    seen: set[str] = set()
    for klass in type(instance).__mro__:
        for attr, value in vars(klass).items():
            if attr in seen:
                continue
            seen.add(attr)
            found += [(attr, m) for m in getattr(value, _MARK, ())]
    if not found:
        return 0
    if "scheduler" not in ctx.services:
        log.warning(
            "plugin %r has @cron/@interval methods, but services.scheduler is disabled: they will never run", ctx.name
        )
        return 0
    scheduler = ctx.services["scheduler"]
    from xcore._builtin_services.scheduler.errors import DuplicateJobError

    for attr, mark in found:
        method, job_id = getattr(instance, attr), mark.id or attr
        try:
            # An identical job already stored (another process, an earlier start) is kept as it is, so its
            # next run stays where it was: replacing it at every boot would re-anchor an interval and
            # shift (or skip) a due run each time a process of the cluster starts.
            scheduler.add_job(method, mark.trigger, id=job_id, **mark.fields)
        except DuplicateJobError:  # the mark changed (a new release): the new definition wins
            scheduler.add_job(method, mark.trigger, id=job_id, replace_existing=True, **mark.fields)
    return len(found)


__all__ = ["ScheduleMark", "cron", "interval", "schedule_marked"]
