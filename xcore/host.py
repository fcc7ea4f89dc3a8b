"""``Xcore``: the host. Boot = config, discovery, services, plugins; shutdown = the reverse.

1. Load config (``integration.yaml``, ``${VAR}`` expansion, validation).
2. Discover plugins and service backends (entry points read once), import and register the enabled
   ones with this host's own pluggy ``PluginManager`` (one per host: tests boot many isolated hosts).
3. Collect service types (``xcore_register_service``) and build services in order.
4. Load plugins in dependency order: context, ``on_load`` (with a timeout), router, actions.
   A failing plugin is recorded with its error; the others load regardless.
5. Shutdown: unload plugins in reverse, then close services in reverse; every step runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

import pluggy
from fastapi import APIRouter, FastAPI

from xcore import hookspecs, sandbox
from xcore.config.loader import LoadedConfig, load_config
from xcore.config.plugin_names import unknown_plugin_names
from xcore.discovery import PLUGINS_GROUP, SERVICES_GROUP, PluginSource, given_source, local_source, scan_entry_points
from xcore.errors import BootError, ConfigError, PluginNotFoundError, XcoreError
from xcore.events import kernel, subscribe_marked
from xcore.events.marks import marked_handlers
from xcore.hookcalls import BROADCAST_HOOKS, BroadcastRecorder, culprit, option_problems
from xcore.migrations import MIGRATIONS_GROUP
from xcore.migrations.boot import SchemaGate
from xcore.ordering import resolve_order
from xcore.plugin_directory import directory_sources
from xcore.plugin_routes import mount_plugin_router
from xcore.plugins import PluginHooks, PluginRecord, declared_dependencies, unknown_hooks
from xcore.redaction import describe_exception, install_redaction, redact_text, secret_values
from xcore.sdk.base import TrustedBase
from xcore.sdk.context import PluginContext, PluginHandle, PluginSettings
from xcore.services.cancellation import reraise_if_cancelled
from xcore.services.container import CheckedSpec, ServiceContainer, ServiceTypeRegistry, ServiceView, service_specs
from xcore.services.types import ServiceType
from xcore.watchdog import Activity, LoopWatchdog

log = logging.getLogger("xcore")

ActionHandler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class PluginRecords(list[PluginRecord]):
    """``xcore.plugins``: the plugin records, plus ``call`` (the original XCore's ``plugins.call``)."""

    def __init__(self, records: Iterable[PluginRecord], call: Callable[..., Awaitable[dict[str, Any]]]) -> None:
        super().__init__(records)
        self.call = call


class Xcore:
    """One XCore host. Build it, ``await boot(app)``, serve, ``await shutdown()``.

    ``config_path`` names ``integration.yaml`` (default: ``./integration.yaml`` if present, else the
    embedded defaults); ``config`` gives the same content as a dict instead. ``plugins`` adds plugin
    objects by name (a ``TrustedBase`` subclass, a module, or any object with ``@hookimpl``
    functions). ``discover=False`` ignores installed application plugins (service backends are
    always discovered: they are how the built-in services exist).
    """

    def __init__(
        self,
        config_path: str | os.PathLike[str] | None = None,
        *,
        config: Mapping[str, Any] | None = None,
        plugins: Mapping[str, Any] | None = None,
        discover: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.loaded: LoadedConfig = load_config(config_path, env=env, data=config)
        self.config = self.loaded.config
        self._secrets = secret_values(self.loaded.raw)
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.services = ServiceContainer(self._secrets)
        self.service_types = ServiceTypeRegistry()
        self.records: dict[str, PluginRecord] = {}
        self.app: FastAPI | None = None
        self.booted = False
        self._given = dict(plugins or {})
        self.migration_sources: dict[str, PluginSource] = {}
        """The ``xcore.migrations`` entry points by plugin name, once ``prepare()`` ran (see xcore.migrations)."""
        self._discover = discover
        self._actions: dict[str, ActionHandler] = {}
        self._load_order: list[str] = []
        self._plugin_health_cache: dict[str, Any] = {}
        self._undo_redaction: Callable[[], None] | None = None
        self._prepared = False
        self.checked_services: list[CheckedSpec] = []
        """Every service section with its type and validated settings, once ``prepare()`` ran."""
        self.config_warnings: list[str] = []
        """Mistakes that do not stop a boot (unknown plugin names), once ``prepare()`` ran; logged by ``boot``."""
        self._service_healthy: dict[str, bool] = {}
        self._monitor_task: asyncio.Task[None] | None = None
        self._recorder = BroadcastRecorder()
        self._tracing = bool(os.environ.get("XCORE_TRACE_HOOKS"))
        if self._tracing:
            hooks_log = logging.getLogger("xcore.hooks")
            hooks_log.setLevel(logging.DEBUG)
            self.pm.trace.root.setwriter(hooks_log.debug)
            self.pm.enable_tracing()

    # ------------------------------------------------------------------ public API

    @property
    def plugins(self) -> PluginRecords:
        """Every plugin and service backend the host knows of, with state and error.

        A list; ``await xcore.plugins.call(plugin, action, payload)`` is :meth:`call` (the original
        XCore's spelling).
        """
        return PluginRecords(self.records.values(), self.call)

    @property
    def events(self) -> Any:
        """The events service as the host uses it (``emit`` with any ``source``); ``KeyError`` if disabled."""
        return self.services.get("events")

    def get_service(self, name: str) -> Any:
        """The shared service called ``name`` (``KeyError`` listing the known names if none)."""
        return self.services.get(name)

    async def call(self, plugin: str, action: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run ``action`` of ``plugin`` in process and return its response dict."""
        try:
            handler = self._actions[plugin]
        except KeyError:
            raise self._plugin_not_found(plugin) from None
        return await handler(action, {} if payload is None else payload)

    async def boot(self, app: FastAPI | None = None) -> None:
        """Discover, build services, load plugins; mount routers on ``app`` if given."""
        if self.booted:
            raise XcoreError("this host is already booted; build a new Xcore for another boot")
        self.app = app
        self._undo_redaction = install_redaction(self.loaded.raw)
        began = time.perf_counter()
        try:
            self.prepare()
            for warning in self.config_warnings:
                log.warning("%s", warning)
            await self.services.build(self.checked_services, app_name=self.config.app.name,
                                      plugins=self._plugin_handle)
            await self._load_plugins()
            self._check_strict()
            if app is not None:
                from xcore.web import install_endpoints  # xcore.web imports this module

                install_endpoints(app, self)
        except BaseException:
            await self._teardown()
            raise
        self.booted = True
        for entry in self.services.entries():
            if entry.start_error is not None:
                self._service_healthy[entry.spec.name] = False
        await self._broadcast("xcore_host_started", host=self)
        await self._announce(kernel.HOST_STARTED, {"plugins": list(self._load_order)})
        await self._announce(kernel.BOOTED, {"plugins": list(self._load_order)})
        if self.config.app.health_interval > 0:
            self._monitor_task = asyncio.create_task(self._monitor(self.config.app.health_interval),
                                                     name="xcore-health-monitor")
        failed = [r for r in self.records.values() if r.state == "failed"]
        log.info("xcore booted in %.0f ms: %d plugins loaded, %d failed", (time.perf_counter() - began) * 1000,
                 sum(r.state == "loaded" for r in self.records.values() if r.source.kind == "plugin"), len(failed))

    def _check_strict(self) -> None:
        """Under ``strict: true``, fail the boot on any failed plugin before anything announces it.

        Raised inside ``boot``'s teardown guard: plugins unload and services close, and neither
        ``xcore_host_started`` nor the kernel ``host started`` event is ever sent (the scheduler
        resumes no job).
        """
        failed = [r for r in self.records.values() if r.state == "failed"]
        if failed and self.config.app.strict:
            raise BootError("strict mode: plugins failed: " + "; ".join(f"{r.name}: {r.error}" for r in failed))

    def prepare(self) -> None:
        """Discover and register plugins, collect service types, validate every service's settings.

        Nothing is built or connected: ``xcore config check`` stops here. ``boot`` calls it first.
        """
        if self._prepared:
            return
        self._register_all()
        self._collect_service_types()
        problems: list[str] = []  # every bad section is reported, in one error
        specs = service_specs(self.config.services, problems)
        self.checked_services = self.services.validate_specs(specs, self.service_types, problems)
        self._prepared = True

    async def shutdown(self) -> None:
        """Unload plugins in reverse order, then close services in reverse; log every error."""
        if self._monitor_task is not None:
            self._monitor_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor_task
            self._monitor_task = None
        if self.booted:
            await self._announce(kernel.HOST_STOPPING, {})
            await self._broadcast("xcore_host_stopping", host=self)
        await self._teardown()
        self.booted = False

    async def health(self) -> dict[str, Any]:
        """Services (concurrent checks, each bounded) and plugins, with an overall status."""
        timeout = self.config.app.health_timeout
        services, plugins = await asyncio.gather(self.services.health(timeout), self._plugins_health(timeout))
        await self._track_health(services)
        healthy = all(s["status"] == "ok" for s in services.values()) and all(
            p["status"] == "ok" for p in plugins.values()
        )
        return {"status": "ok" if healthy else "error", "services": services, "plugins": plugins}

    # ------------------------------------------------------------------ discovery and registration

    def _sources(self) -> list[PluginSource]:
        groups = (SERVICES_GROUP, PLUGINS_GROUP, MIGRATIONS_GROUP) if self._discover else (SERVICES_GROUP,)
        found = scan_entry_points(groups)
        self.migration_sources = found.get(MIGRATIONS_GROUP, {})
        sources = list(found[SERVICES_GROUP].values())
        plugin_sources: dict[str, PluginSource] = dict(found.get(PLUGINS_GROUP, {}))
        if self.config.plugins.directory is not None:
            plugin_sources.update((s.name, s) for s in directory_sources(self.config.plugins.directory))
        for name, target in self.config.plugins.local.items():
            plugin_sources[name] = local_source(name, target)
        for name, obj in self._given.items():
            plugin_sources[name] = given_source(name, obj)
        return sources + list(plugin_sources.values())

    def _enabled(self, source: PluginSource) -> bool:
        if source.kind == "service":
            return source.name not in self.config.plugins.disabled
        allowed = self.config.plugins.enabled
        if source.name in self.config.plugins.disabled:
            return False
        return allowed is None or source.name in allowed or source.group in ("given", "local", "directory")

    def _register_all(self) -> None:
        for source in self._sources():
            key = self._key(source)
            record = PluginRecord(source)
            self.records[key] = record
            if not self._enabled(source):
                record.state = "disabled"
                continue
            if source.clashes:
                record.fail(
                    f"name {source.name!r} is claimed by several distributions: "
                    f"{source.distribution} {source.version} ({source.target}) and {'; '.join(source.clashes)}"
                )
                continue
            self._register(record, key)
        hooks = PluginHooks.index(self.pm)
        for key, record in self.records.items():
            if record.handle is not None:
                record.hooks = hooks.get(key, PluginHooks())
                self._check_hook_options(record, key)
        plugin_names = {r.name for r in self.records.values() if r.source.kind == "plugin"}
        backend_names = {r.name for r in self.records.values() if r.source.kind == "service"}
        self.config_warnings = unknown_plugin_names(self.config.plugins, plugin_names, backend_names)
        if self.config_warnings and self.config.app.strict:
            raise ConfigError(" ".join(self.config_warnings) + " (app.strict: unknown plugin names are errors)")
        enabled_plugins = [r for r in self.records.values() if r.source.kind == "plugin" and r.state != "disabled"]
        unknown = (set(self.config.plugins.settings) & plugin_names) - {r.name for r in enabled_plugins}
        for name in sorted(unknown):
            self.config_warnings.append(f"plugins.settings.{name}: the plugin {name!r} is disabled")
        for name in sorted(set(self.config.plugins.sandboxed) - {r.name for r in enabled_plugins}):
            # A misspelt name would let the plugin it meant run unsandboxed: say so loudly.
            log.error("plugins.sandboxed.%s: no enabled plugin has this name; nothing runs sandboxed under it", name)

    @staticmethod
    def _key(source: PluginSource) -> str:
        return f"service:{source.name}" if source.kind == "service" else source.name

    def _register(self, record: PluginRecord, key: str) -> None:
        source = record.source
        try:
            sandboxed = self.config.plugins.sandboxed.get(source.name) if source.kind == "plugin" else None
            # A sandboxed plugin is never imported here: a stand-in forwards its hooks to a worker.
            obj = (sandbox.proxy_plugin(source.name, source.target, sandboxed) if sandboxed is not None
                   else source.load())
            if isinstance(obj, type):
                obj = obj()
        except Exception as exc:
            record.fail(f"import of {source.target} failed: {self._describe(exc)}")
            log.error("plugin %r: %s", source.name, record.error, exc_info=True)
            return
        problems = unknown_hooks(obj)
        if problems:
            record.fail(f"unknown hook implementation(s): {', '.join(problems)}")
            return
        try:
            self.pm.register(obj, name=key)
        except (pluggy.PluginValidationError, ValueError) as exc:
            record.fail(f"invalid plugin: {exc}")
            return
        record.handle = PluginHandle(source.name, obj, source.version, source.distribution)
        record.dependencies = declared_dependencies(obj)

    def _check_hook_options(self, record: PluginRecord, key: str) -> None:
        """Refuse what the host cannot honour (see :mod:`xcore.hookcalls`); guard broadcast implementations."""
        assert record.hooks is not None
        problems = option_problems(record.hooks.impls)
        if problems:
            record.fail("hook options XCore cannot honour: " + "; ".join(problems))
            log.error("plugin %r: %s", record.name, record.error)
            self.pm.unregister(name=key)
            return
        for hook, impl in record.hooks.impls.items():
            if hook in BROADCAST_HOOKS:
                self._recorder.guard(impl)

    def _failed_plugin_objects(self) -> list[object]:
        """Registered plugin objects of failed records: broadcast calls leave them out."""
        found = (self.pm.get_plugin(key) for key, r in self.records.items() if r.state == "failed")
        return [obj for obj in found if obj is not None]

    def _collect_service_types(self) -> None:
        hook = "xcore_register_service"
        while True:
            try:
                results: list[Any] = self._recorder.call(self.pm, hook, self._failed_plugin_objects(), {})
                break
            except Exception as exc:  # a wrapper raised (plain implementations are guarded): fail it, call again
                name = culprit(exc, self.pm.hook.xcore_register_service.get_hookimpls())
                if name is None or self.records[name].state == "failed":
                    raise ConfigError(f"{hook} failed: {self._describe(exc)}") from exc
                self.records[name].fail(f"{hook} (wrapper) raised {self._describe(exc)}")
                log.error("plugin %r: %s", self.records[name].name, self.records[name].error, exc_info=exc)
        for key, error in self._recorder.errors():
            record = self.records[key]
            record.fail(f"{hook} raised {self._describe(error)}")
            log.error("plugin %r: %s", record.name, record.error, exc_info=error)
        answers = self._recorder.answers(results, self.pm.hook.xcore_register_service.get_hookimpls())
        position = {key: index for index, key in enumerate(self.records)}  # registration order, not pluggy's
        for giver, declared in sorted(answers, key=lambda answer: position.get(answer[0] or "", -1)):
            if giver is None:
                raise ConfigError(f"{hook} returned {declared!r}, and no plugin's implementation returned it")
            record = self.records[giver]
            items = declared if isinstance(declared, list | tuple) else [declared] if declared else []
            for item in items:
                if not isinstance(item, ServiceType):
                    raise ConfigError(f"plugin {record.name!r}: {hook} returned {item!r}, "
                                      "expected xcore.services.ServiceType objects")
                self.service_types.add(item, record.name, record.source.distribution)

    def _plugin_handle(self, name: str) -> PluginHandle | None:
        record = self.records.get(name)
        if record is None or record.state != "loaded" or record.source.kind != "plugin":
            return None
        return record.handle

    # ------------------------------------------------------------------ loading

    async def _load_plugins(self) -> None:
        candidates = {
            r.name: r.dependencies for r in self.records.values()
            if r.source.kind == "plugin" and r.state == "registered"
        }
        order, failures = resolve_order(candidates)
        schemas = SchemaGate(self.checked_services, self.migration_sources)
        for name, reason in failures.items():
            self.records[name].fail(reason)
            log.error("plugin %r not loaded: %s", name, reason)
        with LoopWatchdog(asyncio.get_running_loop()) as watchdog:  # on_load may block the loop: see watchdog.py
            for name in order:
                record = self.records[name]
                broken = [r for r in record.dependencies.requires if self.records[r].state != "loaded"]
                if broken:
                    record.fail(f"requires plugin {broken[0]!r}, which failed: {self.records[broken[0]].error}")
                elif (unready := await schemas.ready(record.source)) is not None:
                    record.fail(self._redact(unready))
                    log.error("plugin %r not loaded: %s", name, record.error)
                else:
                    await self._load_one(record, watchdog)
        for record in self.records.values():
            if record.state == "failed":
                await self._announce(kernel.PLUGIN_FAILED, {"plugin": record.name, "error": str(record.error)})

    async def _load_one(self, record: PluginRecord, watchdog: LoopWatchdog) -> None:
        assert record.handle is not None and record.hooks is not None
        ctx = self._context(record)
        record.context = ctx
        hooks = record.hooks
        timeout = self.config.app.load_timeout
        on_load = Activity(f"plugin {record.name!r} in on_load", timeout, setting="app.load_timeout",
                           remedy=f"Fix the plugin, or disable it (plugins.disabled: [{record.name}])")
        try:
            self._subscribe_marked(record, ctx)
            with watchdog.watching(on_load):
                await asyncio.wait_for(hooks.call("xcore_on_load", ctx=ctx), timeout)
            if on_load.elapsed > timeout:  # it held the loop, so the timeout could not fire: the same verdict
                raise TimeoutError
        except TimeoutError:
            record.fail(f"on_load did not finish within {timeout:g}s (app.load_timeout){on_load.blocked_note()}")
            log.error("plugin %r failed: %s", record.name, record.error)
            await self._release_plugin(record)
            return
        except (Exception, asyncio.CancelledError) as exc:
            reraise_if_cancelled(exc)
            record.fail(f"on_load raised {self._describe(exc)}")
            log.error("plugin %r failed in on_load", record.name, exc_info=True)
            await self._release_plugin(record)
            return
        try:
            router = await hooks.call("xcore_get_router", ctx=ctx)
            if router is not None and not isinstance(router, APIRouter):
                raise TypeError(f"get_router returned {type(router).__name__}, expected fastapi.APIRouter or None")
        except (Exception, asyncio.CancelledError) as exc:
            reraise_if_cancelled(exc)
            record.fail(f"get_router raised {self._describe(exc)}")
            log.error("plugin %r failed in get_router", record.name, exc_info=True)
            await self._unload_one(record)
            return
        if router is not None and self.app is not None:
            prefix = f"{self.config.app.plugin_prefix}/{record.name}"
            mount_plugin_router(self.app, router, prefix, record.name)
            record.mounted_at = prefix
        if "xcore_handle" in hooks:
            self._actions[record.name] = self._traced_action_handler(record, ctx) if self._tracing else \
                self._action_handler(record, ctx)
        record.state = "loaded"
        self._load_order.append(record.name)
        await self._announce(kernel.PLUGIN_LOADED, {"plugin": record.name, "version": record.source.version})
        log.info("plugin %r loaded (%s)", record.name, record.source.version or record.source.group)

    def _context(self, record: PluginRecord) -> PluginContext:
        assert record.handle is not None
        services = ServiceView(self.services, record.handle)
        return PluginContext(
            name=record.name,
            config=PluginSettings(self.config.plugins.settings.get(record.name, {}), app=self.config.app),
            services=services,
            logger=logging.getLogger(f"xcore.plugin.{record.name}"),
            call=self.call,
            events=services.get("events"),
            handle=record.handle,
            env=MappingProxyType(self.loaded.env),
        )

    def _subscribe_marked(self, record: PluginRecord, ctx: PluginContext) -> None:
        """Subscribe ``@on(...)``-marked methods of a plugin to its event bus view."""
        if record.handle is None:
            return
        if ctx.events is not None:
            subscribe_marked(ctx.events, record.handle.instance)
        elif marked_handlers(record.handle.instance):
            log.warning("plugin %r has @on(...) event handlers, but services.events is disabled: they will "
                        "never run", record.name)

    @staticmethod
    def _traced_action_handler(record: PluginRecord, ctx: PluginContext) -> ActionHandler:
        """With ``XCORE_TRACE_HOOKS``, actions run through pluggy's caller too, so the trace shows them."""
        hooks = record.hooks
        assert hooks is not None

        async def handler(action: str, payload: dict[str, Any]) -> dict[str, Any]:
            result: dict[str, Any] = await hooks.call("xcore_handle", ctx=ctx, action=action, payload=payload)
            return result

        return handler

    def _action_handler(self, record: PluginRecord, ctx: PluginContext) -> ActionHandler:
        assert record.hooks is not None and record.handle is not None
        instance = record.handle.instance
        if isinstance(instance, TrustedBase):
            # The class-based face: call the plugin's own ``handle`` without the hook's extra frame.
            return instance.handle
        impl = record.hooks.impls["xcore_handle"]
        function = impl.function
        # Argument positions are fixed at load, so a call costs one Python call and an await.
        takes_ctx = impl.argnames[:1] == ("ctx",)
        if impl.argnames not in (("ctx", "action", "payload"), ("action", "payload")):
            bound = record.hooks.bind  # an unusual subset of the arguments: resolve by name per call

            def call(action: str, payload: dict[str, Any]) -> Any:
                return bound("xcore_handle", ctx=ctx, action=action, payload=payload)()
        elif takes_ctx:
            def call(action: str, payload: dict[str, Any]) -> Any:
                return function(ctx, action, payload)
        else:
            call = function
        if inspect.iscoroutinefunction(function):
            return call  # type: ignore[no-any-return]

        async def handler(action: str, payload: dict[str, Any]) -> dict[str, Any]:
            result: Any = call(action, payload)
            if inspect.isawaitable(result):
                result = await result
            return result  # type: ignore[no-any-return]

        return handler

    def _plugin_not_found(self, plugin: str) -> PluginNotFoundError:
        record = self.records.get(plugin)
        if record is not None and record.state == "failed":
            return PluginNotFoundError(f"plugin {plugin!r} failed to load: {record.error}")
        if record is not None and record.state == "disabled":
            return PluginNotFoundError(f"plugin {plugin!r} is disabled in the configuration")
        if record is not None and record.state != "loaded":
            return PluginNotFoundError(f"plugin {plugin!r} is not loaded (state: {record.state})")
        if record is not None:
            return PluginNotFoundError(f"plugin {plugin!r} has no actions (it does not implement handle)")
        known = sorted(self._actions)
        return PluginNotFoundError(f"no plugin named {plugin!r}; plugins with actions: {', '.join(known) or '(none)'}")

    def _redact(self, text: str) -> str:
        """``text`` with URL passwords and this config's secret values masked (plugin errors are shown to users)."""
        return redact_text(text, self._secrets)

    def _describe(self, exc: BaseException) -> str:
        """``Type: message`` of a plugin's exception, redacted, for records and health reports."""
        return describe_exception(exc, self._secrets)

    # ------------------------------------------------------------------ health

    async def _plugins_health(self, timeout: float) -> dict[str, dict[str, Any]]:
        records = [r for r in self.records.values() if r.source.kind == "plugin" and r.state != "disabled"]

        async def check(record: PluginRecord) -> dict[str, Any]:
            if record.state != "loaded":
                return {"status": "error", "state": record.state, "error": record.error}
            assert record.hooks is not None
            try:
                result = await asyncio.wait_for(record.hooks.call("xcore_health", ctx=record.context), timeout)
            except TimeoutError:
                return {"status": "error", "state": "loaded", "error": f"health check timed out after {timeout}s"}
            except (Exception, asyncio.CancelledError) as exc:
                reraise_if_cancelled(exc)
                return {"status": "error", "state": "loaded", "error": self._describe(exc)}
            if result is None or result is True:
                return {"status": "ok", "state": "loaded"}
            if result is False:
                return {"status": "error", "state": "loaded"}
            if not isinstance(result, Mapping):
                return {"status": "error", "state": "loaded", "error": self._redact(
                    f"health returned {result!r}; expected None, a bool or a dict")}
            return {"status": "ok", "state": "loaded", **result}

        results = await asyncio.gather(*(check(r) for r in records))
        return {r.name: res for r, res in zip(records, results, strict=True)}

    # ------------------------------------------------------------------ kernel events

    async def _announce(self, name: str, data: dict[str, Any]) -> None:
        """Emit a kernel event (``xcore.events.kernel``) when an events service exists."""
        try:
            bus = self.services.get("events")
        except KeyError:
            return
        try:
            await bus.emit(name, data, source="xcore")
        except Exception:
            log.exception("kernel event %s could not be delivered", name)

    async def _track_health(self, services: dict[str, dict[str, Any]]) -> None:
        """Announce services turning unhealthy or recovering, once per transition."""
        for name, report in services.items():
            healthy = report["status"] == "ok"
            was = self._service_healthy.get(name, True)
            self._service_healthy[name] = healthy
            if was and not healthy:
                log.warning("service %r is unhealthy: %s", name, report.get("error"))
                await self._announce(kernel.SERVICE_UNHEALTHY, {"service": name, "error": str(report.get("error"))})
            elif healthy and not was:
                log.info("service %r recovered", name)
                await self._announce(kernel.SERVICE_RECOVERED, {"service": name})

    async def _monitor(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.health()
            except Exception:
                log.exception("periodic health check failed")

    # ------------------------------------------------------------------ teardown

    async def _broadcast(self, hook: str, **kwargs: Any) -> None:
        """Call a broadcast hook through pluggy on every plugin but the failed ones; errors are logged, not fatal."""
        try:
            await self._recorder.settle(self._recorder.call(self.pm, hook, self._failed_plugin_objects(), kwargs))
        except (Exception, asyncio.CancelledError) as exc:  # a wrapper raised: the plain implementations are guarded
            reraise_if_cancelled(exc)
            name = culprit(exc, getattr(self.pm.hook, hook).get_hookimpls())
            log.error("plugin %r: %s (wrapper) raised", self.records[name].name if name else "?", hook, exc_info=exc)
        for key, error in self._recorder.errors():
            log.error("plugin %r: %s raised", self.records[key].name, hook, exc_info=error)

    async def _unload_one(self, record: PluginRecord) -> None:
        assert record.hooks is not None
        try:
            await asyncio.wait_for(record.hooks.call("xcore_on_unload", ctx=record.context),
                                   self.config.app.shutdown_timeout)
        except (Exception, asyncio.CancelledError) as exc:
            reraise_if_cancelled(exc)
            log.exception("plugin %r: on_unload failed", record.name)
        if record.state == "loaded":
            record.state = "unloaded"
            await self._announce(kernel.PLUGIN_UNLOADED, {"plugin": record.name})
        await self._release_plugin(record)

    async def _release_plugin(self, record: PluginRecord) -> None:
        """Tell services a plugin is gone, so they drop its jobs and subscriptions."""
        self._actions.pop(record.name, None)
        for entry in reversed(self.services.entries()):
            release = getattr(entry.service, "plugin_unloaded", None)
            if release is None:
                continue
            try:
                await release(record.name)
            except Exception:
                log.exception("service %r: releasing plugin %r failed", entry.spec.name, record.name)

    async def _teardown(self) -> None:
        for name in reversed(self._load_order):
            await self._unload_one(self.records[name])
        self._load_order.clear()
        await self.services.close()
        for key in list(self.records):
            obj = self.pm.get_plugin(key)
            if obj is not None:
                self.pm.unregister(obj, name=key)
        if self._undo_redaction is not None:
            self._undo_redaction()
            self._undo_redaction = None


__all__ = ["Xcore"]
