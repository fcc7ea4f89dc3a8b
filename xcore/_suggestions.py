""" "Did you mean ...?": one wording for every error about a name that does not exist.

Config errors (an unknown service type), service lookups (``get_service("database")``) and plugin
names in ``plugins.enabled`` / ``disabled`` / ``settings`` all name the closest known name, so a
typo is fixed from the message alone.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

LISTED = 20
"""Known names listed in a message at most (a host may have hundreds of plugins)."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``" Did you mean 'x'?"`` for the closest known name, or ``""`` when none is close.

    Close is ``difflib``'s similarity (typos: ``greeting`` for ``greetings``), else an abbreviation
    either way (``database`` for ``db``: same first letter, the letters of one in order in the other).
    """
    names = sorted(set(known))
    guess = difflib.get_close_matches(name, names, n=1)
    if not guess:
        guess = sorted((k for k in names if _abbreviates(k, name) or _abbreviates(name, k)), key=len)[-1:]
    return f" Did you mean {guess[0]!r}?" if guess else ""


def _abbreviates(short: str, long: str) -> bool:
    if len(short) < 2 or len(short) >= len(long) or short[0] != long[0]:
        return False
    rest = iter(long)
    return all(char in rest for char in short)


def listing(known: Iterable[str]) -> str:
    """The known names, sorted and comma-separated, cut after ``LISTED`` names; ``(none)`` if empty."""
    names = sorted(set(known))
    if not names:
        return "(none)"
    shown = ", ".join(names[:LISTED])
    return shown if len(names) <= LISTED else f"{shown} and {len(names) - LISTED} more"
