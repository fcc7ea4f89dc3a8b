"""The escape suite: a hostile plugin in a real worker process tries every way out; each is blocked.

Real processes, real namespaces and Landlock, real Redis and PostgreSQL. After every attempt the
host and a second sandboxed plugin still serve. Network attempts go to 127.0.0.1 (the suite's
Redis) and to 192.0.2.1 (TEST-NET-1, never routed): inside the empty network namespace the connect
fails at once, so no packet leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn

from xcore import Xcore
from xcore._sandbox.supervisor import WorkerError
from xcore.testing.servers import free_port
from xcore.web import create_app

PLUGINS = str(Path(__file__).parent / "sandbox_plugins")
sys.path.insert(0, PLUGINS)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the OS walls are Linux's")


def config(
    tmp_path: Path, evil: dict[str, Any] | None = None, services: dict[str, Any] | None = None
) -> dict[str, Any]:
    (tmp_path / "integration.yaml").write_text("app: {api_key: host-secret-key}\n")
    return {
        "plugins": {
            "local": {"evil": "sbx_plugins.evil:Evil", "other": "sbx_plugins.other:Other"},
            "sandboxed": {
                "evil": {
                    "limits": {"timeout": 3, "memory_mb": 512, "cpu_seconds_per_call": 2},
                    "sandbox": {
                        "data_dir": str(tmp_path / "data" / "evil"),
                        "require": ["network", "filesystem", "privileges", "limits"],
                    },
                    **(evil or {}),
                },
                "other": {"sandbox": {"data_dir": str(tmp_path / "data" / "other")}},
            },
        },
        "services": services
        or {
            "databases": {"default": {"type": "sqlasync", "url": f"sqlite:///{tmp_path}/app.db"}},
            "cache": {"backend": "memory"},
            "events": {"backend": "memory"},
            "scheduler": {"backend": "memory"},
            "extensions": {},
        },
    }


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[Xcore]:
    xcore = Xcore(config=config(tmp_path), discover=False, env={"HOST_SECRET": "s3cr3t"})
    os.environ["XCORE_SANDBOX_TEST_SECRET"] = "do-not-leak"
    await xcore.boot()
    assert xcore.records["evil"].state == "loaded", xcore.records["evil"].error
    yield xcore
    await xcore.shutdown()
    os.environ.pop("XCORE_SANDBOX_TEST_SECRET", None)


async def still_serving(host: Xcore) -> None:
    assert (await host.call("other", "ping"))["pong"] is True
    assert (await host.call("evil", "env"))["status"] == "ok"


async def blocked(xcore: Xcore, action: str, **payload: Any) -> str:
    result = await xcore.call("evil", action, payload)
    assert result["blocked"] is True, result
    await still_serving(xcore)
    return str(result["error"])


@pytest.mark.parametrize("path", ["/etc/shadow", "/etc/passwd", "/proc/1/environ", "/root/.bash_history"])
async def test_cannot_read_system_files(host: Xcore, path: str) -> None:
    assert "Permission" in await blocked(host, "read", path=path) or "No such file" in await blocked(
        host, "read", path=path
    )


async def test_cannot_read_the_host_config_or_other_plugins_data(host: Xcore, tmp_path: Path) -> None:
    await blocked(host, "read", path=str(tmp_path / "integration.yaml"))
    await blocked(host, "read", path=str(tmp_path / "data" / "other" / "secret.txt"))
    await blocked(host, "listdir", path=str(tmp_path / "data" / "other"))
    await blocked(host, "read", path=str(Path(__file__)))  # the tests' own code is not the plugin's


async def test_cannot_write_outside_its_folder(host: Xcore, tmp_path: Path) -> None:
    await blocked(host, "write", path=str(tmp_path / "escaped.txt"))
    await blocked(host, "write", path="/tmp/xcore-sandbox-escaped.txt")
    await blocked(host, "write", path=str(Path(PLUGINS) / "sbx_plugins" / "evil.py"))
    assert not (tmp_path / "escaped.txt").exists()
    result = await host.call("evil", "write", {"path": "mine.txt"})
    assert result["blocked"] is False
    assert (tmp_path / "data" / "evil" / "mine.txt").read_text() == "pwned"


async def test_environment_is_empty(host: Xcore) -> None:
    env = (await host.call("evil", "env"))["env"]
    assert "XCORE_SANDBOX_TEST_SECRET" not in env and "HOST_SECRET" not in env
    assert set(env) <= {"LC_CTYPE"}


async def test_no_network_to_the_test_redis_or_outside(host: Xcore, redis_url: str) -> None:
    redis = urlsplit(redis_url)
    await blocked(host, "connect", host=redis.hostname, port=redis.port)
    await blocked(host, "connect", host="192.0.2.1", port=443)


async def test_fork_bomb_is_bounded(host: Xcore) -> None:
    result = await host.call("evil", "fork_bomb", {"max": 200})
    assert result["blocked"] is True and result["forked"] < 32, result
    await still_serving(host)


async def test_ten_gigabytes_is_refused(host: Xcore) -> None:
    assert "MemoryError" in await blocked(host, "allocate", gb=10)


async def test_cannot_signal_the_host(host: Xcore) -> None:
    await blocked(host, "kill_parent", pid=os.getpid())


@pytest.mark.parametrize("action", ["spin", "block"])
async def test_a_stuck_call_fails_alone_and_the_worker_restarts(host: Xcore, action: str) -> None:
    plugin = host.records["evil"].handle.instance  # type: ignore[union-attr]
    first = plugin.worker.pid
    other = asyncio.create_task(host.call("other", "ping"))
    # Whichever comes first ends it: the wall-clock timeout, or (spinning) the CPU limit's SIGXCPU.
    with pytest.raises((TimeoutError, WorkerError), match=r"limits\.timeout|worker stopped"):
        await host.call("evil", action)
    assert (await other)["pong"] is True
    await plugin.wait_running()
    assert plugin.worker.pid != first
    await still_serving(host)


async def test_ungranted_services_raise_permission_error_with_audit(
    host: Xcore, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Any] = []
    host.get_service("events").on("xcore.sandbox.denied", seen.append)
    for service, method, args, permission in [
        ("cache", "set", ["k", 1], "'cache'"),
        ("db", "fetch", ["SELECT 1"], "db: {name: default, mode: read}"),
        ("events", "emit", ["users.created", {}], "events: {emit: ['users.created']}"),
        ("scheduler", "add_job", [], "'scheduler'"),
        ("ext.email", "send", [], "service 'ext.email'"),
    ]:
        result = await host.call("evil", "service", {"service": service, "method": method, "args": args})
        assert result["blocked"] is True, result
        assert result["error"].startswith("PermissionError") and permission in result["error"], result
    assert "sandbox audit: plugin 'evil' denied cache.set" in caplog.text
    assert [e.data["permission"] for e in seen][:2] == ["'cache'", "db: {name: default, mode: read}"]
    await still_serving(host)


@pytest.mark.parametrize("kind", ["bytes", "oversized", "deep", "deep_stdlib"])
async def test_garbage_and_oversized_frames_restart_only_that_worker(host: Xcore, kind: str) -> None:
    """On the protocol socket and on the synchronous channel alike; a header nested past any parser's
    depth is a protocol violation too, never an exception escaping the host's read callback."""
    plugin = host.records["evil"].handle.instance  # type: ignore[union-attr]
    for sync in (False, True):
        first = plugin.worker.pid
        with contextlib.suppress(Exception):
            await host.call("evil", "garbage", {"kind": kind, "sync": sync})
        await plugin.wait_running()
        assert plugin.worker.pid != first
        await still_serving(host)


