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
