"""``xcore jobs``: every scheduled job with its plugin, trigger, next run and last outcome.

The command boots a host from ``--config`` to see what plugins schedule, lists the jobs and shuts
down. That host only looks: its scheduler never runs a job (with a shared store, the app's own
processes keep running them undisturbed). Outcomes are those kept by the store, so with ``redis`` or
``database`` they are the app's real last runs.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click

from xcore._admin.client import admin_key_option, remote, url_option
from xcore.backends import config_option

COLUMNS = ["plugin", "id", "trigger", "next_run", "last_outcome"]


async def list_jobs(host: Any) -> list[dict[str, Any]]:
    """The job rows of a booted host (empty when it has no XCore scheduler)."""
    from xcore._builtin_services.scheduler.service import SchedulerService

    try:
        service = host.get_service("scheduler")
    except KeyError:
        return []
    if not isinstance(service, SchedulerService):
        return []
    rows: list[dict[str, Any]] = await asyncio.to_thread(service.describe_jobs)
    return rows


@click.command("jobs")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--plugin", "-p", "plugin", default=None, help="Only the jobs of this plugin.")
@url_option
@admin_key_option
def jobs_command(
    config_path: str | None, as_json: bool, plugin: str | None, url: str | None, admin_key: str | None
) -> None:
    """List scheduled jobs: plugin, id, trigger, next run, last outcome.

    With --url, the running server's own jobs (its admin API), so the last runs are the ones it made.
    """
    from xcore.backends import run_host, table

    if url:
        rows = remote(lambda client: client.get("/jobs")[1]["jobs"], url, admin_key)
    else:
        rows = run_host(config_path, False, list_jobs, inspect_only=True)
    if plugin is not None:
        rows = [row for row in rows if row["plugin"] == plugin]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    elif rows:
        click.echo(table(rows, COLUMNS))
    else:
        click.echo("no scheduled jobs")
