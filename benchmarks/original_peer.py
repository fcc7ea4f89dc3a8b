"""The original XCore's side of ``bench_original``: run by the original's own interpreter, never imported.

The original XCore (``xcoreruntime`` on the package index) is also imported as ``xcore``, so it lives in
its own virtualenv (``python -m benchmarks.original install``) and this file runs there with ``python -I``
(no script folder or ``PYTHONPATH`` on ``sys.path``: ``xcore`` is the original's). It only calls the
original's public API, through a plugin laid out as its documentation describes (``plugin.yaml`` and
``src/main.py``; trusted mode without a signature, a permission for everything and a rate limit high
enough never to throttle the benchmark).

    python -I original_peer.py measure         # times rounds on request: a JSON line in, one out
    python -I original_peer.py serve PORT      # the plugin's GET route under uvicorn with its defaults

Paths are measured as ``bench_original`` measures XCore: the same payloads, operations and rounds.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MANIFEST = """\
name: bench
version: 1.0.0
execution_mode: trusted
entry_point: src/main.py
permissions:
  - resource: "*"
    actions: ["*"]
    effect: allow
resources:
  rate_limit:
    calls: 1000000000
    period_seconds: 1
"""

PLUGIN = """\
from fastapi import APIRouter
from xcore.sdk import TrustedBase, ok


class Plugin(TrustedBase):
    async def handle(self, action, payload):
        return ok(echo=payload)

    def get_router(self):
        router = APIRouter()

        @router.get("/ping")
        async def ping():
            return {"pong": True}

        return router
"""

CONFIG = """\
app:
  name: bench
  plugin_prefix: /plugins
plugins:
  directory: ./plugins
  strict_trusted: false
services:
  cache:
    backend: memory
    max_size: 10000
  scheduler:
    enabled: false
observability:
  logging:
    level: WARNING
"""

ROW = {"id": 42, "username": "ada", "email": "ada@example.test", "roles": ["admin", "dev"], "active": True}
PAYLOAD = {"n": 1}


def lay_out(folder: Path) -> Path:
    plugin = folder / "plugins" / "bench"
    (plugin / "src").mkdir(parents=True)
    (plugin / "plugin.yaml").write_text(MANIFEST)
    (plugin / "src" / "main.py").write_text(PLUGIN)
    config = folder / "xcore.yaml"
    config.write_text(CONFIG)
    return config


async def per_op(call: Any, ops: int) -> float:
    """Time per ``await call()`` in ns over ``ops`` calls (one round)."""
    began = time.perf_counter_ns()
    for _ in range(ops):
        await call()
    return (time.perf_counter_ns() - began) / ops


def original_xcore() -> Any:
    """The original's ``Xcore`` class, imported by name: this file type-checks against neither XCore."""
    return importlib.import_module("xcore").Xcore


async def measure() -> None:
    """Boot, print ``ready``, then time one round per request line ``{"case": ..., "ops": n}`` until EOF.

    The rounds are driven from the other side, so that they alternate with XCore's own rounds.
    """
    host = original_xcore()(str(lay_out(Path.cwd())))
    await host.boot()
    try:
        call = host.plugins.call
        answer = await call("bench", "echo", PAYLOAD)
        if answer.get("status") != "ok":
            raise RuntimeError(f"the original's action call answered {answer!r}")
        cache = host.services.get("cache")
        await cache.set("s", "value")
        await cache.set("row", ROW)
        if await cache.get("row") != ROW:
            raise RuntimeError("the original's cache did not read back what it stored")
        bus = host.events
        seen = []

        async def handler(event: Any) -> None:
            seen.append(1)

        bus.on("bench.one")(handler)
        await bus.emit("bench.one", {"n": 1})
        if not seen:
            raise RuntimeError("the original's event handler did not run")
        cases = {
            "action call": lambda: call("bench", "echo", PAYLOAD),
            "emit, one handler": lambda: bus.emit("bench.one", {"n": 1}),
            "memory cache get (str)": lambda: cache.get("s"),
            "memory cache set (str)": lambda: cache.set("s2", "value"),
            "memory cache get (dict)": lambda: cache.get("row"),
            "memory cache set (dict)": lambda: cache.set("row2", ROW),
        }
        print("ready", flush=True)
        for line in sys.stdin:
            request = json.loads(line)
            print(json.dumps({"ns": await per_op(cases[request["case"]], request["ops"])}), flush=True)
    finally:
        await host.shutdown()


def serve(port: int) -> None:
    from contextlib import asynccontextmanager

    import uvicorn
    from fastapi import FastAPI

    host = original_xcore()(str(lay_out(Path.cwd())))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        await host.boot(app)
        yield
        await host.shutdown()

    app = FastAPI(lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def main(argv: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="xcore-original-") as folder:
        os.chdir(folder)
        if argv[0] == "measure":
            asyncio.run(measure())
        elif argv[0] == "serve":
            serve(int(argv[1]))
        else:
            raise SystemExit(f"unknown command {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
