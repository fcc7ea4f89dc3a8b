"""The async users plugin in a real host, on an embedded SQLite ``async_default`` database."""

import pytest
from xcore_example_users_async import Plugin

CONFIG = {
    "services": {
        "databases": {
            "default": {"type": "sqlite"},
            "async_default": {"type": "sqlasync", "url": "sqlite:///.xcore/async.db"},
        }
    }
}


@pytest.fixture
def xcore_plugins():
    return {"users_async": Plugin}


@pytest.fixture
def xcore_config():
    return CONFIG


async def test_create_list_get(xcore_client):
    created = await xcore_client.post("/plugins/users_async/users", json={"username": "ada", "email": "a@b.c"})
    assert created.status_code == 201
    user_id = created.json()["id"]
    assert (await xcore_client.get("/plugins/users_async/users")).json() == {
        "users": [{"id": user_id, "username": "ada", "email": "a@b.c"}]
    }
    one = (await xcore_client.get(f"/plugins/users_async/users/{user_id}")).json()
    assert one["username"] == "ada" and one["created_at"]
    assert (await xcore_client.get("/plugins/users_async/users/42")).status_code == 404


async def test_bad_input_and_duplicates(xcore_client):
    assert (await xcore_client.post("/plugins/users_async/users", json={"email": "a@b.c"})).status_code == 422
    await xcore_client.post("/plugins/users_async/users", json={"username": "ada", "email": "a@b.c"})
    again = await xcore_client.post("/plugins/users_async/users", json={"username": "ada", "email": "x@y.z"})
    assert again.status_code == 409
    assert len((await xcore_client.get("/plugins/users_async/users")).json()["users"]) == 1


async def test_without_the_database_the_plugin_fails_naming_it(xcore_boot):
    xcore = await xcore_boot(plugins={"users_async": Plugin}, strict=False)  # embedded defaults: no async_default
    assert "no service named 'async_default'" in xcore.record("users_async").error
