"""``backend: database``: jobs in a table of one of the app's SQL databases, shared by every process.

Table ``{table_prefix}_jobs``: ``id``, ``next_run_time`` (UTC timestamp, NULL when paused),
``job_state`` (pickled job) and ``last_outcome`` (JSON). A claim is one conditional ``UPDATE`` (or
``DELETE``) ``WHERE id = :id AND job_state = :as_read``: the database lets exactly one of several
concurrent claims of the same run match a row. The table is created on first use, so a database that
is down at boot is picked up when it comes back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.util import datetime_to_utc_timestamp, utc_timestamp_to_datetime
from sqlalchemy import Column, Float, LargeBinary, MetaData, Table, Text, Unicode, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from xcore._builtin_services.scheduler.errors import StoreUnavailableError
from xcore._builtin_services.scheduler.outcomes import JobOutcome
from xcore._builtin_services.scheduler.stores import ClaimingStore
from xcore._redaction import redact_text


class DatabaseStore(ClaimingStore):
    """Jobs in a SQL table reached through a SQLAlchemy ``Engine`` owned by the database service."""

    shared = True
    backend = "database"

    def __init__(self, engine: Callable[[], Engine], database: str, table_prefix: str) -> None:
        super().__init__()
        self._engine = engine
        self.database = database
        self.table = Table(
            f"{table_prefix}_jobs",
            MetaData(),
            Column("id", Unicode(191), primary_key=True),
            Column("next_run_time", Float(25), index=True),
            Column("job_state", LargeBinary, nullable=False),
            Column("last_outcome", Text, nullable=True),
        )
        self._table_ready = False

    def describe(self) -> str:
        return f"database {self.database!r}, table {self.table.name}"

    @property
    def engine(self) -> Engine:
        return self._engine()

    @contextmanager
    def _io(self) -> Iterator[None]:
        try:
            if not self._table_ready:
                self._create_table()
            yield
        except IntegrityError:
            raise
        except (OperationalError, DBAPIError, ConnectionError) as exc:
            # the database service turns connect failures into its own ConnectionError, key path named
            detail = str(exc.orig) if isinstance(exc, DBAPIError) and exc.orig else str(exc)
            raise StoreUnavailableError(
                f"scheduler store ({self.describe()}) is unavailable: {redact_text(' '.join(detail.split()))}"
            ) from exc

    def _create_table(self) -> None:
        try:
            self.table.create(self.engine, checkfirst=True)
        except DBAPIError:
            # several processes creating it at once: one wins, the others find it afterwards
            self.table.create(self.engine, checkfirst=True)
        self._table_ready = True

    @staticmethod
    def _when(job: Job) -> float | None:
        return datetime_to_utc_timestamp(job.next_run_time) if job.next_run_time else None  # type: ignore[no-any-return]

    def _rows(self, *conditions: Any) -> list[tuple[str, bytes]]:
        query = select(self.table.c.id, self.table.c.job_state).order_by(self.table.c.next_run_time)
        if conditions:
            query = query.where(*conditions)
        with self._io(), self.engine.begin() as conn:
            return [(row.id, row.job_state) for row in conn.execute(query)]

    # ------------------------------------------------------------------ APScheduler's job store API

    def lookup_job(self, job_id: str) -> Job | None:
        found = self._restore_many(self._rows(self.table.c.id == job_id))
        return found[0][0] if found else None

    def get_due_jobs(self, now: datetime) -> list[Job]:
        return [job for job, _ in self.due_jobs(now)]

    def get_next_run_time(self) -> datetime | None:
        query = select(func.min(self.table.c.next_run_time)).where(self.table.c.next_run_time.is_not(None))
        with self._io(), self.engine.begin() as conn:
            first = conn.execute(query).scalar()
        return utc_timestamp_to_datetime(first) if first is not None else None

    def get_all_jobs(self) -> list[Job]:
        jobs = [job for job, _ in self._restore_many(self._rows())]
        jobs.sort(key=lambda job: job.next_run_time.timestamp() if job.next_run_time else float("inf"))
        return jobs

    def add_job(self, job: Job) -> None:
        insert = self.table.insert().values(id=job.id, next_run_time=self._when(job), job_state=self._serialize(job))
        try:
            with self._io(), self.engine.begin() as conn:
                conn.execute(insert)
        except IntegrityError:
            raise ConflictingIdError(job.id) from None

    def update_job(self, job: Job) -> None:
        update = (
            self.table.update()
            .where(self.table.c.id == job.id)
            .values(next_run_time=self._when(job), job_state=self._serialize(job))
        )
        with self._io(), self.engine.begin() as conn:
            if conn.execute(update).rowcount == 0:
                raise JobLookupError(job.id)

    def remove_job(self, job_id: str) -> None:
        with self._io(), self.engine.begin() as conn:
            if conn.execute(self.table.delete().where(self.table.c.id == job_id)).rowcount == 0:
                raise JobLookupError(job_id)

    def remove_all_jobs(self) -> None:
        with self._io(), self.engine.begin() as conn:
            conn.execute(self.table.delete())

    def shutdown(self) -> None:
        return None  # the engine belongs to the database service, which closes it

    # ------------------------------------------------------------------ claiming

    def due_jobs(self, now: datetime) -> list[tuple[Job, Any]]:
        due = self.table.c.next_run_time <= datetime_to_utc_timestamp(now)
        return list(self._restore_many(self._rows(due)))

    def claim(self, job: Job, token: Any, next_run_time: datetime | None) -> bool:
        as_read = (self.table.c.id == job.id) & (self.table.c.job_state == token)
        if next_run_time is None:
            statement: Any = self.table.delete().where(as_read)
        else:
            job.next_run_time = next_run_time
            statement = (
                self.table.update().where(as_read).values(next_run_time=self._when(job), job_state=self._serialize(job))
            )
        with self._io(), self.engine.begin() as conn:
            return bool(conn.execute(statement).rowcount == 1)

    def park(self, job_id: str) -> None:
        with self._io(), self.engine.begin() as conn:
            conn.execute(self.table.update().where(self.table.c.id == job_id).values(next_run_time=None))

    def ping(self) -> None:
        with self._io(), self.engine.begin() as conn:
            conn.execute(select(func.count()).select_from(self.table)).scalar()

    def count(self) -> int:
        with self._io(), self.engine.begin() as conn:
            return int(conn.execute(select(func.count()).select_from(self.table)).scalar() or 0)

    def record_outcome(self, job_id: str, outcome: JobOutcome) -> None:
        with self._io(), self.engine.begin() as conn:
            conn.execute(self.table.update().where(self.table.c.id == job_id).values(last_outcome=outcome.to_json()))

    def outcomes(self, job_ids: Iterable[str]) -> dict[str, JobOutcome]:
        ids = list(job_ids)
        if not ids:
            return {}
        query = select(self.table.c.id, self.table.c.last_outcome).where(
            self.table.c.id.in_(ids), self.table.c.last_outcome.is_not(None)
        )
        with self._io(), self.engine.begin() as conn:
            return {row.id: JobOutcome.from_json(row.last_outcome) for row in conn.execute(query)}
