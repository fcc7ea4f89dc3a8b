"""The measurement behind the choice of task engine (docs/deployment.md, "Why taskiq"): Celery with its
Redis broker against taskiq + taskiq-redis, on one redis-server, with the same no-op task.

Not part of the benchmark suite (Celery is not a dependency). Run it with both installed::

    pip install "celery[redis]" taskiq taskiq-redis
    python -m benchmarks.compare_task_engines [celery] [taskiq]

* enqueue latency: median of ``COUNT`` sequential enqueues (Celery ``apply_async``, taskiq ``kiq``);
* throughput per worker: one worker process of each engine (concurrency 10: Celery's thread pool,
  taskiq's async tasks) starts on a queue of ``COUNT`` tasks that each ``INCR`` a counter; tasks/s from
  the first completion to the last;
* redelivery: a task running when its worker is killed (``kill -9``) runs again on a second worker;
  the seconds until it does (Celery: acks_late + the Redis transport's visibility timeout, set to 10 s
  here, 1 h by default; taskiq: the stream's pending entry claimed after ``idle_timeout``, 10 s here).
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from typing import Any

import redis

from xcore.testing.servers import RedisServer

COUNT = 2000
URL = os.environ.get("ENGINES_REDIS_URL", "redis://127.0.0.1:6379/0")


def celery_app() -> Any:
    from celery import Celery

    app = Celery("engines", broker=URL)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": 10},
        worker_hijack_root_logger=False,
    )
    counter = redis.Redis.from_url(URL)

    @app.task(name="noop")  # type: ignore[untyped-decorator]
    def noop(value: int) -> None:
        counter.incr("done")

    @app.task(name="slow")  # type: ignore[untyped-decorator]
    def slow(value: int) -> None:
        counter.rpush("slow_runs", str(time.time()))
        time.sleep(3)

    return app


def taskiq_broker() -> Any:
    from redis.asyncio import Redis
    from taskiq_redis import RedisStreamBroker

    broker = RedisStreamBroker(URL, queue_name="engines", idle_timeout=10_000, xread_count=10, consumer_id="0")
    counter = Redis.from_url(URL)

    @broker.task(task_name="noop")
    async def noop(value: int) -> None:
        await counter.incr("done")

    @broker.task(task_name="slow")
    async def slow(value: int) -> None:
        await counter.rpush("slow_runs", str(time.time()))
        await asyncio.sleep(3)

    return broker


if os.environ.get("ENGINES_ROLE") == "celery":
    app = celery_app()
elif os.environ.get("ENGINES_ROLE") == "taskiq":
    broker = taskiq_broker()


def worker(engine: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ENGINES_ROLE": engine, "ENGINES_REDIS_URL": URL}
    module = "benchmarks.compare_task_engines"
    if engine == "celery":
        argv = [sys.executable, "-m", "celery", "-A", f"{module}:app", "worker", "-P", "threads", "-c", "10"]
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"]
    else:
        argv = [sys.executable, "-m", "taskiq", "worker", f"{module}:broker", "--workers", "1"]
        argv += ["--max-async-tasks", "10", "--ack-type", "when_executed", "--log-level", "WARNING"]
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def wait_for(r: redis.Redis, key: str, target: int, timeout: float) -> tuple[float, float]:
    first = last = 0.0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = int(r.get(key) or 0) if key == "done" else r.llen(key)
        if n >= 1 and not first:
            first = time.perf_counter()
        if n >= target:
            last = time.perf_counter()
            return first, last
        time.sleep(0.002)
    raise TimeoutError(f"{key}: {target} not reached")


def measure(engine: str) -> dict[str, float]:
    r = redis.Redis.from_url(URL)
    r.flushdb()
    if engine == "celery":
        app = celery_app()

        def send(name: str) -> None:
            app.send_task(name, args=[1])
    else:
        broker = taskiq_broker()
        loop = asyncio.new_event_loop()
        loop.run_until_complete(broker.startup())

        def send(name: str) -> None:
            loop.run_until_complete(broker.find_task(name).kiq(1))

    latencies = []
    for _ in range(COUNT):
        began = time.perf_counter_ns()
        send("noop")
        latencies.append(time.perf_counter_ns() - began)
    process = worker(engine)
    try:
        first, last = wait_for(r, "done", COUNT, 120)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    # redelivery: a slow task, its worker killed while it runs, a second worker takes over
    one, two = worker(engine), None
    try:
        time.sleep(3)
        send("slow")
        wait_for(r, "slow_runs", 1, 30)
        os.killpg(one.pid, signal.SIGKILL)  # taskiq's worker is a parent and a child process
        one.wait()
        killed = time.perf_counter()
        two = worker(engine)
        while r.llen("slow_runs") < 2 and time.perf_counter() - killed < 120:
            if engine == "taskiq":
                send("noop")  # taskiq-redis claims a dead worker's messages only after a read that returned new ones
            time.sleep(0.5)
        _, again = wait_for(r, "slow_runs", 2, 1)
    finally:
        for p in (one, two):
            if p is not None and p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(30)
    return {
        "enqueue_us": statistics.median(latencies) / 1000,
        "tasks_per_s": (COUNT - 1) / (last - first),
        "redelivered_after_s": again - killed,
    }


def main() -> None:
    global URL
    server = RedisServer().start()
    URL = server.url
    try:
        for engine in sys.argv[1:] or ("celery", "taskiq"):
            print(engine, {k: round(v, 1) for k, v in measure(engine).items()}, flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
