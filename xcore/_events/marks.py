"""``@on(...)``: subscribe plugin methods declaratively.

The decorator only marks a function; :func:`subscribe_marked` (called by the host before
``on_load``) finds the marked methods of a live plugin and subscribes them, bound, through the
plugin's own events view, so they are removed with the plugin's other subscriptions at unload::

    class Plugin(TrustedBase):
        @on("user.created")
        async def welcome(self, event): ...
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from xcore._events.bus import DEFAULT_PRIORITY, Handler
from xcore._events.patterns import compile_pattern

F = TypeVar("F", bound=Callable[..., Any])

_MARKS = "__xcore_events__"


@dataclass(frozen=True)
class Mark:
    pattern: str
    priority: int
    once: bool


class Subscriber(Protocol):
    """What ``subscribe_marked`` needs of a view: ``on`` and ``once`` taking a handler."""

    def on(self, name: str, handler: Handler, *, priority: int = ...) -> Any: ...

    def once(self, name: str, handler: Handler, *, priority: int = ...) -> Any: ...


def on(name: str, *, priority: int = DEFAULT_PRIORITY, once: bool = False) -> Callable[[F], F]:
    """Mark a plugin method (or module function) as a handler of events matching ``name``.

    The pattern is checked now, so a typo fails at import rather than silently never matching. A
    function may carry several marks.
    """
    compile_pattern(name)

    def mark(func: F) -> F:
        marks: list[Mark] = list(getattr(func, _MARKS, ()))
        marks.append(Mark(name, priority, once))
        setattr(func, _MARKS, marks)
        return func

    return mark


def marked_handlers(instance: object) -> list[tuple[Callable[..., Any], Mark]]:
    """The marked methods of a plugin instance (bound), or the marked functions of a module."""
    if instance is None:
        return []
    found: list[tuple[Callable[..., Any], Mark]] = []
    if isinstance(instance, types.ModuleType):
        for value in vars(instance).values():
            found += [(value, m) for m in getattr(value, _MARKS, ())]
        return found
    seen: set[str] = set()
    for klass in type(instance).__mro__:
        for attr, value in vars(klass).items():
            if attr in seen:
                continue  # overridden in a subclass: the subclass's version decides
            seen.add(attr)
            function = value.__func__ if isinstance(value, staticmethod | classmethod) else value
            marks = getattr(function, _MARKS, ())
            if marks:
                bound = getattr(instance, attr)
                found += [(bound, m) for m in marks]
    return found


def subscribe_marked(view: Subscriber, instance: object) -> list[Any]:
    """Subscribe every ``@on``-marked method of ``instance`` through ``view``; returns the subscriptions."""
    subscriptions = []
    for handler, mark in marked_handlers(instance):
        subscribe = view.once if mark.once else view.on
        subscriptions.append(subscribe(mark.pattern, handler, priority=mark.priority))
    return subscriptions
