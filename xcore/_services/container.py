"""The service container: builds services from config in order, checks their health, closes them.

Order is the seed's: databases, cache, events, scheduler, extensions; closing runs in reverse.
Names: each database by its config key and ``db`` for the first one, ``cache``, ``events``,
``scheduler``, ``ext.<name>`` for extensions. A service whose ``start()`` fails stays registered and
reports the failure through its health check, unless its settings say ``required: true``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from xcore._config.loader import validate
from xcore._config.models import EMBEDDED_DEFAULTS, AppConfig, ServicesConfig
from xcore._errors import BootError, ConfigError, ServiceError, ServiceNotFoundError
from xcore._observability import metrics as observed
from xcore._observability import tracing
from xcore._redaction import describe_exception, redact_text
from xcore._services.cancellation import reraise_if_cancelled
from xcore._services.hooks import (
    WatchesHostStarted,
    WatchesHostStopping,
    WatchesPluginLoaded,
    WatchesPluginLoading,
    WatchesPluginUnloaded,
)
from xcore._services.types import (
    ConfiguredSection,
    PluginScoped,
    Service,
    ServiceKind,
    ServiceSetup,
    ServiceType,
    SettingsContext,
)
from xcore._suggestions import did_you_mean
from xcore.sdk._context import PluginHandle

log = logging.getLogger("xcore.services")

START_TIMEOUT = 15.0
DEFAULT_HEALTH_TIMEOUT: float = AppConfig.model_fields["health_timeout"].default

T = TypeVar("T")


def checked_as(name: str, service: Any, kind: type[T]) -> T:
    if not isinstance(service, kind):
        raise TypeError(f"service {name!r} is a {type(service).__name__}, not a {kind.__name__}")
    return service


@dataclass(frozen=True)
class RegisteredType:
    """A service type and the plugin (and distribution) that registered it."""

    type: ServiceType
    provider: str
    distribution: str | None


class ServiceTypeRegistry:
    """Every service type that installed backends declared, keyed by (kind, name)."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, str], RegisteredType] = {}

    def add(self, service_type: ServiceType, provider: str, distribution: str | None = None) -> None:
        key = (service_type.kind, service_type.name)
        existing = self._types.get(key)
        if existing is not None and existing.provider != provider:
            raise ServiceError(
                f"{service_type.kind} type {service_type.name!r} is registered twice: by plugin "
                f"{existing.provider!r} ({existing.distribution or 'local'}) and by plugin {provider!r} "
                f"({distribution or 'local'})"
            )
        self._types[key] = RegisteredType(service_type, provider, distribution)

    def of_kind(self, kind: str) -> dict[str, RegisteredType]:
        return {name: reg for (k, name), reg in self._types.items() if k == kind}

    def __iter__(self) -> Iterator[RegisteredType]:
        return iter(self._types.values())

    def lookup(self, kind: ServiceKind, name: object, key_path: str, package: str | None = None) -> RegisteredType:
        found = self._types.get((kind, str(name)))
        if found is not None:
            return found
        if package:
            raise ConfigError(
                f"{key_path}: {kind} type {name!r} comes from the package {package!r} ({key_path}.package), "
                f"which is not installed or is disabled: pip install {package}"
            )
        known = self.of_kind(kind)
        listing = ", ".join(f"{n} (from {r.distribution or r.provider})" for n, r in sorted(known.items()))
        hint = did_you_mean(str(name), known)
        raise ConfigError(
            f"{key_path}: unknown {kind} type {name!r}.{hint} Known {kind} types: {listing or '(none)'}. "
            f"A type comes from an installed package that registers it through xcore_register_service."
        )


@dataclass
class ServiceSpec:
    """One service to build, as read from config."""

    name: str
    kind: ServiceKind
    type_name: str
    key_path: str
    settings: dict[str, Any]
    package: str | None = None
    """The distribution expected to provide the type (optional ``package:`` key), quoted when missing."""


SELECTOR: dict[ServiceKind, str] = {
    "database": "type",
    "extension": "type",
    "cache": "backend",
    "events": "backend",
    "scheduler": "backend",
    "tasks": "backend",
}
"""The key of a section naming its type: ``services.databases.main.type``, ``services.cache.backend``."""


def section_path(name: str, kind: ServiceKind) -> tuple[str, ...]:
    """Where the section of service ``name`` sits under ``services`` (the reverse of its name)."""
    if kind == "database":
        return ("databases", name)
    if kind == "extension":
        return ("extensions", name.removeprefix("ext."))
    return (name,)


