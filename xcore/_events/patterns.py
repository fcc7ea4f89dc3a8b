"""Event names and subscription patterns: what is valid and what matches what.

Names are dotted words (``user.created``, ``billing.invoice.paid``); a subscription pattern is a name
whose segments may be wildcards:

* ``*`` matches exactly one segment: ``user.*`` matches ``user.created`` but not ``user`` nor
  ``user.profile.updated``; ``*.created`` matches ``user.created`` but not ``a.b.created``.
* ``**`` matches any number of segments, zero included: ``user.**`` matches ``user``,
  ``user.created`` and ``user.profile.updated``; ``**`` alone matches every event.

A wildcard is always a whole segment (``us*r`` is an error, not a glob), so a pattern reads the same
way everywhere and matching never depends on which characters a name happens to contain.
Matching is case-sensitive. Names starting with ``xcore.`` belong to the host (kernel events).
"""

from __future__ import annotations

from dataclasses import dataclass

from xcore._errors import XcoreError

SEPARATOR = "."
ONE = "*"
ANY = "**"
RESERVED_PREFIX = "xcore."

_HOW = "names are dot-separated words such as 'user.created'"


class InvalidEventName(XcoreError, ValueError):
    """An event name or subscription pattern that does not follow the naming rule."""


def _segments(text: object, what: str) -> list[str]:
    if not isinstance(text, str):
        raise InvalidEventName(f"{what} must be a string, got {type(text).__name__} {text!r}")
    if not text:
        raise InvalidEventName(f"{what} is empty; {_HOW}")
    segments = text.split(SEPARATOR)
    for segment in segments:
        if not segment:
            raise InvalidEventName(f"{what} {text!r} has an empty segment; {_HOW}")
        if segment != segment.strip() or any(ch.isspace() for ch in segment):
            raise InvalidEventName(f"{what} {text!r} contains whitespace; {_HOW}")
    return segments


def check_name(name: object) -> str:
    """Return ``name`` if it is a valid event name to emit (no wildcards), else raise."""
    segments = _segments(name, "event name")
    if any(ONE in segment for segment in segments):
        raise InvalidEventName(
            f"event name {name!r} contains '*': wildcards are for subscriptions, an emitted event has one exact name"
        )
    return name  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Pattern:
    """A compiled subscription pattern."""

    text: str
    segments: tuple[str, ...]

    @property
    def is_exact(self) -> bool:
        """True when the pattern has no wildcard, so it matches exactly one name."""
        return not any(segment in (ONE, ANY) for segment in self.segments)

    def matches(self, name: str) -> bool:
        """Whether the event ``name`` is delivered to a subscription on this pattern."""
        return _match(self.segments, tuple(name.split(SEPARATOR)), 0, 0)


def compile_pattern(pattern: object) -> Pattern:
    """Validate a subscription pattern and compile it; the error says what is wrong."""
    segments = _segments(pattern, "event pattern")
    for segment in segments:
        if ONE in segment and segment not in (ONE, ANY):
            raise InvalidEventName(
                f"event pattern {pattern!r}: a wildcard must be a whole segment ('*' for one segment, "
                f"'**' for any number), not part of {segment!r}"
            )
    collapsed: list[str] = []
    for segment in segments:  # '**.**' means the same as '**'
        if not (segment == ANY and collapsed and collapsed[-1] == ANY):
            collapsed.append(segment)
    return Pattern(str(pattern), tuple(collapsed))


def _match(pattern: tuple[str, ...], name: tuple[str, ...], i: int, j: int) -> bool:
    while i < len(pattern):
        segment = pattern[i]
        if segment == ANY:
            if i == len(pattern) - 1:
                return True
            return any(_match(pattern, name, i + 1, k) for k in range(j, len(name) + 1))
        if j >= len(name) or (segment != ONE and segment != name[j]):
            return False
        i += 1
        j += 1
    return j == len(name)
