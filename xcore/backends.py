"""Everything a service backend author uses, in one module (plugin authors use :mod:`xcore.sdk`).

A backend is a distribution with an ``xcore.services`` entry point whose ``xcore_register_service``
hook (``from xcore import hookimpl``) returns :class:`ServiceType` objects; see
docs/writing-a-service-backend.md. The names here are the backend contract: anything else in
``xcore`` may change without notice. Importing this module does not load FastAPI.
"""

from __future__ import annotations

from xcore._commands import fail, run_host, table
from xcore.errors import ConfigError, ServiceError, XcoreError
from xcore.redaction import describe_exception, redact_text
from xcore.sdk.context import PluginHandle
from xcore.services.cancellation import reraise_if_cancelled
from xcore.services.hooks import (
    LIFECYCLE_PROTOCOLS,
    WatchesHostStarted,
    WatchesHostStopping,
    WatchesPluginLoaded,
    WatchesPluginLoading,
    WatchesPluginUnloaded,
    lifecycle_methods,
)
from xcore.services.namespaces import service_namespace
from xcore.services.types import (
    SERVICE_KINDS,
    ConfiguredSection,
    PluginScoped,
    Service,
    ServiceBase,
    ServiceKind,
    ServiceSettings,
    ServiceSetup,
    ServiceType,
    SettingsContext,
)

__all__ = [
    "LIFECYCLE_PROTOCOLS",
    "SERVICE_KINDS",
    "ConfigError",
    "ConfiguredSection",
    "PluginHandle",
    "PluginScoped",
    "Service",
    "ServiceBase",
    "ServiceError",
    "ServiceKind",
    "ServiceSettings",
    "ServiceSetup",
    "ServiceType",
    "SettingsContext",
    "WatchesHostStarted",
    "WatchesHostStopping",
    "WatchesPluginLoaded",
    "WatchesPluginLoading",
    "WatchesPluginUnloaded",
    "XcoreError",
    "describe_exception",
    "fail",
    "lifecycle_methods",
    "redact_text",
    "reraise_if_cancelled",
    "run_host",
    "service_namespace",
    "table",
]
