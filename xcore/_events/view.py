"""``ctx.events``: the event bus as one plugin sees it.

Every subscription made through a plugin's view is owned by that plugin, so the host removes them
all when the plugin unloads; every event it emits carries the plugin's name as ``source``. The
``xcore.`` namespace is the host's: a plugin may follow kernel events but not emit them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable, Coroutine
from typing import Any, overload

from xcore._events.bus import DEFAULT_PRIORITY, EventBus, Handler, Results, Subscription
from xcore._events.errors import ReservedEventName
from xcore._events.patterns import RESERVED_PREFIX

log = logging.getLogger("xcore.events")


_warned: set[tuple[str, str]] = set()


def legacy_argument_ignored(plugin: str, argument: str, because: str) -> None:
    """Log, once per plugin and argument, that an original-XCore argument has no effect here."""
    if (plugin, argument) in _warned:
        return
    _warned.add((plugin, argument))
    log.warning(
        "plugin %r: emit(..., %s=...) is the original XCore's argument and has no effect: %s (see docs/migrating.md)",
        plugin,
        argument,
        because,
    )


class EventsView:
    """Subscribe, unsubscribe and emit on a bus under one owner name (a plugin, or the host)."""

    __slots__ = ("_bus", "_name", "_owner")

    def __init__(self, bus: EventBus, name: str, *, owner: str | None = None) -> None:
        self._bus = bus
        self._name = name
        self._owner = owner

    @property
    def name(self) -> str:
        """The name put in ``event.source`` of what this view emits."""
        return self._name

    @property
    def bus(self) -> EventBus:
        return self._bus

    @overload
    def on(self, name: str, handler: None = None, *, priority: int = ...) -> Callable[[Handler], Handler]: ...
    @overload
    def on(self, name: str, handler: Handler, *, priority: int = ...) -> Subscription: ...
    def on(
        self, name: str, handler: Handler | None = None, *, priority: int = DEFAULT_PRIORITY
    ) -> Subscription | Callable[[Handler], Handler]:
        """Call ``handler(event)`` for each event matching ``name`` (wildcards allowed).

        Higher ``priority`` runs first. Without ``handler`` this is a decorator::

            @ctx.events.on("user.*")
            async def audit(event): ...
        """
        return self._subscribe(name, handler, priority, once=False)

    @overload
    def once(self, name: str, handler: None = None, *, priority: int = ...) -> Callable[[Handler], Handler]: ...
    @overload
    def once(self, name: str, handler: Handler, *, priority: int = ...) -> Subscription: ...
    def once(
        self, name: str, handler: Handler | None = None, *, priority: int = DEFAULT_PRIORITY
    ) -> Subscription | Callable[[Handler], Handler]:
        """Like :meth:`on`, but the subscription is removed after its first event."""
        return self._subscribe(name, handler, priority, once=True)

    def _subscribe(
        self, name: str, handler: Handler | None, priority: int, once: bool
    ) -> Subscription | Callable[[Handler], Handler]:
        if handler is None:

            def decorate(func: Handler) -> Handler:
                self._bus.subscribe(name, func, priority=priority, once=once, owner=self._owner)
                return func

            return decorate
        return self._bus.subscribe(name, handler, priority=priority, once=once, owner=self._owner)

    def off(self, name: str | Subscription, handler: Handler | None = None) -> int:
        """Unsubscribe: a :class:`Subscription`, or this view's subscriptions on exactly ``name``
        (only those of ``handler`` when given). Returns how many were removed."""
        if isinstance(name, Subscription):
            if name.owner != self._owner:
                return 0
            return int(self._bus.unsubscribe(name))
        return self._bus.unsubscribe_matching(name, handler, owner=self._owner)

    def emit(
        self, name: str, data: Any = None, *, source: str | None = None, gather: bool | None = None
    ) -> Coroutine[Any, Any, Results]:
        """``await emit(name, data)`` runs every matching handler and returns one result per handler.

        ``source=`` and ``gather=`` are the original XCore's arguments, accepted so its plugins run:
        an event's source is always the emitting plugin's name (handlers can trust it), and
        handlers always run one after the other in priority order (so ``event.stop()`` means the
        same for every emit). Either one, when it would change something, is logged once.
        """
        self._check_namespace(name)
        if source is not None and source != self._name:
            legacy_argument_ignored(self._name, "source", f"events it emits carry source={self._name!r}")
        if gather:
            legacy_argument_ignored(self._name, "gather", "handlers run one after the other, in priority order")
        return self._bus.emit(name, data, self._name)

    def emit_nowait(self, name: str, data: Any = None) -> asyncio.Future[Results] | concurrent.futures.Future[Results]:
        """Emit without waiting; the bus keeps the task and logs its failures. Returns its future."""
        self._check_namespace(name)
        return self._bus.emit_nowait(name, data, self._name)

    def emit_sync(self, name: str, data: Any = None) -> asyncio.Future[Results] | concurrent.futures.Future[Results]:
        """The original XCore's name of :meth:`emit_nowait` (fire and forget, from sync code too)."""
        return self.emit_nowait(name, data)

    def unsubscribe(self, name: str | Subscription, handler: Handler | None = None) -> int:
        """The original XCore's name of :meth:`off`."""
        return self.off(name, handler)

    def clear(self, name: str | None = None) -> int:
        """Remove this view's subscriptions on exactly ``name``, or all of them; returns how many.

        Only the caller's own: a plugin cannot clear another plugin's handlers.
        """
        if name is None:
            return sum(self._bus.unsubscribe(s) for s in self.subscriptions())
        return self._bus.unsubscribe_matching(name, owner=self._owner)

    def subscriptions(self) -> list[Subscription]:
        """This view's live subscriptions, in subscription order."""
        return self._bus.subscriptions(self._owner)

    def _check_namespace(self, name: str) -> None:
        try:
            reserved = name.startswith(RESERVED_PREFIX) and self._owner is not None
        except AttributeError:
            return  # not a string: the bus refuses it with InvalidEventName
        if reserved:
            raise ReservedEventName(
                f"plugin {self._name!r} cannot emit {name!r}: names starting with {RESERVED_PREFIX!r} are kernel "
                f"events emitted by the host only (plugins may subscribe to them)"
            )

    def __repr__(self) -> str:
        return f"<events view of {self._name!r}: {len(self.subscriptions())} subscription(s)>"
