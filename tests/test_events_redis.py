"""The redis events backend against a real Redis: across instances, across processes, through outages.

Run as a script (``python tests/test_events_redis.py URL APP NAME``) this module is one worker
process of the multi-process test: it subscribes to ``order.*``, prints every event it receives as
a JSON line, and emits what the test writes to its stdin.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from xcore._builtin_services.events import RedisEventsSettings, xcore_register_service
from xcore._events import Event, EventDataError, kernel
from xcore._services import ServiceSetup
from xcore.sdk import PluginHandle
from xcore.testing.servers import RedisServer, ServerUnavailable

LOG = "xcore.service.events"


def make_service(url: str, app: str = "shop", **raw: Any) -> Any:
    (redis_type,) = [t for t in xcore_register_service() if t.name == "redis"]
    setup = ServiceSetup.standalone("events", "services.events", app)
    return redis_type.factory(RedisEventsSettings(url=url, **raw), setup)


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)


class Inbox:
    """Collects the events a handler receives, to await them with a bound."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._arrived = asyncio.Event()

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        self._arrived.set()

    async def wait_for(self, name: str, timeout: float = 5.0) -> Event:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.name == name:
                    return event
            self._arrived.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{name!r} not received within {timeout}s; got {[e.name for e in self.events]}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    def names(self) -> list[str]:
        return [e.name for e in self.events]


@pytest.fixture
async def pair(redis_url: str) -> AsyncIterator[tuple[Any, Any]]:
    """Two events services (two hosts, as in two workers) on the same Redis and app name."""
    first, second = make_service(redis_url), make_service(redis_url)
    await first.start()
    await second.start()
    yield first, second
    await first.close()
    await second.close()


def plugin(service: Any, name: str) -> Any:
    return service.for_plugin(PluginHandle(name=name, instance=None))


async def test_an_event_reaches_the_other_instance_and_runs_locally_once(pair: tuple[Any, Any]) -> None:
    first, second = pair
    local, remote = Inbox(), Inbox()
    plugin(first, "audit").on("order.*", local)
    plugin(second, "mailer").on("order.*", remote)

    results = await plugin(first, "orders").emit("order.placed", {"id": 1, "items": ["a", "b"]})
    assert len(results) == 1  # only the local handler answers the emitter

    got = await remote.wait_for("order.placed")
    assert (got.data, got.source, got.remote) == ({"id": 1, "items": ["a", "b"]}, "orders", True)
    # A marker sent the other way arrives after first's own echo would have: no duplicate by then.
    await plugin(second, "mailer").emit("order.marker")
    await local.wait_for("order.marker")
    assert local.names() == ["order.placed", "order.marker"]
    assert local.events[0].remote is False
    assert remote.names() == ["order.placed", "order.marker"]


async def test_kernel_events_stay_in_their_process(pair: tuple[Any, Any]) -> None:
    first, second = pair
    heard = Inbox()
    plugin(second, "watcher").on("**", heard)
    await first.emit(kernel.PLUGIN_LOADED, {"plugin": "orders", "version": "1.0"})
    await first.emit("order.marker", source="orders")
    await heard.wait_for("order.marker")
    assert heard.names() == ["order.marker"]


async def test_data_that_is_not_json_is_refused_before_anything_runs(pair: tuple[Any, Any]) -> None:
    first, second = pair
    local, remote = Inbox(), Inbox()
    first.on("order.*", local)
    second.on("order.*", remote)
    data = {"when": time, "id": 2}
    with pytest.raises(EventDataError, match=r"'order.placed'.*JSON-serialisable") as caught:
        await plugin(first, "orders").emit("order.placed", data)
    assert isinstance(caught.value, TypeError)
    with pytest.raises(EventDataError):
        plugin(first, "orders").emit_nowait("order.placed", {1, 2})
    assert data == {"when": time, "id": 2}
    await first.emit("order.marker")
    await remote.wait_for("order.marker")
    assert local.names() == remote.names() == ["order.marker"]


