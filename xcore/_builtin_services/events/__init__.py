"""The ``events`` service: the event bus, in process (``memory``) or across processes (``redis``).

``services.events: {backend: memory}`` is the default. With ``backend: redis`` every event a plugin
emits also reaches the subscribers of every other process sharing the Redis server and the app name,
on the pub/sub channel ``<app>:events:bus`` of the service's namespace (or ``channel``). It writes no
keys, so nothing another service deletes can touch an event in flight; see
:mod:`xcore._events.redis_transport` for the delivery guarantee.

Each plugin gets its own view (``for_plugin``): its emits carry its name as ``source`` and its
subscriptions are dropped by ``plugin_unloaded``. The service object itself is the host's view:
``emit`` defaults ``source`` to ``"xcore"`` and may emit kernel events.

The settings are in :mod:`.settings`, the service in :mod:`.service`. Importing this package imports
only the settings; redis-py loads when a Redis-backed bus is built.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from xcore._hookspecs import hookimpl
from xcore._services import ServiceSetup, ServiceType

from .settings import MemoryEventsSettings, RedisEventsSettings

if TYPE_CHECKING:
    from .service import EventsService
else:
    from xcore._builtin_services.lazy_exports import lazy_exports

    __getattr__ = lazy_exports(__name__, {"EventsService": ".service"})


def _memory(settings: MemoryEventsSettings, setup: ServiceSetup) -> EventsService:
    from xcore._events.bus import EventBus

    from .service import EventsService

    bus = EventBus(handler_timeout=settings.handler_timeout, logger=logging.getLogger("xcore.events"))
    return EventsService(bus)


def _redis(settings: RedisEventsSettings, setup: ServiceSetup) -> EventsService:
    from xcore._events.bus import EventBus
    from xcore._events.redis_transport import RedisTransport

    from .service import EventsService

    bus = EventBus(handler_timeout=settings.handler_timeout, logger=logging.getLogger("xcore.events"))
    channel = settings.channel or f"{setup.namespace}bus"
    transport = RedisTransport(bus, settings.url, channel, logger=setup.logger, max_pending=settings.max_pending)
    return EventsService(bus, transport, backend="redis")


@hookimpl
def xcore_register_service() -> list[ServiceType]:
    return [
        ServiceType("events", "memory", MemoryEventsSettings, _memory, "in-process event bus"),
        ServiceType("events", "redis", RedisEventsSettings, _redis, "event bus shared across processes via Redis"),
    ]


__all__ = ["EventsService", "MemoryEventsSettings", "RedisEventsSettings", "xcore_register_service"]
