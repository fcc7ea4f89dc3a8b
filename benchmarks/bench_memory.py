"""Memory: resident size of a ready host process with 0 and 200 installed plugins, against bare FastAPI.

Same probes as the boot benchmark (:mod:`benchmarks.host_probe`): a fresh process per measurement, RSS read
from ``/proc/self/status`` once the app is ready to serve. With 0 plugins the baseline is a bare FastAPI app;
with 200 it is a FastAPI app that imports the same 200 plugin modules and mounts their routers by hand, so
the difference is what the host itself keeps in memory (its imports, service backends' modules, pluggy
registrations, per-plugin records and contexts). Services are disabled, as in the boot benchmark.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from benchmarks.bench_boot import Prober, alternate
from benchmarks.common import Result
from benchmarks.plugin_site import write_plugin_site

AREA = "memory"


def run(quick: bool) -> list[Result]:
    rounds = 1 if quick else 3
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="xcore-bench-memory-") as tmp:
        root = Path(tmp)
        rss: dict[int, tuple[float, float]] = {}
        for size in (0, 200):
            prober = Prober(write_plugin_site(root / f"site-{size}", size), root / f"runs-{size}")
            hosts, bares = alternate(prober, rounds)
            rss[size] = (
                statistics.median(r["rss_kib"]["VmRSS"] for r in hosts) / 1024,
                statistics.median(r["rss_kib"]["VmRSS"] for r in bares) / 1024,
            )
            baseline = "bare FastAPI app" if size == 0 else "FastAPI app mounting the same modules by hand"
            results.append(
                Result(AREA, f"RSS when ready, {size} plugins", *rss[size], "MiB", note=f"baseline: {baseline}")
            )
        per_plugin = {"xcore": (rss[200][0] - rss[0][0]) * 1024 / 200, "bare": (rss[200][1] - rss[0][1]) * 1024 / 200}
        results.append(
            Result(
                AREA,
                "RSS per added plugin (0->200)",
                per_plugin["xcore"],
                per_plugin["bare"],
                "KiB",
                note="bare side includes the one-time import of xcore.sdk by the plugin modules",
            )
        )
    return results
