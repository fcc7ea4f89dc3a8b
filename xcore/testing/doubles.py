"""Test doubles for services, plugged in through the same hook every real backend uses.

A test hands ``{"cache": fake}``; :func:`config_with_doubles` points that service's config section at
the service type ``test-double``, and :class:`ServiceDoubles` (given to the host as one more plugin)
registers that type for every service kind, its factory returning the fake. The host then builds,
health-checks and closes the fake like any service, and plugins get it from ``get_service`` exactly as
they would get the real one: no host internals are patched.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from xcore._config.models import EMBEDDED_DEFAULTS
from xcore._hookspecs import hookimpl
from xcore._services.types import SERVICE_KINDS, ServiceBase, ServiceSettings, ServiceSetup, ServiceType

DOUBLE_TYPE = "test-double"
"""The service type name a replaced service's config section is given."""

PROVIDER_NAME = "xcore-test-doubles"
"""The name the doubles provider is registered under (it shows in ``host.plugins``)."""

_SINGLE_SERVICES = ("cache", "scheduler", "events")


class DoubleSettings(ServiceSettings):
    """A test double takes no settings: the object itself is the configuration."""


class LifecycleProxy(ServiceBase):
    """Gives a bare fake the ``start``/``health``/``close`` the host calls; everything else is the fake's.

    Used only for fakes that lack those methods. A fake subclassing ``ServiceBase`` is handed to plugins
    as itself (so ``plugin.cache is fake`` holds).
    """

    def __init__(self, wrapped: object) -> None:
        self.wrapped = wrapped

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)

    def __repr__(self) -> str:
        return f"<test double {self.wrapped!r}>"


def as_service(fake: object) -> Any:
    """``fake`` itself if it has the service lifecycle, else a proxy adding no-op lifecycle methods."""
    if all(callable(getattr(fake, method, None)) for method in ("start", "health", "close")):
        return fake
    return LifecycleProxy(fake)


class ServiceDoubles:
    """A plugin registering the ``test-double`` type of every service kind; built by service name."""

    def __init__(self, doubles: Mapping[str, object]) -> None:
        self.doubles = dict(doubles)

    def _build(self, settings: DoubleSettings, setup: ServiceSetup) -> Any:
        return as_service(self.doubles[setup.name])

    @hookimpl
    def xcore_register_service(self) -> list[ServiceType]:
        return [
            ServiceType(kind, DOUBLE_TYPE, DoubleSettings, self._build, "a test double given to the testing kit")
            for kind in SERVICE_KINDS
        ]


def config_with_doubles(
    config: Mapping[str, Any], doubles: Mapping[str, object]
) -> tuple[dict[str, Any], ServiceDoubles]:
    """A copy of ``config`` whose sections for the ``doubles`` names use the ``test-double`` type.

    Names are service names: ``db`` (the first database), a database key such as ``default`` or
    ``redis_db`` (a new key adds a database), ``cache``, ``scheduler``, ``events``, ``ext.<name>``.
    Sections the config leaves out keep their embedded defaults, so replacing ``cache`` does not drop
    the default SQLite database.
    """
    result = copy.deepcopy(dict(config))
    services = result.setdefault("services", {})
    by_service_name: dict[str, object] = {}
    for name, fake in doubles.items():
        if name in _SINGLE_SERVICES:
            services[name] = {"backend": DOUBLE_TYPE}
            by_service_name[name] = fake
        elif name.startswith("ext."):
            extensions = _section(services, "extensions")
            extensions[name.removeprefix("ext.")] = {"type": DOUBLE_TYPE}
            by_service_name[name] = fake
        else:
            databases = _section(services, "databases")
            key = next(iter(databases), "default") if name == "db" else name
            databases[key] = {"type": DOUBLE_TYPE}
            by_service_name[key] = fake
    return result, ServiceDoubles(by_service_name)


def _section(services: dict[str, Any], name: str) -> dict[str, Any]:
    """``services[name]``, filled with the embedded defaults when the config leaves it out."""
    if services.get(name) is None:
        services[name] = copy.deepcopy(EMBEDDED_DEFAULTS[name])
    section: dict[str, Any] = services[name]
    return section
