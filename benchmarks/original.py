"""Where the original XCore lives for ``bench_original``, and how to install it there.

The original XCore (``xcoreruntime`` on the package index) imports as ``xcore`` too, and pins its own
FastAPI and uvicorn, so it cannot share this environment: it gets a virtualenv of its own.

    python -m benchmarks.original install   # creates ~/.cache/xcore-bench/original-2.1.1 (about a minute)
    python -m benchmarks.original where     # the interpreter bench_original will use, or why none

``$XCORE_BENCH_ORIGINAL_PYTHON`` (or ``python -m benchmarks --original PYTHON``) names another
interpreter that has ``xcoreruntime`` installed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import venv
from pathlib import Path

VERSION = "2.1.1"
REQUIREMENTS = [f"xcoreruntime=={VERSION}", "greenlet"]
ENV_VAR = "XCORE_BENCH_ORIGINAL_PYTHON"
DEFAULT_VENV = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "xcore-bench" / f"original-{VERSION}"
INSTALL_HINT = (
    f"install it with `python -m benchmarks.original install` (a virtualenv in {DEFAULT_VENV}) or set {ENV_VAR}"
)


def interpreter() -> Path:
    """The interpreter to use: ``$XCORE_BENCH_ORIGINAL_PYTHON``, else the default virtualenv's."""
    named = os.environ.get(ENV_VAR)
    return Path(named) if named else DEFAULT_VENV / "bin" / "python"


def installed_version(python: Path) -> str | None:
    """The ``xcoreruntime`` version ``python`` has, or ``None`` (no such interpreter, or not installed)."""
    if not python.exists():
        return None
    probe = "import importlib.metadata as m; print(m.version('xcoreruntime'))"
    try:
        done = subprocess.run([str(python), "-I", "-c", probe], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def find() -> tuple[Path | None, str]:
    """``(interpreter, description)`` when the original is installed, else ``(None, why not and how to)``."""
    python = interpreter()
    version = installed_version(python)
    if version is None:
        return None, f"the original XCore (xcoreruntime) is not installed at {python}: {INSTALL_HINT}"
    return python, f"xcoreruntime {version} ({python})"


def install(target: Path) -> Path:
    """Create a virtualenv at ``target`` holding the original XCore; return its interpreter."""
    venv.EnvBuilder(with_pip=True, clear=False).create(target)
    python = target / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", *REQUIREMENTS], check=True)
    return python


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.original", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    installing = sub.add_parser("install", help=f"create a virtualenv with xcoreruntime=={VERSION} and greenlet")
    installing.add_argument("--venv", type=Path, default=DEFAULT_VENV, help=f"where (default: {DEFAULT_VENV})")
    sub.add_parser("where", help="print the interpreter bench_original uses, or why there is none")
    args = parser.parse_args(argv)
    if args.command == "install":
        python = install(args.venv)
        print(f"installed: {installed_version(python)} at {python}")
        if args.venv != DEFAULT_VENV:
            print(f"use it with: {ENV_VAR}={python} python -m benchmarks")
        return 0
    found, description = find()
    print(description)
    return 0 if found is not None else 1


if __name__ == "__main__":
    sys.exit(main())
