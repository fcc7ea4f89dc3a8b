"""The metrics directory shared by the workers of ``xcore serve --workers N``.

prometheus-client counts across processes through files: each worker writes its values to
``$PROMETHEUS_MULTIPROC_DIR/<kind>_<pid>.db`` and a scrape, answered by whichever worker gets it, sums
every file. That needs three things, all done here rather than left to the operator:

- the variable is set before the workers start (it selects prometheus-client's file-backed values at
  import): :func:`prepare` runs in ``xcore serve`` before uvicorn forks;
- the directory starts empty, or the counters would resume from a previous run: :func:`prepare`
  creates a private directory per run (``xcore-metrics-*`` under the temp dir), or empties the one the
  operator named in ``PROMETHEUS_MULTIPROC_DIR``, and removes its own at exit;
- a dead worker's live gauges (plugin states, pool in use) must stop counting: :func:`sweep_dead`
  marks every worker whose pid is gone as dead, at each scrape, so a crashed worker is dropped too.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger("xcore.metrics")

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
_PID = re.compile(r"_(\d+)\.db$")


def prepare() -> Path:
    """Make the workers' shared directory ready (see the module docstring) and return it."""
    given = os.environ.get(VARIABLE)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        log.info("metrics: workers share %s (emptied at start)", path)
        return path
    path = Path(tempfile.mkdtemp(prefix="xcore-metrics-"))
    os.environ[VARIABLE] = str(path)
    atexit.register(shutil.rmtree, path, True)
    log.info("metrics: workers share %s (removed at exit)", path)
    return path


def sweep_dead(path: str) -> None:
    """Mark every worker whose process is gone as dead, so its live gauges leave the sums."""
    from prometheus_client import multiprocess

    pids = {int(match.group(1)) for f in os.listdir(path) if (match := _PID.search(f))}
    for pid in pids:
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_stopped() -> None:
    """At a worker's shutdown: its last counts reach the files, its live gauges leave the sums at once."""
    from xcore._observability import metrics

    if metrics.ACTIVE is not None:
        metrics.ACTIVE.flush()
    path = os.environ.get(VARIABLE)
    if path:
        from prometheus_client import multiprocess

        with contextlib.suppress(OSError):
            multiprocess.mark_process_dead(os.getpid(), path)  # type: ignore[no-untyped-call]
