"""Events through a booted host: plugins talk through ``ctx.events``, follow kernel events, and
lose their subscriptions when they unload."""

from __future__ import annotations

import asyncio
import time
import types
from typing import Any

from xcore import Xcore
from xcore._events import Event, kernel, on
from xcore._hookspecs import hookimpl
from xcore.sdk import TrustedBase, ok


def config(events: dict[str, Any], app: str = "evtest") -> dict[str, Any]:
    return {
        "app": {"name": app},
        "services": {
            "databases": {},
            "extensions": {},
            "cache": {"backend": "memory"},
            "scheduler": {"enabled": False},
            "events": events,
        },
    }


class Accounts(TrustedBase):
    """Emits ``user.created`` when it creates a user."""

    async def handle(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "create_user":
            results = await self.ctx.events.emit("user.created", {"email": payload["email"]})
            return ok(answers=[r.value for r in results], plugins=[r.plugin for r in results])
        return ok()


class Mailer(TrustedBase):
    """Listens with ``@on`` and with ``ctx.events.on`` in ``on_load``."""

    def __init__(self) -> None:
        self.welcomed: list[tuple[str, str | None]] = []
        self.kernel: list[tuple[str, Any]] = []

    async def on_load(self) -> None:
        self.ctx.events.on("xcore.**", self.follow_kernel)

    def follow_kernel(self, event: Event) -> None:
        self.kernel.append((event.name, event.data))

    @on("user.created")
    async def welcome(self, event: Event) -> str:
        await asyncio.sleep(0)
        self.welcomed.append((event.data["email"], event.source))
        return f"welcome mail for {event.data['email']}"

    async def handle(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return ok(welcomed=self.welcomed)


def audit_module() -> types.ModuleType:
    """A module-style plugin: plain hook functions, subscribing through its context."""
    module = types.ModuleType("audit_plugin")
    module.seen = []  # type: ignore[attr-defined]

    @hookimpl
    def xcore_on_load(ctx: Any) -> None:
        ctx.events.on("user.*", lambda event: module.seen.append((event.name, event.source)))  # type: ignore[attr-defined]

    module.xcore_on_load = xcore_on_load  # type: ignore[attr-defined]
    return module


async def test_one_plugin_emits_and_the_others_receive_through_ctx_events() -> None:
    audit = audit_module()
    host = Xcore(
        config=config({"backend": "memory"}),
        plugins={"mailer": Mailer, "accounts": Accounts, "audit": audit},
        discover=False,
    )
    await host.boot()
    try:
        response = await host.call("accounts", "create_user", {"email": "ada@example.com"})
        assert response["status"] == "ok"
        assert sorted(response["answers"], key=str) == sorted(["welcome mail for ada@example.com", None], key=str)
        assert set(response["plugins"]) == {"mailer", "audit"}
        assert (await host.call("mailer", "report", {}))["welcomed"] == [("ada@example.com", "accounts")]
        assert audit.seen == [("user.created", "accounts")]  # type: ignore[attr-defined]
    finally:
        events = host.get_service("events")
        await host.shutdown()
    assert events.bus.subscriptions() == []  # every plugin's subscriptions went with it


class LateAccounts(Accounts):
    load_after = ("mailer",)


async def test_plugins_follow_kernel_events() -> None:
    host = Xcore(
        config=config({"backend": "memory"}), plugins={"mailer": Mailer, "accounts": LateAccounts}, discover=False
    )
    await host.boot()
    mailer = next(r.handle.instance for r in host.plugins if r.name == "mailer" and r.handle is not None)
    try:
        assert (kernel.PLUGIN_LOADED, {"plugin": "accounts", "version": None}) in mailer.kernel
        assert (kernel.HOST_STARTED, {"plugins": ["mailer", "accounts"]}) in mailer.kernel
    finally:
        await host.shutdown()
    names = [name for name, _ in mailer.kernel]
    assert kernel.HOST_STOPPING in names
    assert (kernel.PLUGIN_UNLOADED, {"plugin": "accounts"}) in mailer.kernel


async def test_two_hosts_share_events_over_redis(redis_url: str) -> None:
    emitter = Xcore(
        config=config({"backend": "redis", "url": redis_url}, app="shop"),
        plugins={"accounts": Accounts},
        discover=False,
    )
    receiver = Xcore(
        config=config({"backend": "redis", "url": redis_url}, app="shop"), plugins={"mailer": Mailer}, discover=False
    )
    await emitter.boot()
    await receiver.boot()
    try:
        response = await emitter.call("accounts", "create_user", {"email": "grace@example.com"})
        assert response["answers"] == []  # nobody listens in the emitting host
        deadline = time.monotonic() + 10
        while not (await receiver.call("mailer", "x", {}))["welcomed"]:
            assert time.monotonic() < deadline, "event did not cross hosts"
            await asyncio.sleep(0.02)
        welcomed = (await receiver.call("mailer", "x", {}))["welcomed"]
        assert [tuple(w) for w in welcomed] == [("grace@example.com", "accounts")]
        assert (await receiver.health())["services"]["events"]["status"] == "ok"
    finally:
        await emitter.shutdown()
        await receiver.shutdown()
