"""Events: plugins announce that something happened without knowing who listens.

``ctx.events`` (an :class:`EventsView`) subscribes with ``on``/``once``/``off`` and sends with
``await emit(name, data)``; ``@on("user.created")`` marks plugin methods to subscribe at load.
The naming and wildcard rule is in :mod:`xcore.events.patterns`, the host's own events in
:mod:`xcore.events.kernel`, the cross-process transport in :mod:`xcore.events.redis_transport`.
See ``docs/events.md``.
"""

from xcore.events import kernel
from xcore.events.bus import DEFAULT_PRIORITY, DEFAULT_TIMEOUT, EventBus, Handler, Subscription
from xcore.events.errors import EventDataError, InvalidEventName, ReservedEventName
from xcore.events.event import Event, HandlerResult
from xcore.events.marks import on, subscribe_marked
from xcore.events.patterns import check_name, compile_pattern
from xcore.events.view import EventsView

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