async def test_a_worker_that_never_reads_cannot_fill_the_hosts_memory(host: Xcore) -> None:
    """Answers to a worker that does not read stop the host reading from it (bounded buffer); the
    stuck worker is killed at its deadline and the host keeps serving."""
    plugin = plugin_of(host)
    first = plugin.worker.pid
    flood = asyncio.create_task(host.call("evil", "flood_unread", {"n": 20_000}))  # ~8 MB of answers
    largest = 0
    while not flood.done():
        writer = plugin.worker._writer if plugin.worker is not None else None
        if writer is not None and writer._writer.transport is not None:
            largest = max(largest, writer._writer.transport.get_write_buffer_size())
        await asyncio.sleep(0.005)
    with contextlib.suppress(Exception):
        await flood
    assert largest < 1024 * 1024, f"the host buffered {largest} bytes of answers"
    await plugin.wait_running()
    assert plugin.worker.pid != first
    await still_serving(host)


async def test_a_lying_content_length_cannot_reach_the_client(tmp_path: Path) -> None:
    """The worker's own framing headers are dropped: the host sends the length of what it got."""
    config = {
        "plugins": {
            "local": {"evil": "sbx_plugins.evil:Evil"},
            "sandboxed": {"evil": {"sandbox": {"data_dir": str(tmp_path / "evil")}}},
        },
        "services": {"databases": {}, "events": {"enabled": False}, "scheduler": {"enabled": False}},
    }
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(config=config, discover=False), port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(30):
            while not server.started:
                assert not serving.done(), "the server did not start"
                await asyncio.sleep(0.05)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = b"GET /plugins/evil/lying-length HTTP/1.1\r\nHost: x\r\n\r\n"
        empty = b"GET /plugins/evil/no-content HTTP/1.1\r\nHost: x\r\n\r\n"
        writer.write(empty + request + request)  # three requests on one connection: each must parse
        answers = b""
        while answers.count(b"hello") < 2:
            chunk = await asyncio.wait_for(reader.read(65536), 10)
            assert chunk, answers
            answers += chunk
        writer.close()
        assert answers.startswith(b"HTTP/1.1 204") and b"abc" not in answers, answers
        first, second = answers.split(b"hello")[:2]
        first = first[first.index(b"HTTP/1.1 200") :]
        for head in (first, second):
            assert head.startswith(b"HTTP/1.1 200"), answers
            assert b"content-length: 5\r\n" in head.lower() and b"chunked" not in head.lower(), answers
    finally:
        server.should_exit = True
        await serving


