"""What the command line prints: one line per problem, tables that fit a terminal.

Every command that boots a host imports every installed plugin, so a broken plugin used to print
its full traceback on every command (``config check``, ``plugins``, ``jobs``...). Here a log record
is one line: its message, the exception's ``Type: message`` when the message lacks it, newlines
folded. ``xcore -v`` keeps the tracebacks; the server (``xcore serve``) always logs them.
"""

from __future__ import annotations

import logging
import textwrap
from typing import Any

WIDTH = 100
"""Columns a table and a wrapped error may use."""

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def one_line(text: str) -> str:
    """``text`` with its line breaks folded into `` | `` (an error may span lines)."""
    return " | ".join(part.strip() for part in text.strip().splitlines() if part.strip())


def _exception_summary(exc_text: str) -> str:
    """The final ``Type: message`` lines of a formatted traceback (already redacted)."""
    lines = exc_text.rstrip().splitlines()
    tail: list[str] = []
    for line in reversed(lines):
        if line.startswith((" ", "\t")) or line.startswith("Traceback"):
            break
        tail.append(line)
    return one_line("\n".join(reversed(tail)))


class OneLineFormatter(logging.Formatter):
    """Records without their traceback (unless ``verbose``), on one line each."""

    def __init__(self, verbose: bool) -> None:
        super().__init__(LOG_FORMAT)
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        if self.verbose or not record.exc_info:
            return super().format(record)
        exc_text = record.exc_text or self.formatException(record.exc_info)
        message = one_line(record.getMessage())
        summary = _exception_summary(exc_text)
        if summary and summary not in message:
            message = f"{message}: {summary}"
        return one_line(f"{record.levelname} {record.name}: {message}")


def configure_cli_logging(verbose: bool, level: str = "WARNING") -> None:
    """Log to stderr in one line per record (tracebacks only when ``verbose``).

    Like ``logging.basicConfig``, it does nothing when logging is configured already (an embedding
    application, pytest's capture).
    """
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter(verbose))
    root.addHandler(handler)
    root.setLevel(level.upper())


def fitted_table(
    rows: list[dict[str, Any]], columns: list[str], note: str | tuple[str, ...] | None = None, width: int = WIDTH
) -> str:
    """A plain-text table at most ``width`` columns wide.

    Too wide, the widest columns are cut (ending in ``...``). ``note`` names a field printed under
    its row, indented and wrapped instead of in a column: a long or multi-line error stays whole
    (a tuple names several, printed in that order).
    """
    notes = (note,) if isinstance(note, str) else note or ()
    cells = [[one_line(str(row.get(col) if row.get(col) is not None else "-")) for col in columns] for row in rows]
    widths = [max([len(col), *(len(r[i]) for r in cells)]) for i, col in enumerate(columns)]
    while sum(widths) + 2 * (len(widths) - 1) > width and max(widths) > 8:
        widest = widths.index(max(widths))
        widths[widest] -= 1

    def fit(text: str, size: int) -> str:
        return text if len(text) <= size else text[: size - 3] + "..."

    lines = ["  ".join(col.upper().ljust(w) for col, w in zip(columns, widths, strict=True)).rstrip()]
    for row, cell in zip(rows, cells, strict=True):
        lines.append("  ".join(fit(c, w).ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip())
        for name in notes:
            extra = row.get(name)
            if not extra:
                continue
            text = f"{name}: {one_line(str(extra))}"
            lines += textwrap.wrap(
                text,
                width,
                initial_indent="  ",
                subsequent_indent="    ",
                break_long_words=True,
                break_on_hyphens=False,
            )
    return "\n".join(lines)
