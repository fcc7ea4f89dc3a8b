"""Logging an error that repeats: once in full, then one count per interval.

A route that raises on every request would otherwise write its traceback per request (4 KB each, megabytes
a second under load), which buries everything else in the log and costs the host more than the request.
:class:`RepeatedErrors` logs the first occurrence with its traceback, counts the identical ones that follow,
and writes one line per interval: ``... 99 more times in the last 10 s``. An error that stays silent for a
whole interval is forgotten, so its next occurrence is logged in full again.

"Identical" means the same place (a route, an action), the same exception type, raised at the same line:
the message is left out on purpose, since it often holds an id or a value that changes per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

MAX_KINDS = 256
"""Distinct errors tracked at once; beyond, new kinds are counted together (memory stays bounded)."""

_OVERFLOW = ("(other errors)", "", "", 0)


def error_key(where: str, exc: BaseException) -> tuple[str, str, str, int]:
    """``(where, exception type, file, line)`` of the innermost frame of ``exc``'s traceback."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    filename, line = (tb.tb_frame.f_code.co_filename, tb.tb_lineno) if tb is not None else ("", 0)
    kind = type(exc)
    return where, f"{kind.__module__}.{kind.__qualname__}", filename, line


@dataclass
class _Repeats:
    summary: str
    since: float = field(default_factory=time.monotonic)
    count: int = 0


class RepeatedErrors:
    """Log errors to ``logger``: the first of a kind with its traceback, repeats as a count per ``interval``.

    Call :meth:`report` from the event loop (the counts are flushed by loop timers).
    """

    def __init__(self, logger: logging.Logger, interval: float, max_kinds: int = MAX_KINDS) -> None:
        self.logger = logger
        self.interval = interval
        self.max_kinds = max_kinds
        self._repeats: dict[tuple[str, str, str, int], _Repeats] = {}

    def report(self, where: str, exc: BaseException) -> None:
        """Log ``exc``, raised in ``where`` (e.g. ``GET /plugins/shop/items (plugin 'shop')``), or count it."""
        key = error_key(where, exc)
        repeats = self._repeats.get(key)
        if repeats is None and len(self._repeats) >= self.max_kinds:
            key, repeats = _OVERFLOW, self._repeats.get(_OVERFLOW)
            if repeats is None:
                self.logger.error(
                    "more than %d kinds of unhandled errors within %g s: further new kinds are counted together",
                    self.max_kinds,
                    self.interval,
                )
                self._track(key, "other unhandled errors")
                return
        if repeats is not None:
            repeats.count += 1
            return
        self.logger.error(
            "unhandled error in %s; identical errors in the next %g s are counted, not logged",
            where,
            self.interval,
            exc_info=exc,
        )
        self._track(key, f"unhandled error in {where}: {key[1]} at {key[2]}:{key[3]}")

    def _track(self, key: tuple[str, str, str, int], summary: str) -> None:
        self._repeats[key] = _Repeats(summary)
        try:
            asyncio.get_running_loop().call_later(self.interval, self._flush, key)
        except RuntimeError:  # no loop: nothing would flush the count, so do not hold it back
            del self._repeats[key]

    def _flush(self, key: tuple[str, str, str, int]) -> None:
        repeats = self._repeats[key]
        if repeats.count == 0:
            del self._repeats[key]  # silent for a whole interval: the next one is logged in full
            return
        now = time.monotonic()
        self.logger.error(
            "%s: %d more time%s in the last %g s",
            repeats.summary,
            repeats.count,
            "" if repeats.count == 1 else "s",
            round(now - repeats.since, 1),
        )
        repeats.count, repeats.since = 0, now
        asyncio.get_running_loop().call_later(self.interval, self._flush, key)


__all__ = ["RepeatedErrors", "error_key"]
