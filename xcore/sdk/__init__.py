"""The plugin-author API: ``TrustedBase``, ``ok``/``error``, ``@action`` and the plugin context.

``@on_event`` (``xcore.events.on``), ``@cron``/``@interval`` (scheduled methods), ``@cached``
(cached methods), ``AutoDispatchMixin``, ``RoutedPlugin``/``@route``, ``@validate_payload`` and
``@require_service`` are the original XCore SDK's names, each mapped onto what XCore already does.
``@on`` subscribes a method to events; the service classes (``SqlDatabase``, ``Cache``...) are here for
``get_service(name, SqlDatabase)`` and annotations, imported on first use so that ``import xcore.sdk``
does not load SQLAlchemy, redis-py or APScheduler. ``kernel_events`` names the host's own events.
"""

from typing import TYPE_CHECKING

from xcore._errors import PluginNotFoundError, ServiceError, ServiceNotFoundError, XcoreError
from xcore._events import kernel as kernel_events
from xcore._events.marks import on
from xcore._events.marks import on as on_event
from xcore._events.view import EventsView
from xcore.sdk._base import TrustedBase, action
from xcore.sdk._caching import cached
from xcore.sdk._context import PluginContext, PluginHandle
from xcore.sdk._guards import require_service, validate_payload
from xcore.sdk._mixins import AutoDispatchMixin, RoutedPlugin, route
from xcore.sdk._responses import ActionNotFound, error, ok
from xcore.sdk._scheduling import cron, interval
from xcore.sdk._tasks import current_task, report_progress, task

if TYPE_CHECKING:
    from xcore._builtin_services.cache.base import Cache
    from xcore._builtin_services.email.smtp import SmtpEmail
    from xcore._builtin_services.redis_db.service import RedisDatabase
    from xcore._builtin_services.scheduler.view import PluginScheduler
    from xcore._builtin_services.sql.service import SqlDatabase
    from xcore._builtin_services.sqlasync.service import AsyncSqlDatabase
    from xcore._builtin_services.storage.base import Storage
else:
    from xcore._builtin_services.lazy_exports import lazy_exports

    __getattr__ = lazy_exports(
        __name__,
        {
            "AsyncSqlDatabase": "xcore._builtin_services.sqlasync.service",
            "Cache": "xcore._builtin_services.cache.base",
            "PluginScheduler": "xcore._builtin_services.scheduler.view",
            "RedisDatabase": "xcore._builtin_services.redis_db.service",
            "SmtpEmail": "xcore._builtin_services.email.smtp",
            "SqlDatabase": "xcore._builtin_services.sql.service",
            "Storage": "xcore._builtin_services.storage.base",
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
