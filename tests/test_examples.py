"""The example plugins together: installed packages found by discovery, on the demo's embedded
configuration and on real PostgreSQL, Redis, SMTP and S3 servers.

Each example package also has its own tests (``example_plugins/<package>/tests``, run with
``pytest example_plugins``); these check what only shows when they run side by side.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.spec_support import fresh_postgres_database
from xcore.testing.harness import boot_xcore

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "example_plugins"
DEMO = EXAMPLES / "demo.yaml"
PACKAGES = sorted(p for p in EXAMPLES.glob("xcore-example-*") if (p / "pyproject.toml").is_file())
PLUGINS = {
    "users": "xcore-example-users",
    "users_async": "xcore-example-users-async",
    "redis_store": "xcore-example-redis-store",
    "profiles": "xcore-example-profiles",
    "jobs": "xcore-example-jobs",
    "notifications": "xcore-example-notifications",
    "status": "xcore-example-status",
}


def declared_entry_point(package: Path) -> tuple[str, str]:
    project = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    ((name, target),) = project["entry-points"]["xcore.plugins"].items()
    return name, target


def test_the_example_packages_are_the_ones_documented() -> None:
    assert {p.name for p in PACKAGES} == set(PLUGINS.values())
    assert {declared_entry_point(p)[0]: p.name for p in PACKAGES} == PLUGINS


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_each_example_is_an_installed_package_with_readme_and_tests(package: Path) -> None:
    name, target = declared_entry_point(package)
    installed = {ep.name: ep.value for ep in entry_points(group="xcore.plugins")}
    assert installed.get(name) == target, (
        f"{package.name} is not installed: pip install --no-deps -e {package.relative_to(ROOT)}"
    )
    module, _, attr = target.partition(":")
    assert getattr(import_module(module), attr).__module__ == module
    assert (package / "README.md").is_file()
    assert list((package / "tests").glob("test_*.py"))


def demo_config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DEMO.read_text())
    return loaded


async def test_the_demo_config_boots_every_enabled_example_through_discovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"XCORE_DATA": str(tmp_path / "data")}
    async with boot_xcore(config=demo_config(), discover=True, env=env) as xcore:
        loaded = {r.name for r in xcore.host.plugins if r.source.kind == "plugin" and r.state == "loaded"}
        assert loaded == {"status", "users", "users_async", "profiles", "jobs", "notifications"}
        assert xcore.record("redis_store").state == "disabled"  # needs Redis: not enabled in the demo
        assert (tmp_path / "data" / "demo.db").is_file()
        client = xcore.client

        assert (await client.get("/health/ready")).json() == {"status": "ok"}  # the detail needs the key
        ready = await client.get("/health/ready", headers={"X-API-Key": "demo-key"})
        assert ready.status_code == 200, ready.text
        assert ready.json()["plugins"]["notifications"]["email"] == "not configured"
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert {"/plugins/users/users", "/plugins/profiles/profiles/{user_id}", "/plugins/jobs/schedule"} <= set(paths)
        index = await client.get("/plugins/status/")
        assert all(f'href="/docs#/{name}"' in index.text for name in loaded)

        await client.post("/plugins/users/users", json={"username": "ada", "email": "ada@example.com"})
        assert (await client.get("/plugins/profiles/profiles/1")).json()["user"]["username"] == "ada"
        assert (await client.get("/plugins/profiles/profiles/1")).json()["cached"] is True

        action = "/plugins/users/actions/get_user"
        assert (await client.post(action, json={"user_id": 1})).status_code == 401  # the demo's API key is required
        answer = await client.post(action, json={"user_id": 1}, headers={"X-API-Key": "demo-key"})
        assert answer.json()["user"]["email"] == "ada@example.com"

        no_email = await client.post("/plugins/notifications/notify", json={"to": "a@b.c", "message": "hi"})
        assert no_email.status_code == 503
        assert (await client.put("/plugins/notifications/files/a.txt", content=b"A")).status_code == 201
        assert (tmp_path / "data" / "storage" / "uploads" / "a.txt").read_bytes() == b"A"


@pytest.fixture
def database_url(postgres_server: Any) -> Iterator[str]:
    yield from fresh_postgres_database(postgres_server.url)


def servers_config(database_url: str, redis_url: str, smtp: Any, s3: Any, bucket: str) -> dict[str, Any]:
    return {
        "plugins": {"enabled": list(PLUGINS)},
        "services": {
            "databases": {
                "default": {"type": "postgresql", "url": database_url},
                "async_default": {"type": "sqlasync", "url": database_url},
                "redis_db": {"type": "redis", "url": redis_url},
            },
            "cache": {"backend": "redis", "url": redis_url},
            "scheduler": {"backend": "redis", "url": redis_url},
            "events": {"backend": "redis", "url": redis_url},
            "extensions": {"email": smtp.settings(), "storage": s3.settings(bucket)},
        },
    }


async def test_every_example_on_real_servers(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    redis_url: str,
    smtp_server: Any,
    s3_server: Any,
) -> None:
    monkeypatch.chdir(tmp_path)
    bucket = s3_server.create_bucket("examples-bucket")
    config = servers_config(database_url, redis_url, smtp_server, s3_server, bucket)
    async with boot_xcore(config=config, discover=True) as xcore:
        client = xcore.client
        ready = await client.get("/health/ready")
        assert ready.status_code == 200, ready.text

        created = await client.post("/plugins/users/users", json={"username": "ada", "email": "ada@example.test"})
        assert created.status_code == 201
        # users and users_async share the PostgreSQL table here: one database behind both services
        assert (await client.get("/plugins/users_async/users")).json()["users"][0]["username"] == "ada"
        await client.post("/plugins/users_async/users", json={"username": "bob", "email": "bob@example.test"})
        assert (await xcore.call("users", "count", {}))["count"] == 2

        assert (await client.get("/plugins/profiles/profiles/1")).json()["cached"] is False
        assert (await client.get("/plugins/profiles/profiles/1")).json()["cached"] is True
        assert (await client.get("/plugins/profiles/pages/0")).json()["cached"] is False
        await client.post("/plugins/users/users", json={"username": "cy", "email": "cy@example.test"})
        page = (await client.get("/plugins/profiles/pages/0")).json()  # users.created went through Redis
        assert page["cached"] is False and len(page["users"]) == 3

        assert (await xcore.call("redis_store", "set_json", {"key": "k", "value": {"a": 1}}))["status"] == "ok"
        assert (await client.get("/plugins/redis_store/items/k")).json() == {"a": 1}

        scheduled = await xcore.call("jobs", "schedule", {"message": "later", "delay_seconds": 3600})
        assert (await xcore.run_job("jobs", scheduled["id"]))["detail"] == "later"

        sent = await xcore.call("notifications", "notify_user", {"user_id": 1, "message": "Welcome"})
        assert sent["sent_to"] == "ada@example.test"
        assert any("ada@example.test" in m.recipients for m in smtp_server.messages)
        await client.put("/plugins/notifications/files/report.txt", content=b"numbers")
        assert (await client.get("/plugins/notifications/files")).json() == {"files": ["report.txt"]}

        assert (await client.get("/plugins/status/health")).json()["status"] == "healthy"


async def test_redis_store_answers_service_unavailable_while_redis_is_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_server: Any, redis_url: str
) -> None:
    monkeypatch.chdir(tmp_path)
    from xcore_example_redis_store import Plugin

    config = {
        "services": {"databases": {"default": {"type": "sqlite"}, "redis_db": {"type": "redis", "url": redis_url}}}
    }
    async with boot_xcore({"redis_store": Plugin}, config) as xcore:
        await xcore.call("redis_store", "set_json", {"key": "k", "value": 1})
        redis_server.stop()
        try:
            down = await xcore.call("redis_store", "get_json", {"key": "k"})
        finally:
            redis_server.start()
        assert down["code"] == "service_unavailable"
        assert "Redis is unreachable" in down["message"]
        bad = await xcore.call("redis_store", "set_json", {"key": "", "value": 1})
        assert bad["code"] == "invalid_payload"
        assert (await xcore.call("redis_store", "set_json", {"key": "k2", "value": 2}))["status"] == "ok"
