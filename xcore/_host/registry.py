"""The plugin registry: which plugins and service backends exist, which are enabled, and their records.

Discovery reads the entry points once; the enable rules (:func:`is_enabled`) decide which sources are
imported; each enabled one is registered with this host's own pluggy ``PluginManager`` under its key
(``service:<name>`` for a backend, the plugin name otherwise), and gets a :class:`PluginRecord` that
the other parts update (loaded, failed, unloaded). ``prepare`` also collects the service types and
validates every service section: nothing is connected, so ``xcore config check`` stops there.

The command line uses :func:`is_enabled` too, so the rules exist once.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pluggy

from xcore import _hookspecs as hookspecs
from xcore import _sandbox as sandbox
from xcore._config.models import PluginsConfig, XcoreConfig
from xcore._config.plugin_names import unknown_plugin_names
from xcore._discovery import PLUGINS_GROUP, SERVICES_GROUP, PluginSource, given_source, local_source, scan_entry_points
from xcore._errors import ConfigError
from xcore._hookcalls import BROADCAST_HOOKS, BroadcastRecorder, culprit, option_problems
from xcore._migrations import MIGRATIONS_GROUP
from xcore._plugin_directory import directory_sources
from xcore._plugins import PluginHooks, PluginRecord, declared_dependencies, unknown_hooks
from xcore._redaction import describe_exception
from xcore._services.cancellation import reraise_if_cancelled
from xcore._services.container import CheckedSpec, ServiceContainer, ServiceTypeRegistry, service_specs
from xcore._services.types import ServiceType
from xcore.sdk._context import PluginHandle

log = logging.getLogger("xcore")

ALWAYS_ENABLED_GROUPS = ("given", "local", "directory")
"""Plugins named by the application itself: ``plugins.enabled`` does not filter them (``disabled`` does)."""


def is_enabled(rules: PluginsConfig, source: PluginSource) -> bool:
    """The enable rules: ``plugins.disabled`` removes anything; ``plugins.enabled`` (if set) lists plugins."""
    if source.name in rules.disabled:
        return False
    if source.kind == "service":
        return True
    return rules.enabled is None or source.name in rules.enabled or source.group in ALWAYS_ENABLED_GROUPS


def record_key(source: PluginSource) -> str:
    """The pluggy name of a source: backends and plugins may share a name."""
    return f"service:{source.name}" if source.kind == "service" else source.name


def new_plugin_manager(tracing: bool = False) -> pluggy.PluginManager:
    """A plugin manager with XCore's hook specifications (one per host, one for the command line)."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    if tracing:
        hooks_log = logging.getLogger("xcore.hooks")
        hooks_log.setLevel(logging.DEBUG)
        pm.trace.root.setwriter(hooks_log.debug)
        pm.enable_tracing()
    return pm


