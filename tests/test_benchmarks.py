"""The benchmark runner: one command, one table, valid JSON, and failures that do not hide the rest.

No timing is asserted here (speed is the benchmarks' job, on a noisy machine); these tests check that the
runner's quick mode really runs the cases that need no server, and how it reports broken modules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def run_benchmarks(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def strict_json(path: Path) -> Any:
    """Parse as strict JSON: ``NaN`` or ``Infinity`` (which Python writes by default) are rejected."""

    def reject(constant: str) -> None:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(path.read_text(), parse_constant=reject)


def test_quick_mode_runs_the_cases_without_servers_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = run_benchmarks("--quick", "--only", "actions,boot,memory", "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    data = strict_json(out)
    assert data["quick"] is True
    assert {"cpu", "cores", "python", "os"} <= set(data["machine"])
    assert data["failures"] == []
    assert [m["module"] for m in data["modules"]] == ["bench_actions", "bench_boot", "bench_memory"]
    cases = {(r["area"], r["case"]): r for r in data["results"]}
    assert ("actions", "xcore.call overhead, TrustedBase @action") in cases
    assert ("boot", "process start to ready, 50 plugins") in cases
    assert ("memory", "RSS when ready, 200 plugins") in cases
    for row in data["results"]:
        assert {"xcore", "baseline", "unit", "ratio", "target", "meets_target", "module"} <= set(row)
    # Behaviour, not speed: one entry-point scan per boot, and the disabled plugin never imported.
    assert cases[("boot", "entry_points() scans per boot (max over runs)")]["xcore"] == 1
    assert cases[("boot", "disabled plugin's module imported (runs)")]["xcore"] == 0
    table = done.stdout
    assert "machine:" in table and "ratio" in table and "process start to ready, 0 plugins" in table


def write_modules(folder: Path) -> None:
    common = "from benchmarks.common import Result\n\n"
    files = {
        "bench_good.py": """
            def run(quick):
                return [Result("good", "sync case", 2.0, 1.0, "ns", target=3.0),
                        Result("good", "zero baseline", 1.0, 0.0, "ns")]
        """,
        "bench_async.py": """
            async def run(quick):
                return [Result("async", "awaited case", 1.0, 2.0, "req/s", target=0.97, higher_is_better=True)]
        """,
        "bench_broken.py": """
            def run(quick):
                raise RuntimeError("database on fire")
        """,
        "bench_partial.py": """
            from benchmarks.failures import CasesFailed

            def run(quick):
                raise CasesFailed([Result("partial", "kept case", 1.0, 1.0, "ms")], {"lost case": "no server"})
        """,
        "bench_hangs.py": """
            import time

            def run(quick):
                time.sleep(60)
        """,
        "bench_nonsense.py": """
            def run(quick):
                return "fast"
        """,
    }
    for name, source in files.items():
        (folder / name).write_text(common + textwrap.dedent(source))


def test_failing_modules_are_reported_and_the_others_still_run(tmp_path: Path) -> None:
    folder = tmp_path / "benches"
    folder.mkdir()
    write_modules(folder)
    out = tmp_path / "out.json"
    done = run_benchmarks("--quick", "--dir", str(folder), "--json", str(out), "--timeout", "5")
    assert done.returncode == 1, done.stdout + done.stderr
    data = strict_json(out)
    rows = {(r["area"], r["case"]): r for r in data["results"]}
    assert rows[("good", "sync case")]["ratio"] == 2.0 and rows[("good", "sync case")]["meets_target"] is True
    assert rows[("good", "zero baseline")]["ratio"] is None  # infinite ratio: null, not Infinity
    assert rows[("async", "awaited case")]["meets_target"] is False
    assert ("partial", "kept case") in rows
    failures = {(f["module"], f["case"]): f["error"] for f in data["failures"]}
    assert "database on fire" in failures[("bench_broken", "(module)")]
    assert failures[("bench_partial", "lost case")] == "no server"
    assert "timed out" in failures[("bench_hangs", "(module)")]
    assert "must return a list" in failures[("bench_nonsense", "(module)")]
    assert "database on fire" in done.stdout and "FAILED" in done.stdout


def test_only_rejects_an_unknown_area(tmp_path: Path) -> None:
    done = run_benchmarks("--only", "nosuch", "--json", str(tmp_path / "x.json"))
    assert done.returncode != 0
    assert "no benchmark for nosuch" in done.stderr and "actions" in done.stderr
    assert not (tmp_path / "x.json").exists()


def test_the_original_xcore_peer_is_skipped_with_how_to_install_it_when_absent(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    done = run_benchmarks("--quick", "--only", "original", "--original", str(tmp_path / "none" / "python"),
                          "--json", str(out))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    data = strict_json(out)
    assert data["failures"] == [] and data["results"] == []
    why = data["skipped"]["bench_original"]
    assert "the original XCore (xcoreruntime) is not installed at" in why
    assert "python -m benchmarks.original install" in why
    assert "skipped:" in done.stdout and "bench_original: the original XCore" in done.stdout
    assert [m["status"] for m in data["modules"]] == ["skipped"]


def test_benchmarks_are_mypy_clean() -> None:
    done = subprocess.run([sys.executable, "-m", "mypy", "benchmarks"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
