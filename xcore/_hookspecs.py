"""The XCore hook contract: every way a plugin or a service backend extends the host.

Read this file first. Everything that extends XCore is a pluggy plugin found through an entry point:

* group ``xcore.services``: service backends (database types, cache backends, email transports...).
* group ``xcore.plugins``: application plugins (routes, actions, jobs).

The entry point's name is the plugin's name. An entry point may point at a module (or any object)
carrying ``@hookimpl`` functions, or at a :class:`xcore.sdk.TrustedBase` subclass, which is the
class-based face of the per-plugin hooks below.

Two families of hooks exist:

*Broadcast hooks* are called once on every registered plugin, through pluggy's own call loop
(``xcore_register_service``, ``xcore_register_commands``, ``xcore_host_started``,
``xcore_host_stopping``): ``wrapper=True`` / ``hookwrapper=True`` implementations wrap the others,
``tryfirst`` / ``trylast`` order them, and ``XCORE_TRACE_HOOKS=1`` traces the call, exactly as
``pm.hook.<name>(...)`` does. A raising plain implementation is logged with its plugin (for
``xcore_register_service``: fails that plugin) and counts as returning ``None``; the others and the
wrappers still run. Failed plugins are left out.

*Per-plugin hooks* (``xcore_on_load``, ``xcore_get_router``, ``xcore_handle``, ``xcore_health``,
``xcore_on_unload``) are called by the host for one plugin at a time, with that plugin's own
:class:`xcore.sdk.PluginContext`: a failing or slow plugin is isolated and recorded, never the others.
They go through a pluggy caller holding that plugin alone (so tracing shows them), and there is no
other implementation to wrap or order: ``wrapper``, ``hookwrapper``, ``tryfirst`` or ``trylast`` on
one of them fails the plugin at registration, with an error naming the hook and the option.

Pluggy lets an implementation accept a subset of a hook's arguments, so a hook may gain arguments
in a later release; it never loses one. Every hook may be a coroutine function (the host awaits it,
after pluggy's call for broadcast hooks) except ``xcore_register_service`` and
``xcore_register_commands``, which run outside any event loop: an ``async def`` there fails the
plugin at registration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click
    from fastapi import APIRouter

    from xcore._host.facade import Xcore
    from xcore._services.types import ServiceType
    from xcore.sdk._context import PluginContext

PROJECT_NAME = "xcore"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# --------------------------------------------------------------------------- broadcast hooks


@hookspec
def xcore_register_service() -> ServiceType | list[ServiceType] | None:
    """Declare the service types this plugin provides.

    Called once per boot, before any service is built, on every registered plugin (service backends
    from the ``xcore.services`` group and application plugins alike).

    Return one :class:`xcore.services.ServiceType` or a list of them. Each names its ``kind``
    (``database``, ``cache``, ``scheduler``, ``extension`` or ``events``), its type name as written in
    ``integration.yaml`` (``postgresql``, ``sqlasync``, ``redis``, ``memory``, ``smtp``...), the
    pydantic model that validates its settings, and a factory that builds the service from the
    validated settings. Two plugins declaring the same (kind, name) is a boot error naming both.

    Must be a plain function, not a coroutine function: it runs while the configuration is checked
    (``xcore config check``), outside any event loop. A wrapper sees, and may change, every answer.
    """


@hookspec
def xcore_register_commands(cli: click.Group) -> None:
    """Add command-line commands to the ``xcore`` CLI.

    Called once when the CLI starts, with the root ``click.Group``; add commands with
    ``cli.add_command(...)``. Plugins are discovered but not loaded (no services exist yet): a command
    that needs the host boots one itself with :class:`xcore.Xcore`. Must be a plain function, not a
    coroutine function: the command line is built before any event loop runs.
    """


@hookspec
def xcore_host_started(host: Xcore) -> None:
    """Called once after every service is built and every plugin has been loaded.

    ``host.plugins`` reports which plugins loaded and which failed. May be a coroutine function.
    """


@hookspec
def xcore_host_stopping(host: Xcore) -> None:
    """Called once when shutdown begins, before any plugin is unloaded. May be a coroutine function."""


# --------------------------------------------------------------------------- per-plugin hooks


@hookspec
def xcore_on_load(ctx: PluginContext) -> None:
    """Prepare the plugin: fetch services, create tables, add jobs.

    Called once per boot for this plugin only, after its required plugins have loaded, with its
    :class:`~xcore.sdk.PluginContext`. Raising, or running past ``app.load_timeout`` seconds (default
    30), records the plugin as failed; the other plugins load regardless.
    """


@hookspec
def xcore_get_router(ctx: PluginContext) -> APIRouter | None:
    """Return a FastAPI ``APIRouter`` for this plugin, or ``None`` for no routes.

    Called once, right after ``xcore_on_load`` succeeded. The router is mounted under
    ``{app.plugin_prefix}/{plugin name}`` (``/plugins/<name>`` by default) with the plugin's name as
    its OpenAPI tag. Raising records the plugin as failed.
    """


@hookspec
def xcore_handle(ctx: PluginContext, action: str, payload: dict[str, Any]) -> dict[str, Any]:  # type: ignore[empty-body]
    """Run one action of this plugin and return its response (build it with ``ok()`` / ``error()``).

    Called by ``await host.call(plugin, action, payload)``, by another plugin through
    ``ctx.call(...)``, and by ``POST /plugins/<name>/actions/<action>``. Raise
    :class:`xcore.sdk.ActionNotFound` for an action the plugin does not know (HTTP 404).
    """


@hookspec
def xcore_health(ctx: PluginContext) -> bool | dict[str, Any] | None:
    """Report this plugin's own health for ``GET /health/ready``.

    Return ``None`` or ``True`` when healthy, ``False`` or a dict with ``"status": "error"`` when not;
    raising counts as unhealthy with the error as detail. Services have their own checks.
    """


@hookspec
def xcore_on_unload(ctx: PluginContext) -> None:
    """Release what the plugin holds. Called once at shutdown, in reverse load order.

    Every plugin's unload runs even if another's raised; the error is logged with the plugin name.
    """
