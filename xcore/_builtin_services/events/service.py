"""The events service object: the host's view of the bus, one view per plugin, the lifecycle."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from xcore._events.bus import DEFAULT_PRIORITY, EventBus, Handler, Results, Subscription
from xcore._events.marks import subscribe_marked
from xcore._events.view import EventsView
from xcore._services import ServiceBase
from xcore.sdk._context import PluginHandle

if TYPE_CHECKING:
    from xcore._events.redis_transport import RedisTransport

HOST_SOURCE = "xcore"
DRAIN_TIMEOUT = 5.0


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

    async def plugin_loading(self, plugin: PluginHandle) -> None:
        """Subscribe the plugin's ``@on(...)``-marked methods through its own view, before its ``on_load``."""
        subscribe_marked(self.for_plugin(plugin), plugin.instance)

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
