"""Private copies of plain containers for the memory cache, cheaper than encoding and decoding them.

A value made only of dicts with ``str`` keys, lists, and immutable JSON scalars (``str``, ``int``,
``float``, ``bool``, ``None``) needs no encoding to be kept privately: copying its containers is
enough, the scalars inside are shared (they cannot change). :func:`snapshot` makes that copy once, on
``set``, together with a *plan*: the paths to the containers inside it. :func:`copy_of` then copies only
along the plan on every ``get``, starting from the C-level ``dict.copy`` / ``list.copy``: a dict of
scalars costs one ``dict.copy()``, about half of what parsing it back from JSON costs.

Anything else (tuples, dates, UUIDs, subclasses...) is not plain: the memory backend stores it in the
codec's tagged text instead, so both backends accept and refuse exactly the same values.
"""

from __future__ import annotations

from typing import Any

Plan = tuple[tuple[Any, "Plan"], ...]
"""``((key or index, plan of the container there), ...)`` for each container inside a container."""

_SCALARS: frozenset[type] = frozenset({str, int, float, bool, type(None)})


class Snapshot:
    """A private copy of a plain container and its copy plan (never handed to callers)."""

    __slots__ = ("plan", "template")

    def __init__(self, template: dict[str, Any] | list[Any], plan: Plan) -> None:
        self.template = template
        self.plan = plan


class _NotPlain(Exception):
    pass


def snapshot(value: Any) -> Snapshot | None:
    """A :class:`Snapshot` of ``value`` (a dict or a list) when it is plain; else ``None``."""
    try:
        template, plan = _snap(value)
    except (_NotPlain, RecursionError):
        return None
    return Snapshot(template, plan)


def copy_of(stored: Snapshot) -> Any:
    """A new copy of the snapshot's value: every container new, the scalars shared."""
    return _copy(stored.template, stored.plan)


def _copy(template: Any, plan: Plan) -> Any:
    out = template.copy()
    for where, inner in plan:
        out[where] = _copy(template[where], inner)
    return out


_NO_PLAN: Plan = ()


def _snap(value: Any) -> tuple[Any, Plan]:
    """A copy of ``value`` (``dict.copy`` / ``list.copy``, then its containers replaced by their own)."""
    plan: list[tuple[Any, Plan]] | None = None
    if value.__class__ is dict:
        out = value.copy()
        for key, item in out.items():  # rebinding a key's value does not resize: allowed while iterating
            if key.__class__ is not str:
                raise _NotPlain
            inner = item.__class__
            if inner in _SCALARS:
                continue
            if inner is not dict and inner is not list:
                raise _NotPlain
            copied, sub = _snap(item)
            out[key] = copied
            if plan is None:
                plan = []
            plan.append((key, sub))
        return out, tuple(plan) if plan else _NO_PLAN
    if value.__class__ is not list:
        raise _NotPlain
    items = value.copy()
    # the dict loop again, without its key check: one loop per kind keeps that test out of the list's
    for index, item in enumerate(items):
        inner = item.__class__
        if inner in _SCALARS:
            continue
        if inner is not dict and inner is not list:
            raise _NotPlain
        copied, sub = _snap(item)
        items[index] = copied
        if plan is None:
            plan = []
        plan.append((index, sub))
    return items, tuple(plan) if plan else _NO_PLAN
