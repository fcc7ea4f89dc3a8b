"""Failure paths of the host: a plugin's own CancelledError, secrets in plugin errors, the health monitor."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from xcore import Xcore, hookimpl
from xcore._errors import PluginNotFoundError
from xcore._services import ServiceType
from xcore.sdk import TrustedBase, action, ok

from .support import config
from .test_services import Probe, ProbeBackend, ProbeSettings

JOURNAL: list[str] = []


class Worker(TrustedBase):
    """Cancels its background task in on_unload and awaits it without catching: a common slip."""

    async def on_load(self) -> None:
        self.task = asyncio.create_task(asyncio.sleep(3600))

    async def on_unload(self) -> None:
        JOURNAL.append("unload worker")
        self.task.cancel()
        await self.task  # raises the task's CancelledError into on_unload


class Quiet(TrustedBase):
    async def on_unload(self) -> None:
        JOURNAL.append("unload quiet")


class CancelsItsLoad(TrustedBase):
    async def on_load(self) -> None:
        task = asyncio.create_task(asyncio.sleep(3600))
        task.cancel()
        await task


@pytest.fixture(autouse=True)
def clear() -> None:
    JOURNAL.clear()
    Probe.journal.clear()


async def test_a_plugin_raising_cancelled_error_in_on_unload_does_not_skip_the_rest_of_shutdown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    host = Xcore(
        config=config(services={"extensions": {"probe": {"type": "probe"}}}),
        plugins={"probes": ProbeBackend(), "quiet": Quiet, "worker": Worker},
        discover=False,
    )
    await host.boot()
    await host.shutdown()
    assert JOURNAL == ["unload worker", "unload quiet"]
    assert Probe.journal[-1] == "close ext.probe", "services are closed after a plugin's unload went wrong"
    assert "plugin 'worker': on_unload failed" in caplog.text


async def test_a_plugin_raising_cancelled_error_in_on_load_fails_only_that_plugin() -> None:
    host = Xcore(config=config(), plugins={"quiet": Quiet, "cancels": CancelsItsLoad}, discover=False)
    await host.boot()
    try:
        assert host.records["quiet"].state == "loaded"
        assert host.records["cancels"].state == "failed"
        assert host.records["cancels"].error == "on_load raised CancelledError"
    finally:
        await host.shutdown()


async def test_a_real_cancellation_of_boot_still_propagates_and_tears_down() -> None:
    started = asyncio.Event()

    class Slow(TrustedBase):
        async def on_load(self) -> None:
            started.set()
            await asyncio.sleep(3600)

    host = Xcore(
        config=config(services={"extensions": {"probe": {"type": "probe"}}}),
        plugins={"probes": ProbeBackend(), "slow": Slow},
        discover=False,
    )
    boot = asyncio.create_task(host.boot())
    await started.wait()
    boot.cancel()
    with pytest.raises(asyncio.CancelledError):
        await boot
    assert Probe.journal[-1] == "close ext.probe"


DSN = "postgresql://app:hunter2@db.internal/app"


class LeakyLoad(TrustedBase):
    async def on_load(self) -> None:
        raise ConnectionError(f"could not connect to {self.ctx.config['dsn']}")


class LeakyHealth(TrustedBase):
    async def health(self) -> bool:
        raise RuntimeError(f"token {self.ctx.config['token']} was refused")


async def test_plugin_errors_never_carry_secrets_into_records_or_health_reports() -> None:
    host = Xcore(
        config=config(plugins={"settings": {"leaky": {"dsn": DSN}, "sick": {"token": "s3cr3t-t0ken"}}}),
        plugins={"leaky": LeakyLoad, "sick": LeakyHealth},
        discover=False,
    )
    await host.boot()
    try:
        assert (
            host.records["leaky"].error == "on_load raised ConnectionError: could not connect to "
            "postgresql://app:***@db.internal/app"
        )
        report = await host.health()
        assert "hunter2" not in str(report) and "s3cr3t-t0ken" not in str(report)
        assert report["plugins"]["sick"]["error"] == "RuntimeError: token *** was refused"
    finally:
        await host.shutdown()


class OddHealth(TrustedBase):
    async def health(self) -> Any:
        return "fine, thanks"


async def test_a_plugin_health_returning_an_unexpected_value_is_reported_not_a_crash() -> None:
    host = Xcore(config=config(), plugins={"odd": OddHealth, "quiet": Quiet}, discover=False)
    await host.boot()
    try:
        report = await host.health()
        assert report["status"] == "error"
        assert report["plugins"]["quiet"] == {"status": "ok", "state": "loaded"}
        odd = report["plugins"]["odd"]
        assert odd["status"] == "error" and "returned 'fine, thanks'" in odd["error"]
    finally:
        await host.shutdown()


class Answerer(TrustedBase):
    @action()
    async def whoami(self, payload: dict[str, Any]) -> dict[str, Any]:
        return ok(name="answerer")


async def test_calling_a_plugin_that_unloaded_says_so() -> None:
    host = Xcore(config=config(), plugins={"answerer": Answerer}, discover=False)
    await host.boot()
    assert await host.call("answerer", "whoami") == ok(name="answerer")
    await host.shutdown()
    with pytest.raises(PluginNotFoundError, match=r"plugin 'answerer' is not loaded \(state: unloaded\)"):
        await host.call("answerer", "whoami")


class Cancelling(Probe):
    """A backend whose health and close await a task it cancelled itself."""

    async def health(self) -> dict[str, Any] | None:
        task = asyncio.create_task(asyncio.sleep(3600))
        task.cancel()
        await task
        return None

    async def close(self) -> None:
        self.journal.append(f"close {self.name}")
        await self.health()


class CancellingBackend:
    @hookimpl
    def xcore_register_service(self) -> list[ServiceType]:
        return [ServiceType(kind="extension", name="cancelling", config=ProbeSettings, factory=Cancelling)]


async def test_a_service_raising_its_own_cancelled_error_is_unhealthy_and_does_not_stop_the_others() -> None:
    services = {"extensions": {"a": {"type": "probe"}, "b": {"type": "cancelling"}, "c": {"type": "probe"}}}
    host = Xcore(
        config=config(services=services),
        plugins={"probes": ProbeBackend(), "cancelling": CancellingBackend()},
        discover=False,
    )
    await host.boot()
    report = await host.health()
    assert report["services"]["ext.b"]["status"] == "error"
    assert report["services"]["ext.b"]["error"] == "CancelledError"
    assert report["services"]["ext.a"]["status"] == "ok"
    await host.shutdown()
    assert Probe.journal[-3:] == ["close ext.c", "close ext.b", "close ext.a"]
