"""``backend: redis``: tasks delivered by arq (https://arq-docs.helpmanual.io) and run by ``xcore worker``.

arq gives the distributed part: delayed jobs (``_defer_by``), unique job ids, retries with a delay
(``Retry(defer=...)``), aborting queued and running jobs, and pessimistic execution: a job stays in the
queue until a worker finishes it, guarded by an in-progress key that expires ``timeout + 10`` seconds
after a worker took it, so a job whose worker died (``kill -9``) is run again by another worker. That
is at-least-once delivery; :meth:`TasksService.run` makes a repeated delivery of a finished task a no-op,
and the idempotency key gives a task the means to do an outside effect once.

Keys: XCore's own keys live in the service's namespace (``<app>:tasks:``): ``task:<id>`` (a hash:
the record), ``key:<plugin>:<key>`` (idempotency key -> id), ``index`` (ids by enqueue time),
``dead`` (dead letters). The queue is ``<namespace>queue``. arq's own keys have fixed prefixes
(``arq:job:``, ``arq:in-progress:``, ``arq:retry:``, ``arq:result:``) followed by the job id, and every
job id starts with the namespace, so no two apps or services share a job.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from arq.connections import ArqRedis
from arq.constants import abort_jobs_ss
from arq.worker import Retry, Worker, func
from redis.asyncio import ConnectionPool
from redis.exceptions import RedisError

from xcore.builtin_services.tasks.model import TaskRecord, TaskUnavailableError
from xcore.builtin_services.tasks.service import TasksService
from xcore.builtin_services.tasks.settings import RedisTasksSettings
from xcore.errors import ConfigError
from xcore.redaction import redact_text
from xcore.services import ServiceSetup

log = logging.getLogger("xcore.tasks")

ARQ_FUNCTION = "xcore_task"
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
MAX_DELIVERIES = 1000
"""arq counts every start (retries and restarts after a worker died); XCore's ``retries`` decide."""


