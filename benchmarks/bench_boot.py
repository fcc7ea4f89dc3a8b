"""Boot: process start to ready with 0, 50, 200 and 500 installed plugin distributions.

Each case starts a fresh Python process (:mod:`benchmarks.host_probe`) with a generated site folder on its
``PYTHONPATH`` holding N pip-style plugin distributions plus one disabled plugin whose module writes a marker
file if it is ever imported. The time runs from ``Popen`` to the probe's ``READY`` line: interpreter start,
imports, discovery, service build, every plugin's ``on_load`` and router mount, as ``xcore serve`` pays them.

Baseline, and why: a hand-written FastAPI app in the same kind of process that imports the *same N plugin
modules by name* and mounts their routers itself (no entry-point scan, no pluggy, no host). With N = 0 it is a
bare FastAPI app. Both sides therefore pay Python, FastAPI and the plugins' own imports (each plugin module
imports ``xcore.sdk``, as real plugins do); the ratio isolates what the host adds: discovery, config,
service types, hook registration, per-plugin contexts. The growth rows compare the cost of each added plugin.

The host boots with services disabled (``MINIMAL_SERVICES``) so that services do not drown the plugin cost;
one more case boots with the embedded defaults (SQLite, memory cache/scheduler/events, local storage).
Rounds alternate the two sides so that the machine's noise hits both; each figure is a median.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import Result
from benchmarks.failures import CasesFailed
from benchmarks.host_probe import run_probe
from benchmarks.plugin_site import DISABLED_PLUGIN, PluginSite, write_plugin_site
from xcore.testing.configs import no_services

AREA = "boot"

MINIMAL_SERVICES: dict[str, Any] = no_services()
"""Every service off (the default of the cases below); ``None`` stands for the embedded defaults."""


def host_config(site: PluginSite, services: dict[str, Any] | None = MINIMAL_SERVICES) -> dict[str, Any]:
    """The host's config; ``services=None`` means the embedded defaults.

    ``plugins.enabled`` lists the site's plugins, so plugins pip-installed in this environment (the
    examples) stay out of the measurement. The marker plugin is both enabled and disabled: ``disabled``
    wins, which is the path under test.
    """
    plugins = {"enabled": [*site.names, DISABLED_PLUGIN], "disabled": [DISABLED_PLUGIN]}
    config: dict[str, Any] = {"app": {"name": "bench"}, "plugins": plugins}
    if services is not None:
        config["services"] = services
    return config


class Prober:
    """Runs host/bare probes against one site, each in its own scratch working directory."""

    def __init__(self, site: PluginSite, scratch: Path) -> None:
        self.site = site
        self.scratch = scratch
        self.runs = 0

    def _cwd(self) -> Path:
        self.runs += 1
        cwd = self.scratch / f"run{self.runs}"
        cwd.mkdir(parents=True)
        return cwd

    def host(self, services: dict[str, Any] | None = MINIMAL_SERVICES) -> dict[str, Any]:
        cwd = self._cwd()
        spec = {"mode": "xcore", "config": host_config(self.site, services), "marker": str(cwd / "disabled-imported")}
        report = run_probe(spec, pythonpath=[self.site.path], cwd=cwd)
        expected = len(self.site.names)
        if report["loaded"] != expected:
            raise RuntimeError(f"host loaded {report['loaded']} of {expected} plugins: {report['failed']}")
        return report

    def bare(self) -> dict[str, Any]:
        spec = {"mode": "bare", "modules": self.site.modules, "names": self.site.names}
        return run_probe(spec, pythonpath=[self.site.path], cwd=self._cwd())


def alternate(
    prober: Prober, rounds: int, services: dict[str, Any] | None = MINIMAL_SERVICES
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``rounds`` host and bare probes, alternating which goes first."""
    hosts, bares = [], []
    for index in range(rounds):
        if index % 2:
            bares.append(prober.bare())
            hosts.append(prober.host(services))
        else:
            hosts.append(prober.host(services))
            bares.append(prober.bare())
    return hosts, bares


