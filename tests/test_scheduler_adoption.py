"""The Redis scheduler store adopts the jobs of the key layout before namespaces, whatever comes first.

The old layout is ``xcore:<app>:scheduler:*``. A first start of the new version while Redis does not
answer (here: the suite's redis-server stopped with SIGSTOP, as a container started out of order
would be) must not let the config-jobs retry or a plugin's ``add_job`` write into the namespace
before the old jobs are moved in; and a namespace that already holds jobs gets the old ones merged
in, never overwritten.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis as sync_redis

from xcore._builtin_services.scheduler.stores.redis import RedisStore
from xcore.sdk import TrustedBase
from xcore.testing.servers.redis import RedisServer

OLD = "xcore:t:scheduler:"
NEW = "t:scheduler:"
REMINDER = "2030-01-01T00:00:00+00:00"


def tick() -> None:
    """A config job's target."""


def reminder() -> None:
    """An application job's target."""


def config(url: str, jobs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    scheduler = {"backend": "redis", "url": url, "timeout": 0.3, "timezone": "UTC", "jobs": jobs or []}
    return {"app": {"name": "t", "health_interval": 0}, "services": {"scheduler": scheduler}}


CONFIG_JOB = {"func": f"{__name__}:tick", "trigger": "interval", "minutes": 5, "id": "tick"}


class Reader(TrustedBase):
    """Adds no job: the host only sees what the store holds."""


async def store_old_layout(url: str, xcore_boot: Any) -> sync_redis.Redis:
    """A store the version before namespaces wrote: one application job under ``xcore:t:scheduler:*``."""
    first = await xcore_boot(plugins={}, config=config(url))
    first.get_service("scheduler").add_job(f"{__name__}:reminder", trigger="date", run_date=REMINDER, id="reminder")
    await first.host.shutdown()
    raw = sync_redis.Redis.from_url(url)
    for name in ("jobs", "run_times"):
        raw.rename(f"{NEW}{name}", f"{OLD}{name}")
    assert raw.hkeys(f"{OLD}jobs") == [b":reminder"]
    return raw


@contextmanager
def paused(server: RedisServer) -> Iterator[None]:
    """Redis accepts connections but answers nothing (SIGSTOP) until the block ends."""
    assert server.process is not None, "the test needs the suite's own redis-server to pause it"
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


async def wait_for(check: Any, timeout: float = 15.0) -> None:
    for _ in range(int(timeout / 0.1)):
        if check():
            return
        await asyncio.sleep(0.1)
    assert check()


async def test_the_config_retry_after_a_paused_first_start_adopts_before_writing(
    redis_server: RedisServer, redis_url: str, xcore_boot: Any
) -> None:
    raw = await store_old_layout(redis_url, xcore_boot)
    try:
        with paused(redis_server):
            host = await xcore_boot(plugins={"p": Reader}, config=config(redis_url, [CONFIG_JOB]), strict=False)
            assert "scheduler store" in str(host.host.services.status()["scheduler"]["error"])
        await wait_for(lambda: raw.hexists(f"{NEW}jobs", ":tick"))  # the retry (every 2 s) wrote the config job
        assert sorted(raw.hkeys(f"{NEW}jobs")) == [b":reminder", b":tick"]
        assert raw.zscore(f"{NEW}run_times", ":reminder") is not None  # still scheduled
        assert not raw.exists(f"{OLD}jobs", f"{OLD}run_times")
        await host.host.shutdown()
        again = await xcore_boot(plugins={"p": Reader}, config=config(redis_url, [CONFIG_JOB]))
        assert sorted(job.id for job in again.get_service("scheduler").get_jobs()) == ["reminder", "tick"]
    finally:
        raw.close()


async def test_an_add_job_after_a_paused_first_start_adopts_before_writing(
    redis_server: RedisServer, redis_url: str, xcore_boot: Any
) -> None:
    raw = await store_old_layout(redis_url, xcore_boot)
    try:
        with paused(redis_server):
            host = await xcore_boot(plugins={"p": Reader}, config=config(redis_url), strict=False)
        scheduler = host.get_service("scheduler")
        await asyncio.to_thread(scheduler.add_job, f"{__name__}:tick", trigger="interval", minutes=5, id="late")
        assert sorted(raw.hkeys(f"{NEW}jobs")) == [b":late", b":reminder"]
        assert not raw.exists(f"{OLD}jobs", f"{OLD}run_times")
    finally:
        raw.close()


def test_adoption_merges_and_never_overwrites_a_current_job(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    raw = sync_redis.Redis.from_url(redis_url)
    store = RedisStore(redis_url, NEW, 1.0, legacy_prefix=OLD.rstrip(":"))
    try:
        raw.hset(f"{OLD}jobs", mapping={"shared": b"old state", "only-old": b"old job"})
        raw.zadd(f"{OLD}run_times", {"shared": 1.0, "only-old": 2.0})
        raw.hset(f"{OLD}outcomes", mapping={"shared": "old outcome", "only-old": "its outcome"})
        raw.hset(f"{NEW}jobs", "shared", b"new state")
        raw.zadd(f"{NEW}run_times", {"shared": 5.0})
        with caplog.at_level(logging.WARNING, "xcore.scheduler"):
            store.prepare()
        assert raw.hgetall(f"{NEW}jobs") == {b"shared": b"new state", b"only-old": b"old job"}
        assert raw.zrange(f"{NEW}run_times", 0, -1, withscores=True) == [(b"only-old", 2.0), (b"shared", 5.0)]
        assert raw.hgetall(f"{NEW}outcomes") == {b"only-old": b"its outcome"}
        # the clashing old job is left, whole, for the operator, and the warning names it
        assert raw.hgetall(f"{OLD}jobs") == {b"shared": b"old state"}
        assert raw.zrange(f"{OLD}run_times", 0, -1, withscores=True) == [(b"shared", 1.0)]
        assert raw.hgetall(f"{OLD}outcomes") == {b"shared": b"old outcome"}
        messages = [record.getMessage() for record in caplog.records]
        assert any("moved 1 job(s)" in message for message in messages), messages
        assert any("left in the old keys" in message and "'shared'" in message for message in messages), messages
    finally:
        store.shutdown()
        raw.close()


def test_adoption_leaves_another_program_s_value_alone(redis_url: str) -> None:
    raw = sync_redis.Redis.from_url(redis_url)
    store = RedisStore(redis_url, NEW, 1.0, legacy_prefix=OLD.rstrip(":"))
    try:
        raw.set(f"{OLD}jobs", "a string some other program wrote")
        store.prepare()
        assert store.count() == 0
        assert raw.get(f"{OLD}jobs") == b"a string some other program wrote"
    finally:
        store.shutdown()
        raw.close()
