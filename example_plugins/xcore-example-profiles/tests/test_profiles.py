"""Profiles with the users plugin it requires, on the embedded memory cache."""

import pytest
from xcore_example_profiles import Plugin
from xcore_example_users import Plugin as Users


@pytest.fixture
def xcore_plugins():
    return {"users": Users, "profiles": Plugin}


async def add_user(client, name):
    response = await client.post("/plugins/users/users", json={"username": name, "email": f"{name}@example.com"})
    return response.json()["id"]


async def test_profiles_are_cached_until_refreshed(xcore_client):
    user_id = await add_user(xcore_client, "ada")
    first = (await xcore_client.get(f"/plugins/profiles/profiles/{user_id}")).json()
    assert first["cached"] is False and first["user"]["username"] == "ada"
    assert (await xcore_client.get(f"/plugins/profiles/profiles/{user_id}")).json()["cached"] is True
    assert (await xcore_client.post(f"/plugins/profiles/profiles/{user_id}/refresh")).json() == {"invalidated": True}
    assert (await xcore_client.get(f"/plugins/profiles/profiles/{user_id}")).json()["cached"] is False


async def test_a_missing_user_is_a_404_and_is_not_cached(xcore_host):
    assert (await xcore_host.client.get("/plugins/profiles/profiles/7")).status_code == 404
    assert await xcore_host.get_service("cache").exists("user:7") is False


async def test_a_new_user_invalidates_pages_and_count(xcore_client):
    await add_user(xcore_client, "ada")
    assert (await xcore_client.get("/plugins/profiles/pages/0")).json()["cached"] is False
    assert (await xcore_client.get("/plugins/profiles/pages/0")).json()["cached"] is True
    assert (await xcore_client.get("/plugins/profiles/stats")).json() == {"users": 1, "cached": False}
    assert (await xcore_client.get("/plugins/profiles/stats")).json() == {"users": 1, "cached": True}
    await add_user(xcore_client, "bob")  # emits users.created
    page = (await xcore_client.get("/plugins/profiles/pages/0")).json()
    assert page["cached"] is False and [u["username"] for u in page["users"]] == ["ada", "bob"]
    assert (await xcore_client.get("/plugins/profiles/stats")).json() == {"users": 2, "cached": False}


async def test_clear(xcore_client):
    await xcore_client.get("/plugins/profiles/stats")
    assert (await xcore_client.post("/plugins/profiles/cache/clear")).json()["cleared"] >= 1


async def test_without_the_users_plugin_profiles_fails_naming_it(xcore_boot):
    xcore = await xcore_boot(plugins={"profiles": Plugin}, strict=False)
    assert xcore.record("profiles").error == "requires plugin 'users', which is not installed or not enabled"
