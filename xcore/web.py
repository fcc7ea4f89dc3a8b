"""The FastAPI face of a host: the app factory, health endpoints and the action endpoint.

Plugin routers are mounted at boot under ``{app.plugin_prefix}/{name}``. The action endpoint
``POST {prefix}/{name}/actions/{action}`` exists only when ``app.api_key`` is configured, and
requires it (``X-API-Key`` header or ``Authorization: Bearer``).
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, HTTPException, Request, Security
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader

from xcore import __version__
from xcore.action_endpoint_off import explain_disabled_actions
from xcore.boot_failure import report_boot_failures_briefly
from xcore.docs_page import add_docs_page
from xcore.errors import PluginNotFoundError
from xcore.host import Xcore
from xcore.sdk.responses import ActionNotFound, error

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
        await xcore.boot(app)
        # Routes match in order: the plugins' routes are the hot path, the health probes are not.
        probes = [r for r in app.router.routes if getattr(r, "path", None) in ("/health", "/health/ready")]
        app.router.routes[:] = [r for r in app.router.routes if r not in probes] + probes
        try:
            yield {"xcore": xcore}
        finally:
            await xcore.shutdown()

    app = FastAPI(
        title=settings.name, version=__version__, lifespan=lifespan,
        docs_url=None, redoc_url=None,  # /docs: add_docs_page below, without a CDN
        openapi_url="/openapi.json" if settings.docs else None,
    )
    app.state.xcore = xcore
    report_boot_failures_briefly(app)
    if settings.docs:
        add_docs_page(app)

    @app.get("/health", tags=["xcore"])
    async def health() -> dict[str, str]:
        """The process is alive (no service is checked)."""
        return {"status": "ok"}

    @app.get("/health/ready", tags=["xcore"])
    async def ready() -> JSONResponse:
        """Services and plugins: 200 when all are healthy, 503 with the detail otherwise."""
        report = await xcore.health()
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    if settings.api_key is not None:
        _add_action_route(app, xcore, settings.api_key.get_secret_value(), settings.plugin_prefix)
    else:
        explain_disabled_actions(app, settings.plugin_prefix)
    return app


API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="app.api_key; `Authorization: Bearer <key>` is accepted too")
"""Declared as a security scheme, so the OpenAPI page's Authorize button sends the key."""


def _add_action_route(app: FastAPI, xcore: Xcore, api_key: str, prefix: str) -> None:
    expected = api_key.encode()

    def require_key(request: Request, x_api_key: Annotated[str | None, Security(API_KEY_HEADER)]) -> None:
        given = x_api_key
        authorization = request.headers.get("authorization")
        if given is None and authorization and authorization[:7].lower() == "bearer ":
            given = authorization[7:]
        if given is None or not hmac.compare_digest(given.encode(), expected):
            raise HTTPException(401, "missing or wrong API key (X-API-Key header)",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.post(f"{prefix}/{{plugin}}/actions/{{action}}", tags=["xcore"], dependencies=[Depends(require_key)])
    async def call_action(
        plugin: str, action: str, payload: Annotated[dict[str, Any] | None, Body()] = None
    ) -> JSONResponse:
        """Run a plugin's action, as ``await xcore.call(plugin, action, payload)`` does in process."""
        try:
            result = await xcore.call(plugin, action, payload or {})
        except (PluginNotFoundError, ActionNotFound) as exc:
            return JSONResponse(error(str(exc), code="not_found"), status_code=404)
        except Exception:
            log.exception("plugin %r action %r raised", plugin, action)
            return JSONResponse(error(f"action {action!r} of plugin {plugin!r} failed", code="internal_error"),
                                status_code=500)
        try:
            return JSONResponse(result)
        except TypeError:  # datetimes, UUIDs, Decimals...: FastAPI's encoder, only when plain JSON is not enough
            return JSONResponse(jsonable_encoder(result))


def app_from_env() -> FastAPI:
    """The app ``xcore serve`` runs in each uvicorn worker: config from ``$XCORE_CONFIG``."""
    xcore = Xcore(os.environ.get("XCORE_CONFIG") or None)
    logging.basicConfig(level=xcore.config.app.log_level.upper(),
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
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


__all__: list[str] = ["app_from_env", "create_app", "service", "xcore_of"]
