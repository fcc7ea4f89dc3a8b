"""A fresh process that starts an app until it is ready to serve, then reports how it got there.

Run by the boot and memory benchmarks as ``python -m benchmarks.host_probe SPEC.json``; the parent times
process start to the ``READY`` line, so interpreter start-up and every import are counted, as a user
running ``xcore serve`` pays them. Two modes:

* ``xcore``: ``create_app(config=...)`` and its lifespan (the host boots: discovery, services, plugins,
  routers mounted). ``importlib_metadata.entry_points`` is wrapped before anything runs so the report
  says how many times the installed distributions were scanned.
* ``bare``: a hand-written FastAPI app that imports the listed plugin modules by name and mounts their
  routers itself: no discovery, no pluggy, no host. With no modules it is a bare FastAPI app.

After ``READY`` the probe waits for its stdin to close, runs the lifespan shutdown and prints ``DONE``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import importlib.metadata
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import importlib_metadata

READY = "READY "
DONE = "DONE "
MARKER_ENV = "XCORE_BENCH_IMPORT_MARKER"
"""The variable naming the file a disabled plugin's module would write if it were ever imported."""


def rss_kib() -> dict[str, int]:
    """Resident set size now and at its peak (``VmRSS``, ``VmHWM`` from ``/proc/self/status``), in KiB."""
    values: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def counting(module: Any, attr: str, counter: dict[str, int], key: str) -> None:
    """Replace ``module.attr`` by a wrapper that counts its calls in ``counter[key]``."""
    original: Callable[..., Any] = getattr(module, attr)
    counter[key] = 0

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        counter[key] += 1
        return original(*args, **kwargs)

    setattr(module, attr, wrapper)


async def serve_until_stdin_closes(spec: dict[str, Any], calls: dict[str, int]) -> None:
    began = time.perf_counter()
    from fastapi import FastAPI

    report: dict[str, Any] = {}
    if spec["mode"] == "xcore":
        from xcore._host.facade import Xcore
        from xcore.web import create_app

        report["import_ms"] = (time.perf_counter() - began) * 1000
        mark = time.perf_counter()
        host = Xcore(config=spec["config"])
        report["construct_ms"] = (time.perf_counter() - mark) * 1000
        mark = time.perf_counter()
        host.prepare()
        report["prepare_ms"] = (time.perf_counter() - mark) * 1000
        app = create_app(host=host)
    else:
        report["import_ms"] = (time.perf_counter() - began) * 1000

        @contextlib.asynccontextmanager
        async def mount_plugins(app: FastAPI) -> AsyncIterator[None]:
            # Mounted in the lifespan, as the host does: FastAPI nests one lifespan per router included
            # before start-up, and a few hundred of those exceed Python's recursion limit at start-up.
            for module_name, name in zip(spec["modules"], spec["names"], strict=True):
                plugin = importlib.import_module(module_name).Plugin()
                app.include_router(plugin.get_router(), prefix=f"/plugins/{name}", tags=[name])
            yield

        app = FastAPI(lifespan=mount_plugins)
    mark = time.perf_counter()
    async with app.router.lifespan_context(app):
        report["startup_ms"] = (time.perf_counter() - mark) * 1000
        report["in_process_ms"] = (time.perf_counter() - began) * 1000
        report["routes"] = len(app.routes)
        if spec["mode"] == "xcore":
            states = [r.state for r in host.plugins if r.source.kind == "plugin"]
            report["loaded"] = states.count("loaded")
            report["disabled"] = states.count("disabled")
            report["failed"] = {r.name: r.error for r in host.plugins if r.state == "failed"}
            report["services"] = [e.spec.name for e in host.services.entries()]
        report["entry_points_calls"] = calls["importlib_metadata"]
        report["stdlib_entry_points_calls"] = calls["importlib.metadata"]
        report["rss_kib"] = rss_kib()
        report["marker_written"] = Path(spec["marker"]).exists() if spec.get("marker") else None
        print(READY + json.dumps(report), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        mark = time.perf_counter()
    print(DONE + json.dumps({"shutdown_ms": (time.perf_counter() - mark) * 1000}), flush=True)


def main(argv: Sequence[str]) -> None:
    spec = json.loads(Path(argv[0]).read_text())
    calls: dict[str, int] = {}
    counting(importlib_metadata, "entry_points", calls, "importlib_metadata")
    counting(importlib.metadata, "entry_points", calls, "importlib.metadata")
    if spec.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        try:
            asyncio.run(serve_until_stdin_closes(spec, calls))
        finally:
            profiler.disable()
            profiler.dump_stats(spec["profile"])
    else:
        asyncio.run(serve_until_stdin_closes(spec, calls))


# ---------------------------------------------------------------------------- parent side


def last_line(text: str) -> str:
    """The last non-empty line of a traceback: the exception and its message."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no output)"


def run_probe(spec: dict[str, Any], *, pythonpath: Sequence[Path], cwd: Path, timeout: float = 60.0) -> dict[str, Any]:
    """Start a probe, return its report plus ``ready_ms`` (process start to ready, measured here).

    Raises ``RuntimeError`` with the probe's stderr if it exits or stalls before ``READY``.
    """
    spec_path = cwd / f"probe-{os.getpid()}-{time.monotonic_ns()}.json"
    spec_path.write_text(json.dumps(spec))
    env = dict(os.environ)
    repo = Path(__file__).resolve().parent.parent
    env["PYTHONPATH"] = os.pathsep.join([str(repo), *(str(p) for p in pythonpath)])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("XCORE_CONFIG", None)
    if spec.get("marker"):
        env[MARKER_ENV] = str(spec["marker"])
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.host_probe", str(spec_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=env,
        text=True,
    )
    watchdog = threading.Timer(timeout, process.kill)  # a stalled probe must not stall the benchmark
    watchdog.start()
    try:
        assert process.stdout is not None and process.stdin is not None
        line = process.stdout.readline()
        ready_ms = (time.perf_counter() - began) * 1000
        if not line.startswith(READY):
            process.kill()
            _, err = process.communicate(timeout=timeout)
            raise RuntimeError(f"probe ({spec['mode']}) did not get ready: {last_line(line + err)}")
        report: dict[str, Any] = json.loads(line[len(READY) :])
        out, err = process.communicate("", timeout=timeout)
        done = [x for x in out.splitlines() if x.startswith(DONE)]
        if process.returncode != 0 or not done:
            raise RuntimeError(f"probe ({spec['mode']}) failed at shutdown: {last_line(err)}")
        report.update(json.loads(done[0][len(DONE) :]))
        report["ready_ms"] = ready_ms
        return report
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
        spec_path.unlink(missing_ok=True)


if __name__ == "__main__":
    main(sys.argv[1:])
