"""The admin API against real servers: ``xcore serve --workers 2`` on Redis events, and SIGHUP.

One admin call (through the CLI, as an operator makes it) must change the plugin in both uvicorn
workers, each answering for itself; a SIGHUP must re-read the file in a serving process, refusing a
bad one. Neither the CLI output nor the server log may show the admin key.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from tests.served_process import ServedProcess, serving, xcore_serve_command
from xcore.testing.servers import free_port

from .serving import _environment, served
from .support import SHOP_SOURCE as SHOP
from .support import Site, config

ADMIN_KEY = "served-admin-key-5f2a9c"


def _site_config(site: Site, **services: Any) -> dict[str, Any]:
    module = site.module("shop")
    site.distribution(f"xcore-shop-{site.tag}", {"xcore.plugins": {"shop": f"{module}:Plugin"}}, {f"{module}.py": SHOP})
    return config(app={"admin_key": ADMIN_KEY}, plugins={"enabled": ["shop"]}, services=services)


def _cli(*args: str, server: ServedProcess, key: str | None = ADMIN_KEY) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XCORE_ADMIN_KEY": key or ""}
    return subprocess.run([sys.executable, "-m", "xcore", *args, "--url", server.base], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def _admin(server: ServedProcess, path: str, method: str = "GET") -> tuple[int, Any]:
    status, body = server.get(f"/xcore/admin/api{path}", headers={"X-Admin-Key": ADMIN_KEY}, method=method)
    return status, json.loads(body)


def _every_worker(server: ServedProcess, workers: int) -> list[dict[str, Any]]:
    """Each worker's plugin rows, once all ``workers`` answer (each booted and subscribed)."""
    deadline = time.monotonic() + 60
    while True:
        _status, body = _admin(server, f"/plugins?all=true&expect={workers}&wait=2")
        if len(body["results"]) == workers or time.monotonic() > deadline:
            return list(body["results"])
        time.sleep(0.2)


def test_one_admin_call_reaches_both_workers_through_redis(site: Site, tmp_path: Path, redis_url: str) -> None:
    data = _site_config(site, events={"backend": "redis", "url": redis_url})
    path = tmp_path / "two-workers.yaml"
    path.write_text(yaml.safe_dump(data))
    port = free_port()
    command = xcore_serve_command(path, port, "--workers", "2")
    with serving(command, port=port, log=tmp_path / "serve.log", env=_environment(site.root), cwd=tmp_path) as server:
        before = _every_worker(server, 2)
        workers = {entry["worker"] for entry in before}
        assert len(workers) == 2, before
        assert all(row["state"] == "loaded" for e in before for row in e["result"]["plugins"] if row["name"] == "shop")

        done = _cli("plugins", "disable", "shop", "--wait", "10", "--expect", "2", server=server)

        assert done.returncode == 0, done.stderr
        lines = done.stdout.strip().splitlines()
        assert sorted(line.split(": ")[0] for line in lines) == sorted(workers), done.stdout
        assert all(": disabled (version 1.0.0)" in line for line in lines), done.stdout
        for entry in _every_worker(server, 2):
            [shop] = [row for row in entry["result"]["plugins"] if row["name"] == "shop"]
            assert shop["state"] == "disabled", entry
        # new connections land on either worker: none serves the plugin any more
        answers = {server.get("/plugins/shop/items")[0] for _ in range(20)}
        assert answers == {404}
        listed = _cli("plugins", "--json", server=server)
        assert listed.returncode == 0 and "disabled" in listed.stdout

        back = _cli("plugins", "enable", "shop", "--wait", "10", "--expect", "2", server=server)
        assert back.returncode == 0 and back.stdout.count(": loaded") == 2, back.stdout
        assert {server.get("/plugins/shop/items")[0] for _ in range(20)} == {200}

        refused = _cli("plugins", "disable", "nope", "--expect", "2", server=server)
        assert refused.returncode == 1 and refused.stdout.count("no plugin named 'nope'") == 2
        wrong = _cli("plugins", "disable", "shop", server=server, key="not-the-key")
        assert wrong.returncode == 1 and "refused the admin key (403" in wrong.stderr
        assert {server.get("/plugins/shop/items")[0] for _ in range(10)} == {200}
        for result in (done, listed, back, refused, wrong):
            assert ADMIN_KEY not in result.stdout + result.stderr
    assert ADMIN_KEY not in server.log_text()


