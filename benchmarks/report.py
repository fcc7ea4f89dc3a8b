"""The runner's output: the machine description, the results table and the JSON document.

Numbers without the machine they were measured on mean little, and this kind of machine is shared and
noisy: the table therefore always starts with CPU, cores, load, Python and OS, and the ratio column
(XCore over the baseline measured in the same run) is the figure to compare between machines.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Failure:
    """A case (or a whole module, ``case`` = ``"(module)"``) that produced no result."""

    module: str
    area: str
    case: str
    error: str


@dataclass
class Report:
    machine: dict[str, Any]
    quick: bool
    results: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    modules: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    """Module name -> why it did not run (an optional peer not installed)."""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit(repo: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def machine(repo: Path) -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in load] if load else None,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(),
        "commit": git_commit(repo),
    }


def number(value: Any) -> str:
    if not isinstance(value, int | float) or not math.isfinite(value):
        return "-"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if value == 0:
        return "0"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def target_text(row: dict[str, Any]) -> str:
    if row.get("target") is None:
        return "-"
    return (">= " if row.get("higher_is_better") else "<= ") + f"{row['target']:g}"


def ok_text(row: dict[str, Any]) -> str:
    met = row.get("meets_target")
    return "-" if met is None else "yes" if met else "NO"


COLUMNS = ["area", "case", "xcore", "baseline", "unit", "ratio", "target", "ok?"]
RIGHT_ALIGNED = {"xcore", "baseline", "ratio"}


def table_rows(report: Report) -> list[list[str]]:
    """One row per result and per failure, grouped by module in the order the modules ran."""
    order = [m["module"] for m in report.modules]
    order += sorted(({r["module"] for r in report.results} | {f.module for f in report.failures}) - set(order))
    rows = []
    for module in order:
        for row in (r for r in report.results if r["module"] == module):
            ratio = row.get("ratio")
            rows.append(
                [
                    row["area"],
                    row["case"],
                    number(row["xcore"]),
                    number(row["baseline"]),
                    row["unit"],
                    f"{ratio:.3f}" if isinstance(ratio, float) and math.isfinite(ratio) else "-",
                    target_text(row),
                    ok_text(row),
                ]
            )
        rows += [[f.area, f.case, "FAILED", "", "", "", "", "NO"] for f in report.failures if f.module == module]
    return rows


def render(report: Report) -> str:
    """The machine, the table, then notes and failure details (full text: errors must be readable)."""
    m = report.machine
    lines = [
        f"machine: {m['cpu']}, {m['cores']} cores, load {m['load_average_at_start']}; {m['python']}; {m['os']}"
        + (f"; commit {m['commit']}" if m.get("commit") else ""),
        "mode: " + ("quick (fewer rounds, shorter loads: indicative only)" if report.quick else "full"),
        "",
    ]
    rows = table_rows(report)
    widths = [max([len(col), *(len(r[i]) for r in rows)]) for i, col in enumerate(COLUMNS)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if col in RIGHT_ALIGNED else c.ljust(w) for c, w, col in zip(cells, widths, COLUMNS, strict=True)
        ).rstrip()

    lines.append(line(COLUMNS))
    lines.append("  ".join("-" * w for w in widths))
    lines += [line(r) for r in rows]
    notes = [f"  {r['area']} / {r['case']}: {r['note']}" for r in report.results if r.get("note")]
    if notes:
        lines += ["", "notes:", *notes]
    if report.skipped:
        lines += ["", "skipped:"]
        lines += [f"  {module}: {why}" for module, why in report.skipped.items()]
    if report.failures:
        lines += ["", "failures:"]
        lines += [f"  {f.module} / {f.case}: {f.error}" for f in report.failures]
    return "\n".join(lines)


def finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None``: strict JSON has no Infinity or NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def as_json(report: Report, seconds: float) -> dict[str, Any]:
    document: dict[str, Any] = finite(
        {
            "machine": report.machine,
            "quick": report.quick,
            "seconds": round(seconds, 1),
            "modules": report.modules,
            "results": report.results,
            "failures": [vars(f) for f in report.failures],
            "skipped": report.skipped,
        }
    )
    return document
