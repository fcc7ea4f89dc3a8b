"""``app.metrics: true``: ``GET /metrics`` counts requests by route template, actions, jobs, events,
cache lookups, plugin states and boot times, with bounded labels and no secret in any of them.

The series are process-wide (as prometheus-client's are), so each test reads values before and after.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from fastapi import APIRouter, HTTPException

from xcore._observability import metrics as observed
from xcore.sdk import TrustedBase, action, ok
from xcore.testing.configs import no_services
from xcore.testing.harness import boot_xcore


class Shop(TrustedBase):
    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/items/{item_id}")
        async def item(item_id: int) -> dict[str, int]:
            return {"id": item_id}

        @router.get("/broken")
        async def broken() -> dict[str, str]:
            raise HTTPException(503, "down")

        @router.get("/cached/{key}")
        async def cached(key: str) -> dict[str, Any]:
            cache = self.get_service("cache")
            return {"value": await cache.get_or_set(f"k:{key}", lambda: key.upper())}

        return router

    @action()
    async def ping(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.ctx.events.emit("shop.pinged", {"n": 1})
        return ok()

    @action()
    async def fail(self, payload: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("boom")


class Listener(TrustedBase):
    async def on_load(self) -> None:
        self.ctx.events.on("shop.pinged", self.heard)

    async def heard(self, event: Any) -> None:
        return None


def value(text: str, name: str, **labels: str) -> float:
    """The sample ``name{labels}`` of a Prometheus text page (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, number = line.rpartition(" ")
        match = re.fullmatch(rf"{re.escape(name)}(?:\{{(.*)\}})?", series)
        if match is None:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1) or ""))
        if found == labels:
            return float(number)
    return 0.0


CONFIG = {"app": {"metrics": True}, "services": no_services(cache={"backend": "memory"}, events={"backend": "memory"})}


async def scrape(host: Any) -> str:
    answer = await host.client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return str(answer.text)


async def test_requests_are_counted_by_route_template_with_unmatched_paths_in_one_bucket() -> None:
    async with boot_xcore({"shop": Shop}, CONFIG) as host:
        before = await scrape(host)
        route = {"plugin": "shop", "route": "/plugins/shop/items/{item_id}", "method": "GET"}
        for n in range(3):
            assert (await host.client.get(f"/plugins/shop/items/{n}?token=s3cr3t-in-query")).status_code == 200
        for n in range(5):
            assert (await host.client.get(f"/nowhere/{n}/at-all")).status_code == 404
        assert (await host.client.get("/plugins/shop/broken")).status_code == 503
        assert (await host.client.request("BREW", "/plugins/shop/items/1")).status_code == 405
        after = await scrape(host)
    count = "xcore_http_requests_total"
    assert value(after, count, **route) - value(before, count, **route) == 3
    assert value(after, "xcore_http_request_duration_seconds_count", **route) >= 3
    unmatched = {"plugin": "<unmatched>", "route": "<unmatched>", "method": "GET"}
    assert value(after, count, **unmatched) - value(before, count, **unmatched) == 5
    broken = {"plugin": "shop", "route": "/plugins/shop/broken", "method": "GET"}
    assert (
        value(after, "xcore_http_request_errors_total", **broken)
        - value(before, "xcore_http_request_errors_total", **broken)
        == 1
    )
    assert value(after, count, plugin="shop", route="/plugins/shop/items/{item_id}", method="OTHER") >= 1
    assert "BREW" not in after
    assert "/nowhere/" not in after and "s3cr3t" not in after  # raw paths and query strings never become labels


