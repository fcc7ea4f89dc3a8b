"""``backend: redis``: tasks delivered by taskiq (https://taskiq-python.github.io) over a Redis stream,
run by ``xcore worker``.

taskiq-redis's ``RedisStreamBroker`` gives the distributed part: a stream read by a consumer group,
so each message goes to one worker. A message is acknowledged only after its task ran (taskiq's
manual acknowledgement, so a run cut short by a stopping worker stays unacknowledged). A message
left unacknowledged by a worker that died (``kill -9``) is claimed by another worker (``XAUTOCLAIM``)
once it has been pending for ``2 * timeout + 10`` seconds: a worker fetches at most ``concurrency``
messages ahead, so a live one starts each within ``timeout`` and finishes it within another. That is
at-least-once delivery; :meth:`TasksService.run` makes a repeated delivery of a finished task a
no-op, and the idempotency key gives a task the means to do an outside effect once. taskiq's
``Receiver`` runs the deliveries (``concurrency`` at once) and drains on stop.

What taskiq-redis does not do, and what XCore's worker adds:

* delays below a minute (its schedule sources have minute resolution and need a separate scheduler
  process): a delayed task, and a retry after its backoff, is a ready-made taskiq message in the
  sorted set ``<ns>delayed`` scored by due time; a Lua script moves due messages into the stream
  (remove and ``XADD`` in one step, so a due message is delivered once, by whichever worker moves it);
* handing back on a graceful stop: the messages a stopping worker fetched but did not finish go back
  into the stream at once (copied, and the old entries acknowledged);
* trimming: entries delivered and acknowledged are removed from the stream;
* reclaiming when the stream is idle: the broker only looks for abandoned messages after a read that
  returned new ones, so when messages have been pending too long the loop adds a no-op message.

Cancelling a running task is published on ``<ns>cancel``; the worker running it cancels it.

Keys: XCore's own keys live in the service's namespace (``<app>:tasks:``): ``task:<id>`` (a hash: the
record), ``key:<plugin>:<key>`` (idempotency key -> id), ``index`` (ids by enqueue time), ``dead``
(dead letters), ``delayed``; the stream is ``<ns>queue`` and its consumer group ``<ns>workers``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from typing import Any
from uuid import uuid4

from redis.asyncio import Redis
from redis.exceptions import RedisError
from taskiq import AckableMessage, AcknowledgeType, Context, TaskiqDepends, TaskiqMessage
from taskiq.receiver import Receiver
from taskiq_redis import RedisStreamBroker

from xcore._builtin_services.tasks.model import TaskRecord, TaskUnavailableError
from xcore._builtin_services.tasks.service import TasksService
from xcore._builtin_services.tasks.settings import RedisTasksSettings
from xcore._errors import ConfigError
from xcore._redaction import redact_text
from xcore._services import ServiceSetup

log = logging.getLogger("xcore.tasks")

TASKIQ_TASK = "xcore.task"
"""The one taskiq task: its argument is an XCore task id, which :meth:`TasksService.run` resolves."""
INDEX_SIZE = 10_000
"""How many task ids ``xcore tasks`` can list (the most recently enqueued)."""
_BEGIN = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'succeeded' or status == 'dead' or status == 'cancelled' then return false end
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('HSET', KEYS[1], 'status', 'running', 'updated_at', ARGV[1])
return redis.call('HGETALL', KEYS[1])
"""
_SUCCEED = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'cancelled' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'succeeded', 'result', ARGV[1], 'error', '', 'updated_at', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
"""A task's start and its success, each one round trip (the worker's hot path)."""
_PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 500)
for _, message in ipairs(due) do
  redis.call('ZREM', KEYS[1], message)
  redis.call('XADD', KEYS[2], '*', 'data', message)
