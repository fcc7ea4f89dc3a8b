"""``backend: redis``: jobs in Redis, shared by every process of the app.

Keys inside the scheduler's namespace (``<app>:scheduler:``, handed by the host): ``jobs`` (hash id ->
pickled job state), ``run_times`` (sorted set id -> next run as a UTC timestamp; a paused job has
none), ``outcomes`` (hash id -> last outcome as JSON). Every write that must not interleave with
another process's is one Lua script, so it is atomic.

Stores written before namespaces kept the same three keys under ``xcore:<app>:scheduler:`` (or
``<key_prefix>:``). The store adopts them before its first successful call of each process, whatever
that call is (the start, the retry after Redis was down at start, a plugin's ``add_job``): a write into
the namespace must never come first, or the old jobs would be stranded. Adoption merges: every old
job whose id the namespace does not hold moves in with its run time and outcome; a job already in the
namespace is never overwritten, and an old job with the same id stays in the old keys, named in a
warning, for the operator to settle.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import redis
from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.util import datetime_to_utc_timestamp, utc_timestamp_to_datetime
from redis.backoff import NoBackoff
from redis.retry import Retry

from xcore._builtin_services.scheduler.errors import StoreUnavailableError
from xcore._builtin_services.scheduler.outcomes import JobOutcome
from xcore._builtin_services.scheduler.stores import ClaimingStore, log
from xcore._redaction import redact_text

# KEYS: jobs, run_times. ARGV: id, state, score ('' for a paused job).
_ADD = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
if ARGV[3] ~= '' then redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1]) end
return 1
"""

_UPDATE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] ~= '' then redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1]) else redis.call('ZREM', KEYS[2], ARGV[1]) end
return 1
"""

# KEYS: jobs, run_times, outcomes. ARGV: id.
_REMOVE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
"""

# The claim: KEYS: jobs, run_times, outcomes. ARGV: id, token (state as read), new state ('' when
# finished), new score. Succeeds for exactly one of the processes that read the same state.
_CLAIM = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
end
return 1
"""

# KEYS: jobs, outcomes. ARGV: id, outcome. A finished job's outcome is not kept.
_OUTCOME = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
"""

# KEYS: jobs, run_times, outcomes, then the same three of the old layout. Only an old jobs key that
# is a hash (a job store, not some other program's value) is read. Each old job whose id the
# namespace lacks moves in (HSETNX, so a current job is never overwritten) with its run time and
# outcome; the others stay where they are. The old keys go once no old job is left in them.
# Returns {number moved, {ids left behind}}.
_ADOPT = """
if redis.call('TYPE', KEYS[4]).ok ~= 'hash' then return {0, {}} end
local old = redis.call('HGETALL', KEYS[4])
local moved, left = 0, {}
for i = 1, #old, 2 do
  local id = old[i]
  if redis.call('HSETNX', KEYS[1], id, old[i + 1]) == 1 then
    local score = redis.call('ZSCORE', KEYS[5], id)
    if score then redis.call('ZADD', KEYS[2], score, id) end
    local outcome = redis.call('HGET', KEYS[6], id)
    if outcome then redis.call('HSET', KEYS[3], id, outcome) end
    redis.call('HDEL', KEYS[4], id)
    redis.call('ZREM', KEYS[5], id)
    redis.call('HDEL', KEYS[6], id)
    moved = moved + 1
  else
    left[#left + 1] = id
  end
end
if #left == 0 then redis.call('DEL', KEYS[4], KEYS[5], KEYS[6]) end
return {moved, left}
"""


