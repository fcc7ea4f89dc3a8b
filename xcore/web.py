"""The FastAPI face of a host: the app factory, health endpoints and the action endpoint.

Plugin routers are mounted at boot under ``{app.plugin_prefix}/{name}``. The action endpoint
``POST {prefix}/{name}/actions/{action}`` exists only when ``app.api_key`` is configured, and
requires it (``X-API-Key`` header or ``Authorization: Bearer``) before it reads the body.
Every request passes :class:`~xcore.http_guard.HostGuard` (``app.max_body_size``, JSON 500s);
``/health/ready`` is :mod:`xcore._readiness`. What this promises a client: ``docs/security.md``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Security
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader

from xcore import __version__
from xcore._action_endpoint_off import explain_disabled_actions
from xcore._action_payload import ACTION_BODY, parse_payload
from xcore._admin import PREFIX as ADMIN_PREFIX
from xcore._admin import install_admin
from xcore._api_keys import matches, operator_keys, presented_key
from xcore._boot_failure import report_boot_failures_briefly
from xcore._docs_page import add_docs_page
from xcore._error_log import RepeatedErrors
from xcore._errors import PluginNotFoundError
from xcore._host.facade import Xcore
from xcore._http_guard import HostGuard
from xcore._observability.endpoint import METRICS_PATH
from xcore._observability.endpoint import install as install_metrics
from xcore._observability.multiprocess import worker_stopped
from xcore._observability.tracing import fastapi_telemetry
from xcore._readiness import add_readiness_route
from xcore._validation_errors import validation_error_handler
from xcore.sdk._responses import ActionNotFound, error

log = logging.getLogger("xcore.web")


def create_app(
    config_path: str | os.PathLike[str] | None = None,
    *,
    host: Xcore | None = None,
    **options: Any,
) -> FastAPI:
    """A FastAPI app serving an XCore host; the host boots and stops with the app's lifespan.

    Pass ``host`` to serve an existing (not yet booted) host, or the same arguments as
    :class:`~xcore.Xcore`. The config is read and validated here, so a bad file fails before serving.
    """
    xcore = host or Xcore(config_path, **options)
    settings = xcore.config.app

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        await xcore.boot(app)  # mounts the plugins' routes, then puts XCore's probes after them
        try:
            yield {"xcore": xcore}
        finally:
            await xcore.shutdown()
            worker_stopped()  # app.metrics: last counts flushed; with several workers, live gauges dropped

    app = FastAPI(
        title=settings.name,
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,  # /docs: add_docs_page below, without a CDN
        openapi_url="/openapi.json" if settings.docs else None,
        **fastapi_telemetry(),  # FastAPI's own spans record the query string: XCore's replace them
    )
    report_boot_failures_briefly(app)
    install_endpoints(app, xcore)
    if settings.docs:  # behind the plugins' routes too, with the probes (see install_endpoints)
        app.state.xcore_routes_last += add_docs_page(app)
    return app


def install_endpoints(app: FastAPI, xcore: Xcore) -> None:
    """Add XCore's own endpoints to ``app``: ``/health``, ``/health/ready`` and, with ``app.api_key``,
    the action endpoint; make the host reachable from requests (``app.state.xcore``); and, when the
    app has not started yet, the request guard (``app.max_body_size``, JSON 500s, short 422s).

    ``create_app`` calls it, and so does ``await xcore.boot(app)`` for an app of your own (the
    embedded way to run XCore, see docs/getting-started.md), so both serve the same endpoints. An
    app's middleware is fixed once it serves, so an embedded app that wants the guard calls this
    once before serving. Calling it again for the same app and host only moves XCore's probes and the
    original XCore's action path behind every other route (``boot`` does, once the plugins' routes are
    mounted): the app's own routes and the plugins' win any clash, and the hot routes match first.
    """
    existing = list(app.router.routes)
    install_admin(app, xcore)  # app.admin_key only: the admin API and page (docs/operations.md)
    if getattr(app.state, "xcore_endpoints", None) is xcore:
        _xcore_routes_last(app)
        return
    app.state.xcore = xcore
    app.state.xcore_endpoints = xcore
    settings = xcore.config.app

    @app.get("/health", tags=["xcore"])
    async def health() -> dict[str, str]:
        """The process is alive (no service is checked)."""
        return {"status": "ok"}

    add_readiness_route(app, xcore.health, settings.health_cache_ttl, operator_keys(settings), API_KEY_HEADER)
    count_request = install_metrics(app, xcore)  # app.metrics: /metrics; the guard below counts each request
    errors = RepeatedErrors(log, settings.error_log_interval)
    if app.middleware_stack is None:
        app.add_middleware(
            HostGuard,
            max_body_size=settings.max_body_size,
            errors=errors,
            plugin_prefix=settings.plugin_prefix,
            observe=count_request,
        )
        if app.exception_handlers.get(RequestValidationError) in (None, request_validation_exception_handler):
            app.add_exception_handler(RequestValidationError, validation_error_handler)  # not over the app's own
    else:
        log.warning(
            "the app already serves, so XCore's request guard (app.max_body_size, JSON 500s) is not "
            "installed: call xcore.web.install_endpoints(app, xcore) before serving"
        )

    if settings.api_key is not None:
        _add_action_route(app, xcore, settings.api_key.get_secret_value(), settings.plugin_prefix, errors)
    elif app.middleware_stack is None:
        explain_disabled_actions(app, settings.plugin_prefix)
    app.state.xcore_routes_last = [r for r in app.router.routes if _goes_last(r) and r not in existing]
    _xcore_routes_last(app)


def _xcore_routes_last(app: FastAPI) -> None:
    """Move the probes, the original XCore's action path (and create_app's docs page) behind every other route."""
    last = app.state.xcore_routes_last
    app.router.routes[:] = [r for r in app.router.routes if r not in last] + last


API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="app.api_key; `Authorization: Bearer <key>` is accepted too"
)
"""Declared as a security scheme, so the OpenAPI page's Authorize button sends the key."""


