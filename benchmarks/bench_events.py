"""The events service against calling the handlers directly, and Redis delivery against raw redis-py.

* ``await ctx.events.emit(...)`` from a plugin of a booted host with 0, 1 and 10 local coroutine
  handlers, next to awaiting the same handlers in a plain loop, in CPU time of this process
  (``paired_async`` on ``time.process_time_ns``).
  (``bench_original`` measures the original XCore's emit side by side.)
* Cross-process delivery over Redis: a ping emitted in this process, answered by a pong emitted from
  a handler in another process, timed round trip (median and p99), next to the same ping-pong with
  raw ``redis.asyncio`` publish/subscribe between two other processes' connections.

Paths run in alternating rounds so noise hits both alike. Starts its own redis-server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from benchmarks.common import Result, paired_async, percentile
from benchmarks.failures import CasesFailed, on_server
from xcore import Xcore
from xcore._services import ServiceSetup
from xcore.sdk import PluginHandle, TrustedBase
from xcore.testing.configs import no_services
from xcore.testing.servers import RedisServer

AREA = "events"
REPO = Path(__file__).resolve().parent.parent
PAYLOAD = {"id": 42, "email": "ada@example.test"}


class Emitter(TrustedBase):
    """A plugin whose ``ctx.events`` the benchmark drives."""


async def handler(event: Any) -> None:
    return None


async def local_cases(quick: bool) -> list[Result]:
    ops, rounds = (1_000, 31) if quick else (2_000, 151)
    host = Xcore(
        config={"app": {"name": "bench"}, "services": no_services(events={"backend": "memory"})},
        plugins={"emitter": Emitter},
        discover=False,
    )
    await host.boot()
    try:
        events = next(r.context.events for r in host.plugins if r.name == "emitter" and r.context is not None)
        results = []
        for count in (0, 1, 10):
            name = f"bench.h{count}"
            handlers = [handler] * count
            for h in handlers:
                events.on(name, h)
            assert len(await events.emit(name, PAYLOAD)) == count

            async def direct(handlers: Sequence[Callable[[Any], Awaitable[None]]] = handlers) -> None:
                for h in handlers:
                    await h(PAYLOAD)

            # CPU time: an emit that no handler suspends never leaves this process, so CPU time measures
            # all of it, and unlike wall time it is not inflated by the other processes on this machine.
            emit = partial(events.emit, name, PAYLOAD)
            x, b, d = await paired_async(emit, direct, ops, rounds, clock=time.process_time_ns)
            results.append(
                Result(
                    AREA,
                    f"emit, {count} local handler{'s' if count != 1 else ''} vs awaiting them directly",
                    x,
                    b,
                    "ns/op",
                    note=f"CPU time; overhead {d:.0f} ns/emit",
                )
            )
        return results
    finally:
        await host.shutdown()


# --------------------------------------------------------------------------- across processes


def events_service(url: str) -> Any:
    from xcore._builtin_services.events import RedisEventsSettings, xcore_register_service

    (redis_type,) = [t for t in xcore_register_service() if t.name == "redis"]
    setup = ServiceSetup.standalone("events", "services.events", "bench")
    return redis_type.factory(RedisEventsSettings(url=url), setup)


async def echo(url: str, mode: str) -> None:
    """The other process: answer every ping with a pong carrying the same data."""
    if mode == "xcore":
        service = events_service(url)
        await service.start()
        view = service.for_plugin(PluginHandle(name="echo", instance=None))

        async def pong(event: Any) -> None:
            await view.emit("bench.pong", event.data)

        view.on("bench.ping", pong)
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        await service.close()
        return
    pub, sub = Redis.from_url(url), Redis.from_url(url)
    pubsub = sub.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe("raw:ping")

    async def answer() -> None:
        async for message in pubsub.listen():
            await pub.publish("raw:pong", message["data"])

    task = asyncio.create_task(answer())
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    task.cancel()
    await pub.aclose()
    await sub.aclose()


def spawn_echo(url: str, mode: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_events", "echo", url, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        process.kill()
        raise RuntimeError(f"{mode} echo process did not start")
    return process


class PingPong:
    """One side of a ping-pong: ``send(n)`` and wait for pong ``n``."""

    def __init__(self, send: Callable[[int], Awaitable[object]]) -> None:
        self._send = send
        self.waiting: asyncio.Future[None] | None = None
        self.expected = -1

    def answered(self, number: int) -> None:
        if number == self.expected and self.waiting is not None and not self.waiting.done():
            self.waiting.set_result(None)

    async def round_trip(self, number: int, timeout: float = 2.0) -> float:
        self.expected = number
        self.waiting = asyncio.get_running_loop().create_future()
        began = time.perf_counter_ns()
        await self._send(number)
        await asyncio.wait_for(self.waiting, timeout)
        return (time.perf_counter_ns() - began) / 1000

    async def warm_up(self) -> None:
        deadline = time.monotonic() + 15
        number = -1000
        while True:
            number -= 1
            try:
                await self.round_trip(number, timeout=0.2)
                return
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise RuntimeError("no pong within 15 s") from None


async def redis_cases(quick: bool, url: str) -> list[Result]:
    samples, rounds = (300, 6) if quick else (2_000, 20)
    echoes = [spawn_echo(url, "xcore"), spawn_echo(url, "raw")]
    service = events_service(url)
    await service.start()
    pub, sub = Redis.from_url(url), Redis.from_url(url)
    try:
        view = service.for_plugin(PluginHandle(name="bench", instance=None))
        xcore = PingPong(lambda n: view.emit("bench.ping", n))
        view.on("bench.pong", lambda event: xcore.answered(event.data))

        raw = PingPong(lambda n: pub.publish("raw:ping", json.dumps(n)))
        pubsub = sub.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe("raw:pong")

        async def read_pongs() -> None:
            async for message in pubsub.listen():
                raw.answered(json.loads(message["data"]))

        reader = asyncio.create_task(read_pongs())
        await xcore.warm_up()
        await raw.warm_up()
        xs: list[float] = []
        bs: list[float] = []
        number = 0
        for index in range(rounds):
            order = [(xcore, xs), (raw, bs)] if index % 2 == 0 else [(raw, bs), (xcore, xs)]
            for side, out in order:
                for _ in range(samples // rounds):
                    number += 1
                    out.append(await side.round_trip(number))
        reader.cancel()
        note = f"{len(xs)} round trips each: ping emitted here, pong emitted by a handler in another process"
        return [
            Result(
                AREA,
                "Redis ping-pong across processes, median vs raw redis-py pub/sub",
                statistics.median(xs),
                statistics.median(bs),
                "us",
                target=1.5,
                note=note,
            ),
            Result(
                AREA,
                "Redis ping-pong across processes, p99 vs raw redis-py pub/sub",
                percentile(xs, 99),
                percentile(bs, 99),
                "us",
                note=note,
            ),
        ]
    finally:
        await service.close()
        await pub.aclose()
        await sub.aclose()
        for process in echoes:
            try:
                assert process.stdin is not None
                process.stdin.write("\n")
                process.stdin.flush()
                process.wait(timeout=10)
            except Exception:
                process.kill()
                process.wait(timeout=10)


async def run(quick: bool) -> list[Result]:
    results = await local_cases(quick)
    errors: dict[str, str] = {}
    results += await on_server(lambda: RedisServer().start(), lambda server: redis_cases(quick, server.url),
                               "Redis ping-pong", errors)  # fmt: skip
    return CasesFailed.check(results, errors)


if __name__ == "__main__":
    if sys.argv[1:2] == ["echo"]:
        asyncio.run(echo(sys.argv[2], sys.argv[3]))
    else:
        for result in asyncio.run(run("--quick" in sys.argv)):
            print(
                f"{result.case}: xcore {result.xcore:.0f} {result.unit}, baseline {result.baseline:.0f}, "
                f"ratio {result.ratio:.2f} ({result.note})"
            )