class RedisStore(ClaimingStore):
    """Jobs in Redis; ``timeout`` bounds every call so an unreachable Redis costs at most that long."""

    shared = True
    backend = "redis"

    def __init__(self, url: str, namespace: str, timeout: float, legacy_prefix: str | None = None) -> None:
        super().__init__()
        self.url = url
        self.namespace = namespace
        self.legacy_prefix = legacy_prefix
        self.client = redis.Redis.from_url(
            url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
        )
        self.jobs_key = f"{namespace}jobs"
        self.run_times_key = f"{namespace}run_times"
        self.outcomes_key = f"{namespace}outcomes"
        self._add = self.client.register_script(_ADD)
        self._update = self.client.register_script(_UPDATE)
        self._remove = self.client.register_script(_REMOVE)
        self._claim = self.client.register_script(_CLAIM)
        self._outcome = self.client.register_script(_OUTCOME)
        self._adopt = self.client.register_script(_ADOPT)
        self._adopted = not legacy_prefix or legacy_prefix + ":" == namespace
        self._adopt_lock = threading.Lock()

    def describe(self) -> str:
        return f"redis at {redact_text(self.url)}"

    def prepare(self) -> None:
        """Adopt the old key layout now (every call does it first anyway; see the module docstring)."""
        with self._io():
            pass

    @contextmanager
    def _io(self) -> Iterator[None]:
        try:
            self._adopt_legacy()
            yield
        except redis.ConnectionError as exc:
            raise StoreUnavailableError(
                f"scheduler store ({self.describe()}) is unavailable: {redact_text(str(exc))}"
            ) from exc
        except redis.TimeoutError as exc:
            raise StoreUnavailableError(f"scheduler store ({self.describe()}) did not answer in time") from exc

    def _adopt_legacy(self) -> None:
        """Once per process, before anything else reaches Redis: merge the old layout's jobs in."""
        if self._adopted:
            return
        with self._adopt_lock:
            if self._adopted:
                return
            old = [f"{self.legacy_prefix}:{name}" for name in ("jobs", "run_times", "outcomes")]
            result: list[Any] = self._adopt(keys=[self.jobs_key, self.run_times_key, self.outcomes_key, *old])
            self._adopted = True
        moved, left = int(result[0]), sorted(item.decode(errors="replace") for item in result[1])
        if moved:
            log.warning(
                "scheduler store %s: moved %d job(s) from the old keys %s:* into the namespace %s",
                self.describe(),
                moved,
                self.legacy_prefix,
                self.namespace,
            )
        if left:
            log.warning(
                "scheduler store %s: %d job(s) left in the old keys %s:* because the namespace %s already "
                "holds a job with the same id (that one is kept): %s; delete or move them by hand",
                self.describe(),
                len(left),
                self.legacy_prefix,
                self.namespace,
                ", ".join(repr(job_id) for job_id in left),
            )

    @staticmethod
    def _score(job: Job) -> str:
        return repr(datetime_to_utc_timestamp(job.next_run_time)) if job.next_run_time else ""

    # ------------------------------------------------------------------ APScheduler's job store API

    def lookup_job(self, job_id: str) -> Job | None:
        with self._io():
            state = self.client.hget(self.jobs_key, job_id)
        found = self._restore_many([(job_id, state)])  # type: ignore[list-item]
        return found[0][0] if found else None

    def get_due_jobs(self, now: datetime) -> list[Job]:
        return [job for job, _ in self.due_jobs(now)]

    def get_next_run_time(self) -> datetime | None:
        with self._io():
            first = self.client.zrange(self.run_times_key, 0, 0, withscores=True)
        return utc_timestamp_to_datetime(first[0][1]) if first else None  # type: ignore[index]

    def get_all_jobs(self) -> list[Job]:
        with self._io():
            states: dict[bytes, bytes] = self.client.hgetall(self.jobs_key)  # type: ignore[assignment]
        jobs = [job for job, _ in self._restore_many((k.decode(), v) for k, v in states.items())]
        jobs.sort(key=lambda job: job.next_run_time.timestamp() if job.next_run_time else float("inf"))
        return jobs

    def add_job(self, job: Job) -> None:
        state = self._serialize(job)
        with self._io():
            added = self._add(keys=[self.jobs_key, self.run_times_key], args=[job.id, state, self._score(job)])
        if not added:
            raise ConflictingIdError(job.id)

    def update_job(self, job: Job) -> None:
        state = self._serialize(job)
        with self._io():
            updated = self._update(keys=[self.jobs_key, self.run_times_key], args=[job.id, state, self._score(job)])
        if not updated:
            raise JobLookupError(job.id)

    def remove_job(self, job_id: str) -> None:
        with self._io():
            removed = self._remove(keys=[self.jobs_key, self.run_times_key, self.outcomes_key], args=[job_id])
        if not removed:
            raise JobLookupError(job_id)

    def remove_all_jobs(self) -> None:
        with self._io():
            self.client.delete(self.jobs_key, self.run_times_key, self.outcomes_key)

    def shutdown(self) -> None:
        self.client.close()

    # ------------------------------------------------------------------ claiming

    def due_jobs(self, now: datetime) -> list[tuple[Job, Any]]:
        with self._io():
            ids: list[bytes] = self.client.zrangebyscore(  # type: ignore[assignment]
                self.run_times_key, 0, datetime_to_utc_timestamp(now)
            )
            if not ids:
                return []
            states: list[bytes | None] = self.client.hmget(self.jobs_key, ids)  # type: ignore[assignment, arg-type]
        rows: list[tuple[str, bytes | None]] = []
        for raw_id, state in zip(ids, states, strict=True):
            job_id = raw_id.decode()
            if state is None:  # scheduled but deleted meanwhile
                self.park(job_id)
                continue
            rows.append((job_id, state))
        return list(self._restore_many(rows))

    def claim(self, job: Job, token: Any, next_run_time: datetime | None) -> bool:
        if next_run_time is None:
            state, score = b"", ""
        else:
            job.next_run_time = next_run_time
            state, score = self._serialize(job), self._score(job)
        with self._io():
            won = self._claim(
                keys=[self.jobs_key, self.run_times_key, self.outcomes_key], args=[job.id, token, state, score]
            )
        return bool(won)

    def park(self, job_id: str) -> None:
        with self._io():
            self.client.zrem(self.run_times_key, job_id)

    def ping(self) -> None:
        with self._io():
            self.client.ping()

    def count(self) -> int:
        with self._io():
            return int(self.client.hlen(self.jobs_key))  # type: ignore[arg-type]

    def record_outcome(self, job_id: str, outcome: JobOutcome) -> None:
        with self._io():
            self._outcome(keys=[self.jobs_key, self.outcomes_key], args=[job_id, outcome.to_json()])

    def outcomes(self, job_ids: Iterable[str]) -> dict[str, JobOutcome]:
        ids = list(job_ids)
        if not ids:
            return {}
        with self._io():
            values = self.client.hmget(self.outcomes_key, ids)
        return {job_id: JobOutcome.from_json(v) for job_id, v in zip(ids, values, strict=True) if v}  # type: ignore[arg-type]
