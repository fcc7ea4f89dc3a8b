"""Plugin routers are declared directly on the app (no lazy ``include_router`` layer), options intact.

Each option is checked twice: it works on the mounted route, and the OpenAPI document is the one
``include_router`` would have produced for the same router, prefix and tag.
"""

from __future__ import annotations

import warnings
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, WebSocket
from fastapi.responses import PlainTextResponse
from fastapi.routing import APIRoute, APIWebSocketRoute
from pydantic import BaseModel

with warnings.catch_warnings():  # the one in-process client speaking WebSocket; it prefers httpx2 to httpx
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from xcore._plugin_routes import directly_mountable, mount_plugin_router
from xcore.sdk import TrustedBase
from xcore.web import create_app

from .support import config

CALLS: list[str] = []


def router_guard(x_token: Annotated[str | None, Header()] = None) -> None:
    CALLS.append("router")
    if x_token != "let-me-in":
        raise HTTPException(403, "router dependency refused")


def route_guard() -> None:
    CALLS.append("route")


class Item(BaseModel):
    id: int
    name: str


def rich_router() -> APIRouter:
    """A plugin router using the options a plugin may set on its router and its routes."""
    router = APIRouter(
        prefix="/v1",
        tags=["catalogue"],
        dependencies=[Depends(router_guard)],
        responses={418: {"description": "teapot"}},
    )

    @router.get(
        "/items/{item_id}",
        response_model=Item,
        dependencies=[Depends(route_guard)],
        tags=["items"],
        summary="One item",
        status_code=200,
    )
    async def item(item_id: int) -> dict[str, Any]:
        return {"id": item_id, "name": "lamp", "secret": "never serialized"}

    @router.post("/items", status_code=201, response_class=PlainTextResponse)
    async def create(body: Item) -> str:
        return f"created {body.name}"

    @router.get("/hidden", include_in_schema=False)
    async def hidden() -> dict[str, bool]:
        return {"hidden": True}

    @router.websocket("/echo")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("echo: " + await websocket.receive_text())
        await websocket.close()

    return router


class Catalogue(TrustedBase):
    def get_router(self) -> APIRouter:
        return rich_router()


def booted_app() -> FastAPI:
    return create_app(config=config(), plugins={"catalogue": Catalogue}, discover=False)


def test_every_route_is_declared_directly_on_the_app() -> None:
    app = booted_app()
    with TestClient(app):
        mounted = [r for r in app.router.routes if getattr(r, "path", "").startswith("/plugins/catalogue")]
        assert {type(r) for r in mounted} == {APIRoute, APIWebSocketRoute}
        assert sorted(r.path for r in mounted) == [  # type: ignore[attr-defined]
            "/plugins/catalogue/v1/echo",
            "/plugins/catalogue/v1/hidden",
            "/plugins/catalogue/v1/items",
            "/plugins/catalogue/v1/items/{item_id}",
        ]


def test_the_openapi_document_is_the_one_include_router_gives() -> None:
    app = booted_app()
    reference = FastAPI(title=app.title, version=app.version)
    reference.include_router(rich_router(), prefix="/plugins/catalogue", tags=["catalogue"])
    with TestClient(app):
        ours = app.openapi()
    expected = reference.openapi()
    plugin_paths = {p: v for p, v in ours["paths"].items() if p.startswith("/plugins/catalogue")}
    assert plugin_paths == expected["paths"]
    assert ours["components"]["schemas"]["Item"] == expected["components"]["schemas"]["Item"]
    operation = plugin_paths["/plugins/catalogue/v1/items/{item_id}"]["get"]
    assert operation["tags"] == ["catalogue", "catalogue", "items"]  # the plugin's name, its router's, its route's
    assert "418" in operation["responses"] and operation["summary"] == "One item"
    assert "/plugins/catalogue/v1/hidden" not in plugin_paths


def test_router_and_route_dependencies_prefix_and_response_model_apply() -> None:
    CALLS.clear()
    with TestClient(booted_app()) as http:
        refused = http.get("/plugins/catalogue/v1/items/3")
        assert refused.status_code == 403 and refused.json() == {"detail": "router dependency refused"}
        CALLS.clear()
        answer = http.get("/plugins/catalogue/v1/items/3", headers={"x-token": "let-me-in"})
        assert answer.json() == {"id": 3, "name": "lamp"}  # response_model filtered "secret" out
        assert CALLS == ["router", "route"]
        created = http.post(
            "/plugins/catalogue/v1/items", json={"id": 1, "name": "desk"}, headers={"x-token": "let-me-in"}
        )
        assert (created.status_code, created.text) == (201, "created desk")
        assert created.headers["content-type"].startswith("text/plain")
        assert http.get("/plugins/catalogue/items/3", headers={"x-token": "let-me-in"}).status_code == 404


def test_websocket_routes_with_the_router_dependency() -> None:
    with TestClient(booted_app()) as http:
        with http.websocket_connect("/plugins/catalogue/v1/echo", headers={"x-token": "let-me-in"}) as ws:
            ws.send_text("hi")
            assert ws.receive_text() == "echo: hi"
        with pytest.raises(Exception), http.websocket_connect("/plugins/catalogue/v1/echo") as ws:  # noqa: B017
            ws.receive_text()


async def test_a_router_with_a_nested_router_still_works_through_include_router() -> None:
    inner = APIRouter(prefix="/inner")

    @inner.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"pong": True}

    outer = APIRouter()
    outer.include_router(inner)
    assert not directly_mountable(outer)
    app = FastAPI()
    mount_plugin_router(app, outer, "/plugins/nested", "nested")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        assert (await http.get("/plugins/nested/inner/ping")).json() == {"pong": True}
        spec = (await http.get("/openapi.json")).json()
    assert spec["paths"]["/plugins/nested/inner/ping"]["get"]["tags"] == ["nested"]


def test_a_plugin_route_is_matched_before_xcore_s_docs_page_and_probes() -> None:
    """A request looks for its route in order, and each route passed over costs a match: before a plugin's
    routes come only the OpenAPI document and the action endpoint, as few as before a route of a bare
    ``FastAPI()``. The docs page, its assets, the probes, ``/metrics`` and the admin API and page come
    after them, and still answer."""
    settings = {"api_key": "k", "metrics": True, "admin_key": "admin-key-long-enough-0123456789"}
    app = create_app(config=config(app=settings), plugins={"catalogue": Catalogue}, discover=False)
    with TestClient(app) as http:
        paths = [getattr(r, "path", "") for r in app.router.routes]
        first = next(i for i, path in enumerate(paths) if path.startswith("/plugins/catalogue"))
        assert paths[:first] == ["/openapi.json", "/plugins/{plugin}/actions/{action}"]
        assert {"/docs", "/docs/assets", "/docs/oauth2-redirect", "/health", "/health/ready", "/metrics"} <= set(
            paths[first:]
        )
        assert any(path.startswith("/xcore/admin") for path in paths[first:])
        for path in ("/docs", "/docs/oauth2-redirect", "/docs/assets/swagger-ui.css", "/health", "/metrics"):
            assert http.get(path).status_code == 200, path
        assert http.get("/xcore/admin/api/plugins", headers={"X-Admin-Key": settings["admin_key"]}).status_code == 200
        assert "/docs" not in http.get("/openapi.json").json()["paths"]
