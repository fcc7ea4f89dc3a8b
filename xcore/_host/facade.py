"""``Xcore``: the host, a small facade over the parts in :mod:`xcore._host` (see docs/architecture.md).

Boot: load the config; the registry discovers, registers and checks (``prepare``); the container
builds the services; the lifecycle loads the plugins; services and plugins are told the host
started. Shutdown is the reverse: services and plugins are told the host is stopping, plugins unload
in reverse load order, services close in reverse. Every step of a shutdown runs.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import pluggy
from fastapi import FastAPI

from xcore._config.loader import LoadedConfig, load_config
from xcore._discovery import PluginSource
from xcore._errors import BootError, XcoreError
from xcore._events import kernel
from xcore._host.announce import announce
from xcore._host.dispatch import ActionDispatcher
from xcore._host.lifecycle import PluginLifecycle
from xcore._host.monitor import HealthMonitor
from xcore._host.reconfigure import ConfigReloader
from xcore._host.registry import PluginRegistry
from xcore._host.runtime import PluginRuntime
from xcore._observability.stalls import StallWatchdog, watch_host
from xcore._observability.tracing import enable as enable_tracing
from xcore._plugins import PluginRecord
from xcore._redaction import install_redaction, secret_values
from xcore._services.container import CheckedSpec, ServiceContainer, ServiceTypeRegistry

log = logging.getLogger("xcore")


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
    always discovered: they are how the built-in services exist). ``inspect_only`` builds a host
    that only looks (CLI listings): services start no work of their own (``ServiceSetup.inspect_only``).
    """

    def __init__(
        self,
        config_path: str | os.PathLike[str] | None = None,
        *,
        config: Mapping[str, Any] | None = None,
        plugins: Mapping[str, Any] | None = None,
        discover: bool = True,
        env: Mapping[str, str] | None = None,
        inspect_only: bool = False,
    ) -> None:
        self.loaded: LoadedConfig = load_config(config_path, env=env, data=config)
        self.config = self.loaded.config
        self.app: FastAPI | None = None
        self.booted = False
        secrets = secret_values(self.loaded.raw)
        tracing = bool(os.environ.get("XCORE_TRACE_HOOKS"))
        self.services = ServiceContainer(secrets)
        """The built services (the original XCore's ``xcore.services``: ``get``, ``has``, ``status``...)."""
        self.registry = PluginRegistry(self.config, secrets, given=plugins or {}, discover=discover, tracing=tracing)
        """Discovery, records and checked service sections (read them; the host changes them)."""
        self._actions = ActionDispatcher(self.registry.records, tracing=tracing)
        self._lifecycle = PluginLifecycle(
            self.config, self.registry.records, self.services, self._actions, env=self.loaded.env, secrets=secrets
        )
        self._monitor = HealthMonitor(
            self.services, self.registry.plugins, timeout=self.config.app.health_timeout, secrets=secrets
        )
        self.runtime = PluginRuntime(self.config, self.registry, self._lifecycle, self._actions)
        """Disable, enable and reload plugins while the host serves (docs/operations.md)."""
        self.reloader = ConfigReloader(self.loaded, self.runtime, plugins or {}, discover)
        """Re-reads the configuration file (``SIGHUP`` while serving, or the admin API)."""
        self._undo_redaction: Callable[[], None] | None = None
        self._inspect_only = inspect_only
        self._stalls: StallWatchdog | None = None
        if self.config.app.tracing:
            enable_tracing()  # a ConfigError naming the extra when OpenTelemetry is not installed

    # ------------------------------------------------------------------ the public surface

    @property
    def plugins(self) -> PluginRecords:
        """Every plugin and service backend the host knows of, with state and error.

        A list; ``await xcore.plugins.call(plugin, action, payload)`` is :meth:`call` (the original
        XCore's spelling).
        """
        return PluginRecords(self.registry.records.values(), self.call)

    @property
    def events(self) -> Any:
        """The events service as the host uses it (``emit`` with any ``source``); ``KeyError`` if disabled."""
        return self.services.get("events")

    def get_service(self, name: str) -> Any:
        """The shared service called ``name`` (``KeyError`` listing the known names if none)."""
        return self.services.get(name)

    async def call(self, plugin: str, action: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run ``action`` of ``plugin`` in process and return its response dict."""
        return await self._actions.call(plugin, action, payload)

    def prepare(self) -> None:
        """Discover and register plugins, collect service types, validate every service's settings.

        Nothing is built or connected: ``xcore config check`` stops here. ``boot`` calls it first.
        """
        self.registry.prepare(self.services)

    async def boot(self, app: FastAPI | None = None) -> None:
        """Discover, build services, load plugins; mount routers on ``app`` if given."""
        if self.booted:
            raise XcoreError("this host is already booted; build a new Xcore for another boot")
        self.app = self._lifecycle.app = app
        self._undo_redaction = install_redaction(self.loaded.raw)
        began = time.perf_counter()
        try:
            self.prepare()
            for warning in self.registry.config_warnings:
                log.warning("%s", warning)
            await self.services.build(
                self.registry.checked_services,
                app_name=self.config.app.name,
                plugins=self.registry.plugin_handle,
                inspect_only=self._inspect_only,
            )
            await self._lifecycle.load_all(self.registry.checked_services, self.registry.migration_sources)
            self._check_strict()
            if app is not None:
                from xcore.web import install_endpoints  # xcore.web imports this module

                install_endpoints(app, self)
        except BaseException:
            await self._teardown()
            raise
        self.booted = True
        self._monitor.note_start_errors()
        await self.services.host_started()
        await self.registry.broadcast("xcore_host_started", host=self)
        loaded = list(self._lifecycle.load_order)
        await announce(self.services, kernel.HOST_STARTED, {"plugins": loaded})
        await announce(self.services, kernel.BOOTED, {"plugins": loaded})
        self._monitor.start(self.config.app.health_interval, self.health)
        if app is not None:
            self.reloader.watch_signal()
        self._stalls = watch_host(self)  # app.stall_threshold: reports whatever holds the loop while serving
        log.info(
            "xcore booted in %.0f ms: %d plugins loaded, %d failed",
            (time.perf_counter() - began) * 1000,
            len(self.registry.plugins("loaded")),
            sum(r.state == "failed" for r in self.plugins),
        )

    async def shutdown(self) -> None:
        """Tell services and plugins, unload plugins in reverse order, close services in reverse."""
        await self._monitor.stop()
        self.reloader.stop_watching()
        if self._stalls is not None:
            self._stalls.stop()
            self._stalls = None
        if self.booted:
            await announce(self.services, kernel.HOST_STOPPING, {})
            await self.services.host_stopping()
            await self.registry.broadcast("xcore_host_stopping", host=self)
        await self._teardown()
        self.booted = False

    async def health(self) -> dict[str, Any]:
        """Services (concurrent checks, each bounded) and plugins, with an overall status."""
        return await self._monitor.report()

    # ------------------------------------------------------------------ read-only views for tools and tests

    @property
    def records(self) -> Mapping[str, PluginRecord]:
        """The plugin records by key (read-only; ``registry.records``)."""
        return self.registry.records

    @property
    def pm(self) -> pluggy.PluginManager:
        """This host's plugin manager (``registry.pm``)."""
        return self.registry.pm

    @property
    def service_types(self) -> ServiceTypeRegistry:
        return self.registry.service_types

    @property
    def checked_services(self) -> list[CheckedSpec]:
        return self.registry.checked_services

    @property
    def config_warnings(self) -> list[str]:
        return self.registry.config_warnings

    @property
    def migration_sources(self) -> dict[str, PluginSource]:
        return self.registry.migration_sources

    @property
    def _load_order(self) -> list[str]:
        return self._lifecycle.load_order

    # ------------------------------------------------------------------ internals

    def _check_strict(self) -> None:
        """Under ``strict: true``, fail the boot on any failed plugin before anything announces it.

        Raised inside ``boot``'s teardown guard: plugins unload and services close, and neither
        ``xcore_host_started`` nor the kernel ``host started`` event is ever sent (the scheduler
        resumes no job).
        """
        failed = [r for r in self.registry.records.values() if r.state == "failed"]
        if failed and self.config.app.strict:
            raise BootError("strict mode: plugins failed: " + "; ".join(f"{r.name}: {r.error}" for r in failed))

    async def _teardown(self) -> None:
        await self._lifecycle.unload_all()
        await self.services.close()
        self.registry.unregister_all()
        if self._undo_redaction is not None:
            self._undo_redaction()
            self._undo_redaction = None


__all__ = ["Xcore"]
