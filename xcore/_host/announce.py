"""Kernel events (:mod:`xcore._events.kernel`): what the host tells plugins about itself, through ``events``."""

from __future__ import annotations

import logging
from typing import Any

from xcore._services.container import ServiceContainer

log = logging.getLogger("xcore")


async def announce(services: ServiceContainer, name: str, data: dict[str, Any]) -> None:
    """Emit kernel event ``name`` when an events service exists; a failing delivery is logged only."""
    await announce_on(services.get_or_none("events"), name, data)


async def announce_on(bus: Any, name: str, data: dict[str, Any]) -> None:
    """Emit kernel event ``name`` on ``bus`` (nothing if ``None``); a failing delivery is logged only."""
    if bus is None:
        return
    try:
        await bus.emit(name, data, source="xcore")
    except Exception:
        log.exception("kernel event %s could not be delivered", name)
