"""Spec "Database Service": the sync, async and Redis examples, run as written, as plugins.

Sections covered (working-with-services.md):
- "Using Synchronous Database": test_sync_database_example (embedded SQLite, PostgreSQL)
- "Using Asynchronous Database": test_async_database_example (embedded SQLite, PostgreSQL)
- "Using Redis as Database": test_redis_database_example (Redis server; Redis is never embedded)
"""

from __future__ import annotations

from typing import Any

import pytest
import redis

from tests import spec_support
from tests.spec_support import USERS_TABLE, Backend, load_example

spec_backend = spec_support.spec_backend  # the fixture, made visible to this module's tests
spec_servers = spec_support.spec_servers  # the fixture, made visible to this module's tests


async def create_users_sync(xcore: Any, dialect: str) -> None:
    with xcore.get_service("db").session() as session:
        session.execute(USERS_TABLE[dialect])
        session.commit()


async def create_users_async(xcore: Any, dialect: str) -> None:
    async with xcore.get_service("async_default").connection() as conn:
        await conn.execute(USERS_TABLE[dialect])


async def test_sync_database_example(spec_backend: Backend, xcore_boot: Any) -> None:
    example = load_example("Using Synchronous Database", "")  # the block imports all it uses
    xcore = await xcore_boot(plugins={"users": example.Plugin}, config=spec_backend.config, env=spec_backend.env)
    await create_users_sync(xcore, spec_backend.dialect)
    plugin = xcore.plugin("users")
    assert plugin.db is xcore.get_service("db") is xcore.get_service("default")  # "Or by name"

    created = await xcore.client.post("/plugins/users/users", json={"username": "ada", "email": "ada@example.com"})
    assert created.status_code == 200, created.text
    assert created.json()["status"] == "created"
    user_id = created.json()["id"]
    await xcore.client.post("/plugins/users/users", json={"username": "bob", "email": "bob@example.com"})

    listed = await xcore.client.get("/plugins/users/users")
    assert listed.status_code == 200
    assert listed.json()["users"][0] == {"id": user_id, "username": "ada", "email": "ada@example.com"}
    assert [u["username"] for u in listed.json()["users"]] == ["ada", "bob"]

    found = await xcore.call("users", "get_user", {"user_id": user_id})
    assert found["status"] == "ok"
    assert found["user"]["username"] == "ada"
    assert found["user"]["created_at"] is not None  # NOW() worked on this database

    missing = await xcore.call("users", "get_user", {"user_id": 999})
    assert missing == {"status": "error", "message": "User not found", "code": "not_found"}

    with pytest.raises(KeyError, match="email"):  # the example does not validate its input...
        await xcore.client.post("/plugins/users/users", json={"username": "no-email"})
    # ...and nothing is written
    assert len((await xcore.client.get("/plugins/users/users")).json()["users"]) == 2


async def test_async_database_example(spec_backend: Backend, xcore_boot: Any) -> None:
    example = load_example("Using Asynchronous Database", "from fastapi import HTTPException")
    xcore = await xcore_boot(plugins={"users": example.Plugin}, config=spec_backend.config, env=spec_backend.env)
    await create_users_async(xcore, spec_backend.dialect)

    created = await xcore.client.post("/plugins/users/users", json={"username": "ada", "email": "ada@example.com"})
    assert created.status_code == 200, created.text
    assert created.json()["status"] == "created"
    user_id = created.json()["id"]

    listed = await xcore.client.get("/plugins/users/users")
    assert listed.json() == {"users": [{"id": user_id, "username": "ada", "email": "ada@example.com"}]}

    one = await xcore.client.get(f"/plugins/users/users/{user_id}")
    assert one.status_code == 200
    assert one.json()["username"] == "ada"
    assert one.json()["created_at"]

    missing = await xcore.client.get("/plugins/users/users/999")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "User not found"}

    not_a_number = await xcore.client.get("/plugins/users/users/abc")
    assert not_a_number.status_code == 422


async def test_redis_database_example(spec_servers: Backend, xcore_boot: Any) -> None:
    example = load_example("Using Redis as Database", "from xcore.sdk import ok, error")
    xcore = await xcore_boot(plugins={"store": example.Plugin}, config=spec_servers.config, env=spec_servers.env)

    stored = await xcore.call("store", "set_json", {"key": "profile:1", "value": {"name": "Ada", "tags": [1, 2]}})
    assert stored == {"status": "ok", "message": "Data stored"}
    await xcore.call("store", "set_json", {"key": "profile:2", "value": [1], "ttl": 30})
    assert await xcore.call("store", "get_json", {"key": "profile:1"}) == {
        "status": "ok",
        "value": {"name": "Ada", "tags": [1, 2]},
    }

    assert spec_servers.servers is not None
    raw = redis.Redis.from_url(spec_servers.servers.redis_url)
    try:
        assert 3590 < raw.ttl("profile:1") <= 3600  # the default ttl of the example
        assert 0 < raw.ttl("profile:2") <= 30
    finally:
        raw.close()

    listed = await xcore.call("store", "list_keys", {"pattern": "profile:*"})
    assert sorted(listed["keys"]) == ["profile:1", "profile:2"]

    assert await xcore.call("store", "delete", {"key": "profile:1"}) == {"status": "ok", "message": "Key deleted"}
    assert await xcore.call("store", "get_json", {"key": "profile:1"}) == {
        "status": "error",
        "message": "Key not found",
        "code": "not_found",
    }
    assert await xcore.call("store", "unknown_action", {}) == {"status": "ok"}  # the example's fallthrough
