"""How a benchmark module reports that some of its cases failed while others produced results.

A ``run()`` that raises anything else loses all its results: the runner shows the module as failed.
Raising :class:`CasesFailed` instead keeps the measured results in the table and adds one failed row
per named case, so one broken case (a service backend not installed yet) does not hide the others.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from benchmarks.common import Result


class ModuleSkipped(Exception):
    """A module that cannot run here and says why (an optional peer not installed): not a failure."""


class CasesFailed(Exception):
    """``results`` were measured; ``errors`` maps each case that could not be to its error."""

    def __init__(self, results: list[Result], errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{case}: {error}" for case, error in errors.items()))
        self.results = results
        self.errors = errors

    @classmethod
    def check(cls, results: list[Result], errors: dict[str, str]) -> list[Result]:
        """``results`` when ``errors`` is empty; else raise, keeping ``results`` in the table."""
        if errors:
            raise cls(results, errors)
        return results


class Server(Protocol):
    """What the launchers of ``xcore.testing.servers`` have in common: ``cleanup()`` stops and removes."""

    def cleanup(self) -> None: ...


S = TypeVar("S", bound=Server)


async def on_server(
    start: Callable[[], S], cases: Callable[[S], Awaitable[list[Result]]], label: str, errors: dict[str, str]
) -> list[Result]:
    """The results of ``cases`` run against the server ``start()`` returns, cleaned up afterwards.

    A server that does not start, or cases that raise, add ``errors[label]`` and give no results, so
    the module still reports every other case (raise :class:`CasesFailed` with ``errors`` at the end,
    see :meth:`CasesFailed.check`).
    """
    try:
        server = start()
    except Exception as exc:
        errors[label] = f"{type(exc).__name__}: {exc}"
        return []
    try:
        return await cases(server)
    except Exception as exc:
        errors[label] = f"{type(exc).__name__}: {exc}"
        return []
    finally:
        server.cleanup()
