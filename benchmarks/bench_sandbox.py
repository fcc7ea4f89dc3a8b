"""Sandboxed plugins against the same plugin trusted, each beside its raw baseline in one run.

* action round trip: ``xcore.call`` on a sandboxed plugin (host -> worker -> host) against the
  same ``TrustedBase`` action in process, and against a raw round trip of the same framing to a
  bare echo subprocess (what the protocol costs with no XCore at all). Target: p50 <= 100 us.
  Measured twice: with the host on asyncio's default loop, and (in a subprocess, one loop per
  process) on uvloop, the loop uvicorn[standard] serves the host with in production. A second
  worker of the same plugin with ``sandbox.idle_spin_us: 0`` shows what the idle spin buys.
* route under uvicorn: requests per second of the plugin's route sandboxed against trusted, both in
  one server, interleaved rounds. Target: >= 0.5x.
* worker start: spawn to ready (walls up, plugin imported, ``on_load`` done) against a bare
  ``python -I -c "import fastapi"``. Target: <= 300 ms.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_http import child_env, load
from benchmarks.common import Result, percentile
from xcore import Xcore
from xcore._sandbox.framing import encode, read_frame
from xcore.testing.servers import free_port, wait_for_port

AREA = "sandbox"
PLUGINS = str(Path(__file__).resolve().parent.parent / "tests" / "sandbox_plugins")
ROUTE = "/hello/bench?times=2"

_ECHO = (
    "import socket,struct,sys\n"
    "s=socket.socket(fileno=int(sys.argv[1]))\n"
    "def exact(n):\n"
    "    b=b''\n"
    "    while len(b)<n:\n"
    "        p=s.recv(n-len(b))\n"
    "        if not p: sys.exit(0)\n"
    "        b+=p\n"
    "    return b\n"
    "while True:\n"
    "    h=exact(8); t,_=struct.unpack('!II',h); s.sendall(h+exact(t))\n"
)


def config(tmp: str) -> dict[str, Any]:
    target = "sbx_plugins.echo:Echo"
    return {
        "plugins": {
            "local": {"echo": target, "echo_t": target, "echo_ns": target},
            "sandboxed": {
                "echo": {"sandbox": {"data_dir": f"{tmp}/echo"}},
                "echo_ns": {"sandbox": {"data_dir": f"{tmp}/echo_ns", "idle_spin_us": 0}},
            },
        },
        "services": {
            "databases": {},
            "cache": {"backend": "memory"},
            "events": {"enabled": False},
            "scheduler": {"enabled": False},
            "extensions": {},
        },
    }


def sandbox_app() -> Any:
    """The uvicorn factory for the route case (``XCORE_BENCH_TMP`` names the data folder)."""
    from xcore.web import create_app

    sys.path.insert(0, PLUGINS)
    return create_app(config=config(os.environ["XCORE_BENCH_TMP"]), discover=False)


async def raw_round_trips(calls: int) -> list[float]:
    """Round trips of one frame to a bare echo process over a socketpair (no XCore)."""
    parent, child = socket.socketpair()
    process = subprocess.Popen([sys.executable, "-I", "-c", _ECHO, str(child.fileno())], pass_fds=(child.fileno(),))
    child.close()
    reader, writer = await asyncio.open_connection(sock=parent)
    times = []
    try:
        for i in range(calls):
            began = time.perf_counter()
            writer.write(encode({"id": i, "op": "call", "action": "echo", "payload": {"i": i}}))
            await read_frame(reader)
            times.append((time.perf_counter() - began) * 1e6)
    finally:
        writer.close()
        await writer.wait_closed()
        process.wait(timeout=10)
    return times


async def call_times(host: Xcore, plugin: str, calls: int) -> list[float]:
    times = []
    for i in range(calls):
        began = time.perf_counter()
        await host.call(plugin, "echo", {"i": i})
        times.append((time.perf_counter() - began) * 1e6)
    return times


async def actions(rounds: int, calls: int, tmp: str) -> list[Result]:
    host = Xcore(config=config(tmp), discover=False)
    await host.boot()
    sandboxed: list[float] = []
    trusted: list[float] = []
    no_spin: list[float] = []
    raw: list[float] = []
    starts: list[float] = []
    bare_starts: list[float] = []
    try:
        plugin = host.records["echo"].handle.instance  # type: ignore[union-attr]
        for _ in range(rounds):
            sandboxed += await call_times(host, "echo", calls)
            trusted += await call_times(host, "echo_t", calls)
            no_spin += await call_times(host, "echo_ns", calls)
            raw += await raw_round_trips(calls)
            await plugin.restart()
            starts.append(plugin.start_ms)
            began = time.perf_counter()
            subprocess.run([sys.executable, "-I", "-c", "import fastapi"], check=True)
            bare_starts.append((time.perf_counter() - began) * 1000)
    finally:
        await host.shutdown()
    p50 = statistics.median(sandboxed)
    spread = f"p99 {percentile(sandboxed, 99):.0f} us"
    return [
        Result(
            AREA,
            "sandboxed action round trip p50 vs raw frame round trip",
            p50,
            statistics.median(raw),
            "us",
            note=f"target p50 <= 100 us; {spread}; {rounds} rounds x {calls} calls",
        ),
        Result(
            AREA,
            "sandboxed action round trip p50 vs same action trusted",
            p50,
            statistics.median(trusted),
            "us",
            note="trusted = in-process call",
        ),
        Result(
            AREA,
            "sandboxed action round trip p50, idle_spin_us: 150 (default) vs 0",
            p50,
            statistics.median(no_spin),
            "us",
            note=f"same plugin, two workers, interleaved; p99 {percentile(no_spin, 99):.0f} us without the spin",
        ),
        Result(
            AREA,
            "worker start to ready vs python -I -c 'import fastapi'",
            statistics.median(starts),
            statistics.median(bare_starts),
            "ms",
            note=f"target <= 300 ms; spread {min(starts):.0f}-{max(starts):.0f} ms",
        ),
    ]


async def uvloop_round_trips(rounds: int, calls: int, tmp: str) -> dict[str, list[float]]:
    """Sandboxed and raw round trips in interleaved rounds, on the running loop (uvloop's, when
    :func:`on_uvloop` runs it)."""
    sys.path.insert(0, PLUGINS)
    host = Xcore(config=config(tmp), discover=False)
    await host.boot()
    sandboxed: list[float] = []
    raw: list[float] = []
    try:
        for _ in range(rounds):
            sandboxed += await call_times(host, "echo", calls)
            raw += await raw_round_trips(calls)
    finally:
        await host.shutdown()
    return {"sandboxed": sandboxed, "raw": raw}


_ON_UVLOOP = (
    "import asyncio, json, sys, uvloop\n"
    "from benchmarks.bench_sandbox import uvloop_round_trips\n"
    "asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())\n"
    "print(json.dumps(asyncio.run(uvloop_round_trips(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))))\n"
)


def on_uvloop(rounds: int, calls: int, tmp: str) -> Result:
    """The action round trip with the host on uvloop, in a subprocess of its own."""
    import json

    folder = Path(tmp) / "uvloop"
    folder.mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", _ON_UVLOOP, str(rounds), str(calls), str(folder)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=folder,
    )
    times = json.loads(done.stdout.strip().splitlines()[-1])
    p50 = statistics.median(times["sandboxed"])
    return Result(
        AREA,
        "sandboxed action round trip p50 vs raw frame round trip, host on uvloop",
        p50,
        statistics.median(times["raw"]),
        "us",
        note=f"target p50 <= 100 us; p99 {percentile(times['sandboxed'], 99):.0f} us; {rounds} rounds x {calls} calls",
    )


def route(rounds: int, duration: float, warmup: float, tmp: str) -> Result:
    port = free_port()
    env = {**child_env(), "XCORE_BENCH_TMP": tmp}
    log = Path(tmp) / "uvicorn.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "benchmarks.bench_sandbox:sandbox_app",
                "--factory",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp,
        )
    try:
        wait_for_port(port, timeout=30, process=server)
        runs = []
        for index in range(rounds):
            pair = [f"/plugins/echo{ROUTE}", f"/plugins/echo_t{ROUTE}"]
            runs += [{"port": port, "method": "GET", "path": p} for p in (pair if index % 2 == 0 else pair[::-1])]
        results = load({"concurrency": 8, "duration": duration, "warmup": warmup, "runs": runs})
    finally:
        server.terminate()
        server.wait(timeout=15)
    sandboxed = [r["rps"] for r, spec in zip(results, runs, strict=True) if "/echo/" in str(spec["path"])]
    trusted = [r["rps"] for r, spec in zip(results, runs, strict=True) if "/echo_t/" in str(spec["path"])]
    return Result(
        AREA,
        "plugin route under uvicorn, sandboxed vs trusted",
        statistics.median(sandboxed),
        statistics.median(trusted),
        "req/s",
        target=0.5,
        higher_is_better=True,
        note=f"8 connections, {rounds} interleaved rounds x {duration:g}s",
    )


async def run(quick: bool) -> list[Result]:
    sys.path.insert(0, PLUGINS)
    rounds, calls = (2, 200) if quick else (5, 1000)
    with tempfile.TemporaryDirectory(prefix="xcore-bench-sandbox-") as tmp:
        results = await actions(rounds, calls, tmp)
        results.append(await asyncio.to_thread(on_uvloop, rounds, calls, tmp))
        results.append(await asyncio.to_thread(route, 2 if quick else 6, 0.5 if quick else 1.2, 0.2, tmp))
    return results