class RedisTasks(TasksService):
    backend = "redis"

    def __init__(self, settings: RedisTasksSettings, setup: ServiceSetup) -> None:
        super().__init__(settings, setup)
        self.namespace = setup.namespace
        self.queue = self.namespace + "queue"
        self._index = self.namespace + "index"
        self._dead = self.namespace + "dead"
        self._ttl_ms = max(1, round(settings.result_ttl * 1000))
        try:
            pool = ConnectionPool.from_url(
                settings.url,
                socket_timeout=max(5.0, settings.timeout + 5),
                socket_connect_timeout=2.0,
                decode_responses=False,
            )
        except ValueError as exc:
            raise ConfigError(f"{setup.key_path}.url: not a usable Redis URL: {redact_text(str(exc))}") from None
        self.redis = ArqRedis(pool, default_queue_name=self.queue)
        self._begin_script = self.redis.register_script(_BEGIN)
        self._succeed_script = self.redis.register_script(_SUCCEED)
        self.worker: Worker | None = None

    def _record_key(self, task_id: str) -> str:
        return f"{self.namespace}task:{task_id}"

    async def start(self) -> None:
        await self.health()

    async def health(self) -> dict[str, Any]:
        try:
            await self.redis.ping()
            queued = await self.redis.zcard(self.queue)
            dead = await self.redis.zcard(self._dead)
        except (RedisError, OSError) as exc:
            raise TaskUnavailableError(f"Redis for tasks: {redact_text(str(exc))}") from None
        return {"backend": "redis", "queued": queued, "dead": dead, "consuming": self.worker is not None}

    async def close(self) -> None:
        await super().close()
        await self.redis.aclose(close_connection_pool=True)

    # ------------------------------------------------------------------ storage

    async def _store_new(self, record: TaskRecord, delay: float) -> str | None:
        try:
            if record.key:
                claim = f"{self.namespace}key:{record.plugin}:{record.key}"
                if not await self.redis.set(claim, record.id, nx=True, px=self._ttl_ms):
                    existing = await self.redis.get(claim)
                    if existing is not None and await self.redis.exists(self._record_key(existing.decode())):
                        return str(existing.decode())
                    await self.redis.set(claim, record.id, px=self._ttl_ms)  # its task expired: the key is free
            record.job = self.namespace + record.id
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(self._record_key(record.id), mapping=record.fields())  # type: ignore[arg-type]
                pipe.zadd(self._index, {record.id: record.enqueued_at})
                pipe.zremrangebyrank(self._index, 0, -INDEX_SIZE - 1)
                await pipe.execute()
            await self._enqueue_job(record.id, record.job, delay)
        except (RedisError, OSError) as exc:
            raise TaskUnavailableError(
                f"task {record.plugin}.{record.name} was not enqueued: Redis: {redact_text(str(exc))}"
            ) from None
        return None

    async def _enqueue_job(self, task_id: str, job_id: str, delay: float) -> None:
        job = await self.redis.enqueue_job(
            ARQ_FUNCTION, task_id, _job_id=job_id, _defer_by=delay or None, _queue_name=self.queue
        )
        if job is None:
            raise TaskUnavailableError(f"arq refused job {job_id!r}: a job with that id exists")

    async def _load(self, task_id: str) -> TaskRecord | None:
        raw = await self.redis.hgetall(self._record_key(task_id))  # type: ignore[misc]
        if not raw:
            return None
        return TaskRecord.from_fields({k.decode(): v.decode() for k, v in raw.items()})

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
        job = f"{self.namespace}{record.id}:retry{int(time.time() * 1000)}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.persist(self._record_key(record.id))
            pipe.hset(self._record_key(record.id), "job", job)
            pipe.zrem(self._dead, record.id)
            await pipe.execute()
        await self._enqueue_job(record.id, job, 0)

    async def _abort(self, record: TaskRecord) -> None:
        await self.redis.zadd(abort_jobs_ss, {record.job: int(time.time() * 1000)})

    async def _recent(self, limit: int) -> list[TaskRecord]:
        ids = [i.decode() for i in await self.redis.zrevrange(self._index, 0, limit - 1)]
        records = []
        for task_id in ids:
            record = await self._load(task_id)
            if record is None:
                await self.redis.zrem(self._index, task_id)
            else:
                records.append(record)
        return records

    # ------------------------------------------------------------------ the worker

    async def _arq_entry(self, ctx: dict[str, Any], task_id: str) -> None:
        delay = await self.run(task_id)
        if delay is not None:
            raise Retry(defer=delay)

    async def run_worker(self, concurrency: int, stop: asyncio.Event, drain_timeout: float = 30.0) -> None:
        """Consume this app's queue until ``stop`` is set, then stop taking tasks and let the running
        ones finish (at most ``drain_timeout`` seconds; the rest are cancelled and run again elsewhere)."""
        settings = self.settings
        assert isinstance(settings, RedisTasksSettings)
        worker = Worker(
            functions=[func(self._arq_entry, name=ARQ_FUNCTION, max_tries=MAX_DELIVERIES)],  # type: ignore[arg-type]
            redis_pool=self.redis,
            queue_name=self.queue,
            max_jobs=concurrency,
            job_timeout=settings.timeout + 1,
            keep_result=1,
            allow_abort_jobs=True,
            handle_signals=False,
            poll_delay=settings.poll_interval,
            health_check_key=self.namespace + "worker-health",
            log_results=False,
        )
        self.worker = worker
        main = asyncio.create_task(worker.main())
        worker.main_task = main
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({main, stopping}, return_when=asyncio.FIRST_COMPLETED)
            worker.allow_pick_jobs = False
            running = [t for t in worker.tasks.values() if not t.done()]
            if running:
                await asyncio.wait(running, timeout=drain_timeout)
        finally:
            stopping.cancel()
            for task in worker.tasks.values():
                task.cancel()
            # a cancel can land while redis-py swallows it mid-command: repeat until arq's loop ends
            while not main.done():
                main.cancel()
                await asyncio.wait({main}, timeout=0.1)
            await asyncio.gather(main, *worker.tasks.values(), return_exceptions=True)
            self.worker = None