def service_specs(services: ServicesConfig, problems: list[str]) -> list[ServiceSpec]:
    """The services the config asks for, in build order, with embedded defaults for absent sections.

    A malformed section is left out and its error appended to ``problems``, which
    :meth:`ServiceContainer.validate_specs` raises together with its own: one run reports every bad section.
    :func:`config_sections` is the reverse.
    """

    def section(name: str) -> Any:
        value = getattr(services, name)
        return EMBEDDED_DEFAULTS[name] if value is None else value

    specs: list[ServiceSpec] = []

    def add(name: str, kind: ServiceKind, raw: Any) -> None:
        selector, key = SELECTOR[kind], ".".join(("services", *section_path(name, kind)))
        problem = None
        if not isinstance(raw, Mapping):
            problem = f"{key}: must be a mapping of settings (got {raw!r})"
        elif selector not in raw:
            problem = f"{key}.{selector}: required key is missing (it names the {kind} type)"
        if problem is not None:
            problems.append(problem)
            return
        settings = dict(raw)
        package = settings.pop("package", None)
        specs.append(
            ServiceSpec(
                name, kind, str(settings.pop(selector)), key, settings, None if package is None else str(package)
            )
        )

    for db_name, raw in section("databases").items():
        add(db_name, "database", raw)
    for single, kind in (("cache", "cache"), ("events", "events"), ("tasks", "tasks"), ("scheduler", "scheduler")):
        raw = section(single)
        if isinstance(raw, Mapping) and raw.get("enabled", True) in (False, "false", "False", "0", 0):
            continue
        if isinstance(raw, Mapping):
            raw = {k: v for k, v in raw.items() if k != "enabled"}
        add(single, kind, raw)  # type: ignore[arg-type]
    for ext_name, raw in section("extensions").items():
        add(f"ext.{ext_name}", "extension", raw)
    return specs


def config_sections(checked: Iterable[CheckedSpec]) -> dict[str, Any]:
    """The ``services`` section as the types validated it (coerced values, defaults filled in):
    the reverse of :func:`service_specs`, for ``xcore config check``."""
    services: dict[str, Any] = {}
    for spec, _, settings in checked:
        *parents, last = section_path(spec.name, spec.kind)
        target = services
        for parent in parents:
            target = target.setdefault(parent, {})
        target[last] = {SELECTOR[spec.kind]: spec.type_name, **settings.model_dump(mode="json")}
    return services


class CheckedSpec(NamedTuple):
    """A config section matched to its registered type, with its settings validated by that type."""

    spec: ServiceSpec
    registered: RegisteredType
    settings: Any


@dataclass
class ServiceEntry:
    """A built service and what the host knows of it."""

    spec: ServiceSpec
    service: Service
    registered: RegisteredType
    settings: Any
    start_error: str | None = None


