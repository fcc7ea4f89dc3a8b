"""Sandboxed plugins as the host serves them: config validation, routes, OpenAPI, read-only db, cache."""

from __future__ import annotations

import asyncio
import datetime
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from xcore import Xcore
from xcore._errors import ConfigError
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


async def test_values_cross_the_boundary_exactly(tmp_path: Path) -> None:
    """What JSON can carry arrives unchanged, big integers included (orjson would read them back as
    floats: those frames are written and read by the standard library); tuples arrive as lists,
    other keys as strings and NaN as null, as documented."""
    host = Xcore(config=echo_config(tmp_path, []), discover=False)
    await host.boot()
    try:
        sent = {"big": 2**70, "neg": -(2**64), "f": 0.1, "s": "é\u2028\x00", "t": (1, 2), 3: "x"}
        answer = (await host.call("echo", "echo", sent))["echo"]
        assert answer == {"big": 2**70, "neg": -(2**64), "f": 0.1, "s": "é\u2028\x00", "t": [1, 2], "3": "x"}
        assert type(answer["big"]) is int
        when = datetime.datetime(2024, 1, 2, 3, 4, 5)
        for extra in ({}, {"big": 2**70}):  # whichever writer a frame takes, a value has one form
            assert (await host.call("echo", "echo", {"when": when, **extra}))["echo"]["when"] == str(when)
        assert (await host.call("echo", "echo", {"nan": float("nan"), "inf": float("inf")}))["echo"] == {
            "nan": None,
            "inf": None,
        }
    finally:
        await host.shutdown()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("spin", [150, 0])
async def test_an_idle_worker_burns_no_cpu_after_its_spin(tmp_path: Path, spin: int) -> None:
    """The idle spin is bounded: once calls stop, the worker sleeps (no busy loop left behind)."""
    config = echo_config(tmp_path, [])
    config["plugins"]["sandboxed"]["echo"]["sandbox"]["idle_spin_us"] = spin
    host = Xcore(config=config, discover=False)
    await host.boot()
    try:
        for n in range(200):
            assert (await host.call("echo", "echo", {"n": n}))["echo"] == {"n": n}
        pid = host.records["echo"].handle.instance.worker.pid  # type: ignore[union-attr]
        await asyncio.sleep(0.2)
        before = cpu_seconds(pid)
        await asyncio.sleep(1.5)
        assert cpu_seconds(pid) - before < 0.1, "the worker kept running while idle"
    finally:
        await host.shutdown()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"permissions": ["files"]}, "unknown permission 'files'"),
        ({"permissions": [{"db": {"name": "x", "mode": "admin"}}]}, "mode"),
        ({"limits": {"memory": 5}}, "plugins.sandboxed.p.limits.memory: unknown key"),
        ({"sandbox": {"require": ["teleport"]}}, "plugins.sandboxed.p.sandbox.require.0"),
        ({"permissions": [{"network": ["no-port"]}]}, "host:port"),
        ({"sandbox": {"idle_spin_us": -1}}, "plugins.sandboxed.p.sandbox.idle_spin_us"),
        ({"sandbox": {"idle_spin_us": 20_000}}, "plugins.sandboxed.p.sandbox.idle_spin_us"),
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
            too_big = b"x" * (9 * 1024 * 1024)
            assert (await client.post("/plugins/echo/items", content=too_big)).status_code == 413
            ready = await host.health()  # what /health/ready shows a caller with the key
            box = ready["plugins"]["echo"]["sandbox"]
            assert ready["plugins"]["echo"]["status"] == "ok" and "filesystem" in box["protections"]["active"]
            spec = (await client.get("/openapi.json")).json()
            assert "/plugins/echo/hello/{who}" in spec["paths"]
            assert "requestBody" in spec["paths"]["/plugins/echo/items"]["post"]
            assert spec["paths"]["/plugins/echo/items"]["post"]["operationId"] == "echo__create_items_post"
        report = host.records["echo"].report()["sandbox"]
        assert report["granted"] == ["cache"] and report["wanted"] == ["db:default:write", "cache"]


async def test_read_grant_is_read_only_in_the_database(tmp_path: Path, postgres_server: Any) -> None:
    for url in (f"sqlite:///{tmp_path}/ro.db", postgres_server.url):
        cfg = echo_config(tmp_path, [{"db": {"name": "default", "mode": "read"}}, "cache"], url)
        cfg["plugins"]["local"]["counter"] = "sbx_plugins.echo:Counter"
        cfg["plugins"]["sandboxed"]["counter"] = {
            "permissions": [{"db": {"name": "default", "mode": "read"}}],
            "sandbox": {"data_dir": str(tmp_path / "counter")},
        }
        host = Xcore(config=cfg, discover=False)
        await host.boot()
        try:
            db = host.get_service("db")
            async with db.connection() as conn:
                await conn.execute("DROP TABLE IF EXISTS sbx_t")
                await conn.execute("CREATE TABLE sbx_t (v integer)")
                await conn.execute("INSERT INTO sbx_t VALUES (1)")
            assert (await host.call("counter", "count"))["count"] == 1  # trusted-style db code, unchanged
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


def test_require_refuses_when_a_protection_is_missing() -> None:
    from xcore._sandbox.confine import Walls, refusal

    walls = Walls(read_only=[], data_dir="/x", active={"network": "netns"}, missing={"filesystem": "no Landlock"})
    assert refusal(walls, ["network"]) is None
    assert refusal(walls, ["network", "filesystem"]) == "required protections are not active: filesystem: no Landlock"


