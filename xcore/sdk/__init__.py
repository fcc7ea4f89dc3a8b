"""The plugin-author API: ``TrustedBase``, ``ok``/``error``, ``@action`` and the plugin context.

``@on_event`` (``xcore.events.on``), ``@cron``/``@interval`` (scheduled methods), ``@cached``
(cached methods), ``AutoDispatchMixin``, ``RoutedPlugin``/``@route``, ``@validate_payload`` and
``@require_service`` are the original XCore SDK's names, each mapped onto what XCore already does.
"""

from xcore.events.marks import on as on_event
from xcore.sdk.base import TrustedBase, action
from xcore.sdk.caching import cached
from xcore.sdk.context import PluginContext, PluginHandle
from xcore.sdk.guards import require_service, validate_payload
from xcore.sdk.mixins import AutoDispatchMixin, RoutedPlugin, route
from xcore.sdk.responses import ActionNotFound, error, ok
from xcore.sdk.scheduling import cron, interval
from xcore.sdk.tasks import current_task, report_progress, task

__all__ = [
    "ActionNotFound",
    "AutoDispatchMixin",
    "PluginContext",
    "PluginHandle",
    "RoutedPlugin",
    "TrustedBase",
    "action",
    "cached",
    "cron",
    "current_task",
    "error",
    "interval",
    "ok",
    "on_event",
    "report_progress",
    "require_service",
    "route",
    "task",
    "validate_payload",
]
