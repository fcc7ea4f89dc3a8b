"""Everything a service backend author uses, in one module (plugin authors use :mod:`xcore.sdk`).

A backend is a distribution with an ``xcore.services`` entry point whose ``xcore_register_service``
hook (``from xcore import hookimpl``) returns :class:`ServiceType` objects; see
docs/writing-a-service-backend.md. The names here are the backend contract: anything else in
``xcore`` may change without notice. Importing this module does not load FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xcore._commands import config_option, fail, run_host, table
from xcore._errors import ConfigError, ServiceError, XcoreError
from xcore._redaction import describe_exception, redact_text
from xcore._services.cancellation import reraise_if_cancelled
from xcore._services.hooks import (
    LIFECYCLE_PROTOCOLS,
    WatchesHostStarted,
    WatchesHostStopping,
    WatchesPluginLoaded,
    WatchesPluginLoading,
    WatchesPluginUnloaded,
    lifecycle_methods,
)
from xcore._services.namespaces import service_namespace
from xcore._services.types import (
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
from xcore.sdk._context import PluginHandle

if TYPE_CHECKING:
    from xcore._builtin_services.email.message import compose
    from xcore._builtin_services.storage.base import Storage, UploadData, read_all
    from xcore._builtin_services.storage.errors import StorageError, StorageNotFoundError, StoragePathError
    from xcore._observability.metrics import Metrics
else:
    # a storage backend's base class and helpers, and email's message builder, loaded on first use
    from xcore._builtin_services.lazy_exports import lazy_exports

    __getattr__ = lazy_exports(
        __name__,
        {
            "Storage": "xcore._builtin_services.storage.base",
            "UploadData": "xcore._builtin_services.storage.base",
            "read_all": "xcore._builtin_services.storage.base",
            "StorageError": "xcore._builtin_services.storage.errors",
            "StorageNotFoundError": "xcore._builtin_services.storage.errors",
            "StoragePathError": "xcore._builtin_services.storage.errors",
            "compose": "xcore._builtin_services.email.message",
        },
    )


def active_metrics() -> Metrics | None:
    """The host's metrics while ``app.metrics`` is on, else ``None``: where a backend counts its cache
    hits, misses and stampede waits and its pool waits, so its users get the built-ins' series
    (docs/observability.md). Looked up per call: the host turns metrics on after backends are imported."""
    from xcore._observability import metrics

    return metrics.ACTIVE


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
    "Storage",
    "StorageError",
    "StorageNotFoundError",
    "StoragePathError",
    "UploadData",
    "WatchesHostStarted",
    "WatchesHostStopping",
    "WatchesPluginLoaded",
    "WatchesPluginLoading",
    "WatchesPluginUnloaded",
    "XcoreError",
    "active_metrics",
    "compose",
    "config_option",
    "describe_exception",
    "fail",
    "lifecycle_methods",
    "read_all",
    "redact_text",
    "reraise_if_cancelled",
    "run_host",
    "service_namespace",
    "table",
]
