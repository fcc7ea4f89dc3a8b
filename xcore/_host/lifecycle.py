"""The plugin lifecycle: the one place that decides how a plugin is loaded and unloaded.

Loading (``load_all``): the registered plugins in dependency order (``requires`` / ``load_after``);
a plugin whose required plugin failed fails too; the migrations gate (:mod:`xcore._migrations.boot`)
holds back a plugin whose schema is not current; then, per plugin, :meth:`PluginLifecycle.load`:
context, ``@on`` event handlers, ``on_load`` (bounded by ``app.load_timeout``, with the loop
watchdog naming a plugin that blocks the loop), router (mounted under ``app.plugin_prefix``), actions.
A failing plugin is recorded with its error; the others load regardless.

Unloading (``unload_all``, :meth:`PluginLifecycle.unload`): in reverse load order, ``on_unload``
(bounded by ``app.shutdown_timeout``), then the services are told the plugin is gone
(:meth:`~xcore._services.container.ServiceContainer.plugin_unloaded`) so they drop its jobs and
subscriptions. Runtime enable/disable and sandboxed plugins plug in here: :meth:`load` and
:meth:`unload` work on one record at any time; :meth:`load_one` adds the checks ``load_all`` makes
(requirements, migrations) for a plugin loaded while the host serves, and :meth:`unmount` takes
exactly the routes a plugin mounted off the app again (see :mod:`xcore._host.runtime`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping
from types import MappingProxyType

from fastapi import APIRouter, FastAPI
from starlette.routing import BaseRoute, Route, WebSocketRoute

from xcore._config.models import XcoreConfig
from xcore._discovery import PluginSource
from xcore._events import kernel
from xcore._events.marks import marked_handlers
from xcore._host.announce import announce
from xcore._host.dispatch import ActionDispatcher
from xcore._host.gate import PluginGate
from xcore._migrations.boot import SchemaGate
from xcore._ordering import resolve_order
from xcore._plugin_routes import mount_plugin_router
from xcore._plugins import PluginRecord
from xcore._redaction import describe_exception, redact_text
from xcore._services.cancellation import reraise_if_cancelled
from xcore._services.container import CheckedSpec, ServiceContainer, ServiceView
from xcore._watchdog import Activity, LoopWatchdog
from xcore.sdk._context import PluginContext, PluginSettings

log = logging.getLogger("xcore")


class PluginLifecycle:
    """Loads and unloads the plugins of one host; remembers the load order for the reverse."""

    def __init__(
        self,
        config: XcoreConfig,
        records: Mapping[str, PluginRecord],
        services: ServiceContainer,
        actions: ActionDispatcher,
        *,
        env: Mapping[str, str],
        secrets: Collection[str],
    ) -> None:
        self._config = config
        self._records = records
        self._services = services
        self._actions = actions
        self._env = MappingProxyType(dict(env))
        self._secrets = secrets
        self.app: FastAPI | None = None
        """Where plugin routers are mounted (``None``: routers are built but not mounted)."""
        self.load_order: list[str] = []
        """The loaded plugins, in load order (unloading runs it backwards)."""
        self.routes: dict[str, list[BaseRoute]] = {}
        """The routes each loaded plugin added to the app (what :meth:`unmount` removes)."""
        self.gates: dict[str, PluginGate] = {}
        """Each plugin's request gate: its requests in flight, its answer while away (:mod:`.gate`)."""

    async def load_all(self, checked_services: list[CheckedSpec], migrations: Mapping[str, PluginSource]) -> None:
        """Load every registered plugin in dependency order; announce the ones that failed."""
        candidates = {
            r.name: r.dependencies
            for r in self._records.values()
            if r.source.kind == "plugin" and r.state == "registered"
        }
        order, failures = resolve_order(candidates)
        schemas = SchemaGate(checked_services, dict(migrations))
        for name, reason in failures.items():
            self._records[name].fail(reason)
            log.error("plugin %r not loaded: %s", name, reason)
        with LoopWatchdog(asyncio.get_running_loop()) as watchdog:  # on_load may block the loop: see watchdog.py
            for name in order:
                record = self._records[name]
                broken = [r for r in record.dependencies.requires if self._records[r].state != "loaded"]
                if broken:
                    record.fail(f"requires plugin {broken[0]!r}, which failed: {self._records[broken[0]].error}")
                elif (unready := await schemas.ready(record.source)) is not None:
                    record.fail(redact_text(unready, self._secrets))
                    log.error("plugin %r not loaded: %s", name, record.error)
                else:
                    await self.load(record, watchdog)
        for record in self._records.values():
            if record.state == "failed":
                failed = {"plugin": record.name, "error": str(record.error)}
                await announce(self._services, kernel.PLUGIN_FAILED, failed)

    async def load(self, record: PluginRecord, watchdog: LoopWatchdog) -> None:
        """Load one registered plugin: context, ``on_load``, router, actions; a failure is recorded."""
        record.context = ctx = self._context(record)
        if not await self._run_on_load(record, ctx, watchdog):
            await self._release(record)
            return
        assert record.hooks is not None
        try:
            router = await record.hooks.call("xcore_get_router", ctx=ctx)
            if router is not None and not isinstance(router, APIRouter):
                raise TypeError(f"get_router returned {type(router).__name__}, expected fastapi.APIRouter or None")
        except (Exception, asyncio.CancelledError) as exc:
            reraise_if_cancelled(exc)
            record.fail(f"get_router raised {describe_exception(exc, self._secrets)}")
            log.error("plugin %r failed in get_router", record.name, exc_info=True)
            await self.unload(record)
            return
        gate = self.gates.setdefault(record.name, PluginGate(record.name))
        if router is not None and self.app is not None:
            prefix = f"{self._config.app.plugin_prefix}/{record.name}"
            self.routes[record.name] = mounted = mount_plugin_router(self.app, router, prefix, record.name)
            for route in mounted:
                if isinstance(route, Route | WebSocketRoute):  # include_router's lazy wrapper is not counted
                    route.app = gate.wrap(route.app)
            record.mounted_at = prefix
            self.app.openapi_schema = None  # FastAPI caches the schema; a runtime load must show up
        self._actions.add(record, ctx)
        record.state = "loaded"
        self.load_order.append(record.name)
        assert record.handle is not None
        await self._services.plugin_loaded(record.handle)
        await announce(self._services, kernel.PLUGIN_LOADED, {"plugin": record.name, "version": record.source.version})
        log.info("plugin %r loaded (%s)", record.name, record.source.version or record.source.group)

    async def unload(self, record: PluginRecord) -> None:
        """Run ``on_unload`` (bounded), mark the record unloaded, release what services hold for it."""
        assert record.hooks is not None
        try:
            await asyncio.wait_for(
                record.hooks.call("xcore_on_unload", ctx=record.context), self._config.app.shutdown_timeout
            )
        except (Exception, asyncio.CancelledError) as exc:
            reraise_if_cancelled(exc)
            log.exception("plugin %r: on_unload failed", record.name)
        if record.state == "loaded":
            record.state = "unloaded"
            await announce(self._services, kernel.PLUGIN_UNLOADED, {"plugin": record.name})
        await self._release(record)

    def unmount(self, record: PluginRecord) -> None:
        """Take the routes ``record`` mounted off the app (the OpenAPI schema is rebuilt on next read)."""
        mounted = {id(route) for route in self.routes.pop(record.name, [])}
        if self.app is not None and mounted:
            self.app.router.routes[:] = [r for r in self.app.router.routes if id(r) not in mounted]
            self.app.openapi_schema = None

    async def load_one(
        self, record: PluginRecord, checked_services: list[CheckedSpec], migrations: Mapping[str, PluginSource]
    ) -> None:
        """Load one registered plugin while the host serves, with ``load_all``'s checks; failures announced.

        The loop watchdog only logs here: ending the process for one plugin's ``on_load`` (what a
        boot does) would stop every other plugin.
        """
        missing = [
            r for r in record.dependencies.requires if r not in self._records or self._records[r].state != "loaded"
        ]
        if missing:
            record.fail(f"requires plugin {missing[0]!r}, which is not loaded")
        elif (unready := await SchemaGate(checked_services, dict(migrations)).ready(record.source)) is not None:
            record.fail(redact_text(unready, self._secrets))
        else:
            loop = asyncio.get_running_loop()
            with LoopWatchdog(loop, on_overrun=lambda a: log.error("%s held the event loop", a.label)) as watchdog:
                await self.load(record, watchdog)
        if record.state == "failed":
            log.error("plugin %r not loaded: %s", record.name, record.error)
            await announce(self._services, kernel.PLUGIN_FAILED, {"plugin": record.name, "error": str(record.error)})

    async def unload_all(self) -> None:
        """Unload every loaded plugin, last loaded first."""
        for name in reversed(self.load_order):
            await self.unload(self._records[name])
        self.load_order.clear()

    async def _run_on_load(self, record: PluginRecord, ctx: PluginContext, watchdog: LoopWatchdog) -> bool:
        """``on_load`` within ``app.load_timeout``; ``False`` (the record failed) if it raised or overran."""
        assert record.hooks is not None and record.handle is not None
        timeout = self._config.app.load_timeout
        on_load = Activity(
            f"plugin {record.name!r} in on_load",
            timeout,
            setting="app.load_timeout",
            remedy=f"Fix the plugin, or disable it (plugins.disabled: [{record.name}])",
        )
        try:
            await self._services.plugin_loading(record.handle)
            if ctx.events is None and marked_handlers(record.handle.instance):
                log.warning(
                    "plugin %r has @on(...) event handlers, but services.events is disabled: they will never run",
                    record.name,
                )
            with watchdog.watching(on_load):
                await asyncio.wait_for(record.hooks.call("xcore_on_load", ctx=ctx), timeout)
            if on_load.elapsed > timeout:  # it held the loop, so the timeout could not fire: the same verdict
                raise TimeoutError
        except TimeoutError:
            record.fail(f"on_load did not finish within {timeout:g}s (app.load_timeout){on_load.blocked_note()}")
            log.error("plugin %r failed: %s", record.name, record.error)
            return False
        except (Exception, asyncio.CancelledError) as exc:
            reraise_if_cancelled(exc)
            record.fail(f"on_load raised {describe_exception(exc, self._secrets)}")
            log.error("plugin %r failed in on_load", record.name, exc_info=True)
            return False
        return True

    def _context(self, record: PluginRecord) -> PluginContext:
        assert record.handle is not None
        services = ServiceView(self._services, record.handle)
        return PluginContext(
            name=record.name,
            config=PluginSettings(self._config.plugins.settings.get(record.name, {}), app=self._config.app),
            services=services,
            logger=logging.getLogger(f"xcore.plugin.{record.name}"),
            call=self._actions.call,
            events=services.get("events"),
            handle=record.handle,
            env=self._env,
        )

    async def _release(self, record: PluginRecord) -> None:
        """Forget the plugin's actions and tell services it is gone, so they drop its jobs and subscriptions."""
        self._actions.remove(record.name)
        await self._services.plugin_unloaded(record.name)
