"""``/health/ready``: status for anyone, the report for a key holder, and checks a flood cannot multiply."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from pydantic import SecretStr

from xcore._api_keys import matches, operator_keys
from xcore._config.models import AppConfig
from xcore._readiness import SharedChecks
from xcore.sdk import TrustedBase
from xcore.web import create_app

from .support import config
from .test_http import client

CHECKS: list[int] = []


class Counted(TrustedBase):
    """A plugin whose health check counts its runs and takes a moment, so concurrent probes overlap."""

    async def health(self) -> dict[str, Any]:
        CHECKS.append(1)
        await asyncio.sleep(0.05)
        return {"internal": "/srv/secret/path"}


class Sick(TrustedBase):
    async def health(self) -> dict[str, Any]:
        return {"status": "error", "reason": "queue stuck at /srv/secret/path"}


async def test_without_a_key_only_the_status_is_shown() -> None:
    async with client({"counted": Counted}, app={"api_key": "k"}) as http:
        ready = await http.get("/health/ready")
        assert (ready.status_code, ready.json()) == (200, {"status": "ok"})
    async with client({"sick": Sick}, app={"api_key": "k"}) as http:
        ready = await http.get("/health/ready")
        assert (ready.status_code, ready.json()) == (503, {"status": "error"})
        assert "secret" not in ready.text and "ext.settings" not in ready.text
        detailed = await http.get("/health/ready", headers={"X-API-Key": "k"})
        assert detailed.status_code == 503 and detailed.json()["plugins"]["sick"]["reason"].startswith("queue stuck")
        bearer = await http.get("/health/ready", headers={"Authorization": "Bearer k"})
        assert bearer.json()["services"]["ext.settings"]["status"] == "ok"


@pytest.mark.parametrize(("app", "message"), [
    ({"api_key": "k"}, "wrong key for the health details"),
    ({}, "health details need app.api_key or app.admin_key, neither is configured"),
])  # fmt: skip
async def test_a_wrong_key_is_a_401(app: dict[str, Any], message: str) -> None:
    async with client({"counted": Counted}, app=app) as http:
        for headers in ({"X-API-Key": "nope"}, {"Authorization": "Bearer nope"}):
            refused = await http.get("/health/ready", headers=headers)
            assert refused.status_code == 401 and message in refused.json()["detail"]
            assert "internal" not in refused.text


async def test_a_flood_of_probes_runs_the_checks_once() -> None:
    async with client({"counted": Counted}, app={"api_key": "k", "health_cache_ttl": 30}) as http:
        CHECKS.clear()
        answers = await asyncio.gather(*(http.get("/health/ready") for _ in range(50)))
        assert {a.status_code for a in answers} == {200}
        assert len(CHECKS) == 1
        detailed = await http.get("/health/ready", headers={"X-API-Key": "k"})  # the same report, with detail
        assert detailed.json()["plugins"]["counted"]["internal"] == "/srv/secret/path" and len(CHECKS) == 1


async def test_results_are_reused_for_the_ttl_only() -> None:
    runs: list[int] = []

    async def check() -> dict[str, Any]:
        runs.append(1)
        await asyncio.sleep(0.02)
        return {"status": "ok", "run": len(runs)}

    cached = SharedChecks(check, ttl=0.3)
    assert (await cached.report())["run"] == 1
    assert (await cached.report())["run"] == 1
    await asyncio.sleep(0.35)
    assert (await cached.report())["run"] == 2
    uncached = SharedChecks(check, ttl=0)  # no reuse, but probes at the same moment still share one run
    reports = await asyncio.gather(*(uncached.report() for _ in range(10)))
    assert {r["run"] for r in reports} == {3}
    assert (await uncached.report())["run"] == 4


async def test_a_probe_that_gives_up_does_not_cancel_the_run_others_wait_for() -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def check() -> dict[str, Any]:
        started.set()
        await release.wait()
        return {"status": "ok"}

    shared = SharedChecks(check, ttl=1)
    impatient = asyncio.create_task(shared.report())
    await started.wait()
    patient = asyncio.create_task(shared.report())
    impatient.cancel()
    await asyncio.sleep(0)
    release.set()
    assert await patient == {"status": "ok"}


async def test_a_flood_of_probes_pings_redis_once(redis_url: str) -> None:
    """The issue's case, on a real Redis: 50 probes at once cost the cache one PING."""
    admin = redis.from_url(redis_url)
    app = create_app(config=config(app={"health_cache_ttl": 30}, services={"cache": {"backend": "redis",
                                                                                      "url": redis_url}}),
                     discover=False)  # fmt: skip
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http,
        ):
            before = await pings(admin)
            answers = await asyncio.gather(*(http.get("/health/ready") for _ in range(50)))
            assert {a.status_code for a in answers} == {200}
            assert await pings(admin) - before == 1
    finally:
        await admin.aclose()


async def pings(admin: redis.Redis) -> int:
    stats = await admin.info("commandstats")
    return int(stats.get("cmdstat_ping", {}).get("calls", 0))


def test_operator_keys_are_the_api_key_and_an_admin_key_when_the_config_has_one() -> None:
    assert operator_keys(AppConfig()) == []
    assert operator_keys(AppConfig(api_key=SecretStr("a"))) == [b"a"]

    assert operator_keys(AppConfig(api_key=SecretStr("a"), admin_key=SecretStr("b"))) == [b"a", b"b"]
    assert operator_keys(AppConfig(admin_key=SecretStr("b"))) == [b"b"]
    assert matches("b", [b"a", b"b"]) and not matches("c", [b"a", b"b"]) and not matches("a", [])


async def test_the_admin_key_reads_the_details_without_enabling_actions() -> None:
    async with client({"sick": Sick}, app={"admin_key": "ops"}) as http:
        assert (await http.get("/health/ready")).json() == {"status": "error"}
        for headers in ({"X-Admin-Key": "ops"}, {"X-API-Key": "ops"}):
            detailed = await http.get("/health/ready", headers=headers)
            assert detailed.json()["plugins"]["sick"]["reason"].startswith("queue stuck")
        assert (await http.get("/health/ready", headers={"X-Admin-Key": "nope"})).status_code == 401
        action = await http.post("/plugins/sick/actions/x", json={}, headers={"X-API-Key": "ops"})
        assert action.status_code == 404 and action.json()["code"] == "actions_disabled"


async def test_a_blank_key_is_no_key() -> None:
    """``admin_key: "${XCORE_ADMIN_KEY:-}"`` with the variable unset: no key, so an empty header gets nothing."""
    assert AppConfig(api_key=SecretStr(""), admin_key=SecretStr("  ")).api_key is None
    async with client({"sick": Sick}, app={"api_key": "", "admin_key": ""}) as http:
        for headers in ({"X-Admin-Key": ""}, {"X-API-Key": ""}, {"Authorization": "Bearer "}):
            answer = await http.get("/health/ready", headers=headers)
            assert "queue stuck" not in answer.text
        action = await http.post("/plugins/sick/actions/x", json={}, headers={"X-API-Key": ""})
        assert action.status_code == 404
