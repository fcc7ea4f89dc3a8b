"""What a plugin receives from the host: its context and the handle others use to reach it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class PluginHandle:
    """The live plugin as the host knows it: its name and the object registered with pluggy.

    ``instance`` is the ``TrustedBase`` instance or the module carrying the hook functions;
    services that must reach a live plugin (the scheduler running a persisted job) go through it.
    """

    name: str
    instance: Any
    version: str | None = None
    distribution: str | None = None


class PluginCaller:
    """``ctx.plugins``: other plugins' actions, ``await ctx.plugins.call(plugin, action, payload)``.

    The original XCore's spelling of ``ctx.call``; one implementation, the host's ``call``.
    """

    __slots__ = ("call",)

    def __init__(self, call: Callable[[str, str, dict[str, Any] | None], Awaitable[dict[str, Any]]]) -> None:
        self.call = call


class AppView:
    """``ctx.config.app``: the host's ``app`` settings as the original XCore showed them to plugins.

    Read-only; ``secret_key`` is handed over as the plain string a plugin signs tokens with (it
    is the plugin's to use, as in the original), while ``repr`` never shows it.
    """

    __slots__ = ("_app",)

    def __init__(self, app: Any) -> None:
        self._app = app

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._app, name)
        unwrap = getattr(value, "get_secret_value", None)
        return unwrap() if name == "secret_key" and unwrap is not None else value

    def __repr__(self) -> str:
        return f"<app {self._app.name!r} env={self._app.env!r}>"


class PluginSettings(dict[str, Any]):
    """``ctx.config``: the plugin's ``plugins.settings.<name>``, a plain dict.

    Two attributes keep the original XCore's spellings working: ``.app`` (the host's ``app``
    section, see :class:`AppView`) and ``.env`` (``app.env``, e.g. ``"production"``).
    """

    def __init__(self, settings: Mapping[str, Any] | None = None, app: Any = None) -> None:
        super().__init__(settings or {})
        self._app = AppView(app) if app is not None else None

    @property
    def app(self) -> AppView:
        if self._app is None:
            raise AttributeError("ctx.config.app is only set for plugins loaded by a host")
        return self._app

    @property
    def env(self) -> str:
        return str(self.app.env)


@dataclass(eq=False)
class PluginContext:
    """Everything a plugin may use, handed to it before ``on_load``.

    ``config`` holds the plugin's settings from ``plugins.settings.<name>`` in ``integration.yaml``;
    ``services`` is a read-only mapping of service name to service (``db``, ``cache``,
    ``scheduler``, ``ext.<name>``, and each database by its config key); ``call`` runs another
    plugin's action in process; ``events`` is the event bus as seen by this plugin.
    """

    name: str
    config: Mapping[str, Any]
    services: Mapping[str, Any]
    logger: logging.Logger
    call: Callable[[str, str, dict[str, Any] | None], Awaitable[dict[str, Any]]]
    events: Any = None
    handle: PluginHandle | None = field(default=None, repr=False)
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    """The environment ``integration.yaml`` was expanded from (``os.environ`` over the ``.env`` file)."""

    def get_service(self, name: str) -> Any:
        """``ctx.services[name]``; the original XCore's spelling."""
        return self.services[name]

    @property
    def plugins(self) -> PluginCaller:
        """``await ctx.plugins.call(plugin, action, payload)``: the same as ``ctx.call``."""
        return PluginCaller(self.call)

    @property
    def version(self) -> str | None:
        """The plugin's distribution version (``None`` for a local or given plugin)."""
        return self.handle.version if self.handle is not None else None
