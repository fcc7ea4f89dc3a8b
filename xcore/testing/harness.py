"""Boot a real XCore host for a test: plugins, config, service doubles, an HTTP client, jobs on demand.

:func:`boot_xcore` is what the pytest fixtures (``xcore.testing.pytest_plugin``) use, and works in any
async test runner too. The host is served by the same FastAPI app ``xcore serve`` runs, booted through
the app's own lifespan, so a test sees exactly what production does: routers mounted under
``/plugins/<name>``, ``/health/ready``, the action endpoint when an API key is configured.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from xcore._errors import XcoreError
from xcore._host.facade import Xcore
from xcore._http_guard import reraising
from xcore._plugins import PluginRecord
from xcore.testing.doubles import PROVIDER_NAME, config_with_doubles
from xcore.web import create_app

BASE_URL = "http://xcore.test"


class PluginLoadError(XcoreError, AssertionError):
    """A plugin under test failed to load; the message carries each plugin's recorded error."""


class XcoreTestHost:
    """A booted host with the handles a test needs.

    ``host`` is the :class:`~xcore.Xcore` itself, ``app`` its FastAPI app and ``client`` an
    ``httpx.AsyncClient`` talking to that app in process (no socket, no server).
    """

    def __init__(self, host: Xcore, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.host = host
        self.app = app
        self.client = client

    async def call(self, plugin: str, action: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run an action as another plugin or the HTTP endpoint would, and check the response's shape.

        Raises ``AssertionError`` when the plugin answers something other than a dict with a
        ``"status"`` (what ``ok()``/``error()`` build), since callers rely on that shape.
        """
        response = await self.host.call(plugin, action, payload)
        if not isinstance(response, dict) or "status" not in response:
            raise AssertionError(
                f"action {action!r} of plugin {plugin!r} returned {response!r}; "
                "actions must return ok(...) or error(...) (a dict with a 'status')"
            )
        return response

    def get_service(self, name: str, plugin: str | None = None) -> Any:
        """The service ``name``; with ``plugin``, the view that plugin gets (the scheduler scopes jobs)."""
        if plugin is None:
            return self.host.get_service(name)
        context = self.record(plugin).context
        if context is None:
            raise LookupError(f"plugin {plugin!r} was never loaded, so it has no services")
        return context.services[name]

    def plugin(self, name: str) -> Any:
        """The live plugin object (the ``TrustedBase`` instance, or the module) called ``name``."""
        record = self.record(name)
        if record.handle is None or record.state != "loaded":
            raise LookupError(f"plugin {name!r} is {record.state}" + (f": {record.error}" if record.error else ""))
        return record.handle.instance

    def record(self, name: str) -> PluginRecord:
        """What the host knows of plugin ``name``: state, error, mount point."""
        for record in self.host.plugins:
            if record.name == name and record.source.kind == "plugin":
                return record
        known = sorted(r.name for r in self.host.plugins if r.source.kind == "plugin")
        raise LookupError(f"no plugin named {name!r}; plugins: {', '.join(known) or '(none)'}")

    async def health(self) -> dict[str, Any]:
        """The report ``GET /health/ready`` serves."""
        return await self.host.health()

    async def run_job(self, plugin: str, job_id: str) -> Any:
        """Run plugin ``plugin``'s scheduled job ``job_id`` now, in this task; return what it returned.

        The job stays scheduled as it was: this is the job's function called with its arguments, so a
        test need not wait for a trigger. Job ids are per plugin, hence ``plugin``.
        """
        scheduler = self.get_service("scheduler", plugin)
        job = scheduler.get_job(job_id)
        if job is None:
            ids = [j.id for j in scheduler.get_jobs()]
            raise LookupError(
                f"plugin {plugin!r} has no scheduled job {job_id!r}; its jobs: {', '.join(ids) or '(none)'}"
            )
        if not callable(job.func):
            raise LookupError(f"job {job_id!r} of plugin {plugin!r} calls {job.func!r}, which cannot be resolved")
        result = job.func(*job.args, **job.kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result


@asynccontextmanager
async def boot_xcore(
    plugins: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    *,
    services: Mapping[str, object] | None = None,
    discover: bool = False,
    strict: bool = True,
    env: Mapping[str, str] | None = None,
    raise_app_exceptions: bool = True,
) -> AsyncIterator[XcoreTestHost]:
    """Boot a host with ``plugins`` and ``config`` (a dict shaped like ``integration.yaml``).

    ``config`` defaults to the embedded defaults (SQLite, memory cache and scheduler, local storage,
    all under ``./.xcore``: run it in a temporary directory); ``{"services": no_services(cache=...)}``
    (:func:`xcore.testing.configs.no_services`) boots only the named services. ``services`` replaces
    services by name with test doubles. ``discover=False`` keeps installed application plugins out, so a test sees only
    the plugins it names. ``strict=True`` raises :class:`PluginLoadError`, naming the error, if any
    application plugin fails to load (service backends report through ``health()``); pass
    ``strict=False`` to test a plugin's failure itself. An exception escaping a route reaches the
    test (``raise_app_exceptions=True``) rather than becoming a 500; pass ``False`` to get the JSON 500
    response a real server would send.
    """
    given = dict(plugins or {})
    settings: Mapping[str, Any] = config or {}
    if services:
        settings, doubles = config_with_doubles(settings, services)
        given[PROVIDER_NAME] = doubles
    host = Xcore(config=settings, plugins=given, discover=discover, env=env)
    app = create_app(host=host)
    async with app.router.lifespan_context(app):
        failed = [r for r in host.plugins if r.source.kind == "plugin" and r.state == "failed"]
        if strict and failed:
            raise PluginLoadError("plugins failed to load: " + "; ".join(f"{r.name}: {r.error}" for r in failed))
        served = reraising(app) if raise_app_exceptions else app
        transport = httpx.ASGITransport(app=served, raise_app_exceptions=raise_app_exceptions)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield XcoreTestHost(host, app, client)


__all__ = ["BASE_URL", "PluginLoadError", "XcoreTestHost", "boot_xcore"]
