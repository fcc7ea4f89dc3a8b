"""Shared shape of benchmark results: every case measures XCore and its raw baseline in one run.

A benchmark module ``benchmarks/bench_<area>.py`` exposes ``run(quick: bool) -> list[Result]``
(a coroutine function is fine). ``python -m benchmarks`` runs them all and prints one table.
Timings are medians over repeated rounds; on this noisy machine the ratio is what counts.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Result:
    """One case: ``xcore`` and ``baseline`` in ``unit``; ``ratio`` is xcore / baseline."""

    area: str
    case: str
    xcore: float
    baseline: float
    unit: str
    target: float | None = None
    higher_is_better: bool = False
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.xcore / self.baseline if self.baseline else float("inf")

    @property
    def meets_target(self) -> bool | None:
        if self.target is None:
            return None
        return self.ratio >= self.target if self.higher_is_better else self.ratio <= self.target

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "meets_target": self.meets_target}


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (0-100) of ``values`` by nearest rank."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


Clock = Callable[[], int]
"""A clock in integer nanoseconds: ``time.perf_counter_ns`` (wall) or ``time.process_time_ns`` (CPU)."""


class Pairs:
    """Per-op times of the two paths, round by round, and the medians the paired helpers report.

    ``slots(rounds)`` says which path to time next (0 is xcore, 1 the baseline): both in every
    round, taking turns at going first; ``record`` takes each timing.
    """

    def __init__(self) -> None:
        self.xcore: list[float] = []
        self.baseline: list[float] = []
        self.diffs: list[float] = []
        self._pair = [0.0, 0.0]

    def slots(self, rounds: int) -> Iterator[int]:
        for index in range(rounds):
            yield from (0, 1) if index % 2 == 0 else (1, 0)
            x, b = self._pair
            self.xcore.append(x)
            self.baseline.append(b)
            self.diffs.append(x - b)

    def record(self, slot: int, per_op: float) -> None:
        self._pair[slot] = per_op

    def medians(self) -> tuple[float, float, float]:
        return statistics.median(self.xcore), statistics.median(self.baseline), statistics.median(self.diffs)


async def paired_async(
    xcore: Callable[[], Awaitable[object]],
    baseline: Callable[[], Awaitable[object]],
    ops: int,
    rounds: int = 101,
    clock: Clock = time.perf_counter_ns,
) -> tuple[float, float, float]:
    """Per-op medians (ns) of two paths, and the median of their per-round difference.

    Made for small overheads on a noisy machine: many short rounds, each timing both paths back to
    back (first one, then the other, alternating), so a preemption spoils one pair, not the medians.
    """
    pairs, paths = Pairs(), (xcore, baseline)
    for slot in pairs.slots(rounds):
        fn, began = paths[slot], clock()
        for _ in range(ops):
            await fn()
        pairs.record(slot, (clock() - began) / ops)
    return pairs.medians()


def paired_sync(
    xcore: Callable[[], object],
    baseline: Callable[[], object],
    ops: int,
    rounds: int = 101,
    clock: Clock = time.perf_counter_ns,
) -> tuple[float, float, float]:
    """:func:`paired_async` for two plain (not awaited) calls."""
    pairs, paths = Pairs(), (xcore, baseline)
    for slot in pairs.slots(rounds):
        fn, began = paths[slot], clock()
        for _ in range(ops):
            fn()
        pairs.record(slot, (clock() - began) / ops)
    return pairs.medians()
