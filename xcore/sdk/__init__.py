"""The plugin-author API: ``TrustedBase``, ``ok``/``error``, ``@action`` and the plugin context."""

from xcore.sdk.base import TrustedBase, action
from xcore.sdk.context import PluginContext, PluginHandle
from xcore.sdk.responses import ActionNotFound, error, ok

__all__ = [
    "ActionNotFound",
    "PluginContext",
    "PluginHandle",
    "TrustedBase",
    "action",
    "error",
    "ok",
]
