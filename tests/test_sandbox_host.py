"""Sandboxed plugins as the host serves them: config validation, routes, OpenAPI, read-only db, cache."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from xcore import Xcore
from xcore.errors import ConfigError
from xcore.web import create_app

sys.path.insert(0, str(Path(__file__).parent / "sandbox_plugins"))


def echo_config(tmp_path: Path, permissions: list[Any], db_url: str | None = None) -> dict[str, Any]:
    return {
        "plugins": {
            "local": {"echo": "sbx_plugins.echo:Echo", "evil": "sbx_plugins.evil:Evil"},
            "sandboxed": {
                "echo": {"permissions": permissions, "sandbox": {"data_dir": str(tmp_path / "echo")}},
                "evil": {"permissions": permissions, "sandbox": {"data_dir": str(tmp_path / "evil")}},
            },
        },
        "services": {
            "databases": {"default": {"type": "sqlasync", "url": db_url or f"sqlite:///{tmp_path}/a.db"}},
            "cache": {"backend": "memory"},
            "events": {"backend": "memory"},
            "scheduler": {"backend": "memory"},
            "extensions": {},
        },
    }


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"permissions": ["files"]}, "unknown permission 'files'"),
        ({"permissions": [{"db": {"name": "x", "mode": "admin"}}]}, "mode"),
        ({"limits": {"memory": 5}}, "plugins.sandboxed.p.limits.memory: unknown key"),
        ({"sandbox": {"require": ["teleport"]}}, "plugins.sandboxed.p.sandbox.require.0"),
        ({"permissions": [{"network": ["no-port"]}]}, "host:port"),
    ],
)
def test_bad_sandbox_config_names_the_key(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        Xcore(config={"plugins": {"sandboxed": {"p": entry}}}, discover=False)


async def test_routes_openapi_and_wanted_against_granted(tmp_path: Path) -> None:
    host = Xcore(config=echo_config(tmp_path, ["cache"]), discover=False)
    app = create_app(host=host)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/plugins/echo/hello/ann", params={"times": 3})
            assert response.status_code == 200 and response.json() == {"hello": "ann", "times": 3}, response.text
            response = await client.post("/plugins/echo/items", json={"name": "box", "size": 2})
            assert response.status_code == 201 and response.json() == {"created": "box", "size": 2}
            response = await client.post("/plugins/echo/items", json={"size": "x"})
            assert response.status_code == 422
            response = await client.get("/plugins/echo/stream")
            assert response.text == "part0\npart1\npart2\n" and response.headers["x-plugin"] == "echo"
            assert (await client.get("/plugins/echo/nowhere")).status_code == 404
            spec = (await client.get("/openapi.json")).json()
            assert "/plugins/echo/hello/{who}" in spec["paths"]
            assert "requestBody" in spec["paths"]["/plugins/echo/items"]["post"]
        report = host.records["echo"].report()["sandbox"]
        assert report["granted"] == ["cache"] and report["wanted"] == ["db:default:write", "cache"]


async def test_read_grant_is_read_only_in_the_database(tmp_path: Path, postgres_server: Any) -> None:
    for url in (f"sqlite:///{tmp_path}/ro.db", postgres_server.url):
        host = Xcore(
            config=echo_config(tmp_path, [{"db": {"name": "default", "mode": "read"}}, "cache"], url), discover=False
        )
        await host.boot()
        try:
            db = host.get_service("db")
            async with db.connection() as conn:
                await conn.execute("DROP TABLE IF EXISTS sbx_t")
                await conn.execute("CREATE TABLE sbx_t (v integer)")
                await conn.execute("INSERT INTO sbx_t VALUES (1)")
            read = await host.call(
                "evil", "service", {"service": "db", "method": "fetch", "args": ["SELECT v FROM sbx_t"]}
            )
            assert read == {"status": "ok", "blocked": False, "result": [{"v": 1}]}
            write = await host.call(
                "evil", "service", {"service": "db", "method": "execute", "args": ["INSERT INTO sbx_t VALUES (2)"]}
            )
            assert write["blocked"] is True and ("read" in write["error"].lower()), write
            async with db.connection() as conn:
                assert await conn.fetchval("SELECT count(*) FROM sbx_t") == 1
                # the host's own connections are not left read-only
                await conn.execute("INSERT INTO sbx_t VALUES (3)")
            # the cache is confined to the plugin's namespace
            await host.get_service("cache").set("shared", "host value")
            put = await host.call("evil", "service", {"service": "cache", "method": "set", "args": ["shared", "x"]})
            assert put["blocked"] is False
            assert await host.get_service("cache").get("shared") == "host value"
            assert await host.get_service("cache").get("sandbox.evil:shared") == "x"
        finally:
            await host.shutdown()