def _wait_for(predicate: Any, what: str, server: ServedProcess, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s:\n{server.log_text()}")
        time.sleep(0.1)


def test_sighup_rereads_the_configuration_and_refuses_a_bad_one(site: Site) -> None:
    data = _site_config(site, events={"backend": "memory"})
    with served(site, data) as server:
        path = site.root.parent / "server.yaml"
        assert server.get("/plugins/shop/items")[0] == 200

        data["plugins"]["disabled"] = ["shop"]
        data["app"]["name"] = "renamed"
        path.write_text(yaml.safe_dump(data))
        os.kill(server.process.pid, signal.SIGHUP)
        _wait_for(lambda: server.get("/plugins/shop/items")[0] == 404, "the disable", server)
        _wait_for(lambda: "needs a restart to apply: app.name" in server.log_text(), "the restart note", server)

        bad = {**data, "plugins": {"enabled": ["shop"]}, "services": {"cache": {"backend": "nope"}}}
        path.write_text(yaml.safe_dump(bad))
        os.kill(server.process.pid, signal.SIGHUP)
        _wait_for(lambda: "configuration reload refused" in server.log_text(), "the refusal", server)
        assert "services.cache" in server.log_text().split("configuration reload refused")[1]
        assert server.get("/plugins/shop/items")[0] == 404  # the old configuration is kept
        assert server.get("/health")[0] == 200

        data["plugins"]["disabled"] = []
        path.write_text(yaml.safe_dump(data))
        status, body = _admin(server, "/reload-config", method="POST")  # the admin call does the same
        assert status == 200, body
        assert body["results"][0]["result"]["needs_restart"] == ["app.name"]
        assert server.get("/plugins/shop/items")[0] == 200
    assert ADMIN_KEY not in server.log_text()


TICKER = """
from xcore.sdk import TrustedBase

RUNS = []

def tick():
    RUNS.append(1)

class Plugin(TrustedBase):
    async def on_load(self):
        self.get_service("scheduler").add_job(tick, "interval", seconds=1, id="every-second")
"""


def test_the_cli_reads_the_running_servers_jobs_services_and_health(site: Site, postgres_server: Any) -> None:
    from urllib.parse import urlsplit

    password = urlsplit(postgres_server.url).password
    assert password
    module = site.module("ticker")
    site.distribution(f"xcore-ticker-{site.tag}", {"xcore.plugins": {"ticker": f"{module}:Plugin"}},
                      {f"{module}.py": TICKER})  # fmt: skip
    data = config(app={"admin_key": ADMIN_KEY}, plugins={"enabled": ["ticker"]},
                  services={"scheduler": {"backend": "memory"},
                            "databases": {"default": {"type": "postgresql", "url": postgres_server.url}}})  # fmt: skip
    with served(site, data) as server:

        def ran() -> bool:
            _status, body = _admin(server, "/jobs")
            return any(job["last_outcome"] != "never run" for job in body["jobs"])

        _wait_for(ran, "a run of the job", server)
        jobs = _cli("jobs", "--json", server=server)
        assert jobs.returncode == 0, jobs.stderr
        [job] = json.loads(jobs.stdout)
        assert (job["plugin"], job["id"]) == ("ticker", "every-second") and job["last_outcome"] != "never run"
        # without --url, the command boots its own copy: its memory scheduler has run nothing
        copy = subprocess.run([sys.executable, "-m", "xcore", "jobs", "--json", "--config",
                               str(site.root.parent / "server.yaml")], env=_environment(site.root),
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert copy.returncode == 0, copy.stderr
        assert json.loads(copy.stdout)[0]["last_outcome"] == "never run"

        services = _cli("services", "--json", server=server)
        assert services.returncode == 0, services.stderr
        assert {row["name"]: row["health"] for row in json.loads(services.stdout)} == {
            "default": "ok",
            "scheduler": "ok",
        }
        health = _cli("health", "--json", server=server)
        assert health.returncode == 0 and json.loads(health.stdout)["status"] == "ok"
        no_key = _cli("health", server=server, key=None)
        assert no_key.returncode == 1 and "--admin-key or $XCORE_ADMIN_KEY" in no_key.stderr
        for result in (jobs, services, health, no_key):
            assert ADMIN_KEY not in result.stdout + result.stderr and password not in result.stdout + result.stderr
    assert ADMIN_KEY not in server.log_text() and password not in server.log_text()
    unreachable = subprocess.run([sys.executable, "-m", "xcore", "plugins", "--url", server.base],
                                 env={**os.environ, "XCORE_ADMIN_KEY": ADMIN_KEY}, capture_output=True, text=True,
                                 timeout=60)  # fmt: skip
    assert unreachable.returncode == 1 and "cannot reach" in unreachable.stderr
    assert ADMIN_KEY not in unreachable.stderr


PYPROJECT = """
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "xcore-upgrade-shop"
version = "{version}"

[project.entry-points."xcore.plugins"]
shop = "upgrade_shop:Plugin"
"""
UPGRADE_SHOP = """
from fastapi import APIRouter
from xcore.sdk import TrustedBase

class Plugin(TrustedBase):
    def get_router(self):
        router = APIRouter()

        @router.get("/code")
        async def code():
            return {{"code": "{code}"}}

        return router
"""


def _pip_install(project: Path, target: Path, version: str, code: str) -> None:
    """Write the project at ``version`` and ``pip install -U`` it into ``target``, as an operator would."""
    (project / "upgrade_shop").mkdir(parents=True, exist_ok=True)
    (project / "pyproject.toml").write_text(PYPROJECT.format(version=version))
    (project / "upgrade_shop" / "__init__.py").write_text(UPGRADE_SHOP.format(code=code))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "-U", "--no-index", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(project)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip


def test_reload_after_pip_install_upgrade_serves_the_new_version(tmp_path: Path) -> None:
    project, target = tmp_path / "project", tmp_path / "site"
    _pip_install(project, target, "1.0.0", "one")
    path = tmp_path / "upgrade.yaml"
    path.write_text(yaml.safe_dump(config(app={"admin_key": ADMIN_KEY}, plugins={"enabled": ["shop"]})))
    port = free_port()
    command = xcore_serve_command(path, port)
    with serving(command, port=port, log=tmp_path / "serve.log", env=_environment(target), cwd=tmp_path) as server:
        assert json.loads(server.get("/plugins/shop/code")[1]) == {"code": "one"}
        _pip_install(project, target, "2.0.0", "two")

        reloaded = _cli("plugins", "reload", "shop", "--json", server=server)

        assert reloaded.returncode == 0, reloaded.stdout + reloaded.stderr
        [result] = json.loads(reloaded.stdout)["results"]
        assert (result["result"]["previous_version"], result["result"]["version"]) == ("1.0.0", "2.0.0")
        assert json.loads(server.get("/plugins/shop/code")[1]) == {"code": "two"}
        _status, body = _admin(server, "/plugins")
        assert [row["version"] for row in body["plugins"] if row["name"] == "shop"] == ["2.0.0"]
