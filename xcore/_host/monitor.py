"""Health: one report over services and plugins, and the periodic monitor that announces changes.

``report`` runs every service's and plugin's check concurrently, each bounded by
``app.health_timeout``; a service turning unhealthy or recovering is announced once per transition
(kernel events ``service unhealthy`` / ``service recovered``). With ``app.health_interval > 0`` the
monitor task runs ``report`` in the background for the host's lifetime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any

from xcore._events import kernel
from xcore._host.announce import announce
from xcore._plugins import PluginRecord
from xcore._redaction import describe_exception, redact_text
from xcore._services.cancellation import reraise_if_cancelled
from xcore._services.container import ServiceContainer

log = logging.getLogger("xcore")


class HealthMonitor:
    """The health report of one host, and its background monitor."""

    def __init__(
        self,
        services: ServiceContainer,
        plugins: Callable[[], Iterable[PluginRecord]],
        *,
        timeout: float,
        secrets: Collection[str],
    ) -> None:
        self._services = services
        self._plugins = plugins
        self._timeout = timeout
        self._secrets = secrets
        self._service_healthy: dict[str, bool] = {}
        self._task: asyncio.Task[None] | None = None

    async def report(self) -> dict[str, Any]:
        """Services (concurrent checks, each bounded) and plugins, with an overall status."""
        services, plugins = await asyncio.gather(self._services.health(self._timeout), self._plugins_health())
        await self._track(services)
        healthy = all(s["status"] == "ok" for s in services.values()) and all(
            p["status"] == "ok" for p in plugins.values()
        )
        return {"status": "ok" if healthy else "error", "services": services, "plugins": plugins}

    def note_start_errors(self) -> None:
        """Services that failed to start count as unhealthy, so their recovery is announced."""
        for entry in self._services.entries():
            if entry.start_error is not None:
                self._service_healthy[entry.spec.name] = False

    def start(self, interval: float, check: Callable[[], Awaitable[Any]] | None = None) -> None:
        """Run ``check`` (default: :meth:`report`) every ``interval`` seconds until :meth:`stop`."""
        if interval > 0:
            self._task = asyncio.create_task(self._monitor(interval, check or self.report), name="xcore-health-monitor")

    async def stop(self) -> None:
        """Cancel the monitor task and wait for it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _plugins_health(self) -> dict[str, dict[str, Any]]:
        records = [r for r in self._plugins() if r.state != "disabled"]
        results = await asyncio.gather(*(self._plugin_health(r) for r in records))
        return {r.name: res for r, res in zip(records, results, strict=True)}

    async def _plugin_health(self, record: PluginRecord) -> dict[str, Any]:
        if record.state != "loaded":
            return {"status": "error", "state": record.state, "error": record.error}
        assert record.hooks is not None
        try:
            result = await asyncio.wait_for(record.hooks.call("xcore_health", ctx=record.context), self._timeout)
        except TimeoutError:
            return {"status": "error", "state": "loaded", "error": f"health check timed out after {self._timeout}s"}
        except (Exception, asyncio.CancelledError) as exc:
            reraise_if_cancelled(exc)
            return {"status": "error", "state": "loaded", "error": describe_exception(exc, self._secrets)}
        if result is None or result is True:
            return {"status": "ok", "state": "loaded"}
        if result is False:
            return {"status": "error", "state": "loaded"}
        if not isinstance(result, Mapping):
            return {
                "status": "error",
                "state": "loaded",
                "error": redact_text(f"health returned {result!r}; expected None, a bool or a dict", self._secrets),
            }
        return {"status": "ok", "state": "loaded", **result}

    async def _track(self, services: dict[str, dict[str, Any]]) -> None:
        """Announce services turning unhealthy or recovering, once per transition."""
        for name, report in services.items():
            healthy = report["status"] == "ok"
            was = self._service_healthy.get(name, True)
            self._service_healthy[name] = healthy
            if was and not healthy:
                log.warning("service %r is unhealthy: %s", name, report.get("error"))
                await announce(
                    self._services, kernel.SERVICE_UNHEALTHY, {"service": name, "error": str(report.get("error"))}
                )
            elif healthy and not was:
                log.info("service %r recovered", name)
                await announce(self._services, kernel.SERVICE_RECOVERED, {"service": name})

    @staticmethod
    async def _monitor(interval: float, check: Callable[[], Awaitable[Any]]) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await check()
            except Exception:
                log.exception("periodic health check failed")
