"""``scripts/demo`` serves the example plugins on one port: started for real, probed over HTTP, stopped.

Run with ``--no-install`` (this environment has XCore and the examples installed already; the
README's first command runs it without, which installs them first).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.served_process import serving
from xcore.testing.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 60


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    # PYTHON: this interpreter, whether it is a venv's or the system's (else the script picks ./.venv)
    env = {**os.environ, "PYTHON": sys.executable, "PORT": str(port), "XCORE_DATA": str(tmp_path / "data"),
           "XCORE_API_KEY": "k-123"}  # fmt: skip
    command = ["bash", ROOT / "scripts" / "demo", "--no-install"]
    with serving(command, port=port, log=tmp_path / "demo.log", env=env, name="the demo") as s:
        yield s.base


def test_the_demo_serves_docs_examples_and_health(demo: str, tmp_path: Path) -> None:
    with httpx.Client(base_url=demo, timeout=10) as client:
        docs = client.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()
        paths = client.get("/openapi.json").json()["paths"]
        for name in ("users", "users_async", "profiles", "jobs", "notifications", "status"):
            assert any(path.startswith(f"/plugins/{name}/") for path in paths), name

        ready = client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        assert "demo-key" not in ready.text and "k-123" not in ready.text

        assert "XCore demo" in client.get("/plugins/status/").text
        created = client.post("/plugins/users/users", json={"username": "ada", "email": "ada@example.com"})
        assert created.status_code == 201
        assert client.get("/plugins/profiles/profiles/1").json()["user"]["username"] == "ada"
        assert client.post("/plugins/users/actions/count", json={}, headers={"X-API-Key": "k-123"}).json() == {
            "status": "ok",
            "count": 1,
        }
        jobs = {job["id"] for job in client.get("/plugins/jobs/jobs").json()["jobs"]}
        assert jobs == {"prune", "daily_report"}
    assert (tmp_path / "data" / "demo.db").is_file()  # data went to $XCORE_DATA, not the repository
