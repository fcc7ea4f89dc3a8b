"""Building one service the way the host does, for the conformance suites.

The suites must test a backend through the path production uses: the service types that installed
packages declare with ``xcore_register_service`` (entry point group ``xcore.services``), the
``ServiceTypeRegistry`` lookup, settings validated by the type's own model with errors naming the key
path, the factory, ``start()``, and ``close()`` through the ``ServiceContainer``. Only the one service
under test is built, so a suite does not depend on any other backend being installed or healthy.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import importlib_metadata
import pluggy

from xcore import hookspecs
from xcore.errors import ConfigError, ServiceError
from xcore.services.container import ServiceContainer, ServiceSpec, ServiceTypeRegistry
from xcore.services.types import ServiceKind, ServiceType

log = logging.getLogger("xcore.conformance")

SERVICES_GROUP = "xcore.services"

SELECTOR: dict[ServiceKind, str] = {
    "database": "type", "extension": "type", "cache": "backend", "scheduler": "backend", "events": "backend",
}  # fmt: skip
"""The key of a config section that names its service type."""


def collect_service_types(plugins: Mapping[str, object] | None = None) -> tuple[ServiceTypeRegistry, list[str]]:
    """Every service type of the installed backends, plus those of ``plugins`` (objects not installed).

    Returns the registry and a line per backend that could not be imported, so that an unknown-type
    error can say why a type one expected is missing.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    distributions: dict[str, str | None] = {}
    broken: list[str] = []
    for ep in importlib_metadata.entry_points(group=SERVICES_GROUP):
        try:
            obj = ep.load()
            pm.register(obj() if isinstance(obj, type) else obj, name=ep.name)
        except Exception as exc:
            broken.append(f"{ep.name} ({ep.value}): {type(exc).__name__}: {exc}")
            continue
        distributions[ep.name] = ep.dist.name if ep.dist is not None else None
    for name, obj in (plugins or {}).items():
        pm.register(obj() if isinstance(obj, type) else obj, name=name)
        distributions[name] = None
    registry = ServiceTypeRegistry()
    for impl in pm.hook.xcore_register_service.get_hookimpls():
        declared = impl.function()
        items = declared if isinstance(declared, list | tuple) else [declared] if declared else []
        for item in items:
            if not isinstance(item, ServiceType):
                raise ConfigError(f"plugin {impl.plugin_name!r}: xcore_register_service returned {item!r}, "
                                  "expected xcore.services.ServiceType objects")  # fmt: skip
            registry.add(item, impl.plugin_name, distributions.get(impl.plugin_name))
    return registry, broken


def service_identity(kind: ServiceKind, name: str) -> tuple[str, str]:
    """``(service name, config key path)`` for a section called ``name`` of ``kind``."""
    if kind == "database":
        return name, f"services.databases.{name}"
    if kind == "extension":
        return f"ext.{name}", f"services.extensions.{name}"
    return kind, f"services.{kind}"


@asynccontextmanager
async def running_service(
    kind: ServiceKind,
    config: Mapping[str, Any],
    *,
    name: str | None = None,
    plugins: Mapping[str, object] | None = None,
    app_name: str = "xcore-conformance",
) -> AsyncIterator[Any]:
    """Build and start the service that ``config`` (an ``integration.yaml`` section) describes.

    ``config`` includes its selector (``type: s3``, ``backend: redis``). ``name`` is the section's
    key (``default`` for a database, ``storage`` for ``services.extensions.storage``). A ``start()``
    that fails raises :class:`~xcore.errors.ServiceError` here: a conformance run needs a working
    service. The service is closed on exit.
    """
    section = dict(config)
    selector = SELECTOR[kind]
    section_name = name or {"database": "default", "extension": "service"}.get(kind, kind)
    service_name, key_path = service_identity(kind, section_name)
    if selector not in section:
        raise ConfigError(f"{key_path}.{selector}: required key is missing (it names the {kind} type)")
    type_name = str(section.pop(selector))
    registry, broken = collect_service_types(plugins)
    try:
        registry.lookup(kind, type_name, key_path)
    except ConfigError as exc:
        hint = (" The suite finds types through installed entry points (group xcore.services): install the"
                " backend's package (pip install -e .) or hand its module in the service_plugins fixture.")  # fmt: skip
        if broken:
            hint += f" Backends that failed to import: {'; '.join(broken)}"
        raise ConfigError(f"{exc}{hint}") from None
    container = ServiceContainer()
    spec = ServiceSpec(service_name, kind, type_name, key_path, section)
    try:
        await container.build([spec], registry, app_name=app_name, plugins=lambda _name: None)
        entry = container.entry(service_name)
        if entry.start_error is not None:
            raise ServiceError(f"{key_path}: {kind} {type_name!r} failed to start: {entry.start_error}")
        yield entry.service
    finally:
        await container.close()
