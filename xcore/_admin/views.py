"""What the admin API and page show, read from the running host (never a second copy of it).

``xcore jobs`` without ``--url`` boots a copy of the app to list jobs; these views read the serving
host's own scheduler, plugins and services, so a job the server ran shows its real last run.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any

from xcore._redaction import redact

if TYPE_CHECKING:
    from xcore._host.facade import Xcore

EVENT_LOG_SIZE = 50


class KernelEventLog:
    """The last :data:`EVENT_LOG_SIZE` kernel events of this process (``xcore.**``), newest first."""

    def __init__(self) -> None:
        self._events: deque[dict[str, Any]] = deque(maxlen=EVENT_LOG_SIZE)
        self.attached = False

    def attach(self, events: Any) -> None:
        if events is not None and not self.attached:
            events.on("xcore.**", self._record)
            self.attached = True

    def _record(self, event: Any) -> None:
        self._events.appendleft(
            {"at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "name": event.name, "data": event.data}
        )

    def rows(self) -> list[dict[str, Any]]:
        return list(self._events)


def plugin_rows(host: Xcore) -> list[dict[str, Any]]:
    """Every application plugin: state, version, error, mount point, requests in flight."""
    return host.runtime.rows()


async def service_rows(host: Xcore) -> list[dict[str, Any]]:
    """Every service: kind, type, providing package, health and latency (checks bounded by app.health_timeout)."""
    health = await host.services.health(host.config.app.health_timeout)
    return [
        {
            "name": e.spec.name, "kind": e.spec.kind, "type": e.spec.type_name,
            "provided_by": e.registered.distribution or e.registered.provider,
            "health": health[e.spec.name]["status"], "latency_ms": health[e.spec.name]["latency_ms"],
            "error": health[e.spec.name].get("error"),
        }
        for e in host.services.entries()
    ]  # fmt: skip


async def job_rows(host: Xcore) -> list[dict[str, Any]]:
    """The serving host's scheduled jobs: plugin, id, trigger, next run, last outcome."""
    from xcore._builtin_services.scheduler.cli import list_jobs

    rows: list[dict[str, Any]] = await list_jobs(host)
    return rows


def scrubbed(value: Any, secrets: Any) -> Any:
    """``value`` with every secret of the configuration (and URL passwords) masked, for admin output."""
    return redact(value, secrets=secrets)


__all__ = ["EVENT_LOG_SIZE", "KernelEventLog", "job_rows", "plugin_rows", "scrubbed", "service_rows"]