end
return #due
"""
"""Move due delayed messages into the stream, each exactly once (a Lua script runs alone)."""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _stream_id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class _StreamBroker(RedisStreamBroker):
    """taskiq-redis's stream broker, noting which task is reading: a cancel can land while redis-py
    swallows it mid-command, and taskiq's receiver cancels a pending read once, so a stopping worker
    repeats the cancel until the read ends (see :meth:`RedisTasks.run_worker`)."""

    reading: asyncio.Task[Any] | None = None

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        messages = super().listen()
        try:
            while True:
                self.reading = asyncio.current_task()
                try:
                    message = await anext(messages)
                finally:
                    self.reading = None
                yield message
        finally:
            await messages.aclose()


class RedisTasks(TasksService):
    backend = "redis"

    def __init__(self, settings: RedisTasksSettings, setup: ServiceSetup) -> None:
        super().__init__(settings, setup)
        self.namespace = setup.namespace
        self.queue = self.namespace + "queue"
        self._index = self.namespace + "index"
        self._dead = self.namespace + "dead"
        self._delayed = self.namespace + "delayed"
        self._cancel_channel = self.namespace + "cancel"
        self._ttl_ms = max(1, round(settings.result_ttl * 1000))
        self.reclaim_after = 2 * settings.timeout + 10
        try:
            self.broker = _StreamBroker(
                settings.url,
                queue_name=self.queue,
                consumer_group_name=self.namespace + "workers",
                consumer_id="0",  # a group created after tasks were enqueued still delivers them
                xread_block=1000,
                xread_count=settings.concurrency,
                idle_timeout=round(self.reclaim_after * 1000),
                unacknowledged_lock_timeout=5.0,
                max_connection_pool_size=settings.concurrency + 16,
                socket_timeout=max(5.0, settings.timeout + 5),
                socket_connect_timeout=2.0,
                timeout=10,  # how long a caller waits for a free pooled connection
            )
        except ValueError as exc:
            raise ConfigError(f"{setup.key_path}.url: not a usable Redis URL: {redact_text(str(exc))}") from None
        self.redis = Redis(connection_pool=self.broker.connection_pool)

        async def deliver(task_id: str, context: Context = TaskiqDepends()) -> None:  # noqa: B008
            await self._deliver(task_id, context)

        self._entry = self.broker.register_task(deliver, task_name=TASKIQ_TASK)
        self._begin_script = self.redis.register_script(_BEGIN)
        self._succeed_script = self.redis.register_script(_SUCCEED)
        self._promote_script = self.redis.register_script(_PROMOTE)
        self._running: dict[str, asyncio.Task[float | None]] = {}
        self.consuming = False
        self._stopping = False

    def _record_key(self, task_id: str) -> str:
        return f"{self.namespace}task:{task_id}"

    async def start(self) -> None:
        await self.health()
        await self.broker.startup()  # creates the stream and its consumer group

    async def health(self) -> dict[str, Any]:
        try:
            await self.redis.ping()
            waiting = await self._waiting()
            delayed = await self.redis.zcard(self._delayed)
            dead = await self.redis.zcard(self._dead)
        except (RedisError, OSError) as exc:
            raise TaskUnavailableError(f"Redis for tasks: {redact_text(str(exc))}") from None
        return {"backend": "redis", "waiting": waiting, "delayed": delayed, "dead": dead, "consuming": self.consuming}

    async def _waiting(self) -> int:
        """Messages not yet acknowledged: never delivered (the group's lag) or delivered and running."""
        group = self.namespace + "workers"
        if not await self.redis.exists(self.queue):
            return 0
        for info in await self.redis.xinfo_groups(self.queue):
            if _text(info["name"]) == group:
                return int(info["pending"]) + int(info.get("lag") or 0)
        return int(await self.redis.xlen(self.queue))

    async def close(self) -> None:
        await super().close()
        await self.broker.connection_pool.disconnect()

    # ------------------------------------------------------------------ storage

    async def _store_new(self, record: TaskRecord, delay: float) -> str | None:
        try:
            if record.key:
                claim = f"{self.namespace}key:{record.plugin}:{record.key}"
                if not await self.redis.set(claim, record.id, nx=True, px=self._ttl_ms):
                    existing = await self.redis.get(claim)
                    if existing is not None and await self.redis.exists(self._record_key(_text(existing))):
                        return _text(existing)
                    await self.redis.set(claim, record.id, px=self._ttl_ms)  # its task expired: the key is free
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(self._record_key(record.id), mapping=record.fields())  # type: ignore[arg-type]
                pipe.zadd(self._index, {record.id: record.enqueued_at})
                pipe.zremrangebyrank(self._index, 0, -INDEX_SIZE - 1)
                await pipe.execute()
            await self._send(record.id, delay)
        except (RedisError, OSError) as exc:
            raise TaskUnavailableError(
                f"task {record.plugin}.{record.name} was not enqueued: Redis: {redact_text(str(exc))}"
            ) from None
        return None

    async def _send(self, task_id: str, delay: float) -> None:
        """Deliver ``task_id`` now (taskiq's ``kiq``), or put its message in ``delayed`` until it is due."""
        if delay <= 0:
            await self._entry.kiq(task_id)
            return
        message = TaskiqMessage(task_id=uuid4().hex, task_name=TASKIQ_TASK, labels={}, args=[task_id], kwargs={})
        data = self.broker.formatter.dumps(message).message
        await self.redis.zadd(self._delayed, {data: time.time() + delay})

    async def _load(self, task_id: str) -> TaskRecord | None:
        raw = await self.redis.hgetall(self._record_key(task_id))  # type: ignore[misc]
        if not raw:
            return None
        return TaskRecord.from_fields({_text(k): _text(v) for k, v in raw.items()})

    async def _begin(self, task_id: str) -> TaskRecord | None:
        flat = await self._begin_script(keys=[self._record_key(task_id)], args=[str(time.time())])
        if not flat:
            return None
        return TaskRecord.from_fields({flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)})

    async def _succeed(self, record: TaskRecord, result: str) -> None:
        await self._succeed_script(keys=[self._record_key(record.id)], args=[result, str(time.time()), self._ttl_ms])

    async def _update(self, task_id: str, **fields: Any) -> None:
        await self.redis.hset(self._record_key(task_id), mapping={k: str(v) for k, v in fields.items()})  # type: ignore[misc]

    async def _finished(self, record: TaskRecord) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.pexpire(self._record_key(record.id), self._ttl_ms)
            if record.status == "dead":
                pipe.zadd(self._dead, {record.id: time.time()})
            await pipe.execute()

    async def _redeliver(self, record: TaskRecord) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.persist(self._record_key(record.id))
            pipe.zrem(self._dead, record.id)
            await pipe.execute()
        await self._send(record.id, 0)

    async def _abort(self, record: TaskRecord) -> None:
        # queued or delayed: its delivery finds it cancelled and does nothing; running: its worker cancels it
        await self.redis.publish(self._cancel_channel, record.id)

    async def _recent(self, limit: int) -> list[TaskRecord]:
        ids = [_text(i) for i in await self.redis.zrevrange(self._index, 0, limit - 1)]
        records = []
        for task_id in ids:
            record = await self._load(task_id)
            if record is None:
                await self.redis.zrem(self._index, task_id)
            else:
                records.append(record)
        return records

    # ------------------------------------------------------------------ the worker

    async def _deliver(self, task_id: str, context: Context) -> None:
        """The taskiq task: run one delivery and acknowledge it (a failure to retry goes back in after its
        backoff first). A run cut short by the worker stopping is not acknowledged: another worker gets it."""
        if task_id:
            run = asyncio.ensure_future(self.run(task_id))
            self._running[task_id] = run
            try:
                delay = await asyncio.shield(run)
            except asyncio.CancelledError:
                if not run.done() or self._stopping:
                    run.cancel()
                    raise
                delay = None  # cancelled by handle.cancel(): its record says so
            finally:
                self._running.pop(task_id, None)
            if delay is not None:
                await self._send(task_id, delay)
        await context.ack()

    async def _listen_for_cancels(self) -> None:
        async with self.redis.pubsub() as pubsub:
            await pubsub.subscribe(self._cancel_channel)
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    run = self._running.get(message["data"].decode())
                    if run is not None:
                        run.cancel()

    async def _housekeeping(self, interval: float) -> None:
        """Promote due delayed messages; wake the broker when messages wait to be reclaimed."""
        group = self.namespace + "workers"
        next_look = 0.0
        while True:
            try:
                await self._promote_script(keys=[self._delayed, self.queue], args=[str(time.time())])
                if time.monotonic() >= next_look:
                    next_look = time.monotonic() + 1.0
                    idle_ms = round(self.reclaim_after * 1000)
                    stale = await self.redis.xpending_range(self.queue, group, "-", "+", 1, idle=idle_ms)
                    if stale:
                        await self._entry.kiq("")
                    await self._trim(group)
            except (RedisError, OSError) as exc:
                log.warning("tasks housekeeping: Redis: %s", redact_text(str(exc)))
            await asyncio.sleep(interval)

    async def _trim(self, group: str) -> None:
        """Drop the stream's entries that are delivered and acknowledged: those older than both the
        group's last delivered entry and its oldest pending one (the stream has one group). taskiq's
        ``maxlen`` would trim by count, unacknowledged entries included."""
        groups = await self.redis.xinfo_groups(self.queue)
        delivered = next((_text(g["last-delivered-id"]) for g in groups if _text(g["name"]) == group), None)
        if delivered is None or delivered == "0-0":
            return
        oldest = await self.redis.xpending_range(self.queue, group, "-", "+", 1)
        bound = min((_text(oldest[0]["message_id"]), delivered), key=_stream_id) if oldest else delivered
        await self.redis.xtrim(self.queue, minid=bound, approximate=False)

    async def run_worker(self, concurrency: int, stop: asyncio.Event, drain_timeout: float = 30.0) -> None:
        """Consume this app's stream until ``stop`` is set, then stop taking tasks and let the running
        ones finish (at most ``drain_timeout`` seconds; the rest are cancelled and run again elsewhere)."""
        settings = self.settings
        assert isinstance(settings, RedisTasksSettings)
        self.broker.is_worker_process = True
        await self.broker.startup()  # again: Redis may have been down when the service started
        receiver = Receiver(
            self.broker,
            max_async_tasks=concurrency,
            max_prefetch=0,
            propagate_exceptions=False,
            ack_type=AcknowledgeType.MANUAL,
            wait_tasks_timeout=drain_timeout,
            run_startup=False,
        )
        self.consuming = True
        self._stopping = False
        helpers: list[asyncio.Task[Any]] = [
            asyncio.create_task(self._housekeeping(settings.poll_interval)),
            asyncio.create_task(self._listen_for_cancels()),
        ]
        listening = asyncio.create_task(receiver.listen(stop))
        stopping = asyncio.create_task(stop.wait())
        helpers.append(stopping)
        try:
            await asyncio.wait({listening, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not listening.done():
                await asyncio.wait({listening}, timeout=drain_timeout + 1)
            while not listening.done():
                reading = self.broker.reading
                if reading is not None:
                    reading.cancel()
                await asyncio.wait({listening}, timeout=0.1)
            await listening
        finally:
            self.consuming = False
            self._stopping = True
            for run in list(self._running.values()):
                run.cancel()
            # a cancel can land while redis-py swallows it mid-command: repeat until each helper ends
            while not all(helper.done() for helper in helpers):
                for helper in helpers:
                    helper.cancel()
                await asyncio.wait(helpers, timeout=0.1)
            await asyncio.gather(*helpers, *self._running.values(), return_exceptions=True)
            try:
                handed = await self._hand_back()
            except (RedisError, OSError) as exc:
                log.warning("tasks: could not hand back this worker's unfinished messages: %s", redact_text(str(exc)))
            else:
                if handed:
                    log.info("tasks: handed %d unfinished message(s) back to the stream", handed)

    async def _hand_back(self) -> int:
        """Put the messages this worker fetched but did not finish back in the stream (and acknowledge
        the old copies), so another worker takes them now rather than ``2 * timeout + 10`` s later."""
        group = self.namespace + "workers"
        name = self.broker.consumer_name
        pending = await self.redis.xpending_range(self.queue, group, "-", "+", 10_000, consumername=name)
        ids: list[Any] = [entry["message_id"] for entry in pending]
        if not ids:
            return 0
        claimed: list[Any] = await self.redis.xclaim(self.queue, group, name, 0, ids)  # type: ignore[assignment]
        async with self.redis.pipeline(transaction=True) as pipe:
            for message_id, fields in claimed:
                if fields:
                    pipe.xadd(self.queue, {b"data": fields[b"data"]})
                pipe.xack(self.queue, group, message_id)
            await pipe.execute()
        return len(claimed)
