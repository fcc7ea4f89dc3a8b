"""Spec "Cache Service": the three cache examples, run as written, as plugins.

Sections covered (working-with-services.md), each on the memory cache + SQLite and on Redis + PostgreSQL:
- "Basic Usage": test_cache_basic_usage_example
- "Pattern: Get or Set": test_get_or_set_pattern (the spec shows two bare methods: the test wraps
  them into a TrustedBase class whose on_load fetches the ``db`` and ``cache`` they use)
- "Cache Tags and Invalidation": test_cache_invalidation_example (the spec's class calls
  ``_save_user`` and ``_update_user_db`` without showing them: a test subclass supplies both)
"""

from __future__ import annotations

from typing import Any

from tests import spec_support
from tests.spec_support import USERS_TABLE, Backend, load_example
from xcore.sdk import TrustedBase

spec_backend = spec_support.spec_backend  # the fixture, made visible to this module's tests


async def test_cache_basic_usage_example(spec_backend: Backend, xcore_boot: Any) -> None:
    example = load_example("Basic Usage", "")  # the block imports all it uses
    xcore = await xcore_boot(plugins={"data": example.Plugin}, config=spec_backend.config, env=spec_backend.env)

    first = await xcore.client.get("/plugins/data/data")  # computed (the example sleeps one second)
    assert first.json() == {"data": {"value": "expensive_data"}, "cached": False}
    second = await xcore.client.get("/plugins/data/data")
    assert second.json() == {"data": {"value": "expensive_data"}, "cached": True}
    assert await xcore.get_service("cache").ttl("my_data") <= 300

    cleared = await xcore.client.post("/plugins/data/cache/clear")
    assert cleared.json() == {"message": "Cache cleared"}
    assert await xcore.get_service("cache").get("my_data") is None
    assert (await xcore.client.get("/plugins/data/data")).json()["cached"] is False


async def test_get_or_set_pattern(spec_backend: Backend, xcore_boot: Any) -> None:
    pattern = load_example("Pattern: Get or Set", "")  # two methods, no imports needed

    class Plugin(TrustedBase):
        """The test's wrapper around the spec's two methods (the spec shows them without a class)."""

        get_user_with_cache = pattern.get_user_with_cache
        _fetch_user_from_db = pattern._fetch_user_from_db

        async def on_load(self) -> None:
            self.db = self.get_service("db")
            self.cache = self.get_service("cache")

    xcore = await xcore_boot(plugins={"users": Plugin}, config=spec_backend.config, env=spec_backend.env)
    db = xcore.get_service("db")
    with db.session() as session:
        session.execute(USERS_TABLE[spec_backend.dialect])
        session.execute("INSERT INTO users (username, email, created_at) VALUES ('ada', 'ada@example.com', NOW())")
        session.commit()
    plugin = xcore.plugin("users")

    user = await plugin.get_user_with_cache("1")
    assert user["username"] == "ada"
    with db.session() as session:
        session.execute("UPDATE users SET username = 'changed' WHERE id = 1")
        session.commit()
    assert (await plugin.get_user_with_cache("1"))["username"] == "ada"  # served from the cache
    assert 590 < await xcore.get_service("cache").ttl("user:1") <= 600

    await xcore.get_service("cache").delete("user:1")
    assert (await plugin.get_user_with_cache("1"))["username"] == "changed"


async def test_cache_invalidation_example(spec_backend: Backend, xcore_boot: Any) -> None:
    example = load_example("Cache Tags and Invalidation", "from xcore.sdk import TrustedBase")

    class Plugin(example.Plugin):  # type: ignore[misc,name-defined]
        """Supplies the two storage methods the spec's class calls but does not show."""

        saved: list[dict[str, Any]] = []

        async def _save_user(self, user_data: dict[str, Any]) -> str:
            self.saved.append(dict(user_data))
            return str(len(self.saved))

        async def _update_user_db(self, user_id: str, data: dict[str, Any]) -> None:
            self.saved[int(user_id) - 1].update(data)

    xcore = await xcore_boot(plugins={"users": Plugin}, config=spec_backend.config, env=spec_backend.env)
    cache = xcore.get_service("cache")
    keys = ["users:list", "users:page:1", "users:page:2", "user:1", "user:2", "users:pages"]
    for key in keys:
        await cache.set(key, {"cached": key})
    plugin = xcore.plugin("users")

    assert await plugin.create_user({"username": "ada"}) == {"id": "1"}
    present = {key for key in keys if await cache.exists(key)}
    assert present == {"user:1", "user:2", "users:pages"}  # the list and every page are gone

    assert await plugin.update_user("1", {"username": "ada2"}) == {"updated": True}
    assert plugin.saved == [{"username": "ada2"}]
    present = {key for key in keys if await cache.exists(key)}
    assert present == {"user:2", "users:pages"}
