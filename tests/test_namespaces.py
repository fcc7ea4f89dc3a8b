"""Every Redis-backed service stays in its own namespace: no cache call reaches another service's keys.

Cache, scheduler, events and a ``type: redis`` database share ONE Redis database, as the spec's
configuration blocks have them (``${REDIS_URL}`` everywhere), under the default app name. A plugin
then empties the cache with ``clear()`` and ``delete_pattern()`` given every hostile pattern we could
think of; the spec's "Adding Jobs" plugin still lists its two jobs, the store's keys are intact, a
``get_or_set`` lock held meanwhile is still held, the Redis database's keys are intact, and events
emitted during the clearing all reach a second host.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis as sync_redis

from tests.spec_support import load_example
from xcore._services import ServiceSetup
from xcore._services.namespaces import service_namespace
from xcore.sdk import TrustedBase

HOSTILE_PATTERNS = [
    "*", "**", "?*", "*:*", "[", "[*", "]", "\\", "\\*", "*\\", "..", "../*", "..:*", "[a-z]*", "[^x]*",
    "key:*", "lock:*", "*lock*", "*jobs*", "*scheduler*", "*:scheduler:*", "xcore:*", ":*",
]  # fmt: skip


def shared_redis_config(url: str) -> dict[str, Any]:
    """Every Redis-backed service on the same Redis database, as the spec's blocks configure them."""
    return {
        "app": {"health_interval": 0},  # the default app name, "xcore", as in the reproduction
        "services": {
            "databases": {"redis_db": {"type": "redis", "url": url}},
            "cache": {"backend": "redis", "url": url, "ttl": 300},
            "scheduler": {"backend": "redis", "url": url, "timezone": "Europe/Paris", "poll_interval": 0.1},
            "events": {"backend": "redis", "url": url},
            "extensions": {},
        },
    }


class Cleaner(TrustedBase):
    """A plugin filling the cache and the Redis database, then emptying the cache in every way it can."""

    async def on_load(self) -> None:
        self.cache = self.get_service("cache")
        self.redis = self.get_service("redis_db")

    async def fill(self) -> None:
        await self.cache.set_many({f"users:page:{i}": i for i in range(20)})
        await self.cache.set("config", {"a": 1})
        self.redis.set("plain-key", "raw")  # a raw client writes where it likes
        self.redis.set(self.redis.key("session:1"), "mine")


class Listener(TrustedBase):
    """Loaded in a second host: collects the events the first host emits."""

    received: list[int] = []

    async def on_load(self) -> None:
        self.ctx.events.on("order.placed", lambda event: self.received.append(event.data["n"]))


def redis_snapshot(raw: sync_redis.Redis, prefix: str) -> dict[bytes, bytes]:
    """Every key under ``prefix`` with its type (what must survive the cache's clearing)."""
    return {name: raw.type(name) for name in raw.scan_iter(match=prefix + "*")}  # type: ignore[misc]


async def test_clearing_the_cache_leaves_jobs_locks_events_and_the_redis_database_intact(
    redis_url: str, xcore_boot: Any
) -> None:
    jobs = load_example("Adding Jobs", "from xcore.sdk import ok")
    config = shared_redis_config(redis_url)
    xcore = await xcore_boot(plugins={"jobs": jobs.Plugin, "cleaner": Cleaner}, config=config)
    await xcore_boot(plugins={"listener": Listener}, config=config)  # a second host: another worker
    Listener.received.clear()
    raw = sync_redis.Redis.from_url(redis_url)
    try:
        cleaner = xcore.plugin("cleaner")
        await cleaner.fill()
        listed = (await xcore.client.get("/plugins/jobs/jobs")).json()["jobs"]
        assert sorted(job["id"] for job in listed) == ["cleanup_job", "daily_report"]
        scheduler_keys = redis_snapshot(raw, "xcore:scheduler:")
        assert set(scheduler_keys) == {b"xcore:scheduler:jobs", b"xcore:scheduler:run_times"}
        stored_jobs = raw.hgetall("xcore:scheduler:jobs")
        run_times = raw.zrange("xcore:scheduler:run_times", 0, -1, withscores=True)

        # A get_or_set in progress holds its lock while the cache is being emptied.
        computing, release = asyncio.Event(), asyncio.Event()

        async def slow() -> str:
            computing.set()
            await release.wait()
            return "slow value"

        pending = asyncio.create_task(cleaner.cache.get_or_set("report", slow))
        await computing.wait()
        assert raw.exists("xcore:cache:lock:report")

        emitter = xcore.get_service("events", "cleaner")
        for n, pattern in enumerate(HOSTILE_PATTERNS):
            await emitter.emit("order.placed", {"n": n})  # in flight while the cache is cleared
            await cleaner.cache.delete_pattern(pattern)
        assert await cleaner.cache.clear() == 0  # "*" above already removed every value
        assert await cleaner.cache.get("config") is None and await cleaner.cache.get("users:page:3") is None

        assert raw.exists("xcore:cache:lock:report")  # the cache's own lock: out of reach of patterns
        release.set()
        assert await pending == "slow value"
        assert redis_snapshot(raw, "xcore:scheduler:") == scheduler_keys
        assert raw.hgetall("xcore:scheduler:jobs") == stored_jobs
        assert raw.zrange("xcore:scheduler:run_times", 0, -1, withscores=True) == run_times
        listed = (await xcore.client.get("/plugins/jobs/jobs")).json()["jobs"]
        assert sorted(job["id"] for job in listed) == ["cleanup_job", "daily_report"]  # the spec's listing
        assert raw.get("plain-key") == b"raw" and raw.get("xcore:redis_db:session:1") == b"mine"
        for _ in range(200):
            if len(Listener.received) == len(HOSTILE_PATTERNS):
                break
            await asyncio.sleep(0.02)
        assert sorted(Listener.received) == list(range(len(HOSTILE_PATTERNS)))
    finally:
        raw.close()


