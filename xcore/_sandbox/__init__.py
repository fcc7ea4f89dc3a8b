"""Sandboxed plugins: untrusted code in its own process, with the permissions the operator grants.

**The seam with the host** is one call. When the host registers a plugin named under
``plugins.sandboxed`` it does not import the plugin's code; it asks this package for a stand-in::

    obj = xcore.sandbox.proxy_plugin(source.name, source.target, config.plugins.sandboxed[name])

and registers that object with pluggy like any plugin. The stand-in (:class:`SandboxedPlugin`)
implements the per-plugin hooks (``xcore_on_load``, ``xcore_get_router``, ``xcore_handle``,
``xcore_health``, ``xcore_on_unload``) by talking to a worker process. It receives everything it
needs through the plugin context of ``xcore_on_load`` (its settings, the service view, the event
bus); the host gives it nothing else and knows nothing else of it. A host refactor only has to keep
calling :func:`proxy_plugin` where it would otherwise import the plugin, and to call the usual hooks.

Modules, host side to worker side:

* :mod:`.settings` ``plugins.sandboxed.<name>``: permissions, limits, required protections.
* :mod:`.plugin` the stand-in: hooks, HTTP forwarding, OpenAPI of the worker's routes.
* :mod:`.supervisor` one worker process: spawn, request ids, timeouts, kill, restart with backoff.
* :mod:`.capabilities` the capability proxies: each service call checked against the grant.
* :mod:`.transactions` database transactions held by the host for a worker, bounded.
* :mod:`.framing` the wire format (length-prefixed frames, bounded size).
* :mod:`.worker` the worker's main: walls up, then import and serve the plugin.
* :mod:`.confine` / :mod:`.landlock` the operating-system walls (namespaces, rlimits, Landlock).
* :mod:`.remote` the service stand-ins the plugin gets inside the worker.
* :mod:`.remote_db` the database stand-ins in the worker (connections, transactions, sessions).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xcore._sandbox.plugin import SandboxedPlugin
    from xcore._sandbox.settings import SandboxedPluginConfig


def proxy_plugin(name: str, target: str, settings: SandboxedPluginConfig) -> SandboxedPlugin:
    """The object the host registers in place of the sandboxed plugin ``name`` (``target``: ``module:attr``)."""
    from xcore._sandbox.plugin import SandboxedPlugin

    return SandboxedPlugin(name, target, settings)


def __getattr__(name: str) -> Any:
    if name == "SandboxedPlugin":
        from xcore._sandbox.plugin import SandboxedPlugin

        return SandboxedPlugin
    raise AttributeError(name)


__all__ = ["SandboxedPlugin", "proxy_plugin"]
