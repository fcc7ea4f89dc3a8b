"""``xcore jobs``: the command the scheduler adds to the CLI through ``xcore_register_commands``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click
import yaml
from click.testing import CliRunner

from xcore import Xcore
from xcore._builtin_services.scheduler import xcore_register_commands
from xcore.sdk import TrustedBase


class Reporter(TrustedBase):
    """Schedules a nightly report, and a job that fails, which an app process runs before we look."""

    async def on_load(self) -> None:
        self.scheduler = self.get_service("scheduler")
        self.scheduler.add_job(self.report, "cron", hour=2, minute=0, id="nightly")
        if self.ctx.config.get("broken"):
            self.scheduler.add_job(self.broken, "interval", seconds=0.1, id="broken")

    def report(self) -> None:
        return None

    def broken(self) -> None:
        raise ValueError("the report server is down")


def cli_with_jobs() -> click.Group:
    @click.group()
    def cli() -> None:
        """A stand-in for xcore's root group."""

    xcore_register_commands(cli=cli)
    return cli


def write_config(tmp_path: Path, scheduler: dict[str, Any], broken: bool = False) -> tuple[Path, dict[str, Any]]:
    config = {
        "services": {"databases": {}, "extensions": {}, "scheduler": scheduler},
        "plugins": {
            "enabled": [],  # no installed plugin: only the local one below
            "local": {"reporter": "tests.test_scheduler_cli:Reporter"},
            "settings": {"reporter": {"broken": broken}},
        },
    }
    path = tmp_path / "integration.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, config


def test_jobs_lists_plugin_id_trigger_next_run_and_last_outcome(tmp_path: Path) -> None:
    path, _ = write_config(tmp_path, {"backend": "memory", "timezone": "UTC"})
    result = CliRunner().invoke(cli_with_jobs(), ["jobs", "--config", str(path)])
    assert result.exit_code == 0, result.output
    header, row = result.output.strip().splitlines()[:2]
    assert header.split() == ["PLUGIN", "ID", "TRIGGER", "NEXT_RUN", "LAST_OUTCOME"]
    assert row.split()[:3] == ["reporter", "nightly", "cron[hour='2',"]
    assert "T02:00:00+00:00" in row and row.endswith("never run")


def test_jobs_shows_outcomes_of_the_app_processes_and_runs_nothing_itself(tmp_path: Path, redis_url: str) -> None:
    path, config = write_config(tmp_path, {"backend": "redis", "url": redis_url}, broken=True)

    async def app_process() -> None:  # the running app: its scheduler runs the failing job
        host = Xcore(config=config, discover=False)
        await host.boot()
        scheduler = host.get_service("scheduler")
        for _ in range(200):
            if any(row["last_outcome"].startswith("error") for row in scheduler.describe_jobs()):
                break
            await asyncio.sleep(0.02)
        await host.shutdown()

    asyncio.run(app_process())
    result = CliRunner().invoke(cli_with_jobs(), ["jobs", "--config", str(path), "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["id"]: row for row in json.loads(result.output)}
    assert rows["broken"]["plugin"] == "reporter" and rows["broken"]["trigger"] == "interval[0:00:00.100000]"
    assert rows["broken"]["last_outcome"].startswith("error at ")
    assert rows["broken"]["last_outcome"].endswith("ValueError: the report server is down")
    before = rows["broken"]["last_outcome"]
    again = json.loads(CliRunner().invoke(cli_with_jobs(), ["jobs", "--config", str(path), "--json"]).output)
    assert {row["id"]: row for row in again}["broken"]["last_outcome"] == before  # the command ran no job


def test_jobs_with_a_bad_config_fails_cleanly(tmp_path: Path) -> None:
    path, _ = write_config(tmp_path, {"backend": "redis"})
    result = CliRunner().invoke(cli_with_jobs(), ["jobs", "--config", str(path)])
    assert result.exit_code == 2
    assert "services.scheduler.url: required key is missing" in result.output
