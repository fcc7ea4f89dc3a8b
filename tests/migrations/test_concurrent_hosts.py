"""Two hosts (two real processes) starting at once with ``migrate: upgrade`` apply each migration once.

Each migration records itself in a log table and sleeps, so without the database lock both
processes would run it (and the second would fail on the existing table or log it twice).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .support import Database, Package, config, revision, write_config

SLOW_FIRST = revision(
    "0001", None,
    'op.create_table("migration_log", sa.Column("revision", sa.Text), sa.Column("pid", sa.Integer))\n'
    'op.execute(f"INSERT INTO migration_log VALUES (\'0001\', {__import__(\'os\').getpid()})")\n'
    "time.sleep(1.0)",
    doc="log table",
)  # fmt: skip
SLOW_SECOND = revision(
    "0002", "0001",
    'op.execute(f"INSERT INTO migration_log VALUES (\'0002\', {__import__(\'os\').getpid()})")\ntime.sleep(0.5)',
    doc="second",
)  # fmt: skip

HOST = """
import asyncio, json, os, sys, time
from pathlib import Path
from xcore._host.facade import Xcore

async def main():
    go = Path(sys.argv[2])
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    host = Xcore(sys.argv[1])
    await host.boot()
    print(json.dumps({r.name: [r.state, r.error] for r in host.plugins if r.name == "notes"}))
    await host.shutdown()

asyncio.run(main())
"""


def test_two_hosts_starting_together_apply_each_migration_once(site: Path, database: Database) -> None:
    plain = "from xcore.sdk import TrustedBase\nclass Plugin(TrustedBase): pass\n"
    Package(site, "notes").install("1.0.0", {"0001": SLOW_FIRST, "0002": SLOW_SECOND}, init=plain)
    path = write_config(site.parent / "integration.yaml",
                        config({"main": database.section(migrate="upgrade")}, ["notes"]))  # fmt: skip
    script = site.parent / "host.py"
    script.write_text(HOST)
    go = site.parent / "go"
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    processes = [
        subprocess.Popen([sys.executable, str(script), str(path), str(go)], env=env, cwd=site.parent,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    time.sleep(1.0)  # both processes are importing or waiting; then they start together
    go.touch()
    outputs = [p.communicate(timeout=120) for p in processes]
    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr
        assert json.loads(stdout.strip().splitlines()[-1]) == {"notes": ["loaded", None]}, stderr
    assert database.version("notes") == "0002"
    engine = database.engine()
    try:
        with engine.connect() as connection:
            import sqlalchemy as sa

            rows = connection.execute(sa.text("SELECT revision, pid FROM migration_log ORDER BY revision")).all()
    finally:
        engine.dispose()
    assert [r.revision for r in rows] == ["0001", "0002"]
    assert {r.pid for r in rows} <= {p.pid for p in processes}
