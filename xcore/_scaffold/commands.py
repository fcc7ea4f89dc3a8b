"""``xcore new plugin NAME`` and ``xcore new service NAME``: start a pip-installable package."""

from __future__ import annotations

from pathlib import Path

import click

from xcore._scaffold.generator import Kind, ScaffoldError, create

_NEXT_STEPS: dict[Kind, str] = {
    "plugin": "its routes are served under /plugins/{name} once installed (xcore serve, then /docs)",
    "service": "declare it in integration.yaml: services.extensions.<key>: {{type: {name}}}",
}

directory_option = click.option(
    "--directory",
    "-d",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to create the package (default: ./NAME). Must not exist, or be empty.",
)


@click.group("new")
def new() -> None:
    """Create a new plugin or service-backend package, with a passing test."""


def _create(kind: Kind, name: str, directory: Path | None) -> None:
    try:
        target = create(kind, name, directory)
    except ScaffoldError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"created {kind} package {name!r} in {target}")
    click.echo(f"  cd {target}")
    click.echo('  pip install -e ".[test]"')
    click.echo("  pytest")
    click.echo(f"  then: {_NEXT_STEPS[kind].format(name=name)}")


@new.command("plugin")
@click.argument("name")
@directory_option
def new_plugin(name: str, directory: Path | None) -> None:
    """An application plugin NAME: a route, an action, settings, tests using XCore's testing kit."""
    _create("plugin", name, directory)


@new.command("service")
@click.argument("name")
@directory_option
def new_service(name: str, directory: Path | None) -> None:
    """A service backend providing the extension type NAME: settings model, service, registration, tests."""
    _create("service", name, directory)
