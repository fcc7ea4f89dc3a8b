"""The plugin-author API: ``TrustedBase``, ``ok``/``error``, ``@action`` and the plugin context.

``@on_event`` (``xcore.events.on``), ``@cron``/``@interval`` (scheduled methods) and ``@cached``
(cached methods) are the original XCore SDK's decorators, each mapped onto the XCore service that
does the work.
"""

from xcore.events.marks import on as on_event
from xcore.sdk.base import TrustedBase, action
from xcore.sdk.caching import cached
from xcore.sdk.context import PluginContext, PluginHandle
from xcore.sdk.responses import ActionNotFound, error, ok
from xcore.sdk.scheduling import cron, interval

__all__ = [
    "ActionNotFound",
    "PluginContext",
    "PluginHandle",
    "TrustedBase",
    "action",
    "cached",
    "cron",
    "error",
    "interval",
    "ok",
    "on_event",
]