class PluginRegistry:
    """Discovery, enable rules, registration and the records of one host."""

    def __init__(
        self,
        config: XcoreConfig,
        secrets: frozenset[str] | set[str],
        *,
        given: Mapping[str, Any],
        discover: bool,
        tracing: bool = False,
    ) -> None:
        self._config = config
        self._secrets = secrets
        self._given = dict(given)
        self._discover = discover
        self.pm = new_plugin_manager(tracing)
        self._records: dict[str, PluginRecord] = {}
        self._recorder = BroadcastRecorder()
        self.service_types = ServiceTypeRegistry()
        self.migration_sources: dict[str, PluginSource] = {}
        """The ``xcore.migrations`` entry points by plugin name, once ``prepare()`` ran (see xcore.migrations)."""
        self.checked_services: list[CheckedSpec] = []
        """Every service section with its type and validated settings, once ``prepare()`` ran."""
        self.config_warnings: list[str] = []
        """Mistakes that do not stop a boot (unknown plugin names), once ``prepare()`` ran."""
        self._prepared = False

    @property
    def records(self) -> Mapping[str, PluginRecord]:
        """Every plugin and backend by key, in registration order (read-only)."""
        return MappingProxyType(self._records)

    def plugins(self, *states: str) -> list[PluginRecord]:
        """Application plugins (not backends), optionally only those in one of ``states``."""
        return [r for r in self._records.values() if r.source.kind == "plugin" and (not states or r.state in states)]

    def plugin_handle(self, name: str) -> PluginHandle | None:
        """The handle of a loaded application plugin (services use it to scope what they give)."""
        record = self._records.get(name)
        if record is None or record.state != "loaded" or record.source.kind != "plugin":
            return None
        return record.handle

    def prepare(self, services: ServiceContainer) -> None:
        """Discover and register plugins, collect service types, validate every service's settings."""
        if self._prepared:
            return
        self._register_all()
        self._collect_service_types()
        problems: list[str] = []  # every bad section is reported, in one error
        specs = service_specs(self._config.services, problems)
        self.checked_services = services.validate_specs(specs, self.service_types, problems)
        self._prepared = True

    def register_at_runtime(self, record: PluginRecord, source: PluginSource | None = None) -> bool:
        """Import (or re-import) and register one plugin while the host serves; ``False``: it failed.

        ``source`` replaces the record's (a reload found a new version); the enable rules are not
        consulted (the operator asked for this plugin). Every other plugin's hook callers are rebuilt,
        since a pluggy subset caller built earlier would otherwise include the new implementations.
        """
        if source is not None:
            record.source = source
        record.state, record.error = "registered", None
        key = record_key(record.source)
        if self.pm.get_plugin(key) is not None:  # a plugin that failed at boot stays registered: retry afresh
            self.pm.unregister(name=key)
        if record.source.clashes:
            record.fail(f"name {record.name!r} is claimed by several distributions: {'; '.join(record.source.clashes)}")
            return False
        self._register(record, key)
        if record.handle is None:  # the import or the registration failed: the record says why
            return False
        record.hooks = PluginHooks.index(self.pm).get(key, PluginHooks())
        self._check_hook_options(record, key)
        self._forget_callers()
        return record.state == "registered"

    def unregister_at_runtime(self, record: PluginRecord) -> None:
        """Remove one plugin object from the plugin manager (disabled or about to be re-imported)."""
        key = record_key(record.source)
        if self.pm.get_plugin(key) is not None:
            self.pm.unregister(name=key)
        record.handle = record.hooks = record.context = None
        record.mounted_at = None
        self._forget_callers()

    def rescan(self, name: str) -> PluginSource | None:
        """The plugin ``name`` as the installed distributions (and the config) describe it now.

        Used by reload after ``pip install -U``: the entry points are read again, so the new version
        and target are seen. ``None`` when no source of that name exists any more.
        """
        importlib.invalidate_caches()
        for source in self._sources():
            if source.kind == "plugin" and source.name == name:
                return source
        return None

    def add_record(self, source: PluginSource) -> PluginRecord:
        """A record for a plugin installed after boot (enable found it by rescanning)."""
        record = self._records[record_key(source)] = PluginRecord(source, state="disabled")
        return record

    def _forget_callers(self) -> None:
        for record in self._records.values():
            if record.hooks is not None:
                record.hooks.forget_callers()

    def unregister_all(self) -> None:
        """Remove every plugin object from the plugin manager (the host is shut down)."""
        for key in list(self._records):
            obj = self.pm.get_plugin(key)
            if obj is not None:
                self.pm.unregister(obj, name=key)

    async def broadcast(self, hook: str, **kwargs: Any) -> None:
        """Call a broadcast hook on every plugin but the failed ones; errors are logged, not fatal."""
        try:
            await self._recorder.settle(self._recorder.call(self.pm, hook, self._failed_plugin_objects(), kwargs))
        except (Exception, asyncio.CancelledError) as exc:  # a wrapper raised: the plain implementations are guarded
            reraise_if_cancelled(exc)
            name = culprit(exc, getattr(self.pm.hook, hook).get_hookimpls())
            log.error("plugin %r: %s (wrapper) raised", self._records[name].name if name else "?", hook, exc_info=exc)
        for key, error in self._recorder.errors():
            log.error("plugin %r: %s raised", self._records[key].name, hook, exc_info=error)

    # ------------------------------------------------------------------ discovery and registration

    def _sources(self) -> list[PluginSource]:
        groups = (SERVICES_GROUP, PLUGINS_GROUP, MIGRATIONS_GROUP) if self._discover else (SERVICES_GROUP,)
        found = scan_entry_points(groups)
        self.migration_sources = found.get(MIGRATIONS_GROUP, {})
        sources = list(found[SERVICES_GROUP].values())
        plugin_sources: dict[str, PluginSource] = dict(found.get(PLUGINS_GROUP, {}))
        if self._config.plugins.directory is not None:
            plugin_sources.update((s.name, s) for s in directory_sources(self._config.plugins.directory))
        for name, target in self._config.plugins.local.items():
            plugin_sources[name] = local_source(name, target)
        for name, obj in self._given.items():
            plugin_sources[name] = given_source(name, obj)
        return sources + list(plugin_sources.values())

    def _register_all(self) -> None:
        for source in self._sources():
            key = record_key(source)
            record = PluginRecord(source)
            self._records[key] = record
            if not is_enabled(self._config.plugins, source):
                record.state = "disabled"
            elif source.clashes:
                record.fail(
                    f"name {source.name!r} is claimed by several distributions: "
                    f"{source.distribution} {source.version} ({source.target}) and {'; '.join(source.clashes)}"
                )
            else:
                self._register(record, key)
        hooks = PluginHooks.index(self.pm)
        for key, record in self._records.items():
            if record.handle is not None:
                record.hooks = hooks.get(key, PluginHooks())
                self._check_hook_options(record, key)
        self._check_names()

    def _check_names(self) -> None:
        """Names in ``plugins.*`` that match nothing: warnings, or an error under ``app.strict``."""
        plugin_names = {r.name for r in self.plugins()}
        backend_names = {r.name for r in self._records.values() if r.source.kind == "service"}
        self.config_warnings = unknown_plugin_names(self._config.plugins, plugin_names, backend_names)
        if self.config_warnings and self._config.app.strict:
            raise ConfigError(" ".join(self.config_warnings) + " (app.strict: unknown plugin names are errors)")
        enabled = {r.name for r in self.plugins() if r.state != "disabled"}
        for name in sorted((set(self._config.plugins.settings) & plugin_names) - enabled):
            self.config_warnings.append(f"plugins.settings.{name}: the plugin {name!r} is disabled")
        for name in sorted(set(self._config.plugins.sandboxed) - enabled):
            # A misspelt name would let the plugin it meant run unsandboxed: say so loudly.
            log.error("plugins.sandboxed.%s: no enabled plugin has this name; nothing runs sandboxed under it", name)

    def _register(self, record: PluginRecord, key: str) -> None:
        source = record.source
        try:
            obj = self._plugin_object(source)
        except Exception as exc:
            record.fail(f"import of {source.target} failed: {describe_exception(exc, self._secrets)}")
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

    def _plugin_object(self, source: PluginSource) -> object:
        """The object registered for ``source``: its import target, instantiated if it is a class.

        The one place that decides what object stands for a plugin: a plugin under
        ``plugins.sandboxed`` is never imported here; a stand-in (:mod:`xcore.sandbox`) forwards its
        hooks to a worker process. Everything after registration works on that object alone.
        """
        sandboxed = self._config.plugins.sandboxed.get(source.name) if source.kind == "plugin" else None
        if sandboxed is not None:
            return sandbox.proxy_plugin(source.name, source.target, sandboxed)
        obj = source.load()
        return obj() if isinstance(obj, type) else obj

    def _check_hook_options(self, record: PluginRecord, key: str) -> None:
        """Refuse what the host cannot honour (see :mod:`xcore._hookcalls`); guard broadcast implementations."""
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
        found = (self.pm.get_plugin(key) for key, r in self._records.items() if r.state == "failed")
        return [obj for obj in found if obj is not None]

    def _collect_service_types(self) -> None:
        hook = "xcore_register_service"
        while True:
            try:
                results: list[Any] = self._recorder.call(self.pm, hook, self._failed_plugin_objects(), {})
                break
            except Exception as exc:  # a wrapper raised (plain implementations are guarded): fail it, call again
                name = culprit(exc, self.pm.hook.xcore_register_service.get_hookimpls())
                if name is None or self._records[name].state == "failed":
                    raise ConfigError(f"{hook} failed: {describe_exception(exc, self._secrets)}") from exc
                self._records[name].fail(f"{hook} (wrapper) raised {describe_exception(exc, self._secrets)}")
                log.error("plugin %r: %s", self._records[name].name, self._records[name].error, exc_info=exc)
        for key, error in self._recorder.errors():
            record = self._records[key]
            record.fail(f"{hook} raised {describe_exception(error, self._secrets)}")
            log.error("plugin %r: %s", record.name, record.error, exc_info=error)
        answers = self._recorder.answers(results, self.pm.hook.xcore_register_service.get_hookimpls())
        position = {key: index for index, key in enumerate(self._records)}  # registration order, not pluggy's
        for giver, declared in sorted(answers, key=lambda answer: position.get(answer[0] or "", -1)):
            if giver is None:
                raise ConfigError(f"{hook} returned {declared!r}, and no plugin's implementation returned it")
            record = self._records[giver]
            items = declared if isinstance(declared, list | tuple) else [declared] if declared else []
            for item in items:
                if not isinstance(item, ServiceType):
                    raise ConfigError(
                        f"plugin {record.name!r}: {hook} returned {item!r}, expected xcore.services.ServiceType objects"
                    )
                self.service_types.add(item, record.name, record.source.distribution)