def median(reports: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(r[key]) for r in reports)


def slope(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of (size, ms) points: ms per added plugin."""
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)


def growth(ready: dict[int, tuple[float, float]]) -> Result:
    """Cost per added plugin, host and bare, fitted over the sizes with plugins (0 only if there is no other).

    Sizes from 50 up are used when there are at least two: the bare side's first plugin pays the one-time
    import of ``xcore.sdk``, which would otherwise pass for per-plugin cost. The note compares the host's
    slope over the smaller and the larger sizes: about equal means linear growth.
    """
    sizes = sorted(ready)
    fitted = [n for n in sizes if n > 0] if len([n for n in sizes if n > 0]) >= 2 else sizes
    host = slope([(n, ready[n][0]) for n in fitted])
    bare = slope([(n, ready[n][1]) for n in fitted])
    note = f"least squares over {', '.join(map(str, fitted))} plugins"
    if len(sizes) >= 4:
        low, high = slope([(n, ready[n][0]) for n in sizes[:3]]), slope([(n, ready[n][0]) for n in sizes[-2:]])
        note += f"; host slope {low:.2f} ms/plugin up to {sizes[2]}, {high:.2f} from {sizes[-2]} to {sizes[-1]}"
    return Result(AREA, f"cost per added plugin ({fitted[0]}..{fitted[-1]})", host, bare, "ms/plugin", note=note)


def run(quick: bool) -> list[Result]:
    sizes = (0, 50) if quick else (0, 50, 200, 500)
    rounds = 1 if quick else 4
    results: list[Result] = []
    errors: dict[str, str] = {}
    ready: dict[int, tuple[float, float]] = {}
    scans: list[int] = []
    markers: list[bool] = []
    with tempfile.TemporaryDirectory(prefix="xcore-bench-boot-") as tmp:
        root = Path(tmp)
        for size in sizes:
            prober = Prober(write_plugin_site(root / f"site-{size}", size), root / f"runs-{size}")
            hosts, bares = alternate(prober, rounds)
            ready[size] = (median(hosts, "ready_ms"), median(bares, "ready_ms"))
            scans += [r["entry_points_calls"] for r in hosts]
            markers += [bool(r["marker_written"]) for r in hosts]
            phases = ", ".join(
                f"{k.removesuffix('_ms')} {median(hosts, k):.0f}"
                for k in ("import_ms", "prepare_ms", "startup_ms", "shutdown_ms")
            )
            results.append(
                Result(
                    AREA,
                    f"process start to ready, {size} plugins",
                    *ready[size],
                    "ms",
                    note=f"host phases (ms): {phases}; bare = FastAPI app importing the same modules",
                )
            )
        results.append(growth(ready))
        results.append(
            Result(
                AREA,
                "entry_points() scans per boot (max over runs)",
                float(max(scans)),
                1.0,
                "scans",
                target=1.0,
                note="importlib_metadata.entry_points wrapped in the probe; baseline: one scan is the minimum",
            )
        )
        results.append(
            Result(
                AREA,
                "disabled plugin's module imported (runs)",
                float(sum(markers)),
                float(len(markers)),
                "runs",
                target=0.0,
                note="baseline: a loader calling ep.load() on every entry point imports it every run",
            )
        )
        prober = Prober(write_plugin_site(root / "site-embedded", 0), root / "runs-embedded")
        try:
            embedded, bare = alternate(prober, 1 if quick else 3, services=None)
        except Exception as exc:
            errors["embedded defaults boot"] = f"{type(exc).__name__}: {exc}"
        else:
            results.append(
                Result(
                    AREA,
                    "process start to ready, embedded default services",
                    median(embedded, "ready_ms"),
                    median(bare, "ready_ms"),
                    "ms",
                    note="services: " + ", ".join(embedded[0]["services"]) + "; baseline: bare FastAPI app",
                )
            )
    if errors:
        raise CasesFailed(results, errors)
    return results