async def test_forged_and_duplicate_answers_never_reach_another_caller(host: Xcore) -> None:
    assert await host.call("evil", "answer_twice") == {"status": "ok", "real": True}
    # Now every answer comes twice and guessed ids were forged: each caller still gets its own answer.
    results = await asyncio.gather(*[host.call("evil", "echo_back", {"n": n}) for n in range(20)])
    assert [r["n"] for r in results] == list(range(20)), results
    assert plugin_of(host).worker.stray_answers >= 20 + 49
    await still_serving(host)


def plugin_of(host: Xcore) -> Any:
    return host.records["evil"].handle.instance  # type: ignore[union-attr]


async def test_kill_9_mid_call_fails_that_call_and_the_next_works(host: Xcore) -> None:
    plugin = plugin_of(host)
    call = asyncio.create_task(host.call("evil", "block"))
    await asyncio.sleep(0.3)
    os.kill(plugin.worker.pid, 9)
    with pytest.raises(Exception, match="worker stopped"):
        await call
    await plugin.wait_running()
    await still_serving(host)


async def test_a_worker_that_keeps_dying_is_marked_failed(host: Xcore) -> None:
    plugin = plugin_of(host)
    for _ in range(8):
        if plugin.failed:
            break
        await plugin.wait_running()
        if plugin.failed:
            break
        os.kill(plugin.worker.pid, 9)
        await asyncio.sleep(0.05)
    await plugin.wait_running(30)
    assert plugin.failed and "died" in plugin.failed
    report = await host.health()
    assert report["plugins"]["evil"]["status"] == "error" and "worker failed" in report["plugins"]["evil"]["error"]
    assert (await host.call("other", "ping"))["pong"] is True


