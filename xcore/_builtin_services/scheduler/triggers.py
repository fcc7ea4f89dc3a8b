"""Building APScheduler triggers from ``add_job`` arguments, with errors that say what is wrong.

APScheduler reports a misspelt argument as a ``TypeError`` from deep inside a constructor and an
out-of-range cron field without naming the field; these checks run first and name both.

Dates: a ``datetime`` without a time zone is read as the machine's local time, the way Python's own
``datetime.astimezone()`` reads it, so ``datetime.now() + timedelta(minutes=1)`` means one minute from
now whatever the scheduler's ``timezone`` is. A date *string* without an offset is read in the
scheduler's ``timezone``: it comes from outside the process, and that zone is the app's wall clock.
"""

from __future__ import annotations

import difflib
import inspect
from datetime import date, datetime, time, tzinfo
from functools import cache
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from xcore._builtin_services.scheduler.errors import InvalidJobError

TRIGGERS: dict[str, type[BaseTrigger]] = {"interval": IntervalTrigger, "cron": CronTrigger, "date": DateTrigger}
DATE_ARGUMENTS = ("run_date", "start_date", "end_date")
_INTERVAL_PARTS = ("weeks", "days", "hours", "minutes", "seconds")


@cache
def trigger_parameters(kind: str) -> tuple[str, ...]:
    """The keyword arguments the trigger ``kind`` accepts."""
    return tuple(name for name in inspect.signature(TRIGGERS[kind].__init__).parameters if name != "self")


def parse_datetime(value: Any, tz: tzinfo, argument: str) -> datetime:
    """An aware datetime from a ``datetime``, a ``date`` or an ISO 8601 string (see the module docstring)."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.astimezone()
    if isinstance(value, date):
        return datetime.combine(value, time(), tz)
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidJobError(
                f"{argument}={value!r} is not a date and time; write ISO 8601 such as '2030-06-01T14:30:00' "
                "or '2030-06-01T14:30:00+02:00', or pass a datetime"
            ) from None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)
    raise InvalidJobError(f"{argument} must be a datetime or an ISO 8601 string, not {type(value).__name__}")


def build_trigger(trigger: Any, arguments: dict[str, Any], tz: tzinfo) -> BaseTrigger:
    """A trigger instance for ``add_job(trigger=..., **arguments)``; raises :class:`InvalidJobError`."""
    if isinstance(trigger, BaseTrigger):
        if arguments:
            raise InvalidJobError(
                f"unexpected arguments {', '.join(sorted(arguments))}: a trigger instance takes no trigger arguments"
            )
        return trigger
    kind = "date" if trigger is None else trigger
    if not isinstance(kind, str) or kind not in TRIGGERS:
        guess = difflib.get_close_matches(str(kind), TRIGGERS, n=1)
        hint = f" (did you mean {guess[0]!r}?)" if guess else ""
        raise InvalidJobError(
            f"unknown trigger {kind!r}{hint}; use 'interval', 'cron' or 'date', or an APScheduler trigger instance"
        )
    accepted = trigger_parameters(kind)
    for name in arguments:
        if name not in accepted:
            guess = difflib.get_close_matches(name, accepted, n=1)
            hint = f"; did you mean {guess[0]!r}?" if guess else ""
            raise InvalidJobError(
                f"the {kind} trigger has no argument {name!r}{hint} (it takes: {', '.join(accepted)})"
            )
    values = dict(arguments)
    for name in DATE_ARGUMENTS:
        if values.get(name) is not None:
            values[name] = parse_datetime(values[name], tz, name)
    values.setdefault("timezone", tz)
    if kind == "interval":
        _check_interval(values)
    if kind == "cron":
        _check_cron_fields(values, tz)
    try:
        return TRIGGERS[kind](**values)
    except (ValueError, TypeError) as exc:
        raise InvalidJobError(f"bad {kind} trigger: {exc}") from None


def _check_interval(values: dict[str, Any]) -> None:
    for name in _INTERVAL_PARTS:
        value = values.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidJobError(f"interval trigger: {name}={value!r} must be a number")
        if value < 0:
            raise InvalidJobError(f"interval trigger: {name}={value!r} must not be negative")
    if not any(values.get(name) for name in _INTERVAL_PARTS):
        raise InvalidJobError("interval trigger needs a period: give weeks, days, hours, minutes or seconds")


def _check_cron_fields(values: dict[str, Any], tz: tzinfo) -> None:
    """Build each cron field alone, so an error names the field that is wrong."""
    for name in CronTrigger.FIELD_NAMES:
        if values.get(name) is None:
            continue
        try:
            CronTrigger(**{name: values[name]}, timezone=tz)
        except (ValueError, TypeError) as exc:
            raise InvalidJobError(f"bad cron field {name}={values[name]!r}: {exc}") from None
