"""The HTTP face: mounted routers, the action endpoint and its key, health endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

import httpx
import pytest
from fastapi import APIRouter, HTTPException

from xcore import Xcore
from xcore.sdk import TrustedBase, action, error, ok
from xcore.web import create_app, service

from .support import config


class Shop(TrustedBase):
    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/items/{item_id}")
        async def item(item_id: int) -> dict[str, Any]:
            return {"id": item_id, "plugin": self.ctx.name}

        @router.get("/typed")
        async def typed(settings: Annotated[Any, service("ext.settings")]) -> dict[str, Any]:
            return {"same": settings is self.get_service("ext.settings")}

        return router

    bought = 0

    @action()
    async def buy(self, payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("qty", 0) <= 0:
            return error("quantity must be positive", code="bad_qty")
        Shop.bought += payload["qty"]
        return ok(bought=payload["qty"])

    @action()
    async def when(self, payload: dict[str, Any]) -> dict[str, Any]:
        return ok(at=datetime(2026, 11, 27, 12, 30, tzinfo=UTC), id=UUID(int=7), price=Decimal("9.50"))

    @action()
    async def explode(self, payload: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("secret internal detail")


class Sick(TrustedBase):
    async def health(self) -> dict[str, Any]:
        return {"status": "error", "reason": "queue stuck"}


@asynccontextmanager
async def client(plugins: dict[str, Any], **sections: Any) -> AsyncIterator[httpx.AsyncClient]:
    from tests.host.test_services import ProbeBackend

    cfg = config(services={"extensions": {"settings": {"type": "probe"}}}, **sections)
    app = create_app(config=cfg, plugins={"probes": ProbeBackend(), **plugins}, discover=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
    ):
        yield http


async def test_plugin_router_is_mounted_under_its_prefix_with_its_tag() -> None:
    async with client({"shop": Shop}) as http:
        assert (await http.get("/plugins/shop/items/7")).json() == {"id": 7, "plugin": "shop"}
        assert (await http.get("/plugins/shop/typed")).json() == {"same": True}
        spec = (await http.get("/openapi.json")).json()
        assert spec["paths"]["/plugins/shop/items/{item_id}"]["get"]["tags"] == ["shop"]


async def test_custom_prefix() -> None:
    async with client({"shop": Shop}, app={"plugin_prefix": "/ext/"}) as http:
        assert (await http.get("/ext/shop/items/1")).status_code == 200


class OwnActions(TrustedBase):
    """A plugin whose own router has a POST route shaped like the action endpoint."""

    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.post("/actions/{name}")
        async def own(name: str) -> dict[str, str]:
            if name != "known":
                raise HTTPException(404, f"no thing called {name}")
            return {"own": name}

        return router


async def test_action_endpoint_is_off_without_an_api_key_and_says_so() -> None:
    Shop.bought = 0
    async with client({"shop": Shop, "own": OwnActions}) as http:
        off = await http.post("/plugins/shop/actions/buy", json={"qty": 1})
        assert off.status_code == 404
        assert off.json() == {
            "status": "error", "code": "actions_disabled",
            "message": "the action endpoint is off: set app.api_key in integration.yaml to enable "
            "POST /plugins/<plugin>/actions/<action> (then send the key as X-API-Key or Authorization: Bearer)",
        }  # fmt: skip
        # the same with a key: the endpoint is off whatever the caller sends
        keyed = await http.post("/plugins/shop/actions/buy", json={"qty": 1}, headers={"X-API-Key": "guess"})
        assert keyed.status_code == 404 and keyed.json()["code"] == "actions_disabled"
        # other unmatched requests keep FastAPI's plain 404; a plugin's own route keeps its answers
        assert (await http.post("/plugins/shop/nothing", json={})).json() == {"detail": "Not Found"}
        assert (await http.get("/plugins/shop/actions/buy")).json() == {"detail": "Not Found"}
        assert (await http.post("/plugins/own/actions/known")).json() == {"own": "known"}
        assert (await http.post("/plugins/own/actions/other")).json() == {"detail": "no thing called other"}
    assert Shop.bought == 0


async def test_action_endpoint_requires_the_key_and_answers_the_action() -> None:
    async with client({"shop": Shop}, app={"api_key": "k-123"}) as http:
        url = "/plugins/shop/actions/buy"
        assert (await http.post(url, json={"qty": 2})).status_code == 401
        assert (await http.post(url, json={"qty": 2}, headers={"X-API-Key": "wrong"})).status_code == 401
        good = await http.post(url, json={"qty": 2}, headers={"X-API-Key": "k-123"})
        assert (good.status_code, good.json()) == (200, {"status": "ok", "bought": 2})
        bearer = await http.post(url, json={"qty": 0}, headers={"Authorization": "Bearer k-123"})
        assert bearer.json() == {"status": "error", "message": "quantity must be positive", "code": "bad_qty"}
        typed = await http.post("/plugins/shop/actions/when", headers={"X-API-Key": "k-123"})
        assert typed.json() == {"status": "ok", "at": "2026-11-27T12:30:00+00:00", "id": str(UUID(int=7)), "price": 9.5}
        scheme = (await http.get("/openapi.json")).json()["components"]["securitySchemes"]["APIKeyHeader"]
        assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-API-Key")


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/plugins/nobody/actions/buy", "no plugin named 'nobody'"),
        ("/plugins/shop/actions/fly", "plugin 'shop' has no action 'fly'; known actions: buy, explode, when"),
    ],
)
async def test_unknown_plugin_or_action_is_a_404_with_a_clear_body(path: str, fragment: str) -> None:
    async with client({"shop": Shop}, app={"api_key": "k"}) as http:
        response = await http.post(path, json={}, headers={"X-API-Key": "k"})
        assert response.status_code == 404
        assert response.json()["status"] == "error" and fragment in response.json()["message"]


async def test_exception_in_an_action_is_a_500_in_the_error_shape_with_the_traceback_only_in_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with client({"shop": Shop}, app={"api_key": "k"}) as http:
        response = await http.post("/plugins/shop/actions/explode", json={}, headers={"X-API-Key": "k"})
    assert response.status_code == 500
    assert response.json() == {
        "status": "error",
        "message": "action 'explode' of plugin 'shop' failed",
        "code": "internal_error",
    }
    assert "secret internal detail" not in response.text
    assert "secret internal detail" in caplog.text and "Traceback" in caplog.text


async def test_health_and_readiness() -> None:
    key = {"X-API-Key": "k"}
    async with client({"shop": Shop}, app={"api_key": "k"}) as http:
        assert (await http.get("/health")).json() == {"status": "ok"}
        ready = await http.get("/health/ready", headers=key)
        assert ready.status_code == 200
        assert ready.json()["services"]["ext.settings"]["status"] == "ok"
        assert ready.json()["plugins"]["shop"]["status"] == "ok"
    async with client({"shop": Shop, "sick": Sick}, app={"api_key": "k"}) as http:
        ready = await http.get("/health/ready", headers=key)
        assert ready.status_code == 503
        assert ready.json()["plugins"]["sick"] == {"status": "error", "state": "loaded", "reason": "queue stuck"}


async def test_failed_plugin_makes_readiness_503_with_its_error() -> None:
    class Broken(TrustedBase):
        async def on_load(self) -> None:
            raise RuntimeError("cannot start")

    async with client({"shop": Shop, "broken": Broken}, app={"api_key": "k"}) as http:
        ready = await http.get("/health/ready", headers={"Authorization": "Bearer k"})
        assert ready.status_code == 503
        assert ready.json()["plugins"]["broken"] == {
            "status": "error",
            "state": "failed",
            "error": "on_load raised RuntimeError: cannot start",
        }
        assert (await http.get("/plugins/shop/items/1")).status_code == 200


async def test_in_process_call_matches_http() -> None:
    host = Xcore(config=config(), plugins={"shop": Shop}, discover=False)
    await host.boot()
    try:
        assert await host.call("shop", "buy", {"qty": 3}) == {"status": "ok", "bought": 3}
    finally:
        await host.shutdown()
