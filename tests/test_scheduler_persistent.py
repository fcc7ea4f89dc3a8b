"""Persistent backends (Redis, and the database backend on SQLite and PostgreSQL): stored references to
live plugins, restarts, plugins that are gone, refused callables, shared stores and outages."""

from __future__ import annotations

import asyncio
import functools
import logging
import pickle
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.test_scheduler_support import LivePlugins, Recorder, make_setup, running, wait_until
from xcore._builtin_services.scheduler import (
    DatabaseSchedulerSettings,
    DuplicateJobError,
    InvalidJobError,
    RedisSchedulerSettings,
    SchedulerService,
    StoreUnavailableError,
    build_database,
    build_redis,
)
from xcore._builtin_services.scheduler.stores import load_job_state
from xcore._builtin_services.sql import SqlDatabase, SqliteSettings, SqlSettings
from xcore._services import ServiceSetup


def stored_function(box: list[str]) -> None:
    box.append("ran")


RUNS: list[str] = []


def record_run(label: str) -> None:
    RUNS.append(label)  # a stored job's arguments are copies: it reports through module state


class Backend:
    """Builds scheduler services sharing one store, as the processes of one app would."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind = kind
        self.url = url
        self.prefix = f"t{uuid.uuid4().hex[:10]}"
        self._owned: list[Any] = []

    async def build(self, plugins: LivePlugins, **settings: Any) -> SchedulerService:
        if self.kind == "redis":
            service = build_redis(
                RedisSchedulerSettings(
                    url=self.url, key_prefix=self.prefix, timezone="UTC", poll_interval=0.1, **settings
                ),
                make_setup(plugins),
            )
        else:
            sql_settings = SqliteSettings(url=self.url) if self.kind == "sqlite" else SqlSettings(url=self.url)
            database = SqlDatabase(
                sql_settings,
                ServiceSetup.standalone("db", "services.databases.db", "testapp", plugins.handles),
            )
            await database.start()
            self._owned.append(database)
            service = build_database(
                DatabaseSchedulerSettings(table_prefix=self.prefix, timezone="UTC", poll_interval=0.1, **settings),
                make_setup(plugins, {"db": database}),
            )
        self._owned.append(service)
        return service

    async def close(self) -> None:
        for owned in reversed(self._owned):
            if isinstance(owned, SchedulerService) and not owned.running:
                continue
            await owned.close()


@pytest.fixture(params=["redis", "sqlite", "postgresql"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/jobs.db"
    else:
        url = request.getfixturevalue("postgres_server").url
    chosen = Backend(request.param, url)
    yield chosen
    await chosen.close()


async def test_a_plugin_method_is_stored_as_a_reference_and_runs_on_the_live_plugin(backend: Backend) -> None:
    plugins = LivePlugins()
    live = Recorder("live")  # holds a threading.Lock: APScheduler 3 could not pickle it
    scheduler = (await running(await backend.build(plugins))).for_plugin(plugins.load("p", live))
    job = scheduler.add_job(
        func=live.tick, trigger="interval", seconds=0.1, args=["x"], id="cleanup_job", replace_existing=True
    )
    assert job.func_ref == "p.tick" and job.args == ("x",)
    await wait_until(lambda: len(live.calls) >= 2)
    assert live.calls[0] == ("x",)


async def test_after_a_restart_stored_jobs_run_against_the_newly_loaded_plugin(backend: Backend) -> None:
    first_plugins = LivePlugins()
    old = Recorder("old")
    first = await running(await backend.build(first_plugins))
    first.for_plugin(first_plugins.load("p", old)).add_job(
        old.tick, "date", args=["after restart"], id="once", run_date=datetime.now(UTC) + timedelta(seconds=0.3)
    )
    await first.host_stopping()
    await first.close()  # the app stops before the job is due

    plugins = LivePlugins()
    new = Recorder("new")
    plugins.load("p", new)
    await running(await backend.build(plugins))
    await wait_until(lambda: new.calls == [("after restart",)])
    assert old.calls == []


async def test_jobs_stored_before_the_modules_were_renamed_still_load_and_run(backend: Backend) -> None:
    """0.1 stored ``xcore.builtin_services...`` in every job (the job function's reference and the
    pickled target); the modules are private now (``xcore._builtin_services``) and those jobs still run."""
    first_plugins = LivePlugins()
    old = Recorder("old")
    first = await running(await backend.build(first_plugins))
    first.for_plugin(first_plugins.load("p", old)).add_job(
        old.tick, "date", args=["stored by 0.1"], id="legacy", run_date=datetime.now(UTC) + timedelta(seconds=0.4)
    )
    store = first.store
    [stored] = store.get_all_jobs()
    # the same state as written by 0.1: protocol 0 spells every module name out as text
    legacy = pickle.dumps(load_job_state(store._serialize(stored)), protocol=0).replace(
        b"xcore._builtin_services.", b"xcore.builtin_services."
    )
    assert b"xcore.builtin_services.scheduler.targets" in legacy and b"_builtin_services" not in legacy
    store._serialize = lambda _job: legacy  # type: ignore[method-assign]
    store.update_job(stored)
    await first.host_stopping()
    await first.close()

    plugins = LivePlugins()
    new = Recorder("new")
    plugins.load("p", new)
    await running(await backend.build(plugins))
    await wait_until(lambda: new.calls == [("stored by 0.1",)])


async def test_a_job_whose_plugin_is_gone_stays_stored_and_is_skipped(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    plugins = LivePlugins()
    caplog.set_level(logging.WARNING, logger="xcore.scheduler")
    service = await running(await backend.build(plugins))
    gone = Recorder("gone")
    service.for_plugin(plugins.load("gone", gone)).add_job(gone.tick, "interval", seconds=0.1, id="orphan")
    stays = Recorder("stays")
    scheduler = service.for_plugin(plugins.load("stays", stays))
    scheduler.add_job(stays.tick, "interval", seconds=0.1, id="alive")
    plugins.unload("gone")  # uninstalled or disabled: the host no longer has it
    await service.plugin_unloaded("gone")
    calls_when_gone = len(gone.calls)
    await wait_until(
        lambda: any(r["id"] == "orphan" and r["last_outcome"].startswith("skipped") for r in service.describe_jobs())
    )
    skipped_before = len(stays.calls)
    await wait_until(lambda: len(stays.calls) >= skipped_before + 2)  # the scheduler carries on
    assert len(gone.calls) == calls_when_gone
    row = next(r for r in service.describe_jobs() if r["id"] == "orphan")
    assert row["plugin"] == "gone" and "plugin 'gone' is not loaded" in row["last_outcome"]
    warnings = [r.getMessage() for r in caplog.records if "job 'orphan' of plugin 'gone' skipped" in r.getMessage()]
    assert len(warnings) == 1  # reported once, not at every run


async def test_lambdas_nested_functions_and_unpicklable_arguments_are_refused(backend: Backend) -> None:
    plugins = LivePlugins()
    rec = Recorder()
    scheduler = (await running(await backend.build(plugins))).for_plugin(plugins.load("p", rec))

    def nested() -> None:
        return None

    store = "redis" if backend.kind == "redis" else "database"
    for func in (lambda: None, nested, functools.partial(stored_function, [])):
        with pytest.raises(InvalidJobError, match=f"cannot be stored by the {store} scheduler: a lambda"):
            scheduler.add_job(func, "interval", minutes=1)
    with pytest.raises(InvalidJobError, match="must be picklable"):
        scheduler.add_job(rec.tick, "interval", minutes=1, args=[rec.lock])
    assert scheduler.get_jobs() == []
    box: list[str] = []
    scheduler.add_job(stored_function, "date", args=[box], id="module_function")  # a module-level function is fine


async def test_re_adding_an_identical_job_after_a_restart_keeps_it(backend: Backend) -> None:
    plugins = LivePlugins()
    rec = Recorder()
    plugins.load("p", rec)
    first = await running(await backend.build(plugins))
    original = first.for_plugin(plugins("p")).add_job(rec.tick, "interval", minutes=5, id="cleanup")  # type: ignore[arg-type]
    await first.close()

    second = await running(await backend.build(plugins))
    scheduler = second.for_plugin(plugins("p"))  # type: ignore[arg-type]
    again = scheduler.add_job(rec.tick, "interval", minutes=5, id="cleanup")  # the seed's on_load, as written
    assert again.next_run_time == original.next_run_time  # kept as stored: its schedule goes on
    with pytest.raises(DuplicateJobError):
        scheduler.add_job(rec.tick, "interval", minutes=5, id="cleanup")  # this boot added it already
    third = await running(await backend.build(plugins))
    with pytest.raises(DuplicateJobError, match="plugin 'p' already has a job with id 'cleanup'"):
        third.for_plugin(plugins("p")).add_job(rec.tick, "interval", minutes=7, id="cleanup")  # type: ignore[arg-type]


async def test_processes_sharing_a_store_see_the_same_jobs_and_run_each_once(backend: Backend) -> None:
    plugins_a, plugins_b = LivePlugins(), LivePlugins()
    rec_a, rec_b = Recorder("a"), Recorder("b")
    a = await running(await backend.build(plugins_a))
    b = await running(await backend.build(plugins_b))
    sched_a = a.for_plugin(plugins_a.load("p", rec_a))
    sched_b = b.for_plugin(plugins_b.load("p", rec_b))
    sched_a.add_job(rec_a.stamp, "interval", seconds=0.1, id="shared")
    assert [j.id for j in sched_b.get_jobs()] == ["shared"]
    await wait_until(lambda: len(rec_a.calls) + len(rec_b.calls) >= 8)
    await a.host_stopping()
    await b.host_stopping()
    await asyncio.sleep(0.1)  # let a run started just before the pause finish
    runs = rec_a.calls + rec_b.calls
    assert len(runs) == len(set(runs))  # no scheduled time ran twice
    assert sched_b.get_job("shared").last_outcome is not None


async def test_an_unreachable_store_is_a_clear_error_and_the_service_recovers(
    request: pytest.FixtureRequest, redis_url: str
) -> None:
    server = request.getfixturevalue("redis_server")
    backend = Backend("redis", redis_url.replace("redis://", "redis://:s3cret-pw@"))
    plugins = LivePlugins()
    rec = Recorder()
    server.stop()
    try:
        service = await backend.build(plugins)
        with pytest.raises(StoreUnavailableError, match="scheduler store \\(redis at redis://:\\*\\*\\*@") as caught:
            await service.start()  # the host keeps it, unhealthy, unless required: true
        assert "s3cret-pw" not in str(caught.value)
        await service.host_started()
        scheduler = service.for_plugin(plugins.load("p", rec))
        with pytest.raises(StoreUnavailableError):
            scheduler.add_job(rec.tick, "interval", seconds=0.1, id="j")
        with pytest.raises(StoreUnavailableError):
            await service.health()
    finally:
        server.start()
    await wait_until_healthy(service)
    scheduler.add_job(rec.tick, "interval", seconds=0.1, id="j")
    await wait_until(lambda: len(rec.calls) >= 2)
    await backend.close()


async def wait_until_healthy(service: SchedulerService) -> None:
    async def healthy() -> bool:
        try:
            await service.health()
        except StoreUnavailableError:
            return False
        return True

    for _ in range(100):
        if await healthy():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the scheduler did not recover")


async def test_a_database_backend_names_a_missing_database(tmp_path: Path) -> None:
    from xcore._errors import ConfigError

    with pytest.raises(ConfigError, match=r"services\.scheduler\.database: no service named 'reports'"):
        build_database(DatabaseSchedulerSettings(database="reports"), make_setup(LivePlugins()))


async def test_config_jobs_follow_the_configuration_across_restarts(backend: Backend) -> None:
    nightly = {"func": "tests.test_scheduler_persistent:stored_function", "args": [[]]}
    jobs = [
        {**nightly, "id": "nightly", "trigger": "cron", "hour": 2},
        {**nightly, "id": "weekly", "trigger": "cron", "day_of_week": "sun"},
    ]
    first = await running(await backend.build(LivePlugins(), jobs=jobs))
    assert sorted(row["id"] for row in first.describe_jobs()) == ["nightly", "weekly"]
    await first.close()
    second = await running(await backend.build(LivePlugins(), jobs=[{**jobs[0], "hour": 3}]))
    rows = second.describe_jobs()
    assert [(row["plugin"], row["id"], row["trigger"]) for row in rows] == [("(config)", "nightly", "cron[hour='3']")]


async def test_an_unreadable_stored_job_is_reported_and_left_aside(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    import redis

    backend = Backend("redis", redis_url)
    plugins = LivePlugins()
    rec = Recorder()
    caplog.set_level(logging.ERROR, logger="xcore.scheduler")
    raw = redis.Redis.from_url(redis_url)
    raw.hset(f"{backend.prefix}:scheduler:jobs", "p:corrupt", b"not a pickle")
    raw.zadd(f"{backend.prefix}:scheduler:run_times", {"p:corrupt": 1.0})
    try:
        service = await running(await backend.build(plugins))
        service.for_plugin(plugins.load("p", rec)).add_job(rec.tick, "interval", seconds=0.1, id="fine")
        await wait_until(lambda: len(rec.calls) >= 2)  # the scheduler goes on
        assert raw.hexists(f"{backend.prefix}:scheduler:jobs", "p:corrupt")  # kept for someone to look at
        assert raw.zscore(f"{backend.prefix}:scheduler:run_times", "p:corrupt") is None  # but no longer due
        assert any("job 'p:corrupt' cannot be read" in r.getMessage() for r in caplog.records)
    finally:
        raw.close()
        await backend.close()


async def test_a_host_finds_its_sql_database_by_name(tmp_path: Path) -> None:
    from xcore import Xcore
    from xcore._errors import ConfigError

    database = {"default": {"type": "sqlite", "url": f"sqlite:///{tmp_path}/app.db"}}
    config = {"databases": database, "extensions": {}, "scheduler": {"backend": "database"}}
    host = Xcore(config={"services": config}, discover=False)
    await host.boot()
    try:
        host.get_service("scheduler").add_job(record_run, "date", args=["via_db"], id="via_db")
        await wait_until(lambda: "via_db" in RUNS)
        assert (await host.health())["services"]["scheduler"]["backend"] == "database"
    finally:
        await host.shutdown()

    database["adb"] = {"type": "sqlasync", "url": f"sqlite+aiosqlite:///{tmp_path}/async.db"}
    config["scheduler"] = {"backend": "database", "database": "adb"}
    with pytest.raises(ConfigError, match=r"services\.scheduler\.database: Value error, database 'adb' is of type "
                       r"'sqlasync'; the scheduler needs a synchronous SQL database"):  # fmt: skip
        await Xcore(config={"services": config}, discover=False).boot()
    config["scheduler"] = {"backend": "database", "database": "reports"}
    with pytest.raises(ConfigError, match=r"services\.scheduler\.database: Value error, no database named 'reports' "
                       r"in services.databases \(databases: default, adb\)"):  # fmt: skip
        Xcore(config={"services": config}, discover=False).prepare()  # what xcore config check runs
