"""doc/reference/sdk.md and doc/guides/creating-plugins.md: lifecycle and responses as written."""

from __future__ import annotations

from typing import Any

import pytest

from xcore.testing.harness import boot_xcore

from .conftest import example


async def test_lifecycle_hooks_page(capsys: pytest.CaptureFixture[str]) -> None:
    async with boot_xcore({"mon_plugin": example("creating_plugins_lifecycle")}) as xcore:
        assert "Plugin mon_plugin prêt !" in capsys.readouterr().out
        assert xcore.plugin("mon_plugin").db is xcore.get_service("db")


async def test_response_helpers_example() -> None:
    from .examples.sdk_responses import UserPlugin

    class Users(UserPlugin):  # type: ignore[misc]
        async def _fetch_user(self, user_id: str) -> dict[str, Any] | None:
            return {"id": user_id} if user_id == "1" else None

        async def _create_user(self, payload: dict[str, Any]) -> dict[str, Any]:
            if "name" not in payload:
                raise ValueError("name is required")
            return {"id": 2}

    async with boot_xcore({"users": Users}) as xcore:
        assert await xcore.call("users", "get_user", {"user_id": "1"}) == {"status": "ok", "user": {"id": "1"}}
        missing = await xcore.call("users", "get_user", {})
        assert missing == {"status": "error", "message": "user_id is required", "code": "missing_param"}
        assert (await xcore.call("users", "get_user", {"user_id": "9"}))["code"] == "not_found"
        created = await xcore.call("users", "create_user", {"name": "x"})
        assert created == {"status": "ok", "message": "User created successfully", "user_id": 2}
        assert (await xcore.call("users", "create_user", {}))["code"] == "validation_error"
        assert (await xcore.call("users", "other", {}))["code"] == "unknown_action"


async def test_mixins_of_the_creating_plugins_page() -> None:
    from .examples.creating_plugins_mixins import MonPlugin

    async with boot_xcore({"mon_plugin": MonPlugin}, {"app": {"plugin_prefix": "/plugin"}}) as xcore:
        assert await xcore.call("mon_plugin", "calcul", {"val": 21}) == {"status": "ok", "result": 42}
        # "Route montée sous /plugin/mon_plugin/status"
        assert (await xcore.client.get("/plugin/mon_plugin/status")).json() == {"active": True, "ver": None}


async def test_route_decorator_page() -> None:
    async with boot_xcore({"shop": example("sdk_routes")}) as xcore:
        client = xcore.client
        assert (await client.get("/plugins/shop/items")).json() == [{"id": 1, "name": "foo"}, {"id": 2, "name": "bar"}]
        assert (await client.get("/plugins/shop/items/7")).json() == {"id": 7, "name": "Item 7"}
        created = await client.post("/plugins/shop/items", json={"n": 1})
        assert (created.status_code, created.json()) == (201, {"id": 3, "created": True, "data": {"n": 1}})
        updated = await client.put("/plugins/shop/items/4", json={"n": 2})
        assert updated.json() == {"id": 4, "updated": True, "data": {"n": 2}}
        assert (await client.delete("/plugins/shop/items/4")).json() == {"id": 4, "deleted": True}
        assert (await client.get("/plugins/shop/items/x")).status_code == 422  # typed path parameter
        schema = (await client.get("/openapi.json")).json()
        assert schema["paths"]["/plugins/shop/items"]["get"]["tags"] == ["shop", "items"]


async def test_auto_dispatch_mixin_page() -> None:
    async with boot_xcore({"calc": example("sdk_auto_dispatch")}, {"app": {"api_key": "k"}}) as xcore:
        assert await xcore.call("calc", "add", {"a": 5, "b": 3}) == {"status": "ok", "result": 8}
        assert await xcore.call("calc", "multiply", {"a": 4, "b": 7}) == {"status": "ok", "result": 28}
        assert await xcore.call("calc", "status", {}) == {"status": "ok", "loaded": True, "version": None}
        unknown = await xcore.client.post("/app/calc/unknown", json={}, headers={"X-API-Key": "k"})
        assert unknown.status_code == 404
        assert unknown.json()["status"] == "error"
        assert "known actions: add, multiply, status" in unknown.json()["message"]


async def test_require_service_page() -> None:
    from xcore._errors import ServiceNotFoundError
    from xcore.testing.configs import no_services

    async with boot_xcore({"guarded": example("sdk_require_service")}) as xcore:
        assert await xcore.call("guarded", "x") == {"status": "ok", "db": "SqlDatabase"}
        assert await xcore.plugin("guarded").complex_operation({}) == {"status": "ok"}
    async with boot_xcore({"guarded": example("sdk_require_service")}, {"services": no_services()}) as xcore:
        with pytest.raises(ServiceNotFoundError, match="no service named 'db'"):
            await xcore.call("guarded", "x")
        with pytest.raises(KeyError):
            await xcore.plugin("guarded").complex_operation({})


async def test_complete_plugin_page(smtp_server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    config = {
        "services": {
            "databases": {"default": {"type": "sqlasync", "url": "sqlite:///notify.db"}},
            "extensions": {"email_service": smtp_server.settings()},
        }
    }
    async with boot_xcore({"email_notify": example("complete_plugin")}, config) as xcore:
        assert "Email Notify Plugin Ready!" in capsys.readouterr().out
        db = xcore.get_service("db")
        async with db.connection() as conn:
            await conn.execute("CREATE TABLE logs (recipient TEXT, sent_at TEXT)")
        before = len(smtp_server.messages)
        payload = {"recipient": "ann@example.com", "subject": "Hi", "body": "Hello Ann"}
        assert await xcore.call("email_notify", "send", payload) == {
            "status": "ok",
            "message": "Email sent and logged.",
        }
        invalid = await xcore.call("email_notify", "send", {**payload, "recipient": "not-an-email"})
        assert invalid["status"] == "error" and invalid["code"] == "validation_error"
        assert "recipient" in invalid["message"] and "not-an-email" not in invalid["message"]
        await xcore.host.events.emit("user.created", {"email": "bob@example.com"})
        delivered = smtp_server.messages[before:]
        assert [m.recipients for m in delivered] == [["ann@example.com"], ["bob@example.com"]]
        async with db.connection() as conn:  # logged without commit(): the session block committed
            rows = await conn.fetch("SELECT recipient FROM logs ORDER BY rowid")
        assert [r["recipient"] for r in rows] == ["ann@example.com", "bob@example.com"]
        status = (await xcore.client.get("/plugins/email_notify/status")).json()
        assert status == {"service": "email_notify", "external_service_ok": True, "message": "ok"}
        smtp_server.stop()
        try:
            down = (await xcore.client.get("/plugins/email_notify/status")).json()
        finally:
            smtp_server.start()
        assert down["external_service_ok"] is False and "password" not in down["message"].lower()
