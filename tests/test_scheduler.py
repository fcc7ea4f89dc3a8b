"""The scheduler service on the memory backend: the seed's API, per-plugin scope, errors, robustness."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError

from tests.test_scheduler_support import LivePlugins, Recorder, make_setup, running, wait_until
from xcore._builtin_services.scheduler import (
    DuplicateJobError,
    InvalidJobError,
    JobFailure,
    MemorySchedulerSettings,
    RedisSchedulerSettings,
    SchedulerService,
    build_memory,
    current_run,
    xcore_register_service,
)
from xcore._config.loader import validate
from xcore._errors import ConfigError


def module_level_job(box: list[str]) -> None:
    box.append("ran")


@pytest.fixture
def plugins() -> LivePlugins:
    return LivePlugins()


@pytest.fixture
async def service(plugins: LivePlugins) -> AsyncIterator[SchedulerService]:
    svc = build_memory(MemorySchedulerSettings(timezone="UTC"), make_setup(plugins))
    await running(svc)
    yield svc
    await svc.close()


def view_of(service: SchedulerService, plugins: LivePlugins, name: str, instance: object | None = None) -> object:
    return service.for_plugin(plugins.load(name, instance if instance is not None else Recorder(name)))


# --------------------------------------------------------------------------- the seed's API


async def test_add_job_returns_a_job_with_id_trigger_and_next_run_time(
    service: SchedulerService, plugins: LivePlugins
) -> None:
    rec = Recorder()
    scheduler = service.for_plugin(plugins.load("p", rec))
    before = datetime.now(UTC)
    job = scheduler.add_job(func=rec.tick, trigger="interval", minutes=5, id="cleanup_job", replace_existing=True)
    assert job.id == "cleanup_job"
    assert str(job.trigger) == "interval[0:05:00]"
    assert job.next_run_time is not None
    assert before + timedelta(minutes=5) <= job.next_run_time <= datetime.now(UTC) + timedelta(minutes=5)
    daily = scheduler.add_job(func=rec.tick, trigger="cron", hour=2, minute=0, id="daily_report")
    assert (daily.next_run_time.hour, daily.next_run_time.minute) == (2, 0)
    assert [j.id for j in scheduler.get_jobs()] == ["cleanup_job", "daily_report"]
    assert scheduler.get_job("daily_report") == daily
    assert scheduler.get_job("nope") is None


async def test_next_run_time_is_known_before_the_scheduler_starts(plugins: LivePlugins) -> None:
    svc = build_memory(MemorySchedulerSettings(), make_setup(plugins))  # never started
    rec = Recorder()
    job = svc.for_plugin(plugins.load("p", rec)).add_job(rec.tick, "interval", seconds=30, id="j")
    assert job.next_run_time is not None and job.next_run_time > datetime.now(UTC)


async def test_sync_jobs_run_on_worker_threads_and_coroutines_on_the_event_loop(
    service: SchedulerService, plugins: LivePlugins
) -> None:
    rec = Recorder()
    scheduler = service.for_plugin(plugins.load("p", rec))
    scheduler.add_job(rec.tick, "date", args=["sync"], id="s")
    scheduler.add_job(rec.atick, "date", args=["async"], id="a")
    await wait_until(lambda: len(rec.calls) == 2)
    threads = dict(zip([c[0] for c in rec.calls], rec.threads, strict=True))
    assert threads["async"] == threading.current_thread().name  # the loop's thread
    assert threads["sync"].startswith("xcore-job")


async def test_date_jobs_accept_iso_strings_and_datetimes(service: SchedulerService, plugins: LivePlugins) -> None:
    rec = Recorder()
    scheduler = service.for_plugin(plugins.load("p", rec))
    soon = datetime.now() + timedelta(milliseconds=200)  # naive: the machine's local time, as datetime.now() means
    scheduler.add_job(rec.tick, "date", run_date=soon, args=["naive"], id="n")
    scheduler.add_job(
        rec.tick, "date", run_date=(datetime.now(UTC) + timedelta(milliseconds=200)).isoformat(), args=["iso"], id="i"
    )
    await wait_until(lambda: len(rec.calls) == 2)
    assert scheduler.get_jobs() == []  # one-shot jobs are gone once run


async def test_an_iso_string_without_offset_is_read_in_the_scheduler_timezone(plugins: LivePlugins) -> None:
    svc = build_memory(MemorySchedulerSettings(timezone="Europe/Paris"), make_setup(plugins))
    rec = Recorder()
    job = svc.for_plugin(plugins.load("p", rec)).add_job(rec.tick, "date", run_date="2030-06-01T14:30:00", id="d")
    assert job.next_run_time == datetime(2030, 6, 1, 14, 30, tzinfo=ZoneInfo("Europe/Paris"))


async def test_a_job_due_sooner_than_all_others_starts_on_time(service: SchedulerService, plugins: LivePlugins) -> None:
    rec = Recorder()
    scheduler = service.for_plugin(plugins.load("p", rec))
    scheduler.add_job(rec.tick, "interval", hours=1, args=["hourly"], id="hourly")
    await asyncio.sleep(0.05)  # the scheduler now sleeps until the hourly run
    scheduler.add_job(rec.tick, "date", args=["soon"], id="soon", run_date=datetime.now(UTC) + timedelta(seconds=0.1))
    await wait_until(lambda: rec.calls == [("soon",)])


async def test_pause_resume_reschedule(service: SchedulerService, plugins: LivePlugins) -> None:
    rec = Recorder()
    scheduler = service.for_plugin(plugins.load("p", rec))
    scheduler.add_job(rec.tick, "interval", hours=1, id="j")
    assert scheduler.pause_job("j").next_run_time is None
    assert scheduler.get_job("j").next_run_time is None
    resumed = scheduler.resume_job("j")
    assert resumed is not None and resumed.next_run_time is not None
    moved = scheduler.reschedule_job("j", trigger="cron", hour=3, minute=15)
    assert str(moved.trigger).startswith("cron[") and (moved.next_run_time.hour, moved.next_run_time.minute) == (3, 15)
    moved.remove()
    assert scheduler.get_jobs() == []


async def test_current_run_tells_a_job_its_id_and_scheduled_time(
    service: SchedulerService, plugins: LivePlugins
) -> None:
    seen = []

    class Plugin:
        async def job(self) -> None:
            seen.append(current_run())

    instance = Plugin()
    job = service.for_plugin(plugins.load("p", instance)).add_job(instance.job, "date", id="who")
    await wait_until(lambda: bool(seen))
    assert seen[0] is not None
    assert (seen[0].plugin, seen[0].job_id, seen[0].scheduled_for) == ("p", "who", job.next_run_time)


async def test_the_application_scope_runs_module_functions_and_lambdas(service: SchedulerService) -> None:
    box: list[str] = []
    service.add_job("tests.test_scheduler:module_level_job", "date", args=[box], id="by_ref")
    service.add_job(lambda: box.append("lambda"), "date", id="lambda")  # memory backend: any callable
    await wait_until(lambda: len(box) == 2)
    assert sorted(box) == ["lambda", "ran"]


# --------------------------------------------------------------------------- per-plugin scope


async def test_two_plugins_may_use_the_same_job_id_and_see_only_their_own(
    service: SchedulerService, plugins: LivePlugins
) -> None:
    a, b = Recorder("a"), Recorder("b")
    sched_a = service.for_plugin(plugins.load("a", a))
    sched_b = service.for_plugin(plugins.load("b", b))
    sched_a.add_job(a.tick, "interval", minutes=1, id="cleanup")
    sched_b.add_job(b.tick, "interval", minutes=2, id="cleanup")
    sched_b.add_job(b.tick, "interval", minutes=3, id="only_b")
    assert [j.id for j in sched_a.get_jobs()] == ["cleanup"]
    assert sorted(j.id for j in sched_b.get_jobs()) == ["cleanup", "only_b"]
    assert str(sched_a.get_job("cleanup").trigger) == "interval[0:01:00]"
    with pytest.raises(JobLookupError, match="plugin 'a' has no job with id 'only_b'"):
        sched_a.remove_job("only_b")
    sched_a.remove_job("cleanup")
    assert sched_b.get_job("cleanup") is not None  # b's job of the same id is untouched


async def test_a_plugin_unloading_loses_its_jobs_and_its_own_cleanup_still_works(
    service: SchedulerService, plugins: LivePlugins
) -> None:
    a, b = Recorder("a"), Recorder("b")
    sched_a = service.for_plugin(plugins.load("a", a))
    sched_b = service.for_plugin(plugins.load("b", b))
    for job_id in ("one", "two"):
        sched_a.add_job(a.tick, "interval", minutes=1, id=job_id)
    sched_b.add_job(b.tick, "interval", minutes=1, id="one")
    sched_a.remove_job("one")  # the seed's on_unload removes its jobs itself...
    await service.plugin_unloaded("a")  # ...then the host releases whatever is left
    with pytest.raises(JobLookupError):
        sched_a.remove_job("two")  # the seed's cleanup wraps this in try/except: it does not fail
    assert sched_a.get_jobs() == []
    assert [j.id for j in sched_b.get_jobs()] == ["one"]
    # a reloaded plugin can register the same ids again
    service.for_plugin(plugins.load("a", Recorder("a2"))).add_job(a.tick, "interval", minutes=1, id="one")


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"trigger": "every"}, "unknown trigger 'every'"),
        ({"trigger": "intervall", "minutes": 5}, "did you mean 'interval'"),
        ({"trigger": "interval", "minuts": 5}, "has no argument 'minuts'; did you mean 'minutes'"),
        ({"trigger": "interval"}, "interval trigger needs a period"),
        ({"trigger": "interval", "minutes": -5}, "must not be negative"),
        ({"trigger": "cron", "hour": 25}, r"bad cron field hour=25"),
        ({"trigger": "cron", "day_of_week": "funday"}, r"bad cron field day_of_week='funday'"),
        ({"trigger": "date", "run_date": "tomorrow at noon"}, r"run_date='tomorrow at noon' is not a date"),
        ({"trigger": "date", "run_date": 42}, "run_date must be a datetime or an ISO 8601 string"),
        ({"trigger": "interval", "minutes": 5, "kwargs": {"nope": 1}}, "the arguments do not fit p.tick"),
        ({"trigger": "interval", "minutes": 5, "misfire_grace_time": -1}, "misfire_grace_time must be"),
        ({"trigger": "interval", "minutes": 5, "max_instances": 0}, "max_instances must be a positive integer"),
        ({"trigger": "interval", "minutes": 5, "id": ""}, "a job id must be a non-empty string"),
        ({"trigger": "cron", "hour": 1, "end_date": "2001-01-01"}, "never fires"),
        ({"trigger": "interval", "minutes": 5, "jobstore": "sql"}, "jobstore='sql': the XCore scheduler has one"),
    ],
)
async def test_bad_input_is_refused_at_add_job_and_nothing_changes(
    service: SchedulerService, plugins: LivePlugins, kwargs: dict[str, object], message: str
) -> None:
    rec = Recorder()
    scheduler = service.for_plugin(plugins.load("p", rec))
    kept = scheduler.add_job(rec.tick, "interval", minutes=1, id="kept")
    with pytest.raises(InvalidJobError, match=message):
        scheduler.add_job(rec.tick, **{"id": "new", **kwargs})
    assert scheduler.get_jobs() == [kept]
    assert scheduler.get_job("kept").next_run_time == kept.next_run_time


async def test_a_duplicate_id_needs_replace_existing(service: SchedulerService, plugins: LivePlugins) -> None:
    rec = Recorder()
    scheduler = service.for_plugin(plugins.load("p", rec))
    first = scheduler.add_job(rec.tick, "interval", minutes=1, id="j")
    with pytest.raises(ConflictingIdError, match="plugin 'p' already has a job with id 'j'; pass replace_existing"):
        scheduler.add_job(rec.tick, "interval", minutes=1, id="j")  # identical, but this plugin added it already
    with pytest.raises(DuplicateJobError):
        scheduler.add_job(rec.tick, "cron", hour=1, id="j")
    assert str(scheduler.get_job("j").trigger) == str(first.trigger)
    replaced = scheduler.add_job(rec.tick, "cron", hour=1, id="j", replace_existing=True)
    assert [str(j.trigger) for j in scheduler.get_jobs()] == [str(replaced.trigger)]


async def test_reschedule_with_a_bad_trigger_leaves_the_job_as_it_was(
    service: SchedulerService, plugins: LivePlugins
) -> None:
    rec = Recorder()
    scheduler = service.for_plugin(plugins.load("p", rec))
    job = scheduler.add_job(rec.tick, "interval", minutes=1, id="j")
    with pytest.raises(InvalidJobError, match="bad cron field minute=61"):
        scheduler.reschedule_job("j", trigger="cron", minute=61)
    with pytest.raises(JobLookupError):
        scheduler.pause_job("missing")
    assert scheduler.get_job("j").next_run_time == job.next_run_time


# --------------------------------------------------------------------------- robustness


async def test_a_failing_job_is_logged_kept_and_reported_and_the_scheduler_goes_on(
    service: SchedulerService, plugins: LivePlugins, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder("reporter")
    scheduler = service.for_plugin(plugins.load("reporter", rec))
    failures: list[JobFailure] = []
    async_failures: list[str] = []

    async def async_listener(failure: JobFailure) -> None:
        async_failures.append(failure.job_id)

    service.add_failure_listener(failures.append)
    service.add_failure_listener(async_listener)
    caplog.set_level(logging.ERROR, logger="xcore.scheduler")
    scheduler.add_job(rec.boom, "interval", seconds=0.05, id="flaky")
    scheduler.add_job(rec.tick, "interval", seconds=0.05, id="steady")
    await wait_until(lambda: len(failures) >= 2 and len(rec.calls) >= 2)
    failure = failures[0]
    assert (failure.plugin, failure.job_id, type(failure.error)) == ("reporter", "flaky", ValueError)
    assert "boom from reporter" in failure.traceback and "flaky" in async_failures
    assert any("job 'flaky' of plugin 'reporter' failed" in r.getMessage() for r in caplog.records)
    flaky = scheduler.get_job("flaky")
    assert flaky.last_outcome is not None and flaky.last_outcome.status == "error"
    assert flaky.last_outcome.error == "ValueError: boom from reporter"
    assert scheduler.get_job("steady").last_outcome.status == "ok"
    rows = {row["id"]: row for row in service.describe_jobs()}
    assert rows["flaky"]["last_outcome"].startswith("error at ") and rows["flaky"]["plugin"] == "reporter"


async def test_a_listener_that_raises_does_not_stop_the_scheduler(
    service: SchedulerService, plugins: LivePlugins
) -> None:
    rec = Recorder()
    scheduler = service.for_plugin(plugins.load("p", rec))

    def broken(failure: JobFailure) -> None:
        raise RuntimeError("listener bug")

    service.add_failure_listener(broken)
    scheduler.add_job(rec.boom, "date", id="bad")
    scheduler.add_job(rec.tick, "interval", seconds=0.05, id="good")
    await wait_until(lambda: len(rec.calls) >= 3)


async def test_a_run_later_than_misfire_grace_time_is_recorded_as_missed(
    service: SchedulerService, plugins: LivePlugins
) -> None:
    rec = Recorder()
    scheduler = service.for_plugin(plugins.load("p", rec))
    scheduler.add_job(
        rec.tick,
        "interval",
        hours=1,
        id="late",
        misfire_grace_time=1,
        next_run_time=datetime.now(UTC) - timedelta(minutes=5),
    )
    await wait_until(lambda: (job := scheduler.get_job("late")) is not None and job.last_outcome is not None)
    assert scheduler.get_job("late").last_outcome.status == "missed" and rec.calls == []


async def test_max_instances_skips_a_run_while_the_last_one_is_still_going(
    service: SchedulerService, plugins: LivePlugins
) -> None:
    release = asyncio.Event()
    started: list[int] = []

    class Slow:
        async def run(self) -> None:
            started.append(1)
            await release.wait()

    slow = Slow()
    scheduler = service.for_plugin(plugins.load("p", slow))
    scheduler.add_job(slow.run, "interval", seconds=0.05, id="slow")
    await wait_until(lambda: (job := scheduler.get_job("slow")) is not None and job.last_outcome is not None)
    outcome = scheduler.get_job("slow").last_outcome
    assert outcome.status == "skipped" and "max_instances=1" in outcome.error and len(started) == 1
    release.set()


async def test_shutdown_waits_for_running_jobs_then_cancels(plugins: LivePlugins) -> None:
    svc = await running(build_memory(MemorySchedulerSettings(shutdown_timeout=0.2), make_setup(plugins)))
    finished: list[str] = []
    cancelled: list[str] = []

    class Jobs:
        async def short(self) -> None:
            await asyncio.sleep(0.05)
            finished.append("short")

        async def endless(self) -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.append("endless")
                raise

    jobs = Jobs()
    scheduler = svc.for_plugin(plugins.load("p", jobs))
    scheduler.add_job(jobs.short, "date", id="short")
    scheduler.add_job(jobs.endless, "date", id="endless")
    await wait_until(lambda: svc._runner is not None and svc._runner.active == 2)
    await svc.host_stopping()
    await asyncio.wait_for(svc.close(), 10)
    assert finished == ["short"] and cancelled == ["endless"]
    with pytest.raises(RuntimeError, match="not running"):
        await svc.health()


async def test_health_reports_state_backend_and_jobs(service: SchedulerService, plugins: LivePlugins) -> None:
    rec = Recorder()
    service.for_plugin(plugins.load("p", rec)).add_job(rec.tick, "interval", minutes=1, id="j")
    report = await service.health()
    assert report == {"backend": "memory", "state": "running", "jobs": 1, "running_jobs": 0}


async def test_nothing_runs_before_the_host_has_loaded_every_plugin(plugins: LivePlugins) -> None:
    svc = build_memory(MemorySchedulerSettings(), make_setup(plugins))
    await svc.start()  # services start before plugins load: the scheduler waits for host_started
    rec = Recorder()
    svc.for_plugin(plugins.load("p", rec)).add_job(rec.tick, "date", id="now")
    await asyncio.sleep(0.2)
    assert rec.calls == [] and (await svc.health())["state"] == "paused"
    await svc.host_started()
    await wait_until(lambda: rec.calls == [()])
    await svc.close()


# --------------------------------------------------------------------------- configuration


def settings_of(backend: str, section: dict[str, object]) -> object:
    types = {t.name: t for t in xcore_register_service()}
    return validate(types[backend].config, section, "integration.yaml", prefix=("services", "scheduler"))


@pytest.mark.parametrize(
    ("backend", "section", "message"),
    [
        ("redis", {}, "services.scheduler.url: required key is missing"),
        ("redis", {"url": "http://localhost"}, "services.scheduler.url: Value error, must start with one of"),
        ("memory", {"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ("memory", {"misfire_grace_time": 0}, "services.scheduler.misfire_grace_time"),
        ("memory", {"coalesse": True}, "services.scheduler.coalesse: unknown key; did you mean 'coalesce'?"),
        ("memory", {"jobs": [{"func": "nocolon", "trigger": "date"}]}, "services.scheduler.jobs.0.func"),
        (
            "memory",
            {"jobs": [{"func": "a:b", "trigger": "date"}, {"func": "a:b", "trigger": "date"}]},
            "two jobs have the id 'a:b'",
        ),
    ],
)
def test_bad_settings_name_the_key(backend: str, section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_of(backend, section)


def test_redis_settings_accept_a_url() -> None:
    settings = settings_of("redis", {"url": "redis://localhost:6379/0", "timezone": "Europe/Paris"})
    assert isinstance(settings, RedisSchedulerSettings) and settings.timezone == "Europe/Paris"


@pytest.mark.parametrize(
    ("job", "message"),
    [
        ({"func": "no_such_module_xyz:run", "trigger": "interval", "minutes": 1}, "could not import module"),
        (
            {"func": "tests.test_scheduler:module_level_job", "trigger": "interval", "minuts": 1},
            "has no argument 'minuts'",
        ),
        ({"func": "tests.test_scheduler:module_level_job", "trigger": "cron", "hour": 99}, "bad cron field hour=99"),
    ],
)
def test_a_bad_config_job_fails_validation_naming_its_key(job: dict[str, object], message: str) -> None:
    """Checked by the settings model, so ``xcore config check`` rejects the job as boot does."""
    with pytest.raises(ConfigError, match=rf"services\.scheduler\.jobs: Value error, entry 0 \(.*\): .*{message}"):
        settings_of("memory", {"jobs": [job]})


async def test_config_jobs_run_and_are_listed(plugins: LivePlugins) -> None:
    box: list[str] = []
    settings = settings_of(
        "memory",
        {
            "jobs": [
                {
                    "id": "nightly",
                    "func": "tests.test_scheduler:module_level_job",
                    "trigger": "cron",
                    "hour": 2,
                    "args": [[]],
                },
                {"func": "tests.test_scheduler:module_level_job", "trigger": "date", "args": [box]},
            ]
        },
    )
    svc = await running(build_memory(settings, make_setup(plugins)))  # type: ignore[arg-type]
    await wait_until(lambda: box == ["ran"])
    rows = svc.describe_jobs()
    assert [(r["plugin"], r["id"], r["trigger"]) for r in rows] == [("(config)", "nightly", "cron[hour='2']")]
    await svc.close()
