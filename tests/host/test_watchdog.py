"""A plugin whose ``on_load`` blocks the event loop: named, failed, and a boot that cannot hang forever.

In process, the watchdog's exit is replaced by a recorder (a real exit would end the test run); the
real exit is tested on ``xcore serve`` in a subprocess, bounded in time.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from typing import Any

import pytest

from tests.served_process import stop
from xcore import _watchdog as watchdog
from xcore._host.facade import Xcore
from xcore._watchdog import GRACE, Activity, LoopWatchdog

from .serving import start
from .support import NO_SERVICES, Site, config
from .test_discovery import boot, class_plugin, state

BLOCKING = """
import time
from xcore.sdk import TrustedBase

class Plugin(TrustedBase):
    async def on_load(self):
        {block}
"""


@pytest.fixture
def overruns(monkeypatch: pytest.MonkeyPatch) -> list[Activity]:
    """Overruns the host's watchdog reports, instead of exiting the test process."""
    seen: list[Activity] = []
    monkeypatch.setattr(watchdog, "exit_process", seen.append)
    return seen


async def test_a_stall_is_logged_naming_the_activity_and_a_long_one_overruns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[Activity] = []
    with LoopWatchdog(asyncio.get_running_loop(), warn_after=0.3, on_overrun=seen.append) as dog:
        busy = Activity("plugin 'busy' in on_load", deadline=0.2, setting="app.load_timeout")
        with dog.watching(busy):
            await asyncio.sleep(0.5)  # the loop turns: a slow but honest activity is not a stall
        assert busy.blocked_for < 0.3 and not busy.overran and seen == []
        stuck = Activity("plugin 'stuck' in on_load", deadline=0.2, setting="app.load_timeout", remedy="Fix it.")
        with dog.watching(stuck):
            time.sleep(0.2 + GRACE + 0.5)
        assert seen == [stuck] and stuck.overran and stuck.blocked_for >= GRACE
    assert "the event loop has not turned for" in caplog.text and "while plugin 'stuck' in on_load runs" in caplog.text
    assert "plugin 'busy'" not in caplog.text
    assert stuck.overrun_message().startswith("plugin 'stuck' in on_load has blocked the event loop for ")
    assert "past its deadline of 0.2s (app.load_timeout)" in stuck.overrun_message()
    assert stuck.overrun_message().endswith("which no timeout can interrupt. Fix it.")


async def test_a_blocking_on_load_that_returns_late_fails_that_plugin_only(
    site: Site, overruns: list[Activity]
) -> None:
    site.plugin("slow", BLOCKING.format(block="time.sleep(0.5)"))
    site.plugin("healthy", class_plugin())
    host = await boot(site, app={"load_timeout": 0.1}, plugins={"enabled": ["slow", "healthy"]})
    try:
        name, error = state(host, "slow")
        assert name == "failed" and error is not None
        assert error.startswith("on_load did not finish within 0.1s (app.load_timeout); it blocked the event loop for")
        assert state(host, "healthy") == ("loaded", None)
        assert overruns == []
    finally:
        await host.shutdown()


async def test_a_blocking_on_load_past_the_deadline_is_reported_naming_the_plugin(
    site: Site, overruns: list[Activity]
) -> None:
    site.plugin("stuck", BLOCKING.format(block=f"time.sleep({0.2 + GRACE + 0.5})"))
    host = await boot(site, app={"load_timeout": 0.2}, plugins={"enabled": ["stuck"]})
    try:
        assert [a.label for a in overruns] == ["plugin 'stuck' in on_load"]
        assert "plugins.disabled: [stuck]" in overruns[0].overrun_message()
        assert state(host, "stuck")[0] == "failed"
    finally:
        await host.shutdown()


@pytest.mark.parametrize(
    ("block", "workers"),
    [("time.sleep(30)", "1"), ("while True: pass", "1"), ("while True: time.sleep(1)", "2")],
    ids=["sleep", "endless", "endless-2-workers"],
)
def test_serve_exits_with_an_error_naming_the_plugin_instead_of_hanging(site: Site, block: str, workers: str) -> None:
    """With several workers too: the worker's exit status is uvicorn's "failed to start", so its
    supervisor stops rather than restarting workers that would block again."""
    site.plugin("stuck", BLOCKING.format(block=block))
    data: dict[str, Any] = {"app": {"load_timeout": 1}, "services": NO_SERVICES, "plugins": {"enabled": ["stuck"]}}
    process, log = start(site, data, args=("--workers", workers))
    try:
        began = time.monotonic()
        code = process.wait(timeout=45)
        took = time.monotonic() - began
    except subprocess.TimeoutExpired:
        pytest.fail(f"xcore serve still runs 45s after start:\n{log.read_text()}")
    finally:
        stop(process)
    text = log.read_text()
    if workers == "1":
        assert code == watchdog.EXIT_STATUS, text
    else:  # uvicorn's supervisor stops (it exits 0 itself) instead of restarting the worker
        assert "failed to start, stopping the parent process" in text, text
    assert "plugin 'stuck' in on_load has blocked the event loop for" in text, text
    assert "past its deadline of 1s (app.load_timeout)" in text and "plugins.disabled: [stuck]" in text
    assert "the event loop has not turned for 1." in text and "while plugin 'stuck' in on_load runs" in text
    assert took < 30, f"the boot took {took:.0f}s to fail"


async def test_the_watchdog_thread_is_gone_after_boot() -> None:
    host = Xcore(config=config(), discover=False)
    await host.boot()
    try:
        assert not [t for t in threading.enumerate() if t.name == "xcore-loop-watchdog"]
    finally:
        await host.shutdown()
