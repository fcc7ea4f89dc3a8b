"""The two servers of the HTTP benchmark: an XCore host and the same routes on a bare FastAPI app.

``python -m benchmarks.http_apps xcore|bare PORT`` serves one of them with uvicorn (one worker, access log
off on both, 127.0.0.1 only). Both serve the very same plugin code:

* ``GET /plugins/bench/ping``: on XCore, the route of the plugin's own ``APIRouter``, mounted at boot; on the
  bare app, the same endpoint declared directly with ``@app.get`` at the same path, as a user without XCore
  writes it (no ``include_router``, whose lazy layer costs FastAPI 0.165+ about 20% per request).
* ``POST /plugins/bench/actions/echo``: XCore's action endpoint (API key required, body = payload); the bare
  app has an equivalent hand-written POST route: the same path shape, the same ``X-API-Key`` check and a
  direct ``await plugin.handle(action, payload)``.
"""

from __future__ import annotations

import hmac
import sys
from typing import Annotated, Any

import uvicorn
from fastapi import APIRouter, Body, Depends, FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse

from xcore.sdk import TrustedBase, action, ok
from xcore.testing.configs import no_services

API_KEY = "bench-key"
PLUGIN = "bench"
GET_PATH = f"/plugins/{PLUGIN}/ping"
ACTION_PATH = f"/plugins/{PLUGIN}/actions/echo"


class BenchPlugin(TrustedBase):
    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/ping")
        async def ping() -> dict[str, Any]:
            return {"pong": True}

        return router

    @action("echo")
    async def echo(self, payload: dict[str, Any]) -> dict[str, Any]:
        return ok(echo=payload)


def xcore_app() -> FastAPI:
    from xcore.web import create_app

    config = {"app": {"name": "bench", "api_key": API_KEY}, "services": no_services()}
    return create_app(config=config, plugins={PLUGIN: BenchPlugin}, discover=False)


def bare_app() -> FastAPI:
    plugins = {PLUGIN: BenchPlugin()}
    app = FastAPI()

    @app.get(GET_PATH)
    async def ping() -> dict[str, Any]:
        return {"pong": True}

    expected = API_KEY.encode()

    def require_key(x_api_key: Annotated[str | None, Header()] = None) -> None:
        if x_api_key is None or not hmac.compare_digest(x_api_key.encode(), expected):
            raise HTTPException(401, "missing or wrong API key")

    @app.post("/plugins/{plugin}/actions/{action}", dependencies=[Depends(require_key)])
    async def call_action(
        plugin: str, action: str, payload: Annotated[dict[str, Any] | None, Body()] = None
    ) -> JSONResponse:
        target = plugins.get(plugin)
        if target is None:
            return JSONResponse({"status": "error", "message": f"no plugin {plugin!r}"}, status_code=404)
        return JSONResponse(await target.handle(action, payload or {}))

    return app


def main(argv: list[str]) -> None:
    kind, port = argv[0], int(argv[1])
    app = {"xcore": xcore_app, "bare": bare_app}[kind]()
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)


if __name__ == "__main__":
    main(sys.argv[1:])
