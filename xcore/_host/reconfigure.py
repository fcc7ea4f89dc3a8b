"""Re-reading the configuration of a serving host (``SIGHUP``, or the admin API's ``reload-config``).

The file is read and validated exactly as a boot would (``${VAR}`` expansion, every service section
by its type, the plugin names under ``app.strict``); a file that a boot would refuse is refused here
with the same one-paragraph error naming the key, and the running configuration stays as it was.

What is applied without a restart: ``plugins.enabled``, ``plugins.disabled`` and ``plugins.settings``
(a plugin whose settings changed is unloaded and loaded again, since settings reach it at load). Every
other difference (a service section, ``app.*``, ``plugins.local`` / ``directory`` / ``sandboxed``) is
reported by its key path under ``needs_restart`` and not applied: services hold connections and
state that cannot be swapped under requests in flight. Values are never reported, only key paths, so
a reply cannot show a secret.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from xcore._config.loader import LoadedConfig, load_config
from xcore._config.models import XcoreConfig
from xcore._errors import ConfigError, XcoreError
from xcore._host.registry import PluginRegistry
from xcore._host.runtime import PluginRuntime
from xcore._redaction import secret_values
from xcore._services.container import ServiceContainer

log = logging.getLogger("xcore")

LIVE_PLUGIN_KEYS = frozenset({"enabled", "disabled", "settings"})
"""The ``plugins.*`` keys a reload applies; any other difference needs a restart."""


def restart_needed(old: XcoreConfig, new: XcoreConfig) -> list[str]:
    """Key paths (``services.cache``, ``app.load_timeout``...) that differ and are not applied live."""
    before, after = old.model_dump(), new.model_dump()
    changed: list[str] = []
    for section in sorted(set(before) | set(after)):
        old_section, new_section = before.get(section), after.get(section)
        if not isinstance(old_section, dict) or not isinstance(new_section, dict):
            if old_section != new_section:
                changed.append(section)
            continue
        for key in sorted(set(old_section) | set(new_section)):
            if section == "plugins" and key in LIVE_PLUGIN_KEYS:
                continue
            if _plain(old_section.get(key)) != _plain(new_section.get(key)):
                changed.append(f"{section}.{key}")
    return changed


def _plain(value: Any) -> Any:
    """``SecretStr`` values compared by what they hold (their repr is always masked)."""
    getter = getattr(value, "get_secret_value", None)
    return getter() if callable(getter) else value


def validated(loaded: LoadedConfig, given: Any, discover: bool = True) -> LoadedConfig:
    """The configuration file of ``loaded`` read again and checked as a boot checks it; ``ConfigError`` if bad."""
    if loaded.path is None:
        raise ConfigError("this host was not started from a configuration file: there is nothing to re-read")
    new = load_config(loaded.path)
    secrets = secret_values(new.raw)
    registry = PluginRegistry(new.config, secrets, given=given, discover=discover)
    registry.prepare(ServiceContainer(secrets))  # every service section by its type; plugin names under strict
    registry.unregister_all()
    return new


class ConfigReloader:
    """Applies a re-read configuration to one host; also the ``SIGHUP`` handler while it serves."""

    def __init__(self, loaded: LoadedConfig, runtime: PluginRuntime, given: Any, discover: bool = True) -> None:
        self._loaded = loaded
        self._discover = discover
        self._runtime = runtime
        self._given = given
        self._signal_loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[dict[str, Any]] | None = None
        self.last: dict[str, Any] | None = None
        """The report of the latest reload (the admin page shows it)."""

    async def reload(self) -> dict[str, Any]:
        """Re-read and apply: ``{"status": "applied", "plugins": [...], "needs_restart": [...]}``.

        A refused file raises :class:`~xcore.errors.ConfigError`; nothing was changed.
        """
        try:
            new = validated(self._loaded, self._given, self._discover)
        except XcoreError as exc:
            self.last = {"status": "refused", "error": str(exc)}
            log.error("configuration reload refused, the running configuration is kept: %s", exc)
            raise
        needs_restart = restart_needed(self._loaded.config, new.config)
        changes = await self._runtime.apply_plugins(new.config)
        self.last = {"status": "applied", "plugins": changes, "needs_restart": needs_restart}
        log.info(
            "configuration reloaded from %s: %d plugin change(s)%s",
            self._loaded.path,
            len(changes),
            f"; needs a restart to apply: {', '.join(needs_restart)}" if needs_restart else "",
        )
        return self.last

    def watch_signal(self) -> None:
        """Reload on ``SIGHUP`` (the running loop's handler; not on platforms or threads without one)."""
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, self._on_signal)
        except (NotImplementedError, RuntimeError, ValueError, AttributeError):
            # Windows, or a loop outside the main thread (an embedded host): the admin call still works
            log.info("SIGHUP does not reload the configuration in this process; use xcore config reload --url")
            return
        self._signal_loop = loop

    def stop_watching(self) -> None:
        if self._signal_loop is not None:
            self._signal_loop.remove_signal_handler(signal.SIGHUP)
            self._signal_loop = None

    def _on_signal(self) -> None:
        if self._task is not None and not self._task.done():
            log.warning("SIGHUP: a configuration reload is already running; this signal is ignored")
            return
        log.info("SIGHUP: re-reading the configuration from %s", self._loaded.path)
        self._task = asyncio.ensure_future(self._reload_logged())

    async def _reload_logged(self) -> dict[str, Any]:
        try:
            return await self.reload()
        except XcoreError:
            return self.last or {}


__all__ = ["LIVE_PLUGIN_KEYS", "ConfigReloader", "restart_needed", "validated"]
