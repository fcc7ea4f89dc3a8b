"""Events: plugins announce that something happened without knowing who listens.

``ctx.events`` (an :class:`EventsView`) subscribes with ``on``/``once``/``off`` and sends with
``await emit(name, data)``; ``@on("user.created")`` marks plugin methods to subscribe at load.
The naming and wildcard rule is in :mod:`xcore._events.patterns`, the host's own events in
:mod:`xcore._events.kernel`, the cross-process transport in :mod:`xcore._events.redis_transport`.
See ``docs/events.md``.
"""

from xcore._events import kernel
from xcore._events.bus import DEFAULT_PRIORITY, DEFAULT_TIMEOUT, EventBus, Handler, Subscription
from xcore._events.errors import EventDataError, InvalidEventName, ReservedEventName
from xcore._events.event import Event, HandlerResult
from xcore._events.marks import on, subscribe_marked
from xcore._events.patterns import check_name, compile_pattern
from xcore._events.view import EventsView

__all__ = [
    "DEFAULT_PRIORITY",
    "DEFAULT_TIMEOUT",
    "Event",
    "EventBus",
    "EventDataError",
    "EventsView",
    "Handler",
    "HandlerResult",
    "InvalidEventName",
    "ReservedEventName",
    "Subscription",
    "check_name",
    "compile_pattern",
    "kernel",
    "on",
    "subscribe_marked",
]
