"""Operating a serving host: the admin API, the admin page, and one call reaching every worker.

Nothing here exists unless ``app.admin_key`` is configured: no route, no subscription. With it:

* :mod:`.api` -- ``/xcore/admin/api/...`` (JSON, ``X-Admin-Key``): plugins, services, jobs, health,
  kernel events; disable, enable, reload a plugin; reload the configuration;
* :mod:`.page` -- ``/xcore/admin``: the same as a server-rendered page (login form, session cookie,
  CSRF-protected buttons), with no external asset;
* :mod:`.fanout` -- changes reach every process through the events service on Redis;
* :mod:`.auth` -- the key check, sessions and CSRF tokens;
* :mod:`.client` -- what ``xcore plugins|services|jobs|health --url`` use to talk to it.

The operations themselves are the host's (:mod:`xcore._host.runtime`, :mod:`xcore._host.reconfigure`);
docs/operations.md is the operator's guide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from xcore._admin.auth import AdminAuth
from xcore._admin.fanout import Fanout
from xcore._admin.views import KernelEventLog, plugin_rows
from xcore._errors import XcoreError
from xcore._redaction import redact_text, secret_values

if TYPE_CHECKING:
    from xcore._host.facade import Xcore

PREFIX = "/xcore/admin"


class Admin:
    """The admin side of one served host: its key check, fan-out and event log."""

    def __init__(self, host: Xcore, admin_key: str) -> None:
        self.host = host
        self.secrets = sorted(secret_values(host.loaded.raw) | {admin_key}, key=len, reverse=True)
        self.auth = AdminAuth(admin_key)
        self.fanout = Fanout(admin_key, self.run, clean=lambda text: redact_text(text, self.secrets))
        self.events = KernelEventLog()

    def attach(self) -> None:
        """Subscribe to the events service once it exists (after the host built its services)."""
        events = self.host.services.get_or_none("events")
        self.events.attach(events)
        self.fanout.attach(events)

    async def run(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        """Run one admin operation in this process (the fan-out calls it here and in every other one)."""
        runtime = self.host.runtime
        if op == "plugins":
            return {"plugins": plugin_rows(self.host)}
        if op == "reload-config":
            return await self.host.reloader.reload()
        plugin = str(args.get("plugin", ""))
        if op == "disable":
            return await runtime.disable(plugin, reason="disabled by an operator")
        if op == "enable":
            return await runtime.enable(plugin)
        if op == "reload":
            return await runtime.reload(plugin)
        raise XcoreError(f"unknown admin operation {op!r}")


def install_admin(app: FastAPI, host: Xcore) -> None:
    """Add the admin API and page to ``app`` when ``app.admin_key`` is set; attach to the events service.

    Called by :func:`xcore.web.install_endpoints`, which runs before the boot (routes) and again at its
    end (services exist: the event log and the fan-out subscribe then). Without the key: nothing.
    """
    key = host.config.app.admin_key
    if key is None:
        return
    admin: Admin | None = getattr(app.state, "xcore_admin", None)
    if admin is None or admin.host is not host:
        from xcore._admin.api import add_api_routes
        from xcore._admin.page import add_page_routes

        admin = app.state.xcore_admin = Admin(host, key.get_secret_value())
        add_api_routes(app, admin, f"{PREFIX}/api")
        add_page_routes(app, admin, PREFIX)
    admin.attach()


__all__ = ["PREFIX", "Admin", "install_admin"]
