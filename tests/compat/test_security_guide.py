"""docs/guides/security.md: the plugin examples of the page (sandboxing and signing are out of scope,
see docs/migrating.md)."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from xcore.testing.harness import PluginLoadError, boot_xcore

from .conftest import example

SECRET = "s3cret-signing-key-of-at-least-32-chars"


async def test_input_validation_and_error_responses() -> None:
    created: list[Any] = []

    class Users(example("security_validation")):  # type: ignore[misc]
        async def _create_user(self, validated: Any) -> None:
            created.append(validated.username)

    good = {"username": "alice", "email": "alice@example.com", "age": 30, "password": "Passw0rdX"}
    async with boot_xcore({"users": Users}) as xcore:
        assert await xcore.call("users", "create_user", good) == {"status": "ok", "user_id": "123"}
        weak = await xcore.call("users", "create_user", {**good, "password": "password1"})
        assert weak["status"] == "error" and weak["code"] == "validation_error"
        assert "Password must contain uppercase" in weak["message"]
    assert created == ["alice"]


async def test_parameterized_queries_on_the_sync_database() -> None:
    async with boot_xcore({"users": example("security_sql")}) as xcore:
        db = xcore.get_service("db")
        with db.session() as session:
            session.execute("CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT)")
            session.execute("INSERT INTO users VALUES (:id, :name)", {"id": "u1", "name": "Ann"})
            session.commit()
        row = await xcore.plugin("users").get_user("u1")
        assert dict(row) == {"id": "u1", "name": "Ann"}
        assert await xcore.plugin("users").get_user("' OR '1'='1") is None


async def test_tokens_signed_with_the_app_secret_key() -> None:
    config = {"app": {"secret_key": SECRET, "env": "production"}}
    async with boot_xcore({"admin": example("security_auth")}, config) as xcore:
        plugin = xcore.plugin("admin")
        assert plugin.ctx.config.env == "production"
        assert SECRET not in repr(plugin.ctx.config.app)
        admin = jwt.encode({"role": "admin", "exp": time.time() + 60}, SECRET, algorithm="HS256")
        user = jwt.encode({"role": "user"}, SECRET, algorithm="HS256")
        forged = jwt.encode({"role": "admin"}, "another-key-that-is-also-32-chars-long", algorithm="HS256")

        async def status(token: str) -> int:
            response = await xcore.client.get("/plugins/admin/admin/data", headers={"Authorization": f"Bearer {token}"})
            return response.status_code

        assert (await status(admin), await status(user), await status(forged)) == (200, 403, 401)
        # the secret is redacted wherever XCore shows the config
        assert SECRET not in str(await xcore.health())


async def test_secrets_from_the_environment() -> None:
    env = {"EXTERNAL_API_KEY": "ext-key-123"}
    async with boot_xcore({"external": example("security_secrets")}, env=env) as xcore:
        assert xcore.plugin("external").api_key == "ext-key-123"
    with pytest.raises(PluginLoadError, match="EXTERNAL_API_KEY not set"):
        async with boot_xcore({"external": example("security_secrets")}, env={}):
            pass


async def test_custom_rate_limit_with_the_cache() -> None:
    async with boot_xcore({"limited": example("security_rate_limit")}) as xcore:
        answers = [await xcore.call("limited", "search", {"user_id": "u1"}) for _ in range(11)]
        assert answers[:10] == [{"status": "ok"}] * 10
        assert answers[10] == {"status": "error", "message": "Rate limit exceeded", "code": "rate_limit"}
        assert await xcore.call("limited", "search", {"user_id": "u2"}) == {"status": "ok"}


async def test_security_events() -> None:
    failed: list[dict[str, Any]] = []

    class Auth(example("security_incident")):  # type: ignore[misc]
        async def _authenticate(self, payload: dict[str, Any]) -> bool:
            return payload.get("password") == "right"

    async with boot_xcore({"auth": Auth}) as xcore:
        xcore.host.events.on("security.failed_login", lambda event: failed.append(event.data))
        assert await xcore.call("auth", "login", {"username": "bob", "password": "right"}) == {"status": "ok"}
        denied = await xcore.call("auth", "login", {"username": "bob", "password": "no", "client_ip": "10.0.0.9"})
        assert denied == {"status": "error", "message": "Authentication failed", "code": None}
    assert [(f["username"], f["ip"]) for f in failed] == [("bob", "10.0.0.9")]