class ServiceContainer:
    """Holds the built services by name; one container per host."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = frozenset(secrets)
        """The config's secret values, masked in start errors and health reports."""
        self._entries: dict[str, ServiceEntry] = {}
        self._aliases: dict[str, str] = {}
        self._loading_since: dict[str, float] = {}

    # ------------------------------------------------------------------ access

    def names(self) -> list[str]:
        return [*self._entries, *self._aliases]

    def entries(self) -> list[ServiceEntry]:
        return list(self._entries.values())

    def entry(self, name: str) -> ServiceEntry:
        real = self._aliases.get(name, name)
        try:
            return self._entries[real]
        except KeyError:
            raise ServiceNotFoundError(name, self.names()) from None

    def get(self, name: str) -> Any:
        return self.entry(name).service

    # The original XCore's container API, on the same lookups.

    def has(self, name: str) -> bool:
        """Whether a service called ``name`` exists (``"db"`` included)."""
        return name in self._entries or name in self._aliases

    def get_or_none(self, name: str) -> Any:
        """The service called ``name``, or ``None``."""
        return self.get(name) if self.has(name) else None

    def get_as(self, name: str, kind: type[T]) -> T:
        """The service called ``name``, checked to be a ``kind``; ``TypeError`` naming both if not."""
        return checked_as(name, self.get(name), kind)

    def status(self) -> dict[str, dict[str, Any]]:
        """Each service's kind, type, provider and start state, without running health checks
        (``await health()`` runs them)."""
        return {
            name: {
                "kind": entry.spec.kind,
                "type": entry.spec.type_name,
                "provider": entry.registered.provider,
                "status": "failed" if entry.start_error else "started",
                "error": entry.start_error,
            }
            for name, entry in self._entries.items()
        }

    # ------------------------------------------------------------------ lifecycle

    @staticmethod
    def validate_specs(
        specs: list[ServiceSpec], types: ServiceTypeRegistry, problems: list[str] | None = None
    ) -> list[CheckedSpec]:
        """Check every section against its type's settings model before anything is built.

        Every section is checked, whatever the others hold: the ``ConfigError`` raised at the end
        lists each bad section on its own line (after ``problems`` found earlier, if given).
        """
        found = [] if problems is None else problems
        checked = []
        context = SettingsContext(tuple(ConfiguredSection(s.key_path, s.kind, s.type_name, s.settings) for s in specs))
        for spec in specs:
            try:
                registered = types.lookup(spec.kind, spec.type_name, spec.key_path, spec.package)
                settings = validate(
                    registered.type.config,
                    spec.settings,
                    "configuration",
                    prefix=tuple(spec.key_path.split(".")),
                    context=context,
                )
            except ConfigError as exc:
                found.append(str(exc))
                continue
            checked.append(CheckedSpec(spec, registered, settings))
        if found:
            raise ConfigError("\n".join(found))
        return checked

    async def build(
        self, checked: list[CheckedSpec], app_name: str, plugins: Any, *, inspect_only: bool = False
    ) -> None:
        """Create and start every validated service in order (``inspect_only``: see ``ServiceSetup``)."""
        for spec, registered, settings in checked:
            setup = ServiceSetup(
                name=spec.name,
                key_path=spec.key_path,
                app_name=app_name,
                logger=logging.getLogger(f"xcore.service.{spec.name}"),
                plugins=plugins,
                services=self.get,
                inspect_only=inspect_only,
            )
            try:
                service = registered.type.factory(settings, setup)
            except ConfigError:
                raise
            except Exception as exc:
                raise ServiceError(
                    f"{spec.key_path}: cannot create {spec.kind} {spec.type_name!r}: {redact_text(str(exc))}"
                ) from exc
            for note in getattr(settings, "notes", ()):
                setup.logger.info("%s", note)
            entry = ServiceEntry(spec, service, registered, settings)
            self._entries[spec.name] = entry
            if spec.kind == "database" and "db" not in self._aliases and spec.name != "db":
                self._aliases["db"] = spec.name
            try:
                await asyncio.wait_for(service.start(), START_TIMEOUT)
            except (Exception, asyncio.CancelledError) as exc:
                reraise_if_cancelled(exc)
                entry.start_error = describe_exception(exc, self.secrets)
                if getattr(settings, "required", False):
                    raise BootError(
                        f"{spec.key_path}: required service {spec.name!r} failed to start: {entry.start_error}"
                    ) from exc
                log.warning(
                    "service %r (%s) failed to start; it stays unhealthy until its server answers: %s",
                    spec.name,
                    spec.key_path,
                    entry.start_error,
                )

    async def health(self, timeout: float = DEFAULT_HEALTH_TIMEOUT) -> dict[str, dict[str, Any]]:
        """Run every health check concurrently, each bounded by ``timeout`` seconds (default: that of
        ``app.health_timeout``)."""

        async def check(entry: ServiceEntry) -> dict[str, Any]:
            began = time.perf_counter()
            report: dict[str, Any] = {"type": entry.spec.type_name, "kind": entry.spec.kind}
            deadline = asyncio.timeout(timeout)
            try:
                async with deadline:
                    details = await entry.service.health()
                report["status"] = "ok"
                if details:
                    report.update(details)
            except TimeoutError as exc:
                # Only our own deadline is a timeout; a TimeoutError from the backend is its error.
                if deadline.expired():
                    report.update(status="error", error=f"health check timed out after {timeout}s")
                else:
                    report.update(status="error", error=describe_exception(exc, self.secrets))
            except (Exception, asyncio.CancelledError) as exc:
                reraise_if_cancelled(exc)
                report.update(status="error", error=describe_exception(exc, self.secrets))
            report["latency_ms"] = round((time.perf_counter() - began) * 1000, 3)
            return report

        entries = self.entries()
        results = await asyncio.gather(*(check(e) for e in entries))
        return {e.spec.name: r for e, r in zip(entries, results, strict=True)}

    # ------------------------------------------------------------------ lifecycle (xcore._services.hooks)

    async def plugin_loading(self, plugin: PluginHandle) -> None:
        """Tell services a plugin is about to load; an error propagates (the plugin fails)."""
        self._loading_since[plugin.name] = time.perf_counter()  # xcore_plugin_boot_seconds, see plugin_loaded
        for entry in self.entries():
            if isinstance(entry.service, WatchesPluginLoading):
                await entry.service.plugin_loading(plugin)

    async def plugin_loaded(self, plugin: PluginHandle) -> None:
        """Tell services a plugin has loaded."""
        began = self._loading_since.pop(plugin.name, None)
        if began is not None and (metrics := observed.ACTIVE) is not None:
            metrics.plugin_loaded(plugin.name, time.perf_counter() - began)
        for entry in self.entries():
            if isinstance(entry.service, WatchesPluginLoaded):
                await self._tell(entry, "plugin_loaded", entry.service.plugin_loaded(plugin))

    async def plugin_unloaded(self, plugin_name: str) -> None:
        """Tell services a plugin is gone, so they drop its jobs and subscriptions (reverse order)."""
        for entry in reversed(self.entries()):
            if isinstance(entry.service, WatchesPluginUnloaded):
                await self._tell(entry, "plugin_unloaded", entry.service.plugin_unloaded(plugin_name))

    async def host_started(self) -> None:
        """Tell services every plugin has loaded (reverse order: consumers before what they use)."""
        for entry in reversed(self.entries()):
            if isinstance(entry.service, WatchesHostStarted):
                await self._tell(entry, "host_started", entry.service.host_started())

    async def host_stopping(self) -> None:
        """Tell services shutdown begins, before plugins unload."""
        for entry in reversed(self.entries()):
            if isinstance(entry.service, WatchesHostStopping):
                await self._tell(entry, "host_stopping", entry.service.host_stopping())

    @staticmethod
    async def _tell(entry: ServiceEntry, method: str, call: Awaitable[None]) -> None:
        try:
            await call
        except (Exception, asyncio.CancelledError) as exc:
            reraise_if_cancelled(exc)
            log.exception("service %r: %s failed", entry.spec.name, method)

    async def close(self) -> None:
        """Close every service in reverse order of creation; log failures, never raise."""
        for entry in reversed(self.entries()):
            try:
                await entry.service.close()
            except (Exception, asyncio.CancelledError) as exc:
                reraise_if_cancelled(exc)
                log.exception("closing service %r (%s) failed", entry.spec.name, entry.spec.key_path)
        self._entries.clear()
        self._aliases.clear()