async def test_each_service_is_handed_its_own_namespace(redis_url: str, xcore_boot: Any) -> None:
    xcore = await xcore_boot(plugins={"cleaner": Cleaner}, config=shared_redis_config(redis_url))
    assert xcore.get_service("cache").namespace == "xcore:cache:"
    assert xcore.get_service("scheduler").store.namespace == "xcore:scheduler:"
    assert xcore.get_service("events").transport.channel == "xcore:events:bus"
    assert xcore.get_service("redis_db").namespace == "xcore:redis_db:"
    assert xcore.get_service("redis_db").key("a") == "xcore:redis_db:a"


@pytest.mark.parametrize(
    ("app", "service", "namespace"),
    [
        ("shop", "cache", "shop:cache:"),
        ("shop", "ext.rate", "shop:ext.rate:"),
        ("shop:cache", "cache", "shop%3Acache:cache:"),  # an app named like another's namespace
        ("a%3A", "b", "a%253A:b:"),
    ],
)
def test_namespaces_escape_the_separator(app: str, service: str, namespace: str) -> None:
    assert service_namespace(app, service) == namespace
    assert ServiceSetup.standalone(service, f"services.{service}", app).namespace == namespace


def test_no_namespace_is_a_prefix_of_another() -> None:
    names = ["shop", "shop:cache", "shop:", ":", "", "shop%3Acache", "a:b:c", "%"]
    services = ["cache", "scheduler", "events", "cache:x", "ext.a", "redis_db", ":", "%3A"]
    spaces = {(a, s): service_namespace(a, s) for a in names for s in services}
    for first, one in spaces.items():
        for second, other in spaces.items():
            if first != second:
                assert not other.startswith(one), (first, second)


async def test_jobs_stored_under_the_old_layout_are_adopted(redis_url: str, xcore_boot: Any) -> None:
    """A store written before namespaces (``xcore:<app>:scheduler:*``) keeps its jobs after the upgrade."""
    config = shared_redis_config(redis_url)
    jobs = load_example("Adding Jobs", "from xcore.sdk import ok")
    first = await xcore_boot(plugins={"jobs": jobs.Plugin}, config=config)
    await first.host.shutdown()
    raw = sync_redis.Redis.from_url(redis_url)
    try:
        for name in ("jobs", "run_times"):  # put the store back where the old version kept it
            raw.rename(f"xcore:scheduler:{name}", f"xcore:xcore:scheduler:{name}")

        class Reader(TrustedBase):
            """The same plugin name, adding no job: it only sees what the store holds."""

        second = await xcore_boot(plugins={"jobs": Reader}, config=config)
        ids = sorted(job.id for job in second.get_service("scheduler", "jobs").get_jobs())
        assert ids == ["cleanup_job", "daily_report"]
        assert not raw.exists("xcore:xcore:scheduler:jobs", "xcore:xcore:scheduler:run_times")
    finally:
        raw.close()


async def test_only_an_old_job_store_is_adopted_never_over_current_jobs(redis_url: str, xcore_boot: Any) -> None:
    raw = sync_redis.Redis.from_url(redis_url)
    try:
        raw.set("xcore:xcore:scheduler:jobs", "a string some other program wrote")
        xcore = await xcore_boot(plugins={}, config=shared_redis_config(redis_url))
        assert xcore.get_service("scheduler").store.count() == 0
        assert raw.get("xcore:xcore:scheduler:jobs") == b"a string some other program wrote"
        await xcore.host.shutdown()
        raw.delete("xcore:xcore:scheduler:jobs")
        raw.hset("xcore:xcore:scheduler:jobs", mapping={"old:job": b"old state", "both:job": b"old both"})
        raw.hset("xcore:scheduler:jobs", mapping={"new:job": b"new state", "both:job": b"new both"})
        await xcore_boot(plugins={}, config=shared_redis_config(redis_url))
        # old jobs are merged in; a current job with the same id wins and the old one is left for the operator
        assert raw.hgetall("xcore:scheduler:jobs") == {
            b"new:job": b"new state",
            b"both:job": b"new both",
            b"old:job": b"old state",
        }
        assert raw.hgetall("xcore:xcore:scheduler:jobs") == {b"both:job": b"old both"}
    finally:
        raw.close()
