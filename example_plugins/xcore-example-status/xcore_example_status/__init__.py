"""The demo's front page and the spec's service health route (spec: "Service Health Checks").

* ``GET /plugins/status/`` is a small HTML page listing every plugin the host knows (name, state,
  version, where its routes live, its error if it failed) with links to ``/docs``;
  ``GET /plugins/status/plugins`` is the same as JSON. The list comes from the broadcast hook
  ``xcore_host_started``, which a ``TrustedBase`` subclass may implement like any hook.
* ``GET /plugins/status/health`` checks the database and the cache from a plugin's point of view,
  as the spec shows; ``/health/ready`` is the host's own, complete check.
"""

from __future__ import annotations

import asyncio
import html
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from xcore import hookimpl
from xcore.sdk import TrustedBase

if TYPE_CHECKING:
    from xcore import Xcore


class Plugin(TrustedBase):
    async def on_load(self) -> None:
        self.plugins: list[dict[str, Any]] = []

    @hookimpl
    def xcore_host_started(self, host: Xcore) -> None:
        """Every plugin has loaded (or failed): keep the report the index page shows."""
        self.plugins = [r.report() for r in host.plugins if r.source.kind == "plugin"]

    def _db_check(self) -> None:
        with self.get_service("db").session() as session:
            session.execute("SELECT 1")

    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/", response_class=HTMLResponse)
        async def index() -> str:
            rows = "".join(self._row(p) for p in sorted(self.plugins, key=lambda p: p["name"]))
            return PAGE.format(rows=rows)

        @router.get("/plugins")
        async def plugins() -> dict[str, Any]:
            return {"plugins": self.plugins}

        @router.get("/health")
        async def health_check() -> dict[str, Any]:
            """The spec's route: each service checked, errors reported rather than raised."""
            results: dict[str, dict[str, Any]] = {}
            try:
                await asyncio.to_thread(self._db_check)
                results["database"] = {"status": "ok"}
            except Exception as e:
                results["database"] = {"status": "error", "error": str(e)}
            try:
                cache = self.get_service("cache")
                await cache.set("health_check", "ok", ttl=1)
                results["cache"] = {"status": "ok"}
            except Exception as e:
                results["cache"] = {"status": "error", "error": str(e)}
            all_ok = all(r["status"] == "ok" for r in results.values())
            return {"status": "healthy" if all_ok else "unhealthy", "services": results}

        return router

    @staticmethod
    def _row(plugin: dict[str, Any]) -> str:
        name = html.escape(plugin["name"])
        mounted = plugin["mounted_at"]
        # Swagger UI deep-links to a tag; every plugin's routes carry its name as their tag.
        where = f'<a href="/docs#/{name}">{html.escape(mounted)}</a>' if mounted else "(no routes)"
        state = html.escape(plugin["state"]) + (f": {html.escape(plugin['error'])}" if plugin["error"] else "")
        return (f"<tr><td>{name}</td><td>{html.escape(plugin['version'] or '-')}</td><td>{state}</td>"
                f"<td>{where}</td></tr>")  # fmt: skip


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>XCore demo</title>
<style>
body{{font-family:sans-serif;max-width:60rem;margin:2rem auto}} td,th{{padding:.3rem .8rem;text-align:left}}
</style>
</head><body>
<h1>XCore demo</h1>
<p>Every route of every plugin is in the <a href="/docs">OpenAPI docs (/docs)</a>.
Health: <a href="/health/ready">/health/ready</a>, the services as a plugin sees them:
<a href="/plugins/status/health">/plugins/status/health</a>.</p>
<table><tr><th>plugin</th><th>version</th><th>state</th><th>routes</th></tr>{rows}</table>
</body></html>
"""
