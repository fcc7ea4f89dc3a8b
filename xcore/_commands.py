"""What a command of the ``xcore`` CLI needs: boot a host around some work, print a table, fail cleanly.

Kept apart from :mod:`xcore._cli` so that backends adding commands (``xcore_register_commands``) get these
from :mod:`xcore.backends` without depending on the application's command line.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from xcore._errors import ConfigError, XcoreError

if TYPE_CHECKING:
    from xcore._host.facade import Xcore

T = TypeVar("T")


config_option = click.option(
    "--config",
    "-c",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="XCORE_CONFIG",
    help="integration.yaml to use (default: $XCORE_CONFIG, ./integration.yaml, else embedded defaults).",
)
"""``--config``/``-c`` as every ``xcore`` command spells it, for commands that boot a host."""


def configure_logging(level: str) -> None:
    """Plain log lines on stderr at the config's ``app.log_level`` (uvicorn keeps its own format)."""
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code`` (2: bad config; 1: boot or check failed)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def run_host(
    config_path: str | None, strict: bool, work: Callable[[Xcore], Awaitable[T]], *, inspect_only: bool = False
) -> T:
    """Boot a host, run ``work`` on it, shut it down; config and boot errors exit cleanly.

    ``inspect_only`` boots a host that only looks (``xcore jobs``): services are told so through
    ``ServiceSetup.inspect_only`` and start no work of their own (the scheduler runs no job).
    """
    from xcore._host.facade import Xcore

    async def main() -> T:
        host = Xcore(config_path, inspect_only=inspect_only)
        configure_logging(os.environ.get("XCORE_LOG_LEVEL", "WARNING"))
        if strict:
            host.config.app.strict = True
        await host.boot()
        try:
            return await work(host)
        finally:
            await host.shutdown()

    try:
        return asyncio.run(main())
    except XcoreError as exc:
        fail(str(exc), 2 if isinstance(exc, ConfigError) else 1)


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain-text table; long cells are kept whole (errors must be readable)."""
    cells = [[str(row.get(col) if row.get(col) is not None else "-") for col in columns] for row in rows]
    widths = [max([len(col), *(len(r[i]) for r in cells)]) for i, col in enumerate(columns)]
    lines = ["  ".join(col.upper().ljust(w) for col, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)
