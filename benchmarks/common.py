"""Shared shape of benchmark results: every case measures XCore and its raw baseline in one run.

A benchmark module ``benchmarks/bench_<area>.py`` exposes ``run(quick: bool) -> list[Result]``
(a coroutine function is fine). ``python -m benchmarks`` runs them all and prints one table.
Timings are medians over repeated rounds; on this noisy machine the ratio is what counts.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
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


def per_op_ns(fn: Callable[[], object], ops: int, rounds: int = 7) -> float:
    """Median over ``rounds`` of the time per call of ``fn`` (called ``ops`` times), in ns."""
    samples = []
    for _ in range(rounds):
        began = time.perf_counter_ns()
        for _ in range(ops):
            fn()
        samples.append((time.perf_counter_ns() - began) / ops)
    return statistics.median(samples)


async def per_op_ns_async(fn: Callable[[], Awaitable[object]], ops: int, rounds: int = 7) -> float:
    """Median over ``rounds`` of the time per awaited call of ``fn``, in ns."""
    samples = []
    for _ in range(rounds):
        began = time.perf_counter_ns()
        for _ in range(ops):
            await fn()
        samples.append((time.perf_counter_ns() - began) / ops)
    return statistics.median(samples)


async def interleaved_async(
    xcore: Callable[[], Awaitable[object]],
    baseline: Callable[[], Awaitable[object]],
    ops: int,
    rounds: int = 9,
) -> tuple[float, float]:
    """Per-op medians (ns) of two paths measured in alternating rounds, so noise hits both alike."""
    xs, bs = [], []
    for _ in range(rounds):
        for fn, out in ((xcore, xs), (baseline, bs)):
            began = time.perf_counter_ns()
            for _ in range(ops):
                await fn()
            out.append((time.perf_counter_ns() - began) / ops)
    return statistics.median(xs), statistics.median(bs)


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (0-100) of ``values`` by nearest rank."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


async def paired_async(
    xcore: Callable[[], Awaitable[object]],
    baseline: Callable[[], Awaitable[object]],
    ops: int,
    rounds: int = 101,
) -> tuple[float, float, float]:
    """Per-op medians (ns) of two paths, and the median of their per-round difference.

    Made for small overheads on a noisy machine: many short rounds, each timing both paths back to
    back (first one, then the other, alternating), so a preemption spoils one pair, not the medians.
    """
    xs: list[float] = []
    bs: list[float] = []
    diffs: list[float] = []
    for index in range(rounds):
        pair = [0.0, 0.0]
        for slot in (0, 1) if index % 2 == 0 else (1, 0):
            fn = xcore if slot == 0 else baseline
            began = time.perf_counter_ns()
            for _ in range(ops):
                await fn()
            pair[slot] = (time.perf_counter_ns() - began) / ops
        xs.append(pair[0])
        bs.append(pair[1])
        diffs.append(pair[0] - pair[1])
    return statistics.median(xs), statistics.median(bs), statistics.median(diffs)
