"""The Redis store plugin: without Redis it explains itself; with Redis, see XCore's tests/test_examples.py."""

import pytest
from xcore_example_redis_store import Plugin


@pytest.fixture
def xcore_plugins():
    return {"redis_store": Plugin}


async def test_without_redis_every_action_says_what_to_configure(xcore_host):
    answer = await xcore_host.call("redis_store", "set_json", {"key": "a", "value": 1})
    assert answer["status"] == "error"
    assert answer["code"] == "service_unavailable"
    assert "services.databases.redis_db" in answer["message"]
    assert (await xcore_host.call("redis_store", "list_keys", {}))["code"] == "service_unavailable"


async def test_without_redis_health_and_route_explain(xcore_host):
    report = await xcore_host.health()  # what /health/ready shows a client with the API key
    assert report["plugins"]["redis_store"] == {"status": "ok", "state": "loaded", "redis_db": "not configured"}
    item = await xcore_host.client.get("/plugins/redis_store/items/a")
    assert item.status_code == 503
    assert "not configured" in item.json()["detail"]
