"""A job that raises reaches plugins as the kernel event ``xcore.scheduler.job_failed``."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from xcore import Xcore
from xcore._events import kernel, on
from xcore.sdk import TrustedBase


class Watcher(TrustedBase):
    failures: list[dict[str, Any]] = []

    async def on_load(self) -> None:
        self.get_service("scheduler").add_job(
            func=self._broken, trigger="date", run_date=datetime.now() + timedelta(milliseconds=100), id="broken"
        )

    def _broken(self) -> None:
        raise ValueError("disk full")

    @on(kernel.SCHEDULER_JOB_FAILED)
    async def seen(self, event: Any) -> None:
        self.failures.append({"data": event.data, "source": event.source})


async def test_failed_job_is_announced_with_plugin_job_and_error() -> None:
    host = Xcore(config={"services": {"databases": {}, "extensions": {}}}, plugins={"watcher": Watcher}, discover=False)
    await host.boot()
    try:
        async with asyncio.timeout(10):
            while not Watcher.failures:
                await asyncio.sleep(0.02)
    finally:
        await host.shutdown()
    assert Watcher.failures == [
        {"data": {"plugin": "watcher", "job_id": "broken", "error": "ValueError: disk full"}, "source": "xcore"}
    ]