class ServiceView(Mapping[str, Any]):
    """``ctx.services``: a read-only mapping of the container as one plugin sees it.

    Services implementing ``for_plugin`` (see :class:`~xcore._services.types.PluginScoped`) are
    handed out as that plugin's own view, built once on first use. With ``app.tracing`` on, each is
    handed out as a proxy recording a span per method call (:mod:`xcore._observability.service_spans`).
    """

    __slots__ = ("_container", "_plugin", "_scoped", "_traced")

    def __init__(self, container: ServiceContainer, plugin: PluginHandle | None) -> None:
        self._container = container
        self._plugin = plugin
        self._scoped: dict[str, Any] = {}
        self._traced: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        service = self._scoped.get(name)
        if service is None:
            service = self._container.get(name)
            if self._plugin is not None and isinstance(service, PluginScoped):
                service = self._scoped[name] = service.for_plugin(self._plugin)
        if tracing.TRACER is None:
            return service
        traced = self._traced.get(name)
        if traced is None:
            from xcore._observability.service_spans import traced as spanning

            plugin = None if self._plugin is None else self._plugin.name
            traced = self._traced[name] = spanning(service, self._container.entry(name).spec.name, plugin)
        return traced

    def __iter__(self) -> Iterator[str]:
        return iter(self._container.names())

    def __len__(self) -> int:
        return len(self._container.names())

    def __contains__(self, name: object) -> bool:
        return name in self._container.names()

    # The original XCore's container API (``ctx.services.has("db")``...), on the same lookups.

    def has(self, name: str) -> bool:
        """Whether a service called ``name`` exists."""
        return name in self

    def get_or_none(self, name: str) -> Any:
        """The service called ``name`` as this plugin sees it, or ``None``."""
        return self.get(name)

    def get_as(self, name: str, kind: type[T]) -> T:
        """The service called ``name``, checked to be a ``kind``; ``TypeError`` naming both if not."""
        return checked_as(name, self[name], kind)

    def status(self) -> dict[str, dict[str, Any]]:
        """See :meth:`ServiceContainer.status`."""
        return self._container.status()

    def __repr__(self) -> str:
        return f"<services {', '.join(self._container.names())}>"
