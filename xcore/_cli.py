"""The ``xcore`` command line: serve, inspect plugins and services, check config and health.

Every command takes ``--config`` (default ``$XCORE_CONFIG`` or ``./integration.yaml``, else the
embedded defaults). Errors in the config are one paragraph on stderr with exit code 2; a failed
boot or an unhealthy check exits 1. Plugins add commands through ``xcore_register_commands``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click
import yaml

from xcore import __version__
from xcore._admin.client import CHANGE_COMMANDS, admin_key_option, print_results, remote, url_option
from xcore._cli_output import configure_cli_logging, fitted_table, one_line
from xcore._commands import config_option, fail, run_host
from xcore._config.loader import load_config
from xcore._discovery import PLUGINS_GROUP, SERVICES_GROUP, scan_entry_points
from xcore._errors import XcoreError
from xcore._hookcalls import option_problems
from xcore._host.facade import Xcore
from xcore._host.registry import is_enabled, new_plugin_manager
from xcore._migrations.commands import db
from xcore._redaction import redact, secret_values
from xcore._scaffold.commands import new
from xcore._services.container import config_sections

strict_option = click.option("--strict", is_flag=True, help="Any plugin failure fails the boot (exit 1).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="xcore")
@click.option("--verbose", "-v", is_flag=True, help="Show tracebacks (a broken plugin is otherwise one line).")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """XCore: a FastAPI host whose features arrive as plugins."""
    if ctx.invoked_subcommand != "serve":  # the server keeps its full log, tracebacks included
        configure_cli_logging(verbose, os.environ.get("XCORE_LOG_LEVEL", "WARNING"))


@cli.command()
@config_option
@strict_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--reload", is_flag=True, help="Restart on code changes (development).")
@click.option("--workers", default=1, show_default=True, type=int)
@click.option(
    "--loop",
    type=click.Choice(["auto", "uvloop", "asyncio"]),
    default="auto",
    show_default=True,
    help="Event loop, as uvicorn's --loop: auto is uvloop (installed with XCore), else asyncio.",
)
@click.option(
    "--http",
    type=click.Choice(["auto", "httptools", "h11"]),
    default="auto",
    show_default=True,
    help="HTTP/1.1 parser, as uvicorn's --http: auto is httptools (installed with XCore), else h11.",
)
def serve(
    config_path: str | None, strict: bool, host: str, port: int, reload: bool, workers: int, loop: str, http: str
) -> None:
    """Serve the application with uvicorn (uvloop and httptools unless --loop / --http say otherwise).

    Exit codes: 0 when stopped (Ctrl-C, SIGTERM); 2 when the config is invalid (nothing started);
    1 when the boot failed: a required service did not start, or with --strict a plugin failed;
    3 when a plugin's on_load blocked the event loop past app.load_timeout (the watchdog ended the
    process: a blocked loop cannot be interrupted from inside). Each failure is one paragraph on
    stderr naming the cause; plugin tracebacks are in the log above it.
    """
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    try:
        # Fail here, in one paragraph, rather than as a traceback in every worker: the file and every
        # service section as its type validates it (nothing is connected).
        checked = Xcore(config_path)
        checked.config.app.strict = checked.config.app.strict or strict
        checked.prepare()
    except XcoreError as exc:
        fail(str(exc))
    if config_path:
        os.environ["XCORE_CONFIG"] = os.path.abspath(config_path)
    if strict:
        os.environ["XCORE_STRICT"] = "1"
    if checked.config.app.metrics and (workers > 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR")) and not reload:
        from xcore._observability.multiprocess import prepare

        prepare()  # before the workers start: they share their counts through this directory
    try:
        uvicorn.run(
            "xcore.web:app_from_env",
            factory=True,
            host=host,
            port=port,
            reload=reload,
            workers=workers if not reload else None,
            loop=loop,
            http=http,
        )
    except SystemExit as exc:  # uvicorn's "startup failed" (3) is this command's "boot failed" (1)
        sys.exit(1 if exc.code == STARTUP_FAILURE else exc.code)


@cli.group("plugins", invoke_without_command=True)
@config_option
@strict_option
@json_option
@click.option("--check", is_flag=True, help="Exit 1 when any plugin or backend failed (the list is printed).")
@url_option
@admin_key_option
@click.pass_context
def plugins_command(
    ctx: click.Context,
    config_path: str | None,
    strict: bool,
    as_json: bool,
    check: bool,
    url: str | None,
    admin_key: str | None,
) -> None:
    """List plugins and service backends: version, distribution, state, error (hooks with --json).

    With --url, the running server's plugins (its admin API); `xcore plugins disable|enable|reload NAME
    --url URL` changes them in every worker.

    Exit codes: 0, or 1 with --check when any failed; 1 with --strict (the boot fails); 2 for a bad config;
    3 when a plugin's on_load blocks the event loop past app.load_timeout (the message names it).
    """
    if ctx.invoked_subcommand is not None:
        return

    async def work(host: Xcore) -> list[dict[str, Any]]:
        return [r.report() for r in host.plugins]

    if url:
        rows = remote(lambda client: client.get("/plugins")[1]["plugins"], url, admin_key)
    else:
        rows = run_host(config_path, strict, work)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        for row in rows:
            if "sandbox" in row:  # sandboxed plugins: what the operator granted against what the plugin wants
                box = row["sandbox"]
                wanted = "(not declared)" if box["wanted"] is None else " ".join(box["wanted"]) or "(nothing)"
                row["sandbox"] = f"granted: {' '.join(box['granted']) or '(nothing)'}; wanted: {wanted}"
        click.echo(fitted_table(rows, ["name", "kind", "version", "distribution", "state"], note=("error", "sandbox")))
    if check and any(row["state"] == "failed" for row in rows):
        sys.exit(1)


for _change in CHANGE_COMMANDS:
    plugins_command.add_command(_change)


@cli.command("services")
@config_option
@json_option
@url_option
@admin_key_option
def services_command(config_path: str | None, as_json: bool, url: str | None, admin_key: str | None) -> None:
    """List services: name, kind, type, the package providing it, and its health (--url: the running server's)."""
    from xcore._admin.views import service_rows

    if url:
        rows = remote(lambda client: client.get("/services")[1]["services"], url, admin_key)
    else:
        rows = run_host(config_path, False, service_rows)
    click.echo(
        json.dumps(rows, indent=2)
        if as_json
        else fitted_table(rows, ["name", "kind", "type", "provided_by", "health", "latency_ms"], note="error")
    )


@cli.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
@config_option
def config_check(config_path: str | None) -> None:
    """Validate the config (service settings included) and print it resolved, secrets redacted."""
    try:
        host = Xcore(config_path)
        host.prepare()
    except XcoreError as exc:
        fail(str(exc))
    resolved = host.config.model_dump(mode="json", exclude_none=True)
    resolved["app"]["api_key"] = host.config.app.api_key.get_secret_value() if host.config.app.api_key else None
    resolved["services"] = config_sections(host.registry.checked_services)
    warnings = host.registry.config_warnings
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(
        f"# {host.loaded.path or 'embedded defaults (no integration.yaml)'}: valid"
        + (f", {len(warnings)} warning(s) on stderr" if warnings else "")
    )
    for checked in host.registry.checked_services:  # defaults taken from other sections, e.g. the scheduler's Redis
        for note in getattr(checked.settings, "notes", ()):
            click.echo(f"# {note}")
    # The secrets come from the file as written: in the validated tree, secret fields are already
    # masked, so their values could not be recognised where the file repeats them under other keys.
    secrets = sorted(secret_values(host.loaded.raw) | secret_values(resolved), key=len, reverse=True)
    click.echo(yaml.safe_dump(redact(resolved, secrets=secrets), sort_keys=False).rstrip())


@config_group.command("reload")
@url_option
@admin_key_option
@json_option
def config_reload(url: str | None, admin_key: str | None, as_json: bool) -> None:
    """Make the running server at --url re-read its configuration file in every worker (as SIGHUP does)."""
    if not url:
        raise click.UsageError("`xcore config reload` acts on a running server: give --url (or $XCORE_URL)")
    print_results(remote(lambda client: client.post("/reload-config")[1], url, admin_key), as_json)


@cli.command("health")
@config_option
@json_option
@url_option
@admin_key_option
def health_command(config_path: str | None, as_json: bool, url: str | None, admin_key: str | None) -> None:
    """Boot the services and plugins, run every health check; exit 0 when all are ok, else 1 (--url: the server's)."""

    if url:
        report = remote(lambda client: client.get("/health")[1], url, admin_key)
        report.pop("worker", None)
    else:
        report = run_host(config_path, False, lambda host: host.health())
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        rows = [{"name": n, **r} for n, r in report["services"].items()]
        rows += [{"name": f"plugin {n}", **r} for n, r in report["plugins"].items()]
        click.echo(fitted_table(rows, ["name", "status", "latency_ms"], note="error"))
    sys.exit(0 if report["status"] == "ok" else 1)


cli.add_command(new)
cli.add_command(db)


def _add_plugin_commands(group: click.Group, verbose: bool = False) -> None:
    """Let installed, enabled plugins add commands. Config errors are reported by the commands,
    and broken plugins by the commands that boot a host (``xcore plugins`` lists them)."""
    try:
        config = load_config(os.environ.get("XCORE_CONFIG")).config
    except XcoreError:
        return
    pm = new_plugin_manager()
    found = scan_entry_points((SERVICES_GROUP, PLUGINS_GROUP))
    for group_name, sources in found.items():
        for name, source in sources.items():
            if not is_enabled(config.plugins, source):
                continue
            try:
                obj = source.load()
                pm.register(obj() if isinstance(obj, type) else obj, name=f"{group_name}:{name}")
            except Exception as exc:  # a broken plugin must not break the CLI; commands report it once
                if verbose:
                    click.echo(f"warning: plugin {name!r} not loaded for CLI commands: {one_line(str(exc))}", err=True)
    for impl in pm.hook.xcore_register_commands.get_hookimpls():
        for problem in option_problems({"xcore_register_commands": impl}):
            click.echo(f"warning: plugin {impl.plugin_name!r} not loaded for CLI commands: {problem}", err=True)
            pm.unregister(impl.plugin)
    pm.hook.xcore_register_commands(cli=group)


def main() -> None:
    arguments = sys.argv[1:]
    _add_plugin_commands(cli, verbose="-v" in arguments or "--verbose" in arguments)
    cli()


if __name__ == "__main__":
    main()
