"""Redaction on the hot path: the plugin GET route with an access log line per request, every record
passing through XCore's redacting log-record factory, against the same with the plain factory.

``xcore serve`` logs one uvicorn access line per request, and every log record of the process goes
through :func:`xcore.backends.redact_text` (issue 13: the old pattern made that quadratic). Here the
benchmark app of :mod:`benchmarks.http_apps` is called through ASGI in process (no network noise), and
after each response the access line is logged exactly as uvicorn logs it (same logger, format and
arguments, to a handler writing to ``/dev/null``). Both sides serve and log the same; only the record
factory differs, swapped between alternating rounds. A second case puts a credential URL in the query
string, so that the redacting side really masks (and rebuilds) every access record.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from uvicorn.logging import AccessFormatter

from benchmarks.asgi_direct import request
from benchmarks.common import Pairs, Result
from benchmarks.http_apps import GET_PATH, xcore_app

AREA = "redaction"

CASES: list[tuple[str, str, float | None]] = [
    ("GET plugin route + access log", "", 1.03),
    ("GET plugin route + access log, credential URL in the query", "next=redis://app:hunter2@cache.internal:6379/0"
     "?password=hunter2&token=t0ken", None),
]  # fmt: skip
"""Label, query string, target. The first is every ordinary request: nothing to mask, the cost must not
show. The second shows what masking costs a request that does carry credentials (no target: rare, and
the point is that it is masked)."""


def access_logger() -> tuple[logging.Logger, logging.Handler]:
    """uvicorn's access logger with its default format, writing to ``/dev/null``."""
    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - closed with the handler
    handler.setFormatter(AccessFormatter('%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'))
    logger = logging.getLogger("uvicorn.access")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, handler


async def served_and_logged(app: Any, logger: logging.Logger, query: str) -> None:
    """One request to the plugin's GET route, then its access line as uvicorn logs it."""
    status = await request(app, "GET", GET_PATH, b"", [], query.encode())
    target = f"{GET_PATH}?{query}" if query else GET_PATH
    logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:50000", "GET", target, "1.1", status)


async def paired(
    app: Any, logger: logging.Logger, query: str, factories: tuple[Any, Any], rounds: int, calls: int
) -> tuple[float, float, float]:
    """Per-request medians (us) with each record factory, alternating rounds, and their paired difference."""
    pairs = Pairs()
    for slot in pairs.slots(rounds):
        logging.setLogRecordFactory(factories[slot])
        began = time.perf_counter()
        for _ in range(calls):
            await served_and_logged(app, logger, query)
        pairs.record(slot, (time.perf_counter() - began) / calls * 1e6)
    return pairs.medians()


async def measure(quick: bool) -> list[Result]:
    rounds, calls = (10, 200) if quick else (20, 500)
    setup = f"in process (ASGI); {rounds} alternating rounds x {calls} requests"
    plain = logging.getLogRecordFactory()
    app = xcore_app()
    logger, handler = access_logger()
    results: list[Result] = []
    try:
        async with app.router.lifespan_context(app):  # the boot installs the redacting factory
            redacting = logging.getLogRecordFactory()
            if redacting is plain:
                raise RuntimeError("the host's boot did not install its redacting log-record factory")
            for index, (label, query, target_ratio) in enumerate(CASES):
                await served_and_logged(app, logger, query)
                xcore, baseline, diff = await paired(app, logger, query, (redacting, plain), rounds, calls)
                results.append(Result(
                    AREA, f"{label}: time per request, redacting records vs plain", xcore, baseline, "us",
                    target=target_ratio, note=f"{setup}; median paired difference {diff:+.2f} us",
                ))  # fmt: skip
                if index == 0:  # how far noise alone moves the ratio in this run: plain against plain
                    again, baseline, diff = await paired(app, logger, query, (plain, plain), rounds, calls)
                    results.append(Result(
                        AREA, f"{label}: noise control, plain vs plain", again, baseline, "us",
                        note=f"the same measurement with the plain factory on both sides; its distance from 1.0 "
                             f"is the noise of this run; median paired difference {diff:+.2f} us",
                    ))  # fmt: skip
                logging.setLogRecordFactory(redacting)
    finally:
        logging.setLogRecordFactory(plain)
        handler.close()
    return results


def run(quick: bool) -> list[Result]:
    return asyncio.run(measure(quick))
