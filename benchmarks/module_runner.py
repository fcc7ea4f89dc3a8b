"""Runs one benchmark module in this (fresh) process and writes what it measured to a JSON file.

``python -m benchmarks`` starts ``python -m benchmarks.module_runner FILE --out OUT [--quick]`` once per
``bench_*.py``, so each module gets its own interpreter: its imports, memory, event loop and leftover
threads cannot colour the next one. The output file (not stdout, which benchmarks and libraries may
print to) holds ``{"results": [...], "errors": {case: error}, "module_error": str | None}``, plus ``"skipped": why``
for a module that raised :class:`~benchmarks.failures.ModuleSkipped`.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import inspect
import json
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks.common import Result
from benchmarks.failures import CasesFailed, ModuleSkipped

PACKAGE_DIR = Path(__file__).resolve().parent


def load(path: Path) -> ModuleType:
    """Import a benchmark file: as ``benchmarks.<name>`` if it lives here, else from its own folder."""
    path = path.resolve()
    if path.parent == PACKAGE_DIR:
        return importlib.import_module(f"benchmarks.{path.stem}")
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def checked(results: Any, module: str) -> list[dict[str, Any]]:
    if not isinstance(results, list) or not all(isinstance(r, Result) for r in results):
        raise TypeError(f"{module}.run() must return a list of benchmarks.common.Result, got {results!r:.200}")
    return [r.as_dict() for r in results]


def run_module(path: Path, quick: bool) -> dict[str, Any]:
    outcome: dict[str, Any] = {"results": [], "errors": {}, "module_error": None}
    try:
        module = load(path)
        run = getattr(module, "run", None)
        if run is None:
            raise AttributeError(f"{path.name} has no run(quick) function")
        results = asyncio.run(run(quick)) if inspect.iscoroutinefunction(run) else run(quick)
        if inspect.isawaitable(results):
            results = asyncio.run(_await(results))
        outcome["results"] = checked(results, path.stem)
    except ModuleSkipped as exc:
        outcome["skipped"] = str(exc)
    except CasesFailed as exc:
        outcome["results"] = checked(exc.results, path.stem)
        outcome["errors"] = dict(exc.errors)
    except BaseException as exc:
        outcome["module_error"] = f"{type(exc).__name__}: {exc}"
        outcome["traceback"] = traceback.format_exc()
    return outcome


async def _await(awaitable: Any) -> Any:
    return await awaitable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.module_runner")
    parser.add_argument("file", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    outcome = run_module(args.file, args.quick)
    if outcome.get("traceback"):
        print(outcome["traceback"], file=sys.stderr)
    args.out.write_text(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main())