async def test_granted_host_through_the_egress_proxy_only(tmp_path: Path, redis_url: str) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    xcore = Xcore(config=config(tmp_path, {"permissions": [{"network": [f"127.0.0.1:{port}"]}]}), discover=False)
    await xcore.boot()
    try:
        assert xcore.records["evil"].state == "loaded", xcore.records["evil"].error
        assert "egress proxy" in plugin_of(xcore).sandbox_report()["protections"]["active"]["network"]
        granted = await xcore.call("evil", "http_get", {"url": f"http://127.0.0.1:{port}/hi"})
        assert granted == {"status": "ok", "http_status": 200, "text": "hello"}, granted
        redis = urlsplit(redis_url)
        refused = await xcore.call("evil", "http_get", {"url": f"http://{redis.hostname}:{redis.port}/"})
        assert refused["http_status"] == 403, refused
        assert f"lacks permission network: ['127.0.0.1:{redis.port}']" in refused["text"], refused
        # the proxy is the only way out: a direct socket to the granted port is refused
        direct = await xcore.call("evil", "connect", {"host": "127.0.0.1", "port": port})
        assert direct["blocked"] is True, direct
    finally:
        await xcore.shutdown()
        server.close()


async def test_a_flood_of_service_calls_is_bounded(tmp_path: Path) -> None:
    xcore = Xcore(config=config(tmp_path, {"permissions": ["cache"]}), discover=False)
    await xcore.boot()
    try:
        result = await xcore.call("evil", "flood_services", {"n": 2000})
        assert result["calls"] == 2000 and result["refused"] > 0, result
        await still_serving(xcore)
    finally:
        await xcore.shutdown()


async def test_a_worker_that_cannot_restart_is_marked_failed(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    cfg["plugins"]["local"]["flaky"] = "sbx_plugins.flaky:Flaky"
    cfg["plugins"]["sandboxed"]["flaky"] = {"sandbox": {"data_dir": str(tmp_path / "data" / "flaky")}}
    xcore = Xcore(config=cfg, discover=False)
    await xcore.boot()
    try:
        flaky = xcore.records["flaky"].handle.instance  # type: ignore[union-attr]
        os.kill(flaky.worker.pid, 9)
        async with asyncio.timeout(60):  # five failed restarts, with backoff
            while flaky.failed is None:
                await asyncio.sleep(0.05)
        assert flaky.failed and "restart failed" in flaky.failed and "cannot start twice" in flaky.failed
        with pytest.raises(WorkerError, match="worker failed"):
            await xcore.call("flaky", "ping")
        await still_serving(xcore)
    finally:
        await xcore.shutdown()


async def test_a_log_flood_is_cut_to_a_budget(host: Xcore, caplog: pytest.LogCaptureFixture) -> None:
    await host.call("evil", "log_flood", {"n": 5000})
    await asyncio.sleep(1.1)
    await host.call("evil", "log_flood", {"n": 1})
    lines = [r for r in caplog.records if "flood" in r.getMessage() and "[evil]" in r.getMessage()]
    assert 0 < len(lines) <= 2 * 100 + 1
    assert any("log lines dropped" in r.getMessage() for r in caplog.records)
    await still_serving(host)


async def test_a_stream_flooded_past_its_limit_kills_the_worker_cleanly(tmp_path: Path) -> None:
    """More unread frames for one streamed response than the limit: the worker is cut off, its
    waiting callers fail with WorkerError and it is restarted; nothing raises in the read callback."""
    from xcore._sandbox.supervisor import MAX_STREAM_FRAMES, Spawn, WorkerProcess, _Stream

    exits: list[str] = []
    loop = asyncio.get_running_loop()
    worker = WorkerProcess(
        Spawn("flood", {}, str(tmp_path), 1.0, 1.0),
        lambda *_: None,
        lambda _, why: exits.append(why),  # type: ignore[arg-type, return-value]
    )
    stream, call = _Stream(loop), loop.create_future()
    worker._waiting.update({1: stream, 2: call})
    for _ in range(MAX_STREAM_FRAMES + 5):
        worker._dispatch({"re": 1, "http": "body", "more": True}, b"x")
    assert exits and "unread response frames" in exits[0]
    assert isinstance(call.exception(), WorkerError)
    frames = [stream.queue.get_nowait() for _ in range(stream.queue.qsize())]
    assert "error" in frames[-1][0], "the stream's reader would wait forever"