async def test_apps_do_not_hear_each_other_unless_they_share_a_channel(redis_url: str) -> None:
    shop, blog, blog_peer = (make_service(redis_url, app=app) for app in ("shop", "blog", "blog"))
    shared = make_service(redis_url, app="other", channel="shop:events:bus")
    services = (shop, blog, blog_peer, shared)
    for service in services:
        await service.start()
    try:
        blog_inbox, shared_inbox = Inbox(), Inbox()
        blog.on("**", blog_inbox)
        shared.on("**", shared_inbox)
        await shop.emit("order.placed", {"id": 3}, source="orders")
        await shared_inbox.wait_for("order.placed")
        # Redis delivers in publish order: had blog heard shop's channel, order.placed would come first.
        await blog_peer.emit("post.published", source="blog")
        await blog_inbox.wait_for("post.published")
        assert blog_inbox.names() == ["post.published"]
        assert (await shop.health())["channel"] == "shop:events:bus"  # the default: in the events namespace
    finally:
        for service in services:
            await service.close()


async def test_malformed_messages_on_the_channel_are_ignored(
    pair: tuple[Any, Any], redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    import redis.asyncio as aioredis

    first, second = pair
    inbox = Inbox()
    second.on("**", inbox)
    raw = aioredis.Redis.from_url(redis_url)
    with caplog.at_level(logging.WARNING, logger=LOG):
        await raw.publish("shop:events:bus", b"not json")
        await raw.publish("shop:events:bus", json.dumps({"i": "x", "n": "bad..name", "d": 1}))
        await raw.publish("shop:events:bus", json.dumps({"i": "x", "n": "xcore.host.started", "d": {}}))
        await raw.aclose()
        await first.emit("order.marker")
        await inbox.wait_for("order.marker")
    assert inbox.names() == ["order.marker"]
    assert any("malformed" in r.getMessage() for r in caplog.records)
    assert any("invalid name" in r.getMessage() for r in caplog.records)


async def test_health_reports_the_transport(pair: tuple[Any, Any]) -> None:
    first, _ = pair
    await first.emit("order.placed", {"id": 1})
    await wait_until(lambda: first.transport.published == 1)
    health = await first.health()
    assert health["backend"] == "redis" and health["published"] == 1 and health["dropped"] == 0


async def test_redis_outage_keeps_local_delivery_and_recovers(
    redis_server: RedisServer, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = make_service(redis_url), make_service(redis_url)
    await first.start()
    await second.start()
    local, remote = Inbox(), Inbox()
    first.on("order.*", local)
    second.on("order.*", remote)
    try:
        redis_server.stop()
        with caplog.at_level(logging.WARNING, logger=LOG):
            await first.emit("order.during_outage", {"id": 9}, source="orders")
            assert local.names() == ["order.during_outage"]  # local handlers ran without Redis
            await wait_until(lambda: first.transport.dropped >= 1)
        assert any("publishing" in r.getMessage() and "failed" in r.getMessage() for r in caplog.records)
        with pytest.raises(ConnectionError):
            await second.health()

        redis_server.start()
        await wait_until(lambda: first.transport.subscribed and second.transport.subscribed, timeout=15)
        await first.emit("order.after_outage", {"id": 10}, source="orders")
        got = await remote.wait_for("order.after_outage")
        assert got.data == {"id": 10}
        assert "order.during_outage" not in remote.names()  # at-most-once: lost, as documented
        assert (await second.health())["backend"] == "redis"
    finally:
        if redis_server.process is None:
            redis_server.start()
        await first.close()
        await second.close()


async def test_start_without_redis_fails_clearly_then_works_when_redis_appears(redis_url: str) -> None:
    try:
        later = RedisServer()
    except ServerUnavailable as exc:
        pytest.fail(str(exc))
    url = f"redis://:s3cret-pw@127.0.0.1:{later.port}/0"
    service = make_service(url)
    inbox = Inbox()
    service.on("order.*", inbox)
    try:
        with pytest.raises(ConnectionError, match="cannot subscribe") as caught:
            await service.start()
        assert "s3cret-pw" not in str(caught.value) and "***" in str(caught.value)
        await service.emit("order.local", source="orders")
        assert inbox.names() == ["order.local"]
        with pytest.raises(ConnectionError) as unhealthy:
            await service.health()
        assert "s3cret-pw" not in str(unhealthy.value)

        later.start()  # no password set on this server: Redis accepts AUTH-less clients with a warning
        peer = make_service(f"redis://127.0.0.1:{later.port}/0")
        await peer.start()
        try:
            await wait_until(lambda: service.transport.subscribed, timeout=15)
            await peer.emit("order.from_peer", source="peer")
            assert (await inbox.wait_for("order.from_peer")).remote
        finally:
            await peer.close()
    finally:
        await service.close()
        later.cleanup()


async def test_events_queued_at_close_are_published(pair: tuple[Any, Any]) -> None:
    first, second = pair
    inbox = Inbox()
    second.on("order.*", inbox)
    for n in range(50):
        first.emit_nowait("order.bulk", {"n": n}, source="orders")
    await first.close()
    await wait_until(lambda: len(inbox.events) == 50)
    assert [e.data["n"] for e in inbox.events] == list(range(50))  # one channel keeps the order
    with pytest.raises(EventDataError):
        await first.emit("order.bad", object())


# --------------------------------------------------------------------------- several processes


class Worker:
    """One worker process running this module as a script; its output lines are JSON objects."""

    def __init__(self, url: str, name: str) -> None:
        self.name = name
        self.lines: list[dict[str, Any]] = []
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self.process = subprocess.Popen(
            [sys.executable, __file__, url, "shop", name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parent.parent,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                self._queue.put(json.loads(line))

    def expect(self, condition: Callable[[dict[str, Any]], bool], timeout: float = 20.0) -> dict[str, Any]:
        for line in self.lines:
            if condition(line):
                return line
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self._queue.get(timeout=max(remaining, 0.01))
            except queue.Empty:
                stderr = ""
                if self.process.poll() is not None and self.process.stderr is not None:
                    stderr = self.process.stderr.read()[-2000:]
                raise AssertionError(f"worker {self.name}: expected line not seen; got {self.lines} {stderr}") from None
            self.lines.append(line)
            if condition(line):
                return line

    def received(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("got") == name]

    def send(self, command: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def stop(self) -> int:
        if self.process.poll() is None:
            try:
                self.send({"quit": True})
                return self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
        return self.process.wait(timeout=10)


def test_events_cross_real_processes_once_each(redis_url: str) -> None:
    workers = [Worker(redis_url, name) for name in ("alpha", "beta", "gamma")]
    try:
        for worker in workers:
            worker.expect(lambda line: "ready" in line)
        alpha, beta, gamma = workers
        alpha.send({"emit": "order.created", "data": {"id": 1}})
        for worker in (beta, gamma):
            got = worker.expect(lambda line: line.get("got") == "order.created")
            assert got == {"got": "order.created", "data": {"id": 1}, "source": "alpha", "remote": True}
        assert alpha.expect(lambda line: line.get("got") == "order.created")["remote"] is False

        # beta emits only after it received alpha's event, so alpha's own echo (if it were not
        # skipped) would reach alpha before beta's marker does.
        beta.send({"emit": "order.marker"})
        alpha.expect(lambda line: line.get("got") == "order.marker")
        gamma.expect(lambda line: line.get("got") == "order.marker")
        assert len(alpha.received("order.created")) == 1
        assert beta.expect(lambda line: line.get("got") == "order.marker")["remote"] is False
    finally:
        codes = [worker.stop() for worker in workers]
    assert codes == [0, 0, 0]


async def _worker_main(url: str, app: str, name: str) -> None:
    service = make_service(url, app)
    await service.start()
    view = service.for_plugin(PluginHandle(name=name, instance=None))

    def report(event: Event) -> None:
        line = {"got": event.name, "data": event.data, "source": event.source, "remote": event.remote}
        print(json.dumps(line), flush=True)

    view.on("order.*", report)
    print(json.dumps({"ready": name}), flush=True)
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            break
        command = json.loads(line)
        if command.get("quit"):
            break
        await view.emit(command["emit"], command.get("data"))
    await service.close()


if __name__ == "__main__":
    asyncio.run(_worker_main(*sys.argv[1:4]))