async def test_actions_events_plugin_states_and_boot_times() -> None:
    async with boot_xcore({"shop": Shop, "listener": Listener}, CONFIG) as host:
        before = await scrape(host)
        assert await host.call("shop", "ping") == {"status": "ok"}
        with pytest.raises(RuntimeError):
            await host.call("shop", "fail")
        for n in range(3):
            with pytest.raises(Exception, match=r"unknown|no action|not found"):
                await host.call("shop", f"made-up-{n}")
        after = await scrape(host)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("xcore_action_calls_total", plugin="shop", action="ping") == 1
    assert delta("xcore_action_calls_total", plugin="shop", action="fail") == 1
    assert delta("xcore_action_errors_total", plugin="shop", action="fail") == 1
    assert delta("xcore_action_errors_total", plugin="shop", action="<unknown>") == 3
    assert "made-up" not in after
    assert delta("xcore_events_emitted_total", source="shop") == 1
    assert delta("xcore_events_delivered_total", plugin="listener") == 1
    assert value(after, "xcore_plugin_state", plugin="shop", state="loaded") == 1
    assert value(after, "xcore_plugin_state", plugin="shop", state="failed") == 0
    assert value(after, "xcore_plugin_boot_seconds", plugin="listener") > 0


async def test_cache_hits_misses_and_stampede_waits() -> None:
    async with boot_xcore({"shop": Shop}, CONFIG) as host:
        before = await scrape(host)
        cache = host.get_service("cache")
        release = asyncio.Event()

        async def slow() -> str:
            await release.wait()
            return "v"

        waiters = [asyncio.ensure_future(cache.get_or_set("stampede", slow)) for _ in range(4)]
        await asyncio.sleep(0.01)
        release.set()
        assert await asyncio.gather(*waiters) == ["v"] * 4
        assert await cache.get_or_set("stampede", slow) == "v"
        after = await scrape(host)

    def delta(name: str) -> float:
        return value(after, name) - value(before, name)

    assert delta("xcore_cache_misses_total") == 1
    assert delta("xcore_cache_stampede_waits_total") == 3
    assert delta("xcore_cache_hits_total") == 1


async def test_action_names_are_capped_per_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = observed.enable()
    monkeypatch.setattr(observed, "MAX_NAMES", 2)
    monkeypatch.setattr(metrics, "_actions", observed._Bounded())

    async def done() -> dict[str, Any]:
        return {}

    for name in ("a", "b", "c", "d"):
        await metrics.timed_action("capped", name, done())
    assert metrics.action_calls.labels("capped", "<other>")._value.get() == 2
    assert not any(labels == ("capped", "c") for labels in metrics.action_calls._metrics), (
        "a name past the cap got its own series"
    )


async def test_metrics_are_off_by_default() -> None:
    async with boot_xcore({"shop": Shop}, {"services": no_services()}) as host:
        assert (await host.client.get("/metrics")).status_code == 404


def test_metrics_setting_is_validated() -> None:
    from xcore import Xcore
    from xcore._errors import ConfigError

    with pytest.raises(ConfigError, match=r"app\.metrics"):
        Xcore(config={"app": {"metrics": "sometimes"}})
    with pytest.raises(ConfigError, match=r"app\.stall_threshold"):
        Xcore(config={"app": {"stall_threshold": -1}})


@pytest.fixture(params=["sqlite", "postgresql"])
def pool_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/pool.db"
    server = request.getfixturevalue("postgres_server")
    return str(server.url)


async def test_database_pool_in_use_and_waits(pool_url: str) -> None:
    services = no_services(databases={"main": {"type": "sqlasync", "url": pool_url, "pool_size": 1}})
    async with boot_xcore({"shop": Shop}, {"app": {"metrics": True}, "services": services}) as host:
        db = host.get_service("main")
        before = await scrape(host)
        async with db.connection():
            during = await scrape(host)
            waiter = asyncio.ensure_future(_one_query(db))
            await asyncio.sleep(0.05)  # it waits for the only connection
            assert not waiter.done()
        await waiter
        after = await scrape(host)
    assert value(during, "xcore_db_pool_in_use", database="main") == 1
    assert value(after, "xcore_db_pool_in_use", database="main") == 0
    assert (
        value(after, "xcore_db_pool_waits_total", database="main")
        - value(before, "xcore_db_pool_waits_total", database="main")
        == 1
    )
    assert "secret" not in during and "postgresql://" not in during  # no URL, no password in any label


async def _one_query(db: Any) -> None:
    async with db.connection() as conn:
        await conn.fetchval("SELECT 1")
