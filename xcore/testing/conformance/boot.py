"""Building one service through a real host, for the conformance suites.

A suite must test a backend through the path production uses, so the service comes from an
:class:`~xcore.Xcore` host booted with a config in which the section under test is the only service
(every other section off, see :func:`xcore.testing.configs.no_services`): the host finds the type
among the installed backends (entry point group ``xcore.services``) and the ``service_plugins`` handed
to it, validates the section with the type's settings model (errors name the key path), builds it with
the type's factory, starts it, and closes it at shutdown. Nothing here re-implements any of that.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from xcore._errors import ConfigError, ServiceError
from xcore._host.facade import Xcore
from xcore._services.types import ServiceKind
from xcore.testing.configs import no_services

SELECTOR: dict[ServiceKind, str] = {
    "database": "type", "extension": "type", "cache": "backend", "scheduler": "backend", "events": "backend",
}  # fmt: skip
"""The key of a config section that names its service type."""

CONFORMANCE_APP = "xcore-conformance"
"""The app name of the hosts the suites boot (so the services' namespaces are ``xcore-conformance:<name>:``)."""

DEFAULT_SECTION: dict[ServiceKind, str] = {"database": "default", "extension": "service"}
"""The section name used when none is given (the single services are named by their kind)."""


def service_identity(kind: ServiceKind, name: str) -> tuple[str, str]:
    """``(service name, config key path)`` for a section called ``name`` of ``kind``."""
    if kind == "database":
        return name, f"services.databases.{name}"
    if kind == "extension":
        return f"ext.{name}", f"services.extensions.{name}"
    return kind, f"services.{kind}"


def only_service(kind: ServiceKind, name: str, section: Mapping[str, Any]) -> dict[str, Any]:
    """The ``services`` config in which ``section`` (called ``name``, of ``kind``) is the only service."""
    if kind == "database":
        return no_services(databases={name: dict(section)})
    if kind == "extension":
        return no_services(extensions={name: dict(section)})
    return no_services(**{kind: dict(section)})


@asynccontextmanager
async def running_service(
    kind: ServiceKind,
    config: Mapping[str, Any],
    *,
    name: str | None = None,
    plugins: Mapping[str, object] | None = None,
    app_name: str = CONFORMANCE_APP,
) -> AsyncIterator[Any]:
    """Boot a host whose only service is the one ``config`` (an ``integration.yaml`` section) describes.

    ``config`` includes its selector (``type: s3``, ``backend: redis``). ``name`` is the section's
    key (``default`` for a database, ``storage`` for ``services.extensions.storage``). ``plugins``
    are backends that are not installed (modules or objects carrying ``xcore_register_service``).
    Yields ``host.get_service(...)``. A ``start()`` that fails raises
    :class:`~xcore.errors.ServiceError` here: a conformance run needs a working service. The host is
    shut down (the service closed) on exit.
    """
    section_name = name or DEFAULT_SECTION.get(kind, kind)
    service_name, key_path = service_identity(kind, section_name)
    app = {"name": app_name, "health_interval": 0}  # no background health checks during a test
    host = Xcore(config={"app": app, "services": only_service(kind, section_name, config)},
                 plugins=plugins, discover=False)  # fmt: skip
    try:
        host.prepare()
    except ConfigError as exc:
        type_name = config.get(SELECTOR[kind])
        if type_name is None or str(type_name) in host.registry.service_types.of_kind(kind):
            raise
        raise ConfigError(f"{exc}{_unknown_type_hint(host)}") from None
    await host.boot()  # a factory error or a required service's failed start raises; the host cleans up
    try:
        entry = host.services.entry(service_name)
        if entry.start_error is not None:
            raise ServiceError(f"{key_path}: {kind} {entry.spec.type_name!r} failed to start: {entry.start_error}")
        yield host.get_service(service_name)
    finally:
        await host.shutdown()


async def settings_error(
    kind: ServiceKind,
    config: Mapping[str, Any],
    *,
    name: str | None = None,
    plugins: Mapping[str, object] | None = None,
) -> ConfigError:
    """The :class:`~xcore.errors.ConfigError` a host raises for the section ``config``, to test its text.

    Arguments as for :func:`running_service`. Raises ``AssertionError`` if the section is accepted.
    """
    try:
        async with running_service(kind, config, name=name, plugins=plugins):
            pass
    except ConfigError as exc:
        return exc
    _, key_path = service_identity(kind, name or DEFAULT_SECTION.get(kind, kind))
    raise AssertionError(f"{key_path}: the section was accepted and the service started; expected a ConfigError")


def _unknown_type_hint(host: Xcore) -> str:
    """Where a type comes from, and which backends the host could not load (so why one may be missing)."""
    hint = (" The suite finds types through installed entry points (group xcore.services): install the"
            " backend's package (pip install -e .) or hand its module in the service_plugins fixture.")  # fmt: skip
    failed = [f"{r.name} ({r.source.target}): {r.error}" for r in host.plugins if r.state == "failed"]
    if failed:
        hint += f" Backends that failed to load: {'; '.join(failed)}"
    return hint
