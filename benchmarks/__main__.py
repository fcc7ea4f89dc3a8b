"""``python -m benchmarks``: run every ``benchmarks/bench_*.py`` and print one table.

Each module runs in a fresh subprocess (:mod:`benchmarks.module_runner`), one after the other, so memory,
event loops and threads never leak from one area into the next, and a module that crashes, hangs past its
time limit or returns nonsense is reported as failed while the others still run. The table gives, for
each case, the XCore path, the raw baseline measured in the same run, their ratio and the target; the
same data goes to JSON (``benchmarks/results.json`` unless ``--json PATH``). The exit code is 1 if any
module or case failed. Missed targets are shown (``ok?`` = ``NO``) but do not change the exit code: on a
shared 2-core machine a single run can miss by noise.

    python -m benchmarks                 # everything (~4-5 min; 6 with the original XCore under load)
    python -m benchmarks --quick         # fewer rounds, shorter loads (~90 s)
    python -m benchmarks --only http --only boot --json /tmp/bench.json

``bench_original`` puts the original XCore beside XCore; it is skipped, with the reason in the table,
unless the original is installed (``python -m benchmarks.original install``, or ``--original PYTHON``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.original import ENV_VAR as ORIGINAL_ENV_VAR
from benchmarks.report import Failure, Report, as_json, machine, render

PACKAGE_DIR = Path(__file__).resolve().parent
REPO = PACKAGE_DIR.parent


def discover(folder: Path, only: list[str]) -> list[Path]:
    """``bench_*.py`` files of ``folder`` in name order, kept to the areas named in ``only`` if any."""
    found = sorted(folder.glob("bench_*.py"))
    if not only:
        return found
    wanted = {area.strip().removeprefix("bench_") for item in only for area in item.split(",") if area.strip()}
    known = {path.stem.removeprefix("bench_") for path in found}
    unknown = wanted - known
    if unknown:
        raise SystemExit(f"error: no benchmark for {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
    return [path for path in found if path.stem.removeprefix("bench_") in wanted]


def run_isolated(path: Path, quick: bool, timeout: float) -> tuple[dict[str, object], float]:
    """Run one module in its own process group; kill the whole group if it outlives ``timeout``."""
    area = path.stem.removeprefix("bench_")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    with tempfile.TemporaryDirectory(prefix=f"xcore-bench-{area}-") as tmp:
        out = Path(tmp) / "outcome.json"
        command = [sys.executable, "-m", "benchmarks.module_runner", str(path), "--out", str(out)]
        if quick:
            command.append("--quick")
        began = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=tmp,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the module's own servers and probes go with it
            output, _ = process.communicate()
            return {"module_error": f"timed out after {timeout:.0f}s; output: {tail(output)}"}, timeout
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        seconds = time.perf_counter() - began
        try:
            return json.loads(out.read_text()), seconds
        except (OSError, ValueError):
            return {
                "module_error": f"exited with code {process.returncode} and no results; output: {tail(output)}"
            }, seconds


def tail(text: str | None, limit: int = 1500) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run every benchmarks/bench_*.py in its own process and print one table.",
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds and shorter loads (~90 s)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="AREA",
        help="run only bench_AREA.py (repeat or comma-separate for several)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=PACKAGE_DIR / "results.json",
        metavar="PATH",
        help="where to write the results (default: benchmarks/results.json)",
    )
    parser.add_argument("--dir", type=Path, default=PACKAGE_DIR, help="folder holding the bench_*.py files")
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds allowed per module (default: 60 with --quick, 360 otherwise: bench_http takes ~3 min under load)",
    )
    parser.add_argument(
        "--original",
        type=Path,
        default=None,
        metavar="PYTHON",
        help=f"interpreter with the original XCore for bench_original (default: ${ORIGINAL_ENV_VAR}, else "
        "the virtualenv `python -m benchmarks.original install` creates); without it that module is skipped",
    )
    args = parser.parse_args(argv)
    if args.original is not None:
        os.environ[ORIGINAL_ENV_VAR] = str(args.original.absolute())
    timeout = args.timeout or (60.0 if args.quick else 360.0)
    began = time.perf_counter()
    report = Report(machine=machine(REPO), quick=args.quick)
    for path in discover(args.dir, args.only):
        area = path.stem.removeprefix("bench_")
        print(f"running {path.name} ...", end=" ", flush=True, file=sys.stderr)
        outcome, seconds = run_isolated(path, args.quick, timeout)
        results = [{"module": path.stem, **r} for r in outcome.get("results", [])]  # type: ignore[attr-defined]
        report.results += results
        errors: dict[str, str] = dict(outcome.get("errors") or {})  # type: ignore[call-overload]
        if outcome.get("module_error"):
            errors["(module)"] = str(outcome["module_error"])
        report.failures += [Failure(path.stem, area, case, error) for case, error in errors.items()]
        status = "failed" if errors else "ok"
        if outcome.get("skipped"):
            report.skipped[path.stem] = str(outcome["skipped"])
            status = "skipped"
        report.modules.append(
            {
                "module": path.stem,
                "status": status,
                "seconds": round(seconds, 1),
                "results": len(results),
                "errors": errors,
            }
        )
        print(
            f"{status} in {seconds:.1f}s ({len(results)} results)"
            + (f": {report.skipped[path.stem]}" if status == "skipped" else ""),
            file=sys.stderr,
        )
    print(render(report))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(as_json(report, time.perf_counter() - began), indent=2, allow_nan=False) + "\n")
    print(f"\nresults written to {args.json} ({time.perf_counter() - began:.0f}s)")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
