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
