"""The admin API: ``/xcore/admin/api/...``, JSON, under ``app.admin_key`` (``X-Admin-Key``).

Reads (this process's view): ``GET plugins`` (``?all=true``: every process's, through the fan-out),
``services``, ``jobs``, ``health``, ``events``. Changes (every process, see :mod:`.fanout`):
``POST plugins/{name}/disable|enable|reload`` and ``POST reload-config``, each answering
``{"results": [{"worker", "ok", "result" | "error"}, ...]}``: 200 when every process succeeded,
422 when one refused or failed (the entries say which and why). ``?local=true`` keeps a change to the
process that received it; ``wait`` (seconds, at most 30) and ``expect`` (a number of processes)
bound the wait for the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Query
from fastapi.responses import JSONResponse

from xcore._admin.views import job_rows, plugin_rows, scrubbed, service_rows

if TYPE_CHECKING:
    from xcore._admin import Admin

PLUGIN_ACTIONS = ("disable", "enable", "reload")


def add_api_routes(app: FastAPI, admin: Admin, prefix: str) -> None:
    """Add the admin API's routes under ``prefix``; every one checks the key before doing anything."""
    guard = [Depends(admin.auth.require_key)]
    tags: list[Any] = ["xcore admin"]
    host = admin.host

    def answer(value: Any, status: int = 200) -> JSONResponse:
        return JSONResponse(scrubbed(value, admin.secrets), status_code=status)

    @app.get(f"{prefix}/plugins", tags=tags, dependencies=guard)
    async def plugins(
        every: Annotated[bool, Query(alias="all")] = False,
        wait: Annotated[float, Query(ge=0, le=30)] = 3.0, expect: Annotated[int | None, Query(ge=1)] = None,
    ) -> JSONResponse:  # fmt: skip
        """Plugins with state, version, error and requests in flight (``all``: every worker's list)."""
        if every:
            return answer({"results": await admin.fanout.call("plugins", {}, wait=wait, expect=expect)})
        return answer({"worker": admin.fanout.worker, "plugins": plugin_rows(host)})

    @app.post(f"{prefix}/plugins/{{name}}/{{action}}", tags=tags, dependencies=guard)
    async def change_plugin(
        name: str, action: str, local: bool = False,
        wait: Annotated[float, Query(ge=0, le=30)] = 3.0, expect: Annotated[int | None, Query(ge=1)] = None,
    ) -> JSONResponse:  # fmt: skip
        """Disable, enable or reload plugin ``name`` in every worker (``local``: only this one)."""
        if action not in PLUGIN_ACTIONS:
            return answer({"detail": f"unknown action {action!r}; actions: {', '.join(PLUGIN_ACTIONS)}"}, 404)
        results = await admin.fanout.call(action, {"plugin": name}, everywhere=not local, wait=wait, expect=expect)
        return answer({"results": results}, 200 if all(r["ok"] for r in results) else 422)

    @app.post(f"{prefix}/reload-config", tags=tags, dependencies=guard)
    async def reload_config(
        local: bool = False,
        wait: Annotated[float, Query(ge=0, le=30)] = 3.0, expect: Annotated[int | None, Query(ge=1)] = None,
    ) -> JSONResponse:  # fmt: skip
        """Re-read the configuration file in every worker: plugins applied, other changes listed as needing restart."""
        results = await admin.fanout.call("reload-config", {}, everywhere=not local, wait=wait, expect=expect)
        return answer({"results": results}, 200 if all(r["ok"] for r in results) else 422)

    @app.get(f"{prefix}/services", tags=tags, dependencies=guard)
    async def services() -> JSONResponse:
        """Services with health and latency (this worker's checks)."""
        return answer({"worker": admin.fanout.worker, "services": await service_rows(host)})

    @app.get(f"{prefix}/jobs", tags=tags, dependencies=guard)
    async def jobs() -> JSONResponse:
        """The serving host's scheduled jobs with next and last runs."""
        return answer({"worker": admin.fanout.worker, "jobs": await job_rows(host)})

    @app.get(f"{prefix}/health", tags=tags, dependencies=guard)
    async def health() -> JSONResponse:
        """Every service's and plugin's health, with the overall status (200 ok, 503 not)."""
        report = await host.health()
        return answer({"worker": admin.fanout.worker, **report}, 200 if report["status"] == "ok" else 503)

    @app.get(f"{prefix}/events", tags=tags, dependencies=guard)
    async def events() -> JSONResponse:
        """The last kernel events of this worker, newest first."""
        return answer({"worker": admin.fanout.worker, "events": admin.events.rows()})


__all__ = ["PLUGIN_ACTIONS", "add_api_routes"]
