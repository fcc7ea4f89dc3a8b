"""Redis-style glob patterns for ``delete_pattern``, so both backends match the same keys.

Redis globs differ from :mod:`fnmatch`: ``[^a]`` negates a class (``fnmatch`` wants ``[!a]``) and a
backslash escapes the next character. The memory backend compiles the same syntax to a regular
expression; the Redis backend escapes the key prefix so that an app named ``shop[eu]`` still only
matches its own keys.
"""

from __future__ import annotations

import re

_SPECIAL = frozenset("*?[]\\")


def escape(text: str) -> str:
    """``text`` as a glob that matches exactly itself."""
    return "".join("\\" + ch if ch in _SPECIAL else ch for ch in text)


def compile_glob(pattern: str) -> re.Pattern[str]:
    """A regular expression matching what Redis ``SCAN MATCH pattern`` matches.

    ``*`` any run of characters, ``?`` one character, ``[abc]``, ``[a-z]`` and ``[^a]`` classes,
    ``\\x`` a literal ``x``. An unclosed ``[`` is a literal ``[``.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "\\" and i < n:
            out.append(re.escape(pattern[i]))
            i += 1
        elif ch == "[":
            end, body = _char_class(pattern, i)
            if end < 0:
                out.append(re.escape("["))
            else:
                out.append(body)
                i = end
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def _char_class(pattern: str, start: int) -> tuple[int, str]:
    """The regex for the class opening at ``pattern[start - 1]`` and the index after its ``]``."""
    i, n = start, len(pattern)
    negate = i < n and pattern[i] == "^"
    if negate:
        i += 1
    parts: list[str] = []
    while i < n and pattern[i] != "]":
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            ch = pattern[i + 1]
            i += 1
        if i + 2 < n and pattern[i + 1] == "-" and pattern[i + 2] != "]":
            low, high = sorted((ch, pattern[i + 2]))
            parts.append(f"{re.escape(low)}-{re.escape(high)}")
            i += 3
            continue
        parts.append(re.escape(ch))
        i += 1
    if i >= n:
        return -1, ""
    body = "".join(parts)
    if not body:
        return i + 1, "(?!)" if not negate else "."
    return i + 1, f"[{'^' if negate else ''}{body}]"
