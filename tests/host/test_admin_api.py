"""The admin API in process: the key, what it shows, what it changes, and what it never shows."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from xcore import Xcore
from xcore.sdk import TrustedBase
from xcore.web import create_app

from .support import config, shop_plugin

ADMIN_KEY = "admin-key-0123456789abcdef"
API_KEY = "action-key-9876543210"
PLUGIN_SECRET = "plugin-secret-value-42"


Shop = shop_plugin()


class Leaky(TrustedBase):
    """Fails to load with a message repeating its secret setting."""

    async def on_load(self) -> None:
        raise RuntimeError(f"cannot log in with password {self.ctx.config['password']}")


def _config(**app: Any) -> dict[str, Any]:
    return config(
        app={"admin_key": ADMIN_KEY, "api_key": API_KEY, **app},
        plugins={"settings": {"leaky": {"password": PLUGIN_SECRET}}},
        services={"events": {"backend": "memory"}, "scheduler": {"backend": "memory"}},
    )


@asynccontextmanager
async def serving(data: dict[str, Any]) -> AsyncIterator[tuple[Xcore, FastAPI, httpx.AsyncClient]]:
    host = Xcore(config=data, plugins={"shop": Shop, "leaky": Leaky}, discover=False)
    app = create_app(host=host)
    await host.boot(app)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            yield host, app, client
    finally:
        await host.shutdown()


ADMIN = {"X-Admin-Key": ADMIN_KEY}
ENDPOINTS = [
    ("GET", "/xcore/admin/api/plugins"),
    ("GET", "/xcore/admin/api/plugins?all=true"),
    ("GET", "/xcore/admin/api/services"),
    ("GET", "/xcore/admin/api/jobs"),
    ("GET", "/xcore/admin/api/health"),
    ("GET", "/xcore/admin/api/events"),
    ("POST", "/xcore/admin/api/plugins/shop/disable"),
    ("POST", "/xcore/admin/api/plugins/shop/reload"),
    ("POST", "/xcore/admin/api/reload-config"),
]


async def test_without_an_admin_key_there_is_no_admin_api_nor_page() -> None:
    data = _config()
    del data["app"]["admin_key"]
    async with serving(data) as (_host, app, client):
        assert not [r for r in app.router.routes if getattr(r, "path", "").startswith("/xcore/admin")]
        for method, path in ENDPOINTS:
            assert (await client.request(method, path, headers=ADMIN)).status_code == 404
        assert (await client.get("/xcore/admin")).status_code == 404


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401),
    ({"X-Admin-Key": "wrong"}, 403),
    ({"X-Admin-Key": API_KEY}, 403),  # the action key is never an admin key
    ({"X-API-Key": ADMIN_KEY}, 401),  # nor is the admin key accepted in another header
    ({"Authorization": f"Bearer {ADMIN_KEY}"}, 401),
])  # fmt: skip
async def test_a_missing_or_wrong_key_is_refused_and_nothing_is_done(headers: dict[str, str], status: int) -> None:
    async with serving(_config()) as (host, _app, client):
        for method, path in ENDPOINTS:
            answer = await client.request(method, path, headers=headers)
            assert answer.status_code == status, (path, answer.text)
            assert ADMIN_KEY not in answer.text
        assert host.records["shop"].state == "loaded"
        assert (await client.get("/plugins/shop/items")).json() == ["apple"]


async def test_the_api_lists_and_changes_plugins() -> None:
    async with serving(_config()) as (host, _app, client):
        listed = (await client.get("/xcore/admin/api/plugins", headers=ADMIN)).json()
        rows = {row["name"]: row for row in listed["plugins"]}
        assert rows["shop"]["state"] == "loaded" and rows["shop"]["in_flight"] == 0
        assert rows["leaky"]["state"] == "failed"
        assert listed["worker"]

        answer = await client.post("/xcore/admin/api/plugins/shop/disable", headers=ADMIN)
        assert answer.status_code == 200
        [result] = answer.json()["results"]
        assert result["ok"] and result["result"]["state"] == "disabled"
        assert (await client.get("/plugins/shop/items")).status_code == 404
        assert "/plugins/shop/items" not in (await client.get("/openapi.json")).json()["paths"]

        answer = await client.post("/xcore/admin/api/plugins/shop/enable", headers=ADMIN)
        assert answer.json()["results"][0]["result"]["state"] == "loaded"
        assert (await client.get("/plugins/shop/items")).json() == ["apple"]

        refused = await client.post("/xcore/admin/api/plugins/nope/disable", headers=ADMIN)
        assert refused.status_code == 422
        assert "no plugin named 'nope'" in refused.json()["results"][0]["error"]
        unknown = await client.post("/xcore/admin/api/plugins/shop/explode", headers=ADMIN)
        assert unknown.status_code == 404 and "unknown action 'explode'" in unknown.json()["detail"]
        bounded = await client.post("/xcore/admin/api/plugins/shop/disable?wait=100000", headers=ADMIN)
        assert bounded.status_code == 422  # an unbounded wait is refused before anything runs
        assert host.records["shop"].state == "loaded"

        events = (await client.get("/xcore/admin/api/events", headers=ADMIN)).json()["events"]
        assert [e["name"] for e in events[:2]] == ["xcore.plugin.loaded", "xcore.plugin.unloaded"]
        services = (await client.get("/xcore/admin/api/services", headers=ADMIN)).json()["services"]
        assert {s["name"]: s["health"] for s in services} == {"events": "ok", "scheduler": "ok"}
        assert all(isinstance(s["latency_ms"], int | float) for s in services)
        health = await client.get("/xcore/admin/api/health", headers=ADMIN)
        assert health.status_code == 503 and health.json()["plugins"]["leaky"]["status"] == "error"
        reload = await client.post("/xcore/admin/api/reload-config", headers=ADMIN)
        assert reload.status_code == 422
        assert "not started from a configuration file" in reload.json()["results"][0]["error"]


class Ticking(TrustedBase):
    async def on_load(self) -> None:
        self.get_service("scheduler").add_job(noop, "interval", seconds=3600, id="hourly")


def noop() -> None:
    pass


async def test_jobs_are_the_serving_hosts_own() -> None:
    host = Xcore(config=_config(), plugins={"ticking": Ticking}, discover=False)
    app = create_app(host=host)
    await host.boot(app)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            jobs = (await client.get("/xcore/admin/api/jobs", headers=ADMIN)).json()["jobs"]
            assert [(j["plugin"], j["id"]) for j in jobs] == [("ticking", "hourly")]
            assert jobs[0]["next_run"] != "paused"
    finally:
        await host.shutdown()


async def test_no_secret_in_admin_responses_or_logs(postgres_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    password = urlsplit(postgres_server.url).password
    assert password
    data = _config()
    data["services"]["databases"] = {"default": {"type": "postgresql", "url": postgres_server.url}}
    async with serving(data) as (_host, _app, client):
        texts = []
        for method, path in ENDPOINTS:
            texts.append((await client.request(method, path, headers=ADMIN)).text)
        login = await client.post("/xcore/admin/login", data={"key": ADMIN_KEY})
        assert login.status_code == 303
        texts.append((await client.get("/xcore/admin")).text)  # the client keeps the session cookie
        assert "leaky" in texts[0] and "database" not in texts[0]
        assert any('"default"' in t for t in texts)  # the database service is listed
        for text in texts:
            for secret in (ADMIN_KEY, API_KEY, PLUGIN_SECRET, password):
                assert secret not in text
    for secret in (ADMIN_KEY, API_KEY, PLUGIN_SECRET, password):
        assert secret not in caplog.text


class Hostile(TrustedBase):
    """A plugin whose load error is markup."""

    async def on_load(self) -> None:
        raise RuntimeError("<script>alert(1)</script><img src=x onerror=alert(2)>")


async def test_the_page_logs_in_escapes_everything_and_checks_csrf() -> None:
    host = Xcore(config=_config(), plugins={"shop": Shop, "hostile": Hostile}, discover=False)
    app = create_app(host=host)
    await host.boot(app)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            form = await client.get("/xcore/admin")
            assert form.status_code == 200 and "name=key" in form.text and "Plugins" not in form.text
            assert (await client.post("/xcore/admin/login", data={"key": "wrong"})).status_code == 403
            assert (await client.post("/xcore/admin/login", data={"key": API_KEY})).status_code == 403
            many = "&".join(f"f{i}=x" for i in range(100)) + f"&key={ADMIN_KEY}"
            assert (await client.post("/xcore/admin/login", content=many)).status_code == 403
            assert not client.cookies
            login = await client.post("/xcore/admin/login", data={"key": ADMIN_KEY})
            cookie = login.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/xcore/admin" in cookie
            assert ADMIN_KEY not in cookie
            page = await client.get("/xcore/admin")
            assert "default-src 'none'" in page.headers["content-security-policy"]
            assert "<script" not in page.text and "<img" not in page.text
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
            csrf = page.text.split("name=csrf value='")[1].split("'")[0]

            no_token = await client.post("/xcore/admin/plugins/shop/disable", data={})
            assert no_token.status_code == 403 and host.records["shop"].state == "loaded"
            forged = await client.post("/xcore/admin/plugins/shop/disable", data={"csrf": "0" * 64})
            assert forged.status_code == 403 and host.records["shop"].state == "loaded"

            done = await client.post("/xcore/admin/plugins/shop/disable", data={"csrf": csrf})
            assert done.status_code == 200 and "disabled" in done.text
            assert host.records["shop"].state == "disabled"
            assert (await client.get("/plugins/shop/items")).status_code == 404

            client.cookies.clear()
            anonymous = await client.post("/xcore/admin/plugins/shop/enable", data={"csrf": csrf})
            assert anonymous.status_code == 401 and host.records["shop"].state == "disabled"
            client.cookies.set("xcore_admin", "1.abc", path="/xcore/admin")
            stale = await client.get("/xcore/admin")
            assert "name=key" in stale.text
    finally:
        await host.shutdown()


def test_sessions_expire_and_are_bound_to_the_key() -> None:
    from xcore._admin.auth import SESSION_SECONDS, AdminAuth

    auth = AdminAuth(ADMIN_KEY)
    token = auth.new_session(now=1000.0)
    assert auth.session_valid(token, now=1001.0)
    assert not auth.session_valid(token, now=1000.0 + SESSION_SECONDS + 1)
    assert not AdminAuth("another-key").session_valid(token, now=1001.0)
    expiry, signature = token.split(".")
    assert not auth.session_valid(f"{int(expiry) + 1000}.{signature}", now=1001.0)  # a longer life is forged
    assert auth.csrf_valid(token, auth.csrf_token(token))
    assert not auth.csrf_valid(auth.new_session(now=2000.0), auth.csrf_token(token))
