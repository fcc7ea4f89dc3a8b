"""What a service backend declares (``ServiceType``) and what the host expects of a service.

A backend returns ``ServiceType`` objects from ``xcore_register_service``. The host validates the
settings from ``integration.yaml`` with ``ServiceType.config`` (a pydantic model), then calls
``ServiceType.factory(settings, setup)`` to build the object plugins receive from
``get_service(name)``. The host drives its life through the three coroutines of :class:`Service`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, PrivateAttr

from xcore._redaction import active_secrets, describe_exception
from xcore._services.namespaces import service_namespace

if TYPE_CHECKING:
    from xcore.sdk._context import PluginHandle

ServiceKind = Literal["database", "cache", "scheduler", "extension", "events", "tasks"]
SERVICE_KINDS: tuple[ServiceKind, ...] = ("database", "cache", "scheduler", "extension", "events", "tasks")


class ServiceSettings(BaseModel):
    """Base of every service settings model: unknown keys are errors, types are coerced.

    ``port: "${SMTP_PORT}"`` arrives as a string after variable expansion; pydantic's lax mode
    turns it into an ``int``. ``required: true`` makes a failing ``start()`` a boot failure.

    The host validates each section with a :class:`SettingsContext` as pydantic's validation context
    (``info.context`` in a validator): a model may read the other sections there, to default a key
    from them (a Redis scheduler without ``url`` uses the cache's Redis). Validated alone, the
    context is ``None``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    required: bool = False

    _notes: tuple[str, ...] = PrivateAttr(default=())

    @property
    def notes(self) -> tuple[str, ...]:
        """What validation decided for the user (a default taken from another section), one sentence each.

        The host logs them when it builds the service; ``xcore config check`` prints them. A model sets
        them in a validator with :meth:`add_note`.
        """
        return self._notes

    def add_note(self, note: str) -> None:
        self._notes = (*self._notes, note)


@dataclass(frozen=True)
class ConfiguredSection:
    """One service section of the configuration as written: its kind, type and remaining keys."""

    key_path: str
    kind: ServiceKind
    type_name: str
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class SettingsContext:
    """The validation context of every service section: all the sections, in build order."""

    sections: tuple[ConfiguredSection, ...]

    def of_type(self, kind: ServiceKind, type_name: str) -> list[ConfiguredSection]:
        return [s for s in self.sections if s.kind == kind and s.type_name == type_name]


@runtime_checkable
class Service(Protocol):
    """The lifecycle every service object offers the host (``ServiceBase`` gives no-op defaults)."""

    async def start(self) -> None:
        """Connect. Raising leaves the service registered but unhealthy (boot fails if required)."""

    async def health(self) -> dict[str, Any] | None:
        """Check the backend; raise on failure. Extra details may be returned as a dict."""

    async def close(self) -> None:
        """Release connections and threads. Called once, in reverse order of creation."""


class ServiceBase:
    """Convenience base with no-op lifecycle methods; backends override what they need."""

    async def start(self) -> None:
        return None

    async def health(self) -> dict[str, Any] | None:
        return None

    async def close(self) -> None:
        return None

    async def health_check(self) -> tuple[bool, str]:
        """The original XCore's health call: ``(True, "ok")``, or ``(False, "Type: message")`` with
        secrets masked. XCore's own is :meth:`health`, which raises when unhealthy."""
        try:
            await self.health()
        except Exception as exc:
            return False, describe_exception(exc, active_secrets())
        return True, "ok"


@runtime_checkable
class PluginScoped(Protocol):
    """A service that gives each plugin its own view (the scheduler scopes jobs per plugin).

    When a service implements ``for_plugin``, ``ctx.services[name]`` in plugin ``p`` returns
    ``service.for_plugin(handle_of_p)`` (built once per plugin) instead of the shared object.
    """

    def for_plugin(self, plugin: PluginHandle) -> Any: ...


@dataclass(frozen=True)
class ServiceSetup:
    """What a factory gets besides its settings.

    ``name`` is the service name (``default``, ``cache``, ``ext.email``), ``key_path`` the config
    path to quote in errors (``services.databases.default``), ``app_name`` the application name
    (the cache's default key prefix), ``plugins`` looks up live plugins by name (the scheduler
    resolves persistent jobs through it), ``services`` gives the services built before this one
    (a database-backed scheduler finds its database there).

    ``namespace`` (``"<app>:<service>:"``, see :mod:`xcore._services.namespaces`) is the part of a
    shared store this service owns: a backend keeping keys in a store other services may share (one
    Redis database) writes, scans and deletes only keys starting with it. Namespaces never nest, so
    honouring it is all a backend needs for no plugin call (``clear()``, any pattern) to reach the
    keys of another service. Left empty, it is derived from ``app_name`` and ``name``.
    ``inspect_only`` is set for a host booted by a command that only looks.
    """

    name: str
    key_path: str
    app_name: str
    logger: logging.Logger
    plugins: Callable[[str], PluginHandle | None]
    services: Callable[[str], Any]
    namespace: str = ""
    inspect_only: bool = False
    """The host only looks (``xcore jobs`` lists jobs): start no work of your own (run no job)."""

    def __post_init__(self) -> None:
        if not self.namespace:
            object.__setattr__(self, "namespace", service_namespace(self.app_name, self.name))

    @classmethod
    def standalone(
        cls,
        name: str,
        key_path: str,
        app_name: str = "test",
        plugins: Mapping[str, PluginHandle] | None = None,
        services: Mapping[str, Any] | None = None,
        namespace: str = "",
    ) -> ServiceSetup:
        """A setup for building one service outside a host: a backend's own unit tests, benchmarks.

        ``plugins`` and ``services`` stand in for the host's live plugins and earlier services (read
        at each lookup, so a test may change them); an unknown service name raises the host's ``KeyError``.
        ``namespace`` defaults to the host's, ``<app_name>:<name>:``.
        """
        known_plugins: Mapping[str, PluginHandle] = {} if plugins is None else plugins
        known_services: Mapping[str, Any] = {} if services is None else services

        def service(wanted: str) -> Any:
            if wanted not in known_services:
                from xcore._errors import ServiceNotFoundError

                raise ServiceNotFoundError(wanted, list(known_services))
            return known_services[wanted]

        logger = logging.getLogger(f"xcore.service.{name}")
        return cls(name, key_path, app_name, logger, known_plugins.get, service, namespace)


@dataclass(frozen=True)
class ServiceType:
    """One service type a backend provides: ``kind`` + ``name`` as written in ``integration.yaml``."""

    kind: ServiceKind
    name: str
    config: type[ServiceSettings]
    factory: Callable[[Any, ServiceSetup], Service]
    description: str = ""
