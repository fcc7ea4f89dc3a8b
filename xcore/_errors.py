"""Errors XCore raises on purpose. Each message names the key, value or plugin at fault."""

from __future__ import annotations

from xcore._suggestions import did_you_mean


class XcoreError(Exception):
    """Base of every error XCore raises on purpose."""


class ConfigError(XcoreError):
    """``integration.yaml`` is invalid; the message is one paragraph naming the key path."""


class ServiceNotFoundError(XcoreError, KeyError):
    """``get_service(name)`` for a name no service has. A ``KeyError``, as plugin code expects."""

    def __init__(self, name: str, available: list[str]) -> None:
        self.name = name
        self.available = sorted(available)
        XcoreError.__init__(
            self,
            f"no service named {name!r}.{did_you_mean(name, self.available)} "
            f"Available services: {', '.join(self.available) or '(none)'}",
        )

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ServiceError(XcoreError):
    """A service could not be built or started; the message names its config key path."""


class PluginNotFoundError(XcoreError, LookupError):
    """A call named a plugin that is not loaded."""


class BootError(XcoreError):
    """Boot stopped: a required service failed, or a plugin failed under ``strict: true``."""
