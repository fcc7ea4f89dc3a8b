"""Sandboxed against trusted: the same action in process and through a worker, and worker start.

Run: ``python -m benchmarks.bench_sandbox``. Interleaved rounds; medians and spread; ratios.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from xcore import Xcore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "sandbox_plugins"))
ROUNDS, CALLS = 5, 300


def config(tmp: str, sandboxed: bool) -> dict[str, object]:
    plugins: dict[str, object] = {"local": {"echo": "sbx_plugins.echo:Echo"}}
    if sandboxed:
        plugins["sandboxed"] = {"echo": {"sandbox": {"data_dir": f"{tmp}/echo"}}}
    return {
        "plugins": plugins,
        "services": {
            "databases": {},
            "cache": {"backend": "memory"},
            "events": {"enabled": False},
            "scheduler": {"enabled": False},
            "extensions": {},
        },
    }


async def per_call(host: Xcore) -> float:
    began = time.perf_counter()
    for i in range(CALLS):
        await host.call("echo", "echo", {"i": i})
    return (time.perf_counter() - began) / CALLS * 1e6


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        trusted = Xcore(config=config(tmp, False), discover=False)
        sandboxed = Xcore(config=config(tmp, True), discover=False)
        await trusted.boot()
        await sandboxed.boot()
        t_us, s_us, starts = [], [], []
        try:
            for _ in range(ROUNDS):
                t_us.append(await per_call(trusted))
                s_us.append(await per_call(sandboxed))
                plugin = sandboxed.records["echo"].handle.instance  # type: ignore[union-attr]
                began = time.perf_counter()
                await plugin.restart()
                starts.append((time.perf_counter() - began) * 1000)
        finally:
            await sandboxed.shutdown()
            await trusted.shutdown()
    print(
        f"action round trip: trusted p50 {statistics.median(t_us):.1f} us, sandboxed p50 "
        f"{statistics.median(s_us):.1f} us (spread {min(s_us):.0f}-{max(s_us):.0f}), target <= 100 us"
    )
    print(
        f"worker start (stop + start + on_load): p50 {statistics.median(starts):.0f} ms "
        f"(spread {min(starts):.0f}-{max(starts):.0f}), target <= 300 ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
