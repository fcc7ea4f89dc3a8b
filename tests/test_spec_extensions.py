"""Spec "Custom Extensions", "Service Health Checks" and "Best Practices", run as written, as plugins.

Sections covered (working-with-services.md):
- "Custom Extensions": test_extensions_example (SMTP server + local storage, and SMTP + S3 with the
  spec's own extension block), test_extensions_example_without_email_names_the_missing_service
- "Service Health Checks": test_health_check_example, test_health_check_example_reports_a_failing_cache
  (a cache test double), test_health_check_example_during_a_redis_outage (a stopped Redis server)
- "Best Practices": test_best_practices_example, test_best_practices_example_without_a_service
"""

from __future__ import annotations

from typing import Any

import pytest

from tests import spec_support
from tests.spec_support import Backend, load_example
from xcore._errors import ServiceNotFoundError

spec_backend = spec_support.spec_backend  # the fixture, made visible to this module's tests
spec_servers = spec_support.spec_servers  # the fixture, made visible to this module's tests


def with_email(backend: Backend, smtp_server: Any) -> dict[str, Any]:
    """The backend's config with an ``ext.email`` (the embedded defaults have no email service)."""
    if backend.name == "servers":
        return backend.config  # the spec's own block: email (SMTP) and storage (S3)
    return {
        "services": {
            **backend.config["services"],
            "extensions": {"email": smtp_server.settings(), "storage": {"type": "local"}},
        }
    }


async def test_extensions_example(spec_backend: Backend, xcore_boot: Any, smtp_server: Any) -> None:
    example = load_example("Custom Extensions", "from xcore.sdk import TrustedBase")
    config = with_email(spec_backend, smtp_server)
    xcore = await xcore_boot(plugins={"notify": example.Plugin}, config=config, env=spec_backend.env)
    plugin = xcore.plugin("notify")

    address = f"ann-{spec_backend.name}@example.test"
    await plugin.send_notification(address, "Your report is ready")
    received = [m for m in smtp_server.messages if address in m.recipients]
    assert len(received) == 1
    assert received[0].message["Subject"] == "Notification"
    assert received[0].message.get_content().strip() == "Your report is ready"

    url = await plugin.upload_file(b"%PDF-1.7 report", "report.pdf")
    assert url.endswith("uploads/report.pdf")
    storage = xcore.get_service("ext.storage")
    assert await storage.download("uploads/report.pdf") == b"%PDF-1.7 report"

    with pytest.raises(TypeError, match="data is text"):
        await plugin.upload_file("text, not bytes", "notes.txt")
    with pytest.raises(ValueError):
        await plugin.upload_file(b"x", "../escape.txt")
    assert await storage.list("uploads/") == ["uploads/report.pdf"]  # nothing else was written


async def test_extensions_example_without_email_names_the_missing_service(xcore_boot: Any) -> None:
    example = load_example("Custom Extensions", "from xcore.sdk import TrustedBase")
    xcore = await xcore_boot(plugins={"notify": example.Plugin}, strict=False)  # embedded: no ext.email
    record = xcore.record("notify")
    assert record.state == "failed"
    assert "no service named 'ext.email'" in record.error
    assert "ext.storage" in record.error  # the services that do exist are listed


async def test_health_check_example(spec_backend: Backend, xcore_boot: Any) -> None:
    example = load_example("Service Health Checks", "from xcore.sdk import TrustedBase")
    xcore = await xcore_boot(plugins={"status": example.Plugin}, config=spec_backend.config, env=spec_backend.env)
    response = await xcore.client.get("/plugins/status/health")
    assert response.json() == {
        "status": "healthy",
        "services": {"database": {"status": "ok"}, "cache": {"status": "ok"}},
    }


class BrokenCache:
    """A cache double whose writes fail, as a cache whose server is gone does."""

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        raise ConnectionError("cache server unreachable")


async def test_health_check_example_reports_a_failing_cache(xcore_boot: Any) -> None:
    example = load_example("Service Health Checks", "from xcore.sdk import TrustedBase")
    xcore = await xcore_boot(plugins={"status": example.Plugin}, services={"cache": BrokenCache()})
    report = (await xcore.client.get("/plugins/status/health")).json()
    assert report == {
        "status": "unhealthy",
        "services": {"database": {"status": "ok"}, "cache": {"status": "error", "error": "cache server unreachable"}},
    }


async def test_health_check_example_during_a_redis_outage(spec_servers: Backend, xcore_boot: Any) -> None:
    """The Redis cache skips writes while Redis is down (the example's ``set`` succeeds), so the outage
    shows in ``/health/ready``, which checks each service itself; the example's route keeps answering."""
    example = load_example("Service Health Checks", "from xcore.sdk import TrustedBase")
    xcore = await xcore_boot(plugins={"status": example.Plugin}, config=spec_servers.config, env=spec_servers.env)
    assert spec_servers.servers is not None
    redis_server = spec_servers.servers.redis
    redis_server.stop()
    try:
        route = await xcore.client.get("/plugins/status/health")
        ready = await xcore.client.get("/health/ready")
        report = await xcore.health()  # the detail /health/ready shows to a client with the API key
    finally:
        redis_server.start()
    assert route.status_code == 200
    assert route.json()["services"]["database"] == {"status": "ok"}
    assert (ready.status_code, ready.json()) == (503, {"status": "error"})
    assert report["services"]["cache"]["status"] == "error"
    recovered = (await xcore.client.get("/plugins/status/health")).json()
    assert recovered["status"] == "healthy"
    assert (await xcore.health())["status"] == "ok"  # every service reconnected by itself


async def test_best_practices_example(spec_backend: Backend, xcore_boot: Any) -> None:
    example = load_example("Best Practices", "from xcore.sdk import TrustedBase, error, ok")
    xcore = await xcore_boot(plugins={"careful": example.Plugin}, config=spec_backend.config, env=spec_backend.env)
    assert xcore.plugin("careful").initialized is True
    assert await xcore.call("careful", "anything", {}) == {"status": "ok"}


async def test_best_practices_example_without_a_service(xcore_boot: Any, capsys: pytest.CaptureFixture[str]) -> None:
    example = load_example("Best Practices", "from xcore.sdk import TrustedBase, error, ok")
    xcore = await xcore_boot(
        plugins={"careful": example.Plugin}, config={"services": {"scheduler": {"enabled": False}}}
    )
    assert "Missing required service: no service named 'scheduler'" in capsys.readouterr().out
    assert issubclass(ServiceNotFoundError, KeyError)  # what the example's except clause relies on
    assert await xcore.call("careful", "anything", {}) == {
        "status": "error",
        "message": "Plugin not properly initialized",
        "code": None,
    }
