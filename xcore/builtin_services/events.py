"""The ``events`` service: the event bus, in process (``memory``) or across processes (``redis``).

``services.events: {backend: memory}`` is the default. With ``backend: redis`` every event a plugin
emits also reaches the subscribers of every other process sharing the Redis server and the app name
(or ``channel``); see :mod:`xcore.events.redis_transport` for the delivery guarantee.

Each plugin gets its own view (``for_plugin``): its emits carry its name as ``source`` and its
subscriptions are dropped by ``plugin_unloaded``. The service object itself is the host's view:
``emit`` defaults ``source`` to ``"xcore"`` and may emit kernel events.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Coroutine
from typing import Any

from pydantic import Field, field_validator

from xcore.events.bus import DEFAULT_PRIORITY, DEFAULT_TIMEOUT, EventBus, Handler, Results, Subscription
from xcore.events.redis_transport import RedisTransport
from xcore.events.view import EventsView
from xcore.hookspecs import hookimpl
from xcore.sdk.context import PluginHandle
from xcore.services import ServiceBase, ServiceSettings, ServiceSetup, ServiceType

HOST_SOURCE = "xcore"
DRAIN_TIMEOUT = 5.0


class MemoryEventsSettings(ServiceSettings):
    """``backend: memory``: events stay in this process."""

    handler_timeout: float = Field(DEFAULT_TIMEOUT, gt=0, description="seconds a coroutine handler may run")


class RedisEventsSettings(MemoryEventsSettings):
    """``backend: redis``: events are also published to every process on the same channel."""

    url: str
    channel: str | None = Field(None, description="default: xcore:events:<app.name>")
    max_pending: int = Field(10_000, gt=0, description="events queued for publishing before new ones are dropped")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty (leave it out for xcore:events:<app.name>)")
        return value


class EventsService(ServiceBase):
    """The service plugins get as ``ctx.events`` (through ``for_plugin``) and the host emits on."""

    def __init__(self, bus: EventBus, transport: RedisTransport | None = None, *, backend: str = "memory") -> None:
        self.bus = bus
        self.transport = transport
        self.backend = backend
        self._host = EventsView(bus, HOST_SOURCE, owner=None)
        self._views: dict[str, EventsView] = {}
        if transport is not None:
            bus.transport = transport

    # ------------------------------------------------------------------ plugins

    def for_plugin(self, plugin: PluginHandle) -> EventsView:
        """The plugin's own view: emits carry its name, subscriptions are its own."""
        view = self._views.get(plugin.name)
        if view is None:
            view = self._views[plugin.name] = EventsView(self.bus, plugin.name, owner=plugin.name)
        return view

    async def plugin_unloaded(self, plugin_name: str) -> None:
        """Drop every subscription of a plugin that unloaded (or failed to load)."""
        removed = self.bus.remove_owner(plugin_name)
        self._views.pop(plugin_name, None)
        if removed:
            self.bus.log.debug("events: removed %d subscription(s) of plugin %r", removed, plugin_name)

    # ------------------------------------------------------------------ the host's view

    def on(self, name: str, handler: Handler, *, priority: int = DEFAULT_PRIORITY) -> Subscription:
        return self._host.on(name, handler, priority=priority)

    def once(self, name: str, handler: Handler, *, priority: int = DEFAULT_PRIORITY) -> Subscription:
        return self._host.once(name, handler, priority=priority)

    def off(self, name: str | Subscription, handler: Handler | None = None) -> int:
        return self._host.off(name, handler)

    def emit(self, name: str, data: Any = None, source: str = HOST_SOURCE) -> Coroutine[Any, Any, Results]:
        """Emit as the host (kernel events) or on behalf of ``source``."""
        return self.bus.emit(name, data, source)

    def emit_nowait(
        self, name: str, data: Any = None, source: str = HOST_SOURCE
    ) -> asyncio.Future[Results] | concurrent.futures.Future[Results]:
        """Fire and forget, also from a thread (a sync scheduler job reporting a failure)."""
        return self.bus.emit_nowait(name, data, source)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self.bus.bind_loop(asyncio.get_running_loop())
        if self.transport is not None:
            await self.transport.start()

    async def health(self) -> dict[str, Any] | None:
        details: dict[str, Any] = {
            "backend": self.backend,
            "subscriptions": len(self.bus.subscriptions()),
            "pending": self.bus.pending,
        }
        if self.transport is not None:
            details.update(await self.transport.health())
        return details

    async def close(self) -> None:
        await self.bus.drain(DRAIN_TIMEOUT)
        if self.transport is not None:
            await self.transport.close()


def _memory(settings: MemoryEventsSettings, setup: ServiceSetup) -> EventsService:
    bus = EventBus(handler_timeout=settings.handler_timeout, logger=logging.getLogger("xcore.events"))
    return EventsService(bus)


def _redis(settings: RedisEventsSettings, setup: ServiceSetup) -> EventsService:
    bus = EventBus(handler_timeout=settings.handler_timeout, logger=logging.getLogger("xcore.events"))
    channel = settings.channel or f"xcore:events:{setup.app_name}"
    transport = RedisTransport(bus, settings.url, channel, logger=setup.logger, max_pending=settings.max_pending)
    return EventsService(bus, transport, backend="redis")


@hookimpl
def xcore_register_service() -> list[ServiceType]:
    return [
        ServiceType("events", "memory", MemoryEventsSettings, _memory, "in-process event bus"),
        ServiceType("events", "redis", RedisEventsSettings, _redis, "event bus shared across processes via Redis"),
    ]
