"""The users plugin in a real host (XCore's testing kit), on the embedded SQLite database."""

import pytest
from xcore_example_users import Plugin


@pytest.fixture
def xcore_plugins():
    return {"users": Plugin}


async def test_create_list_and_get(xcore_client):
    created = await xcore_client.post("/plugins/users/users", json={"username": "ada", "email": "ada@example.com"})
    assert created.status_code == 201
    user_id = created.json()["id"]
    listed = (await xcore_client.get("/plugins/users/users")).json()["users"]
    assert [(u["id"], u["username"]) for u in listed] == [(user_id, "ada")]
    assert (await xcore_client.get(f"/plugins/users/users/{user_id}")).json()["email"] == "ada@example.com"
    assert (await xcore_client.get("/plugins/users/users/999")).status_code == 404


async def test_bad_input_is_refused_and_nothing_is_written(xcore_client):
    assert (await xcore_client.post("/plugins/users/users", json={"username": "ada"})).status_code == 422
    bad_email = await xcore_client.post("/plugins/users/users", json={"username": "ada", "email": "nope"})
    assert bad_email.status_code == 422
    await xcore_client.post("/plugins/users/users", json={"username": "ada", "email": "ada@example.com"})
    taken = await xcore_client.post("/plugins/users/users", json={"username": "ada", "email": "other@example.com"})
    assert taken.status_code == 409
    assert taken.json() == {"detail": "username 'ada' is taken"}
    assert len((await xcore_client.get("/plugins/users/users")).json()["users"]) == 1


async def test_actions(xcore_host):
    await xcore_host.client.post("/plugins/users/users", json={"username": "ada", "email": "ada@example.com"})
    found = await xcore_host.call("users", "get_user", {"user_id": 1})
    assert found["status"] == "ok" and found["user"]["username"] == "ada"
    assert (await xcore_host.call("users", "get_user", {"user_id": 2}))["code"] == "not_found"
    assert (await xcore_host.call("users", "get_user", {"user_id": "x"}))["code"] == "invalid_payload"
    assert (await xcore_host.call("users", "count", {})) == {"status": "ok", "count": 1}
    assert len((await xcore_host.call("users", "list_users", {"limit": 5}))["users"]) == 1


async def test_creating_a_user_emits_an_event(xcore_host):
    seen = []
    xcore_host.get_service("events").on("users.created", lambda event: seen.append(event.data))
    await xcore_host.client.post("/plugins/users/users", json={"username": "bob", "email": "bob@example.com"})
    assert seen == [{"id": 1, "username": "bob"}]


async def test_the_table_survives_a_restart(xcore_boot):
    first = await xcore_boot(plugins={"users": Plugin})
    await first.client.post("/plugins/users/users", json={"username": "ada", "email": "ada@example.com"})
    await first.host.shutdown()
    second = await xcore_boot(plugins={"users": Plugin})  # same tmp dir, same SQLite file
    assert (await second.call("users", "count", {}))["count"] == 1
