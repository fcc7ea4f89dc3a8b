"""The plugin-author API: ``TrustedBase``, ``ok``/``error``, ``@action`` and the plugin context.

``@on_event`` (``xcore.events.on``), ``@cron``/``@interval`` (scheduled methods), ``@cached``
(cached methods), ``AutoDispatchMixin``, ``RoutedPlugin``/``@route``, ``@validate_payload`` and
``@require_service`` are the original XCore SDK's names, each mapped onto what XCore already does.
``@on`` subscribes a method to events; the service classes (``SqlDatabase``, ``Cache``...) are here for
``get_service(name, SqlDatabase)`` and annotations, imported on first use so that ``import xcore.sdk``
does not load SQLAlchemy, redis-py or APScheduler. ``kernel_events`` names the host's own events.
"""

from typing import TYPE_CHECKING

from xcore.errors import PluginNotFoundError, ServiceError, ServiceNotFoundError, XcoreError
from xcore.events import kernel as kernel_events
from xcore.events.marks import on
from xcore.events.marks import on as on_event
from xcore.events.view import EventsView
from xcore.sdk.base import TrustedBase, action
from xcore.sdk.caching import cached
from xcore.sdk.context import PluginContext, PluginHandle
from xcore.sdk.guards import require_service, validate_payload
from xcore.sdk.mixins import AutoDispatchMixin, RoutedPlugin, route
from xcore.sdk.responses import ActionNotFound, error, ok
from xcore.sdk.scheduling import cron, interval
from xcore.sdk.tasks import current_task, report_progress, task

if TYPE_CHECKING:
    from xcore.builtin_services.cache.base import Cache
    from xcore.builtin_services.email.smtp import SmtpEmail
    from xcore.builtin_services.redis_db.service import RedisDatabase
    from xcore.builtin_services.scheduler.view import PluginScheduler
    from xcore.builtin_services.sql.service import SqlDatabase
    from xcore.builtin_services.sqlasync.service import AsyncSqlDatabase
    from xcore.builtin_services.storage.base import Storage
else:
    from xcore.builtin_services.lazy_exports import lazy_exports

    __getattr__ = lazy_exports(
        __name__,
        {
            "AsyncSqlDatabase": "xcore.builtin_services.sqlasync.service",
            "Cache": "xcore.builtin_services.cache.base",
            "PluginScheduler": "xcore.builtin_services.scheduler.view",
            "RedisDatabase": "xcore.builtin_services.redis_db.service",
            "SmtpEmail": "xcore.builtin_services.email.smtp",
            "SqlDatabase": "xcore.builtin_services.sql.service",
            "Storage": "xcore.builtin_services.storage.base",
        },
    )

__all__ = [
    "ActionNotFound",
    "AsyncSqlDatabase",
    "AutoDispatchMixin",
    "Cache",
    "EventsView",
    "PluginContext",
    "PluginHandle",
    "PluginNotFoundError",
    "PluginScheduler",
    "RedisDatabase",
    "RoutedPlugin",
    "ServiceError",
    "ServiceNotFoundError",
    "SmtpEmail",
    "SqlDatabase",
    "Storage",
    "TrustedBase",
    "XcoreError",
    "action",
    "cached",
    "cron",
    "current_task",
    "error",
    "interval",
    "kernel_events",
    "ok",
    "on",
    "on_event",
    "report_progress",
    "require_service",
    "route",
    "task",
    "validate_payload",
]
