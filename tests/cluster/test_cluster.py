"""Three ``xcore serve`` hosts (two workers each) behind HAProxy, two ``xcore worker`` processes, one
PostgreSQL, one Redis: the cluster behaves as one app under load, through restarts and a kill -9.

Bounded: about a minute of wall time. The numbers it measures are printed as one JSON line
(``CLUSTER {...}``) and quoted in docs/deployment.md. Under ``CI=true`` a missing haproxy fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redis_sync
import yaml

from tests.ci import unavailable
from xcore.testing.servers.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
HOSTS = 3
LOAD_CLIENTS = 8


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if found is None:
        unavailable("haproxy is not installed (apt-get install haproxy)")
    return found


HAPROXY_CONFIG = """
global
    stats socket {socket} level admin
    maxconn 2000
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
frontend app
    bind 127.0.0.1:{port}
    default_backend hosts
backend hosts
    balance roundrobin
    option httpchk GET /health/ready
    http-check expect status 200
    default-server inter 200ms fall 2 rise 1 slowstart 1s
{servers}
"""


class Process:
    """A child process in its own session, so kill -9 reaches uvicorn's workers too."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.args, self.env, self.log = name, args, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            self.args, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT
        )

    def terminate(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def admin(sock: Path, command: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(str(sock))
        s.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def wait_ready(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise AssertionError(f"host on port {port} never became ready")


def wait_up(sock: Path, server: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = admin(sock, "show servers state hosts")
        except OSError:  # HAProxy is still starting
            time.sleep(0.1)
            continue
        for line in state.splitlines():
            parts = line.split()
            if len(parts) > 5 and parts[3] == server and parts[5] == "2":  # srv_op_state 2: running
                return
        time.sleep(0.1)
    raise AssertionError(f"HAProxy never saw {server} up")


class Load:
    """``LOAD_CLIENTS`` clients sending GETs through HAProxy without pause, counting the outcomes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ok = 0
        self.failed: list[str] = []
        self.stop = asyncio.Event()

    async def client(self) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            while not self.stop.is_set():
                try:
                    response = await http.get(self.url)
                    if response.status_code == 200:
                        self.ok += 1
                    else:
                        self.failed.append(f"{response.status_code} {response.text[:100]}")
                except httpx.HTTPError as exc:
                    self.failed.append(f"{type(exc).__name__}: {exc}")

    async def run(self) -> None:
        await asyncio.gather(*(self.client() for _ in range(LOAD_CLIENTS)))


@pytest.fixture
def cluster_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def cluster(cluster_dir: Path, redis_url: str, postgres_server: Any) -> Iterator[dict[str, Any]]:
    binary = haproxy_binary()
    record_url = redis_url
    config = {
        "app": {"name": "cluster", "log_level": "WARNING"},
        "plugins": {
            "local": {"cluster": "tests.cluster.cluster_plugin:Plugin"},
            "enabled": ["cluster"],
            "settings": {"cluster": {"record_url": record_url}},
        },
        "services": {
            "databases": {"default": {"type": "postgresql", "url": postgres_server.url}},
            "cache": {"backend": "tiered", "url": redis_url},
            "events": {"backend": "redis", "url": redis_url},
            # every due time runs, late rather than folded into the next one, on a loaded machine
            "scheduler": {
                "backend": "database",
                "poll_interval": 0.2,
                "timezone": "UTC",
                "coalesce": False,
                "misfire_grace_time": 120,
            },
            "tasks": {"backend": "redis", "url": redis_url, "timeout": 3, "backoff": 0.1},
            "extensions": {},
        },
    }
    config_path = cluster_dir / "integration.yaml"
    config_path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XCORE_CONFIG": str(config_path)}
    xcore = [sys.executable, "-m", "xcore"]
    ports = [free_port() for _ in range(HOSTS)]
    hosts = [
        Process(
            f"s{i}",
            [*xcore, "serve", "--workers", "2", "--port", str(port), "--host", "127.0.0.1"],
            env,
            cluster_dir / f"host{i}.log",
        )
        for i, port in enumerate(ports)
    ]
    workers = [
        Process(f"w{i}", [*xcore, "worker", "--concurrency", "10"], env, cluster_dir / f"worker{i}.log")
        for i in range(2)
    ]
    lb_port, sock = free_port(), cluster_dir / "haproxy.sock"
    servers = "\n".join(f"    server s{i} 127.0.0.1:{port} check" for i, port in enumerate(ports))
    (cluster_dir / "haproxy.cfg").write_text(HAPROXY_CONFIG.format(socket=sock, port=lb_port, servers=servers))
    lb = Process("haproxy", [binary, "-f", str(cluster_dir / "haproxy.cfg"), "-db"], env, cluster_dir / "lb.log")
    started: list[Process] = []
    try:
        for host in hosts:
            host.start()
            started.append(host)
        for port in ports:
            wait_ready(port)
        lb.start()
        started.append(lb)
        for i in range(HOSTS):
            wait_up(sock, f"s{i}")
        for worker in workers:
            worker.start()
            started.append(worker)
        yield {
            "hosts": hosts,
            "ports": ports,
            "workers": workers,
            "lb": f"http://127.0.0.1:{lb_port}",
            "sock": sock,
            "record": redis_sync.Redis.from_url(record_url),
            "dir": cluster_dir,
        }
    finally:
        for process in reversed(started):
            process.stop()


def rolling_restart(cluster: dict[str, Any]) -> list[float]:
    """Drain each host in HAProxy, SIGTERM it (uvicorn finishes in-flight requests), start it, wait
    until it is ready and HAProxy sends it traffic again; returns each host's downtime."""
    downtimes = []
    for i, host in enumerate(cluster["hosts"]):
        admin(cluster["sock"], f"set server hosts/s{i} state drain")
        time.sleep(0.5)  # requests already routed to it finish; new ones go elsewhere
        began = time.monotonic()
        assert host.terminate() == 0, f"host {i} did not exit cleanly on SIGTERM"
        host.start()
        wait_ready(cluster["ports"][i])
        admin(cluster["sock"], f"set server hosts/s{i} state ready")
        wait_up(cluster["sock"], f"s{i}")
        downtimes.append(time.monotonic() - began)
    return downtimes


async def test_the_cluster_behaves_as_one_app(cluster: dict[str, Any]) -> None:
    record: redis_sync.Redis = cluster["record"]
    numbers: dict[str, Any] = {}
    direct = [f"http://127.0.0.1:{port}/plugins/cluster" for port in cluster["ports"]]
    async with httpx.AsyncClient(timeout=10) as http:
        # ---- a rolling restart of all three hosts under load: zero failed requests
        load = Load(cluster["lb"] + "/plugins/cluster/ping")
        running = asyncio.create_task(load.run())
        await asyncio.sleep(1)
        timeline = {"restart_began": time.time()}
        downtimes = await asyncio.to_thread(rolling_restart, cluster)
        timeline["restart_ended"] = time.time()
        await asyncio.sleep(1)
        load.stop.set()
        await running
        numbers["restart"] = {
            "requests": load.ok + len(load.failed),
            "failed": len(load.failed),
            "host_downtime_s": [round(d, 1) for d in downtimes],
        }
        assert load.failed == [], load.failed[:5]
        assert load.ok > 100

        # ---- a cache write in one host is seen by every worker of the others; an event reaches all
        await http.put(f"{direct[0]}/cache/greeting", params={"value": "v1"})
        for url in direct[1:]:
            for _ in range(6):  # both workers of each host read it (and keep it in their memory tier)
                assert (await http.get(f"{url}/cache/greeting")).json()["value"] == "v1"
        await http.put(f"{direct[0]}/cache/greeting", params={"value": "v2"})
        await asyncio.sleep(0.05)
        for url in direct[1:]:
            seen = {(await http.get(f"{url}/cache/greeting")).json()["value"] for _ in range(6)}
            assert seen == {"v2"}, f"{url} still serves {seen}"
        await http.post(f"{direct[0]}/note/n1")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                while record.scard("heard:n1") < HOSTS * 2 + 2:
                    await asyncio.sleep(0.05)
        numbers["event_heard_by_processes"] = record.scard("heard:n1")
        assert record.scard("heard:n1") == HOSTS * 2 + 2  # every process of every host, and both task workers

        # ---- kill -9 of one host under load: only its in-flight requests may fail, the others carry on
        load = Load(cluster["lb"] + "/plugins/cluster/ping")
        running = asyncio.create_task(load.run())
        await asyncio.sleep(1)
        before_kill = load.ok
        cluster["hosts"][2].kill()
        timeline["killed"] = time.time()
        killed_at = load.ok
        await asyncio.sleep(2)
        failed_after_kill = list(load.failed)
        ok_after = load.ok
        await asyncio.sleep(1)
        load.stop.set()
        await running
        numbers["kill9"] = {
            "requests": load.ok + len(load.failed),
            "failed": len(load.failed),
            "ok_before_kill": before_kill,
            "ok_after_kill": load.ok - killed_at,
        }
        assert len(failed_after_kill) <= LOAD_CLIENTS, failed_after_kill  # at most the in-flight ones
        assert load.failed == failed_after_kill  # none once HAProxy marked it down
        assert load.ok > ok_after  # the two others carry the load

        # ---- 1,000 tasks, one worker killed mid-run: all complete, effects exactly once
        enqueued = await http.post(f"{direct[0]}/enqueue", params={"count": 1000, "sleep": 0.05}, timeout=120)
        assert enqueued.json() == {"enqueued": 1000}
        async with asyncio.timeout(20):
            while int(record.get("effects") or 0) < 150:
                await asyncio.sleep(0.05)
        cluster["workers"][0].kill()
        async with asyncio.timeout(90):
            while int(record.get("effects") or 0) < 1000:
                await asyncio.sleep(0.2)
        await asyncio.sleep(1)
        runs = [r.decode() for r in record.lrange("task_runs", 0, -1)]
        numbers["tasks"] = {
            "enqueued": 1000,
            "effects": int(record.get("effects") or 0),
            "runs": len(runs),
            "distinct": len(set(runs)),
            "duplicates": len(runs) - len(set(runs)),
        }
        assert int(record.get("effects") or 0) == 1000
        assert len(set(runs)) == 1000
        assert len(runs) - len(set(runs)) <= 10  # re-runs only of what the killed worker held (concurrency 10)

    # ---- scheduler: each due second ran exactly once across hosts, restarts and the kill
    beats = [float(b) for b in record.lrange("beats", 0, -1)]
    due = sorted(set(beats))
    missed = [round(a + step, 3) for a, b in itertools.pairwise(due) for step in range(1, round(b - a))]
    numbers["scheduler"] = {
        "runs": len(beats),
        "distinct_due_times": len(due),
        "missed": len(missed),
        "missed_at": {str(t): {k: round(t - v, 1) for k, v in timeline.items()} for t in missed},
    }
    print("CLUSTER " + json.dumps(numbers))
    assert len(beats) == len(set(beats)), "a due time ran twice"
    assert missed == []