async def test_a_plugin_that_cannot_load_fails_alone_with_its_error(tmp_path: Path) -> None:
    cfg = echo_config(tmp_path, [])
    cfg["plugins"]["local"]["broken"] = "sbx_plugins.nonexistent:Plugin"
    cfg["plugins"]["sandboxed"]["broken"] = {"sandbox": {"data_dir": str(tmp_path / "broken")}}
    host = Xcore(config=cfg, discover=False)
    await host.boot()
    try:
        record = host.records["broken"]
        assert record.state == "failed" and "No module named 'sbx_plugins.nonexistent'" in str(record.error)
        assert (await host.call("echo", "echo", {"x": 1}))["echo"] == {"x": 1}
    finally:
        await host.shutdown()


async def test_events_and_storage_within_the_grant(tmp_path: Path) -> None:
    cfg = echo_config(
        tmp_path,
        [{"events": {"emit": ["reports.*"], "subscribe": ["users.created"]}}, {"storage": {"prefix": "reports/"}}],
    )
    cfg["services"]["extensions"] = {"storage": {"type": "local", "root": str(tmp_path / "store")}}
    host = Xcore(config=cfg, discover=False)
    await host.boot()
    try:
        seen: list[Any] = []
        host.get_service("events").on("reports.*", seen.append)

        async def svc(service: str, method: str, *args: Any) -> dict[str, Any]:
            return await host.call("evil", "service", {"service": service, "method": method, "args": list(args)})

        assert (await svc("events", "emit", "reports.ready", {"n": 1}))["blocked"] is False
        assert [(e.name, e.data, e.source) for e in seen] == [("reports.ready", {"n": 1}, "evil")]
        denied = await svc("events", "emit", "users.deleted", {})
        assert denied["blocked"] and "events: {emit: ['users.deleted']}" in denied["error"]
        denied = await host.call("evil", "listen", {"pattern": "users.*"})
        assert denied["blocked"] and "events: {subscribe: ['users.*']}" in denied["error"]
        assert (await host.call("evil", "listen", {"pattern": "users.created"}))["blocked"] is False
        await host.get_service("events").emit("users.created", {"id": 7})
        await host.get_service("events").emit("users.deleted", {"id": 8})
        assert (await host.call("evil", "heard_events"))["heard"] == [["users.created", {"id": 7}]]
        assert (await svc("storage", "upload", "hello", "reports/a.txt"))["blocked"] is False
        assert (await svc("storage", "exists", "reports/a.txt"))["result"] is True
        for path in ("other/a.txt", "reports/../other/a.txt", "/etc/passwd"):
            denied = await svc("storage", "download", path)
            assert denied["blocked"] and "storage: {prefix:" in denied["error"], (path, denied)
    finally:
        await host.shutdown()


def test_cli_plugins_shows_granted_against_wanted(tmp_path: Path) -> None:
    import yaml
    from click.testing import CliRunner

    from xcore._cli import cli

    path = tmp_path / "integration.yaml"
    path.write_text(yaml.safe_dump(echo_config(tmp_path, ["cache"])))
    result = CliRunner().invoke(cli, ["plugins", "--config", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()

    def note_under(plugin: str) -> str:  # the sandbox note is printed under the plugin's row
        index = next(i for i, row in enumerate(lines) if row.startswith(f"{plugin} "))
        return " ".join(row.strip() for row in lines[index + 1 : index + 3])

    assert "sandbox: granted: cache; wanted: db:default:write cache" in note_under("echo")
    assert "sandbox: granted: cache; wanted: (not declared)" in note_under("evil")


async def test_the_host_never_imports_a_sandboxed_plugin_and_leaves_no_process(tmp_path: Path) -> None:
    import os

    sys.modules.pop("sbx_plugins.echo", None)
    host = Xcore(config=echo_config(tmp_path, []), discover=False)
    await host.boot()
    try:
        assert "sbx_plugins.echo" not in sys.modules
        pids = [host.records[name].handle.instance.worker.pid for name in ("echo", "evil")]  # type: ignore[union-attr]
        assert (await host.call("echo", "pid"))["pid"] == pids[0] != os.getpid()
    finally:
        await host.shutdown()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


async def test_scheduler_jobs_are_the_plugins_own_and_run_in_the_worker(tmp_path: Path) -> None:
    import asyncio

    host = Xcore(config=echo_config(tmp_path, ["scheduler"]), discover=False)
    await host.boot()
    try:
        added = await host.call("evil", "schedule")
        assert added["job"]["id"] == "tick", added
        await asyncio.sleep(1.0)
        counted = await host.call("evil", "count_ticks")
        assert counted["ticks"] >= 2 and counted["jobs"] == ["tick"], counted
        # the host's scheduler stores the job under the plugin's name; other plugins do not see it
        assert [
            job.id for job in host.get_service("scheduler").for_plugin(host.records["echo"].handle).get_jobs()
        ] == []  # type: ignore[arg-type]
    finally:
        await host.shutdown()


def test_a_sandboxed_name_matching_no_plugin_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    host = Xcore(config={"plugins": {"sandboxed": {"reprots": {}}}}, discover=False)
    host.prepare()
    assert "plugins.sandboxed.reprots: no enabled plugin has this name" in caplog.text
