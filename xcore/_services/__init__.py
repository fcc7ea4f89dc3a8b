"""Service types, the service lifecycle protocol and the container that holds built services."""

from xcore._services.types import (
    SERVICE_KINDS,
    PluginScoped,
    Service,
    ServiceBase,
    ServiceKind,
    ServiceSettings,
    ServiceSetup,
    ServiceType,
)

__all__ = [
    "SERVICE_KINDS",
    "PluginScoped",
    "Service",
    "ServiceBase",
    "ServiceKind",
    "ServiceSettings",
    "ServiceSetup",
    "ServiceType",
]
