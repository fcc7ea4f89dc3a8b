"""``GET /health/ready``: public status, details for operators, and checks that a flood cannot multiply.

Anyone (a load balancer, an orchestrator) may ask whether the host is ready: the answer is
``{"status": "ok"}`` with 200, or ``{"status": "error"}`` with 503, and nothing else. The report behind
it (every service and plugin with its error, latency, pool statistics, internal names) is shown only to
a client presenting ``app.api_key`` (or ``app.admin_key`` when the config has one), the same way as the
action endpoint takes it; a wrong key is a 401.

The checks themselves (a query per database, a PING per Redis...) run at most once per
``app.health_cache_ttl`` seconds, and concurrent callers share the run in flight: N probes at once cost
one round of checks, whoever sends them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader

from xcore._api_keys import matches, presented_key

Report = dict[str, Any]


class SharedChecks:
    """Runs ``check`` for many callers: a result is reused for ``ttl`` seconds, a run in flight is joined."""

    def __init__(self, check: Callable[[], Awaitable[Report]], ttl: float) -> None:
        self._check = check
        self.ttl = ttl
        self._report: Report | None = None
        self._at = 0.0
        self._running: asyncio.Future[Report] | None = None

    async def report(self) -> Report:
        """The latest report, or a new one when it is older than ``ttl``."""
        if self._report is not None and time.monotonic() - self._at < self.ttl:
            return self._report
        if self._running is None:
            self._running = asyncio.ensure_future(self._refresh())
        # A caller that goes away (a probe timing out) does not cancel the run the others wait for.
        return await asyncio.shield(self._running)

    async def _refresh(self) -> Report:
        try:
            report = await self._check()
            self._report, self._at = report, time.monotonic()
            return report
        finally:
            self._running = None


def add_readiness_route(
    app: FastAPI, check: Callable[[], Awaitable[Report]], ttl: float, keys: list[bytes], key_header: APIKeyHeader
) -> SharedChecks:
    """Add ``GET /health/ready`` to ``app``: status for anyone, the report for a client with one of ``keys``."""
    shared = SharedChecks(check, ttl)

    # The header is declared as a dependency for the docs page's Authorize button; it is read below.
    @app.get("/health/ready", tags=["xcore"], dependencies=[Security(key_header)])
    async def ready(request: Request) -> JSONResponse:
        """200 when every service and plugin is healthy, else 503; details need app.api_key or app.admin_key."""
        given = presented_key(request, admin=True)
        if given is not None and not matches(given, keys):
            raise HTTPException(
                401,
                "wrong key for the health details (X-API-Key: app.api_key, or X-Admin-Key: app.admin_key)"
                if keys
                else "health details need app.api_key or app.admin_key, neither is configured",
                headers={"WWW-Authenticate": "Bearer"},
            )
        report = await shared.report()
        status = 200 if report["status"] == "ok" else 503
        return JSONResponse(report if given is not None else {"status": report["status"]}, status_code=status)

    return shared


__all__ = ["SharedChecks", "add_readiness_route"]
