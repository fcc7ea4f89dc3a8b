"""The tasks service on both backends: enqueue, results, retries with backoff, dead letters, cancel,
progress, idempotency keys, kernel events, the plugin scope; on Redis with a real worker loop (taskiq)."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from xcore._builtin_services.tasks import (
    TaskCancelledError,
    TaskFailedError,
    TaskNotFoundError,
    UnknownTaskError,
)
from xcore._errors import ServiceError
from xcore._events import kernel
from xcore.sdk import TrustedBase, current_task, report_progress, task
from xcore.testing.harness import boot_xcore


class Worky(TrustedBase):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.effects: dict[str, int] = {}
        self.gate = asyncio.Event()
        self.failures: list[dict[str, Any]] = []

    async def on_load(self) -> None:
        self.ctx.events.on(kernel.TASK_FAILED, lambda event: self.failures.append(event.data))

    @task
    async def add(self, payload: dict[str, Any]) -> int:
        self.calls.append("add")
        return int(payload["a"]) + int(payload["b"])

    @task
    def sync_add(self, payload: dict[str, Any]) -> dict[str, Any]:
        assert threading.current_thread() is not threading.main_thread()
        report_progress(0.5, "half")
        return {"sum": payload["a"] + payload["b"]}

    @task
    async def flaky(self, payload: dict[str, Any]) -> str:
        run = current_task()
        assert run is not None
        self.calls.append(f"flaky:{run.attempt}")
        if run.attempt <= payload["fail_times"]:
            raise RuntimeError(f"boom {run.attempt}")
        return "ok"

    @task(name="slow")
    async def slow_one(self, payload: dict[str, Any]) -> str:
        report_progress(0.25, "started")
        await self.gate.wait()
        return "done"

    @task
    async def effect(self, payload: dict[str, Any]) -> None:
        run = current_task()
        assert run is not None and run.key is not None
        self.effects[run.key] = self.effects.get(run.key, 0) + 1


class Other(TrustedBase):
    @task
    async def mine(self, payload: dict[str, Any]) -> str:
        return "other"


def config(backend: str, redis_url: str | None = None) -> dict[str, Any]:
    tasks: dict[str, Any] = {"backend": backend, "backoff": 0.01, "retries": 2}
    if redis_url:
        tasks.update(url=redis_url, poll_interval=0.01)
    return {"app": {"name": "tasktest"}, "services": {"tasks": tasks}}


@pytest.fixture(params=["memory", "redis"])
async def env(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Any, Worky]]:
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    async with boot_xcore({"worky": Worky, "other": Other}, config(request.param, redis_url)) as xt:
        service = xt.host.get_service("tasks")
        instance = xt.plugin("worky")
        stop = asyncio.Event()
        runner = asyncio.create_task(service.run_worker(4, stop, 2.0)) if request.param == "redis" else None
        try:
            yield xt, instance
        finally:
            if runner is not None:
                stop.set()
                await runner


async def test_enqueue_runs_the_task_and_returns_its_result(env: tuple[Any, Worky]) -> None:
    xt, _ = env
    tasks = xt.get_service("tasks", plugin="worky")
    handle = await tasks.enqueue("add", {"a": 2, "b": 3})
    assert await handle.result(timeout=10) == 5
    assert await handle.status() == "succeeded"
    sync = await tasks.enqueue("sync_add", {"a": 1, "b": 1})
    assert await sync.result(timeout=10) == {"sum": 2}
    assert await sync.progress() == (0.5, "half")


async def test_retries_with_backoff_then_dead_letter_listed_and_retried(env: tuple[Any, Worky]) -> None:
    xt, plugin = env
    tasks = xt.get_service("tasks", plugin="worky")
    recovers = await tasks.enqueue("flaky", {"fail_times": 2})
    assert await recovers.result(timeout=10) == "ok"
    assert (await recovers.info())["attempts"] == 3
    dead = await tasks.enqueue("flaky", {"fail_times": 99}, retries=1)
    with pytest.raises(TaskFailedError, match="boom 2"):
        await dead.result(timeout=10)
    assert [row["id"] for row in await tasks.dead()] == [dead.id]
    for _ in range(100):
        if len(plugin.failures) >= 4:
            break
        await asyncio.sleep(0.02)
    mine = [f for f in plugin.failures if f["task_id"] == dead.id]
    assert [f["dead"] for f in mine] == [False, True]
    assert mine[-1]["error"] == "RuntimeError: boom 2" and mine[-1]["plugin"] == "worky"
    again = await tasks.retry(dead.id)
    with pytest.raises(TaskFailedError):
        await again.result(timeout=10)
    assert (await again.info())["attempts"] == 4
    with pytest.raises(ValueError, match="not dead"):
        await tasks.retry(recovers.id)


async def test_delay_cancel_and_progress_of_a_running_task(env: tuple[Any, Worky]) -> None:
    xt, plugin = env
    tasks = xt.get_service("tasks", plugin="worky")
    later = await tasks.enqueue("add", {"a": 1, "b": 1}, delay=30)
    assert await later.status() == "queued"
    assert await later.cancel() is True
    with pytest.raises(TaskCancelledError):
        await later.result(timeout=5)
    running = await tasks.enqueue("slow", {})
    for _ in range(500):
        if await running.progress() == (0.25, "started"):
            break
        await asyncio.sleep(0.01)
    assert await running.status() == "running"
    assert await running.progress() == (0.25, "started")
    plugin.gate.set()
    assert await running.result(timeout=10) == "done"
    assert await running.cancel() is False
    soon = await tasks.enqueue("add", {"a": 1, "b": 2}, delay=0.2)
    assert await soon.status() == "queued"
    assert await soon.result(timeout=10) == 3


async def test_an_idempotency_key_enqueues_once(env: tuple[Any, Worky]) -> None:
    xt, plugin = env
    tasks = xt.get_service("tasks", plugin="worky")
    first = await tasks.enqueue("effect", {}, key="invoice-7")
    second = await tasks.enqueue("effect", {}, key="invoice-7")
    assert second.id == first.id and second.existing and not first.existing
    await first.result(timeout=10)
    third = await tasks.enqueue("effect", {}, key="invoice-7")
    assert third.id == first.id
    await asyncio.sleep(0.1)
    assert plugin.effects == {"invoice-7": 1}
    # another plugin's key of the same text is its own
    other = await xt.get_service("tasks", plugin="other").enqueue("mine", {}, key="invoice-7")
    assert other.id != first.id


async def test_bad_input_is_refused_with_the_reason(env: tuple[Any, Worky]) -> None:
    xt, _ = env
    tasks = xt.get_service("tasks", plugin="worky")
    with pytest.raises(UnknownTaskError, match=r"plugin 'worky' has no @task named 'nope'.*add"):
        await tasks.enqueue("nope", {})
    with pytest.raises(UnknownTaskError):
        await tasks.enqueue("mine", {})  # another plugin's task
    with pytest.raises(TypeError, match=r"worky\.add.*JSON"):
        await tasks.enqueue("add", {"a": object()})
    with pytest.raises(TypeError, match="must be a dict"):
        await tasks.enqueue("add", [1, 2])
    for bad in ({"delay": -1}, {"retries": -1}, {"retries": 1.5}, {"key": ""}, {"key": "x" * 201}):
        with pytest.raises(ValueError):
            await tasks.enqueue("add", {"a": 1, "b": 1}, **bad)
    assert await tasks.list() == []  # nothing was enqueued by the refused calls


async def test_a_plugin_sees_only_its_own_tasks(env: tuple[Any, Worky]) -> None:
    xt, _ = env
    mine = await xt.get_service("tasks", plugin="worky").enqueue("add", {"a": 1, "b": 1})
    other = xt.get_service("tasks", plugin="other")
    with pytest.raises(TaskNotFoundError):
        await other.get(mine.id)
    with pytest.raises(TaskNotFoundError):
        await other.retry(mine.id)
    assert await other.list() == []
    await mine.result(timeout=10)
    with pytest.raises(TaskNotFoundError):
        await xt.host.get_service("tasks").record("no-such-id")


async def test_without_the_tasks_extra_the_error_names_it(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "taskiq", None)  # what an environment without xcore-host[tasks] looks like
    with pytest.raises(ServiceError) as caught:
        async with boot_xcore({"worky": Worky}, config("redis", redis_url)):
            pass
    assert "services.tasks" in str(caught.value)
    assert "pip install 'xcore-host[tasks]'" in str(caught.value)


async def test_a_stopping_worker_hands_its_unfinished_tasks_to_another_at_once(redis_url: str) -> None:
    settings = {"app": {"name": "handback"}, "services": {"tasks": {"backend": "redis", "url": redis_url}}}
    async with boot_xcore({"worky": Worky}, settings) as xt:
        service = xt.host.get_service("tasks")
        plugin = xt.plugin("worky")
        tasks = xt.get_service("tasks", plugin="worky")
        slow = await tasks.enqueue("slow", {})
        quick = [await tasks.enqueue("add", {"a": i, "b": 1}) for i in range(3)]
        stop = asyncio.Event()
        first = asyncio.create_task(service.run_worker(1, stop, 0.2))  # runs `slow`, holds the others
        for _ in range(500):
            if await slow.status() == "running":
                break
            await asyncio.sleep(0.01)
        assert await slow.status() == "running"
        stop.set()
        await first
        # timeout is 300 s: without the hand-back another worker would claim them 610 s from now
        again = asyncio.Event()
        second = asyncio.create_task(service.run_worker(4, again, 2.0))
        try:
            plugin.gate.set()
            assert await slow.result(timeout=10) == "done"
            assert [await h.result(timeout=10) for h in quick] == [1, 2, 3]
            # the worker trims what it acknowledged: the stream does not grow with every task ever run
            for _ in range(300):
                if await service.redis.xlen(service.queue) <= 1:
                    break
                await asyncio.sleep(0.01)
            assert await service.redis.xlen(service.queue) <= 1
            assert (await service.health())["waiting"] == 0
        finally:
            again.set()
            await second
