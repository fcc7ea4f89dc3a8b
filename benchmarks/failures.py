"""How a benchmark module reports that some of its cases failed while others produced results.

A ``run()`` that raises anything else loses all its results: the runner shows the module as failed.
Raising :class:`CasesFailed` instead keeps the measured results in the table and adds one failed row
per named case, so one broken case (a service backend not installed yet) does not hide the others.
"""

from __future__ import annotations

from benchmarks.common import Result


class CasesFailed(Exception):
    """``results`` were measured; ``errors`` maps each case that could not be to its error."""

    def __init__(self, results: list[Result], errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{case}: {error}" for case, error in errors.items()))
        self.results = results
        self.errors = errors
