"""Running under gunicorn, as docs/deployment.md says: ``gunicorn -k uvicorn_worker.UvicornWorker
"xcore.web:app_from_env()"`` with the configuration from ``$XCORE_CONFIG``.

Two real worker processes serve a plugin's route and the action endpoint; SIGTERM stops them
cleanly (exit 0) after each worker's host shut down.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx
import pytest

from tests.ci import IN_CI
from tests.served_process import serving
from xcore.testing.servers import free_port

PLUGIN = """
from typing import Any
from fastapi import APIRouter
from xcore.sdk import TrustedBase, action, ok
import os


class Plugin(TrustedBase):
    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/pid")
        async def pid() -> dict[str, int]:
            return {"pid": os.getpid()}

        return router

    @action()
    async def ping(self, payload: dict[str, Any]) -> dict[str, Any]:
        return ok(pong=payload)
"""


def test_gunicorn_with_uvicorn_workers_serves_the_app(tmp_path: Path) -> None:
    if not IN_CI:
        pytest.importorskip("gunicorn", reason="gunicorn comes with the gunicorn and dev extras")
        pytest.importorskip("uvicorn_worker", reason="uvicorn-worker comes with the gunicorn and dev extras")
    (tmp_path / "gunicorn_plugin.py").write_text(PLUGIN)
    config = tmp_path / "integration.yaml"
    config.write_text("app:\n  api_key: g-key\nplugins:\n  enabled: []\n  local:\n    pids: gunicorn_plugin:Plugin\n")
    port = free_port()
    env = {**os.environ, "XCORE_CONFIG": str(config), "PYTHONPATH": str(tmp_path), "XCORE_DATA": str(tmp_path / "d")}
    command = [sys.executable, "-m", "gunicorn", "-k", "uvicorn_worker.UvicornWorker", "-w", "2",
               "-b", f"127.0.0.1:{port}", "--graceful-timeout", "20", "xcore.web:app_from_env()"]  # fmt: skip
    log = tmp_path / "gunicorn.log"
    with (
        serving(
            command, port=port, log=log, env=env, cwd=tmp_path, ready="/health/ready", stop_timeout=40, name="gunicorn"
        ) as server,
        httpx.Client(base_url=server.base, timeout=10) as client,
    ):
        assert client.get("/plugins/pids/pid").json()["pid"] != server.process.pid  # a worker answers
        answer = client.post("/plugins/pids/actions/ping", json={"a": 1}, headers={"X-API-Key": "g-key"})
        assert answer.json() == {"status": "ok", "pong": {"a": 1}}
    code = server.returncode
    output = log.read_text()
    assert code == 0, output
    assert output.count("Application shutdown complete") == 2, output
