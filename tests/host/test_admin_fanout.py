"""The admin fan-out between two hosts sharing Redis events (two workers, in one process for the test).

A change asked of one host reaches the other through the real Redis pub/sub channel, each answering
for itself; a forged command (bad signature), a replayed one and one signed with another key are ignored.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from xcore import Xcore
from xcore._admin import Admin
from xcore._admin.fanout import COMMAND, Fanout
from xcore.sdk import TrustedBase
from xcore.web import create_app

from .support import config, shop_plugin

KEY = "fanout-admin-key-31b7"
CAPTURED: list[Any] = []


Shop = shop_plugin()


class Spy(TrustedBase):
    """A plugin on the same bus: it sees the commands and tries to forge one."""

    async def on_load(self) -> None:
        self.ctx.events.on(COMMAND, lambda event: CAPTURED.append(event.data))


@asynccontextmanager
async def two_hosts(redis_url: str, key_b: str = KEY) -> AsyncIterator[tuple[Xcore, Xcore]]:
    async with AsyncExitStack() as stack:
        hosts = []
        for key in (KEY, key_b):
            data = config(app={"admin_key": key}, services={"events": {"backend": "redis", "url": redis_url}})
            host = Xcore(config=data, plugins={"shop": Shop, "spy": Spy}, discover=False)
            app = create_app(host=host)
            await host.boot(app)
            stack.push_async_callback(host.shutdown)
            hosts.append(host)
        yield hosts[0], hosts[1]


def _admin(host: Xcore) -> Admin:
    admin: Admin = host.app.state.xcore_admin  # type: ignore[union-attr]
    return admin


async def _eventually(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "did not happen in time"
        await asyncio.sleep(0.05)


async def test_a_change_reaches_the_other_host_and_forgeries_are_ignored(redis_url: str) -> None:
    CAPTURED.clear()
    async with two_hosts(redis_url) as (a, b):
        assert _admin(a).fanout.shared and _admin(b).fanout.shared
        results = await _admin(a).fanout.call("disable", {"plugin": "shop"}, wait=10, expect=2)
        assert len(results) == 2 and all(r["ok"] and r["result"]["state"] == "disabled" for r in results), results
        assert a.records["shop"].state == b.records["shop"].state == "disabled"
        captured = CAPTURED[-1]

        await b.runtime.enable("shop")
        spy_events = b.records["spy"].context.events  # type: ignore[union-attr]
        forged = {"body": {**captured["body"], "id": "forged-id", "at": time.time()}, "sig": "0" * 64}
        await spy_events.emit(COMMAND, forged)  # a plugin forging a command
        await spy_events.emit(COMMAND, captured)  # a plugin replaying a real one
        other_key = Fanout("not-the-admin-key", _admin(a).run)
        await spy_events.emit(COMMAND, other_key._signed({**captured["body"], "id": "fresh-id"}))
        await asyncio.sleep(1.0)
        assert b.records["shop"].state == "loaded"

        slow = await _admin(b).fanout.call("plugins", {}, wait=0.5, expect=5)  # only two exist: bounded wait
        assert len(slow) == 2


async def test_without_redis_a_change_stays_in_the_process_that_received_it() -> None:
    data = config(app={"admin_key": KEY}, services={"events": {"backend": "memory"}})
    host = Xcore(config=data, plugins={"shop": Shop}, discover=False)
    await host.boot(create_app(host=host))
    try:
        admin = _admin(host)
        assert not admin.fanout.shared
        results = await admin.fanout.call("disable", {"plugin": "shop"}, wait=10)
        assert [r["worker"] for r in results] == [admin.fanout.worker]
    finally:
        await host.shutdown()
