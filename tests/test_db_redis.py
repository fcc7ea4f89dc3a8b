"""Redis as a database (``type: redis``) on a real redis-server: the seed's sync calls, the async
client, both protocols, bad URLs, and an outage the service recovers from by itself."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import redis

from xcore._builtin_services.redis_db import RedisDatabase
from xcore._errors import ConfigError
from xcore.sdk import TrustedBase, error, ok
from xcore.testing.conformance.boot import running_service
from xcore.testing.servers import RedisServer

from .test_db_sql import OTHER_SERVICES_OFF, service_setup


@pytest.mark.parametrize("protocol", [None, 2, 3])
async def test_seed_calls_return_bytes_on_every_protocol(redis_url: str, protocol: int | None) -> None:
    settings: dict[str, Any] = {"type": "redis", "url": redis_url, "max_connections": 5}
    if protocol is not None:
        settings["protocol"] = protocol
    async with running_service("database", settings, name="redis_db") as db:
        assert db.set("user:1", json.dumps({"name": "ada"}), ex=3600) is True
        assert json.loads(db.get("user:1")) == {"name": "ada"}
        assert 3500 < db.ttl("user:1") <= 3600
        db.set("user:2", "{}")
        assert sorted(db.keys("user:*")) == [b"user:1", b"user:2"]
        assert [k.decode() for k in db.keys("*")]
        assert db.delete("user:1") == 1
        assert db.get("user:1") is None
        assert db.keys("user:1*") == []


async def test_async_client_shares_the_data_and_settings(redis_url: str) -> None:
    async with running_service("database", {"type": "redis", "url": redis_url, "max_connections": 7}) as db:
        db.set("k", "v")
        assert await db.aio.get("k") == b"v"
        await db.aio.set("k2", "v2", ex=60)
        assert db.get("k2") == b"v2"
        assert db.client.connection_pool.max_connections == 7
        assert db.aio.connection_pool.max_connections == 7
        health = await db.health()
        assert health["latency_ms"] >= 0


async def test_decode_responses_gives_text(redis_url: str) -> None:
    async with running_service("database", {"type": "redis", "url": redis_url, "decode_responses": True}) as db:
        db.set("k", "v")
        assert db.get("k") == "v" and db.keys("*") == ["k"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://admin:hunter22@cache:6379/0", "must start with one of redis://, rediss://, unix://"),
        ("", "must start with one of"),
        ("redis://admin:hunter22@cache:notaport/0", "is not a usable Redis URL (Port could not be cast"),
    ],
)
async def test_bad_url_is_a_config_error_naming_the_key(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        async with running_service("database", {"type": "redis", "url": url}, name="redis_db"):
            pass
    assert "services.databases.redis_db.url: Value error, " in str(caught.value) and says in str(caught.value)
    assert "hunter22" not in str(caught.value)


async def test_refused_connection_names_the_key() -> None:
    from xcore._builtin_services.redis_db import RedisSettings, build
    from xcore.testing.servers import free_port

    db = build(RedisSettings(url=f"redis://:hunter22@127.0.0.1:{free_port()}/0"), service_setup("sessions"))
    try:
        with pytest.raises(
            redis.ConnectionError, match=r"^services\.databases\.sessions: Error 111 connecting"
        ) as caught:
            await db.start()
        assert "hunter22" not in str(caught.value)
        with pytest.raises(redis.ConnectionError, match=r"^services\.databases\.sessions: "):
            db.get("k")
    finally:
        await db.close()


async def test_outage_then_recovery_without_restart(redis_server: RedisServer, redis_url: str) -> None:
    async with running_service("database", {"type": "redis", "url": redis_url}, name="redis_db") as db:
        db.set("before", "1")
        await db.aio.set("before", "1")
        redis_server.stop()
        try:
            with pytest.raises(redis.ConnectionError, match=r"services\.databases\.redis_db"):
                db.get("before")
            with pytest.raises(redis.ConnectionError, match=r"services\.databases\.redis_db"):
                await db.health()
        finally:
            redis_server.start()
        # both clients' pooled connections died with the server; their next calls reconnect
        assert db.set("after", "2") is True
        assert await db.aio.get("after") == b"2"
        assert (await db.health())["latency_ms"] >= 0


class RedisJson(TrustedBase):
    """The spec's "Using Redis as Database" plugin, as written."""

    async def on_load(self) -> None:
        self.redis = self.get_service("redis_db")

    async def handle(self, action: str, payload: dict) -> dict:
        if action == "set_json":
            key = payload["key"]
            value = json.dumps(payload["value"])
            ttl = payload.get("ttl", 3600)

            self.redis.set(key, value, ex=ttl)
            return ok(message="Data stored")

        if action == "get_json":
            key = payload["key"]
            data = self.redis.get(key)
            if data:
                return ok(value=json.loads(data))
            return error("Key not found", code="not_found")

        if action == "delete":
            key = payload["key"]
            self.redis.delete(key)
            return ok(message="Key deleted")

        if action == "list_keys":
            pattern = payload.get("pattern", "*")
            keys = self.redis.keys(pattern)
            return ok(keys=[k.decode() for k in keys])

        return ok()


def redis_config(url: str) -> dict[str, Any]:
    return {"services": {**OTHER_SERVICES_OFF, "databases": {"redis_db": {"type": "redis", "url": "${REDIS_URL}"}}}}


async def test_spec_redis_plugin(xcore_boot: Any, redis_url: str) -> None:
    xcore = await xcore_boot(plugins={"store": RedisJson}, config=redis_config(redis_url), env={"REDIS_URL": redis_url})
    assert isinstance(xcore.get_service("db"), RedisDatabase)
    assert await xcore.call("store", "set_json", {"key": "cfg", "value": {"a": [1, 2]}, "ttl": 60}) == ok(
        message="Data stored"
    )
    assert await xcore.call("store", "get_json", {"key": "cfg"}) == ok(value={"a": [1, 2]})
    assert await xcore.call("store", "list_keys", {"pattern": "c*"}) == ok(keys=["cfg"])
    assert await xcore.call("store", "delete", {"key": "cfg"}) == ok(message="Key deleted")
    missing = await xcore.call("store", "get_json", {"key": "cfg"})
    assert missing == error("Key not found", code="not_found")


async def test_server_down_at_boot_leaves_the_host_up_then_recovers(
    xcore_boot: Any, redis_server: RedisServer, redis_url: str
) -> None:
    redis_server.stop()
    try:
        xcore = await xcore_boot(
            plugins={"store": RedisJson}, config=redis_config(redis_url), env={"REDIS_URL": redis_url}
        )
        report = (await xcore.health())["services"]["redis_db"]
        assert report["status"] == "error" and "services.databases.redis_db" in report["error"]
        with pytest.raises(redis.ConnectionError):
            await xcore.call("store", "get_json", {"key": "x"})
    finally:
        await asyncio.to_thread(redis_server.start)
    assert (await xcore.call("store", "set_json", {"key": "x", "value": 1}))["status"] == "ok"
    assert (await xcore.health())["services"]["redis_db"]["status"] == "ok"


async def test_required_database_down_at_boot_fails_the_boot(
    xcore_boot: Any, redis_server: RedisServer, redis_url: str
) -> None:
    from xcore._errors import BootError

    config = redis_config(redis_url)
    config["services"]["databases"]["redis_db"]["required"] = True
    redis_server.stop()
    try:
        with pytest.raises(BootError, match=r"services\.databases\.redis_db"):
            await xcore_boot(config=config, env={"REDIS_URL": redis_url})
    finally:
        redis_server.start()
