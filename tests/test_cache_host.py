"""The spec's cache examples, run as plugin code on a real host, on memory and on Redis.

The plugin classes below are the examples of ``working-with-services.md`` as written ("Basic Usage",
"Pattern: Get or Set", "Cache Tags and Invalidation"); where the spec leaves a method to the author
(``_save_user``, ``_update_user_db``), a subclass supplies it. Config errors are checked through the
host too, since that is where a user meets them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from xcore import Xcore
from xcore._errors import ConfigError
from xcore.sdk import TrustedBase
from xcore.testing.harness import XcoreTestHost, boot_xcore
from xcore.testing.servers import RedisServer

# --------------------------------------------------------------------------- the spec's examples
# fmt: off


class BasicUsagePlugin(TrustedBase):

    async def on_load(self) -> None:
        self.cache = self.get_service("cache")

    def get_router(self):
        from fastapi import APIRouter
        router = APIRouter()

        @router.get("/data")
        async def get_data():
            """Get data with caching."""
            # Try cache first
            cached = await self.cache.get("my_data")
            if cached:
                return {"data": cached, "cached": True}

            # Fetch from database
            data = await self._fetch_expensive_data()

            # Store in cache
            await self.cache.set("my_data", data, ttl=300)

            return {"data": data, "cached": False}

        @router.post("/cache/clear")
        async def clear_cache():
            """Clear the cache."""
            await self.cache.clear()
            return {"message": "Cache cleared"}

        return router

    async def _fetch_expensive_data(self):
        # Simulate expensive operation
        import asyncio
        await asyncio.sleep(1)
        return {"value": "expensive_data"}


class GetOrSetPlugin(TrustedBase):

    async def on_load(self) -> None:
        self.cache = self.get_service("cache")
        self.db = self.get_service("db")

    async def get_user_with_cache(self, user_id: str):
        """Get user with automatic caching."""
        cache_key = f"user:{user_id}"

        # Get or compute and cache
        user = await self.cache.get_or_set(
            cache_key,
            factory=lambda: self._fetch_user_from_db(user_id),
            ttl=600  # 10 minutes
        )

        return user

    async def _fetch_user_from_db(self, user_id: str):
        """Fetch user from database."""
        with self.db.session() as session:
            result = session.execute(
                "SELECT * FROM users WHERE id = :id",
                {"id": user_id}
            )
            row = result.fetchone()
            return dict(row) if row else None


class InvalidationPlugin(TrustedBase):

    async def on_load(self) -> None:
        self.cache = self.get_service("cache")

    async def create_user(self, user_data: dict) -> dict:
        """Create user and invalidate user list cache."""
        # Create user in database
        user_id = await self._save_user(user_data)

        # Invalidate list cache
        await self.cache.delete("users:list")
        await self.cache.delete_pattern("users:page:*")

        return {"id": user_id}

    async def update_user(self, user_id: str, data: dict) -> dict:
        """Update user and invalidate cache."""
        # Update in database
        await self._update_user_db(user_id, data)

        # Invalidate specific user cache
        await self.cache.delete(f"user:{user_id}")
        await self.cache.delete("users:list")

        return {"updated": True}


# fmt: on
# --------------------------------------------------------------------------- test support


class InvalidationWithStorage(InvalidationPlugin):
    """The two methods the spec leaves to the plugin author."""

    users: dict[str, dict[str, Any]]

    async def _save_user(self, user_data: dict[str, Any]) -> str:
        self.users = getattr(self, "users", {})
        user_id = str(len(self.users) + 1)
        self.users[user_id] = dict(user_data)
        return user_id

    async def _update_user_db(self, user_id: str, data: dict[str, Any]) -> None:
        self.users[user_id].update(data)


NO_OTHER_SERVICES: dict[str, Any] = {
    "databases": {},
    "extensions": {},
    "scheduler": {"enabled": False},
    "events": {"enabled": False},
}


def cache_config(backend: str, redis_url: str | None) -> dict[str, Any]:
    if backend == "memory":
        return {"backend": "memory", "ttl": 300, "max_size": 10000}
    return {"backend": "redis", "url": redis_url, "ttl": 300, "max_size": 10000}  # the spec's block, as written


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    return request.param, url


@pytest.fixture
async def spec_host(
    backend: tuple[str, str | None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[XcoreTestHost]:
    monkeypatch.chdir(tmp_path)
    config = {
        "app": {"name": "spec-app"},
        "services": {
            **NO_OTHER_SERVICES,
            "databases": {"default": {"type": "sqlite", "url": f"sqlite:///{tmp_path}/users.db"}},
            "cache": cache_config(*backend),
        },
    }
    plugins = {"basic": BasicUsagePlugin, "users": GetOrSetPlugin, "invalidation": InvalidationWithStorage}
    async with boot_xcore(plugins, config) as host:
        yield host


# --------------------------------------------------------------------------- the examples on a host


async def test_basic_usage_routes(spec_host: XcoreTestHost) -> None:
    client = spec_host.client
    first = await client.get("/plugins/basic/data")
    assert first.json() == {"data": {"value": "expensive_data"}, "cached": False}
    second = await client.get("/plugins/basic/data")
    assert second.json() == {"data": {"value": "expensive_data"}, "cached": True}

    cleared = await client.post("/plugins/basic/cache/clear")
    assert cleared.json() == {"message": "Cache cleared"}
    assert await spec_host.get_service("cache").get("my_data") is None
    third = await client.get("/plugins/basic/data")
    assert third.json()["cached"] is False


async def test_get_or_set_pattern(spec_host: XcoreTestHost) -> None:
    db = spec_host.get_service("db")
    with db.session() as session:
        session.execute("CREATE TABLE users (id TEXT PRIMARY KEY, username TEXT, email TEXT)")
        session.execute("INSERT INTO users VALUES ('42', 'ada', 'ada@example.test')")
        session.commit()
    plugin = spec_host.plugin("users")

    user = await plugin.get_user_with_cache("42")
    assert user == {"id": "42", "username": "ada", "email": "ada@example.test"}
    with db.session() as session:
        session.execute("UPDATE users SET username = 'changed' WHERE id = '42'")
        session.commit()
    assert await plugin.get_user_with_cache("42") == user  # served from the cache, not the database
    cache = spec_host.get_service("cache")
    left = await cache.ttl("user:42")
    assert left is not None and 590 < left <= 600

    assert await plugin.get_user_with_cache("404") is None  # a missing user is cached as None
    with db.session() as session:
        session.execute("INSERT INTO users VALUES ('404', 'late', 'late@example.test')")
        session.commit()
    assert await plugin.get_user_with_cache("404") is None
    assert await cache.exists("user:404")


async def test_invalidation(spec_host: XcoreTestHost) -> None:
    cache = spec_host.get_service("cache")
    plugin = spec_host.plugin("invalidation")
    await cache.set_many(
        {
            "users:list": [1],
            "users:page:1": [1],
            "users:page:2": [2],
            "user:1": {"id": "1"},
            "settings": {"theme": "dark"},
        }
    )

    assert await plugin.create_user({"name": "ada"}) == {"id": "1"}
    assert await cache.get_many(["users:list", "users:page:1", "users:page:2", "user:1", "settings"]) == {
        "user:1": {"id": "1"},
        "settings": {"theme": "dark"},
    }
    await cache.set("users:list", [1])
    assert await plugin.update_user("1", {"name": "grace"}) == {"updated": True}
    assert await cache.get_many(["users:list", "user:1", "settings"]) == {"settings": {"theme": "dark"}}


# --------------------------------------------------------------------------- health and outages on a host


async def test_host_health_reports_a_redis_outage_and_recovery(
    redis_server: RedisServer, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = {"services": {**NO_OTHER_SERVICES, "cache": {**cache_config("redis", redis_url), "timeout": 0.3}}}
    async with boot_xcore({"basic": BasicUsagePlugin}, config) as host:
        report = await host.health()
        assert report["services"]["cache"]["status"] == "ok"
        assert report["services"]["cache"]["backend"] == "redis"
        redis_server.stop()
        try:
            report = await host.health()
            assert report["services"]["cache"]["status"] == "error"
            assert "unreachable" in report["services"]["cache"]["error"]
            assert (await host.client.post("/plugins/basic/cache/clear")).status_code == 200  # degraded, not broken
        finally:
            if redis_server.process is None:
                redis_server.start()
        for _ in range(100):
            if (await host.health())["services"]["cache"]["status"] == "ok":
                break
            await asyncio.sleep(0.05)
        assert (await host.health())["services"]["cache"]["status"] == "ok"


async def test_host_boots_with_redis_down_and_the_cache_recovers(
    redis_server: RedisServer, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = {"services": {**NO_OTHER_SERVICES, "cache": {**cache_config("redis", redis_url), "timeout": 0.3}}}
    redis_server.stop()
    try:
        async with boot_xcore({"invalidation": InvalidationWithStorage}, config) as host:
            assert (await host.health())["services"]["cache"]["status"] == "error"
            plugin = host.plugin("invalidation")  # the plugin loaded regardless
            assert await plugin.create_user({"name": "ada"}) == {"id": "1"}
            redis_server.start()
            cache = host.get_service("cache")
            for _ in range(100):
                await cache.set("probe", 1)
                if await cache.get("probe") == 1:
                    break
                await asyncio.sleep(0.05)
            assert await cache.get("probe") == 1
    finally:
        if redis_server.process is None:
            redis_server.start()


# --------------------------------------------------------------------------- config errors through the host


def prepare(cache: dict[str, Any]) -> Xcore:
    host = Xcore(config={"services": {**NO_OTHER_SERVICES, "cache": cache}}, discover=False)
    host.prepare()
    return host


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"backend": "redis"}, "services.cache.url: required key is missing"),
        ({"backend": "redis", "url": "http://localhost"}, "services.cache.url: Value error, must start with one of"),
        ({"backend": "memory", "max_sise": 10}, "services.cache.max_sise: unknown key; did you mean 'max_size'?"),
        ({"backend": "memory", "ttl": -1}, "services.cache.ttl: Input should be greater than or equal to 0"),
        ({"backend": "memory", "max_size": 0}, "services.cache.max_size: Input should be greater than 0"),
        ({"backend": "redis", "url": "redis://h", "timeout": "soon"}, "services.cache.timeout:"),
        ({"backend": "memcached"}, "services.cache: unknown cache type 'memcached'"),
    ],
)
def test_config_errors_name_the_key(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        prepare(section)
    assert message in str(info.value)


def test_the_spec_config_block_is_valid_for_both_backends() -> None:
    for backend in ("redis", "memory"):
        prepare({"backend": backend, "url": "redis://localhost:6379/0", "ttl": 300, "max_size": 10000})


def test_both_backends_are_registered_through_the_entry_point() -> None:
    host = prepare({"backend": "memory"})
    known = host.service_types.of_kind("cache")
    assert sorted(known) == ["memory", "redis", "tiered"]
    assert {reg.provider for reg in known.values()} == {"cache"}
