"""``/docs`` renders in a real browser with no network: every asset comes from the server itself.

``xcore serve`` runs for real with a plugin; headless Chromium (Debian's ``chromium``) loads
``/docs`` with every host name except 127.0.0.1 made unresolvable, so a page that needs a CDN stays
blank. The rendered DOM must show the plugin's operations, which only Swagger UI's script puts
there after fetching ``/openapi.json``. Without Chromium the test skips, and fails under ``CI=true``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cdp import chromium_path
from tests.served_process import serving, xcore_serve_command
from xcore.testing.servers import free_port

PLUGIN = """
from fastapi import APIRouter
from xcore.sdk import TrustedBase


class Plugin(TrustedBase):
    def get_router(self) -> APIRouter:
        router = APIRouter()

        @router.get("/inventory/{item}", summary="Look up one inventory item")
        async def item(item: str) -> dict[str, str]:
            return {"item": item}

        return router
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "offline_docs_plugin.py").write_text(PLUGIN)
    config = tmp_path / "integration.yaml"
    config.write_text("app:\n  api_key: docs-key\nplugins:\n  local:\n    stock: offline_docs_plugin:Plugin\n")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "XCORE_DATA": str(tmp_path / "data")}
    command = xcore_serve_command(config, port)
    with serving(command, port=port, log=tmp_path / "serve.log", env=env, cwd=tmp_path, stop_signal=signal.SIGINT) as s:
        yield s.base


def test_the_docs_page_references_only_its_own_server(server: str) -> None:
    page = httpx.get(f"{server}/docs", timeout=10)
    assert page.status_code == 200
    assert re.findall(r"https?://[^\s'\"]+", page.text) == []  # no CDN, no absolute URL at all
    for asset in re.findall(r"""(?:src|href)=["']?(/docs/assets/[^"' >]+)""", page.text):
        fetched = httpx.get(f"{server}{asset}", timeout=10)
        assert fetched.status_code == 200 and len(fetched.content) > 1000, asset


def test_the_docs_page_renders_the_plugin_operations_without_network(server: str, tmp_path: Path) -> None:
    browser = chromium_path()
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
        f"--user-data-dir={tmp_path / 'profile'}",
        # no network: every host but the server's own is unresolvable, so a CDN asset cannot load
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=20000", "--dump-dom", f"{server}/docs",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    dom = result.stdout
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'class="swagger-ui' in dom, dom[-3000:]
    # operations Swagger UI renders from /openapi.json: the plugin's route and the action endpoint
    assert "/plugins/stock/inventory/{item}" in dom, dom[-3000:]
    assert "Look up one inventory item" in dom
    assert "/plugins/{plugin}/actions/{action}" in dom