def _add_action_route(app: FastAPI, xcore: Xcore, api_key: str, prefix: str, errors: RepeatedErrors) -> None:
    expected = [api_key.encode()]

    def require_key(request: Request, x_api_key: Annotated[str | None, Security(API_KEY_HEADER)]) -> None:
        given = presented_key(request)
        if given is None or not matches(given, expected):
            raise HTTPException(
                401, "missing or wrong API key (X-API-Key header)", headers={"WWW-Authenticate": "Bearer"}
            )

    # The body is not a parameter: FastAPI would read and parse it before checking the key. The
    # endpoint reads it after (the dependency has run), and the schema is declared for the docs page.
    @app.post(
        f"{prefix}/{{plugin}}/actions/{{action}}",
        tags=["xcore"],
        dependencies=[Depends(require_key)],
        openapi_extra=ACTION_BODY,
    )
    async def call_action(plugin: str, action: str, request: Request) -> JSONResponse:
        """Run a plugin's action, as ``await xcore.call(plugin, action, payload)`` does in process."""
        payload = parse_payload(await request.body())
        try:
            with xcore.runtime.gate(plugin):  # a runtime disable waits for this call (docs/operations.md)
                result = await xcore.call(plugin, action, payload)
        except (PluginNotFoundError, ActionNotFound) as exc:
            return JSONResponse(error(str(exc), code="not_found"), status_code=404)
        except Exception as exc:
            errors.report(f"action {action!r} of plugin {plugin!r}", exc)
            return JSONResponse(
                error(f"action {action!r} of plugin {plugin!r} failed", code="internal_error"), status_code=500
            )
        try:
            return JSONResponse(result)
        except TypeError:  # datetimes, UUIDs, Decimals...: FastAPI's encoder, only when plain JSON is not enough
            return JSONResponse(jsonable_encoder(result))

    # The original XCore's path of the same endpoint, kept so its clients work unchanged.
    app.post(
        LEGACY_ACTION_PATH,
        tags=["xcore"],
        dependencies=[Depends(require_key)],
        deprecated=True,
        openapi_extra=ACTION_BODY,
        summary="Call Action (the original XCore's path)",
    )(call_action)


LEGACY_ACTION_PATH = "/app/{plugin}/{action}"
"""``POST /app/<plugin>/<action>``: the original XCore's action path, the same endpoint and key."""
_LAST_PATHS = frozenset({"/health", "/health/ready", LEGACY_ACTION_PATH, METRICS_PATH})


def _goes_last(route: object) -> bool:
    """XCore's own routes that no plugin route may wait behind: the probes, ``/metrics``, the
    original XCore's action path and the admin API and page (each route passed over costs a match)."""
    path = getattr(route, "path", None)
    return isinstance(path, str) and (
        path in _LAST_PATHS or path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")
    )


def app_from_env() -> FastAPI:
    """The app ``xcore serve`` runs in each uvicorn worker: config from ``$XCORE_CONFIG``."""
    xcore = Xcore(os.environ.get("XCORE_CONFIG") or None)
    logging.basicConfig(
        level=xcore.config.app.log_level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )
    if os.environ.get("XCORE_STRICT"):
        xcore.config.app.strict = True
    return create_app(host=xcore)


def xcore_of(request: Request) -> Xcore:
    """The host serving this request (from the app state; no global)."""
    host: Xcore = request.app.state.xcore
    return host


def service(name: str) -> Any:
    """A FastAPI dependency giving the service ``name``: ``db: Annotated[Any, service("db")]``."""

    def provide(request: Request) -> Any:
        return xcore_of(request).get_service(name)

    return Depends(provide)


__all__: list[str] = ["app_from_env", "create_app", "install_endpoints", "service", "xcore_of"]
