"""``xcore worker`` (run tasks) and ``xcore tasks`` (list them, retry a dead one)."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import click

from xcore._builtin_services.tasks.model import LISTED_AS
from xcore.backends import config_option

COLUMNS = ["id", "plugin", "task", "status", "attempts", "progress", "error"]


def tasks_service(host: Any) -> Any:
    from xcore._builtin_services.tasks.service import TasksService

    try:
        service = host.get_service("tasks")
    except KeyError:
        service = None
    if not isinstance(service, TasksService):
        raise click.ClickException("no XCore tasks service is configured (services.tasks)")
    return service


@click.command("worker")
@config_option
@click.option(
    "--concurrency",
    "-n",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Tasks run at once (default: services.tasks.concurrency).",
)
@click.option(
    "--drain-timeout",
    type=click.FloatRange(0),
    default=30.0,
    show_default=True,
    help="On SIGTERM, seconds the running tasks get to finish before they are handed back.",
)
def worker_command(config_path: str | None, concurrency: int | None, drain_timeout: float) -> None:
    """Run tasks: boot the plugins without the web app and consume services.tasks (backend: redis)."""
    from xcore.backends import run_host

    async def work(host: Any) -> None:
        service = tasks_service(host)
        if service.backend != "redis":  # the redis backend's module needs the tasks extra: not imported here
            raise click.ClickException(
                f"services.tasks.backend is {service.backend!r}: its tasks run in the process that enqueues "
                "them, so there is nothing for a worker to consume (use backend: redis)"
            )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        n = concurrency or service.settings.concurrency
        click.echo(f"xcore worker: consuming {service.queue} with concurrency {n}", err=True)
        await service.run_worker(n, stop, drain_timeout)
        click.echo("xcore worker: stopped", err=True)

    run_host(config_path, False, work)


@click.group("tasks", invoke_without_command=True)
@config_option
@click.option(
    "--status",
    "-s",
    type=click.Choice([*LISTED_AS, "all"]),
    default=None,
    help="Only tasks in this state (default: queued, running and failed).",
)
@click.option("--plugin", "-p", default=None, help="Only the tasks of this plugin.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def tasks_group(
    ctx: click.Context, config_path: str | None, status: str | None, plugin: str | None, limit: int, as_json: bool
) -> None:
    """List tasks (queued, running, failed); ``xcore tasks retry ID`` runs a failed one again."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = config_path
        return
    from xcore.backends import run_host, table

    statuses = [None] if status == "all" else [status] if status else ["queued", "running", "failed"]

    async def work(host: Any) -> list[dict[str, Any]]:
        service = tasks_service(host)
        rows: list[dict[str, Any]] = []
        for wanted in statuses:
            rows += await service.list_tasks(wanted, plugin, limit)
        return rows

    rows = run_host(config_path, False, work)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    elif rows:
        click.echo(table(rows, COLUMNS))
    else:
        click.echo("no tasks")


@tasks_group.command("retry")
@click.argument("task_id")
@config_option
@click.pass_context
def retry_command(ctx: click.Context, task_id: str, config_path: str | None) -> None:
    """Run a failed (dead) task again, with its retries renewed."""
    from xcore._builtin_services.tasks.model import TaskError
    from xcore.backends import run_host

    async def work(host: Any) -> str:
        try:
            handle = await tasks_service(host).retry(task_id)
        except (TaskError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        return str(handle.id)

    click.echo(f"task {run_host(config_path or ctx.obj, False, work)} queued again")
