"""A handler raising ``CancelledError`` on its own is that handler's failure, locally and across Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from xcore._events import Event, EventBus

from .test_events_redis import Inbox, make_service, plugin


async def awaits_a_task_it_cancelled(event: Event) -> None:
    task = asyncio.create_task(asyncio.sleep(3600))
    task.cancel()
    await task


def raises_cancelled_at_once(event: Event) -> None:
    raise asyncio.CancelledError


async def test_a_handler_raising_its_own_cancelled_error_is_recorded_and_the_others_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus(handler_timeout=5)
    bus.subscribe("job.done", awaits_a_task_it_cancelled, owner="worker")
    bus.subscribe("job.done", raises_cancelled_at_once, owner="worker")
    bus.subscribe("job.done", lambda e: "after")
    first, second, third = await bus.emit("job.done")
    assert isinstance(first.error, asyncio.CancelledError) and not first.timed_out
    assert isinstance(second.error, asyncio.CancelledError)
    assert third.value == "after"
    assert "handler awaits_a_task_it_cancelled of plugin 'worker' raised CancelledError" in caplog.text
    await asyncio.sleep(0)  # the emitter's task is not left cancelled


async def test_a_remote_handler_raising_cancelled_error_does_not_stop_the_subscriber(redis_url: str) -> None:
    first, second = make_service(redis_url), make_service(redis_url)
    await first.start()
    await second.start()
    try:
        inbox = Inbox()
        plugin(second, "worker").on("job.failed", awaits_a_task_it_cancelled)
        plugin(second, "audit").on("job.*", inbox)
        sender: Any = plugin(first, "jobs")
        await sender.emit("job.failed")
        await inbox.wait_for("job.failed")
        await sender.emit("job.next")
        await inbox.wait_for("job.next")
        assert second.transport.subscribed
    finally:
        await first.close()
        await second.close()
