"""The optional lifecycle protocols a service may implement; the container calls them for the host.

A service learns about the host through these methods and nothing else (the host never looks a
service up by name to tell it something). Each is optional: implement the ones you need, with these
exact names and signatures, and the container calls them:

* ``plugin_loading(plugin)`` -- a plugin is about to run ``on_load`` (the events service subscribes its
  ``@on`` methods here). Raising fails that plugin, like ``on_load`` raising would.
* ``plugin_loaded(plugin)`` -- the plugin finished loading (router mounted, actions callable).
* ``plugin_unloaded(name)`` -- the plugin unloaded or failed to load: drop its jobs, subscriptions...
* ``host_started()`` -- every plugin has loaded; work that calls plugins may begin (stored jobs).
* ``host_stopping()`` -- shutdown begins, before plugins unload: stop starting new work.

``plugin_loading`` and ``plugin_loaded`` run in service creation order; the others in reverse. An error
in any but ``plugin_loading`` is logged and the next service is still told.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from xcore.sdk._context import PluginHandle


@runtime_checkable
class WatchesPluginLoading(Protocol):
    async def plugin_loading(self, plugin: PluginHandle) -> None: ...


@runtime_checkable
class WatchesPluginLoaded(Protocol):
    async def plugin_loaded(self, plugin: PluginHandle) -> None: ...


@runtime_checkable
class WatchesPluginUnloaded(Protocol):
    async def plugin_unloaded(self, plugin_name: str) -> None: ...


@runtime_checkable
class WatchesHostStarted(Protocol):
    async def host_started(self) -> None: ...


@runtime_checkable
class WatchesHostStopping(Protocol):
    async def host_stopping(self) -> None: ...


LIFECYCLE_PROTOCOLS: dict[str, type] = {
    "plugin_loading": WatchesPluginLoading,
    "plugin_loaded": WatchesPluginLoaded,
    "plugin_unloaded": WatchesPluginUnloaded,
    "host_started": WatchesHostStarted,
    "host_stopping": WatchesHostStopping,
}
"""Method name -> protocol: what :func:`lifecycle_methods` and the conformance suites check."""


def lifecycle_methods(service: object) -> list[str]:
    """The lifecycle methods ``service`` implements (checked against the protocols, as the container does)."""
    return [name for name, protocol in LIFECYCLE_PROTOCOLS.items() if isinstance(service, protocol)]


__all__ = [
    "LIFECYCLE_PROTOCOLS",
    "WatchesHostStarted",
    "WatchesHostStopping",
    "WatchesPluginLoaded",
    "WatchesPluginLoading",
    "WatchesPluginUnloaded",
    "lifecycle_methods",
]
