"""docs/guides/events.md: every example of the page on a real host and its event bus.

Where the page leaves a helper out (``self._check_inventory``...), a subclass supplies it; the
page's own code is used as written.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from xcore._events import Event
from xcore.sdk import TrustedBase, ok
from xcore.testing.harness import boot_xcore

from .conftest import example

SEEN: list[tuple[str, Any]] = []


class Listener(TrustedBase):
    """Records every event it hears, with its source."""

    async def on_load(self) -> None:
        self.ctx.events.on("*.**", lambda event: SEEN.append((event.name, event.source)), priority=0)


@pytest.fixture(autouse=True)
def _clear() -> None:
    SEEN.clear()


async def test_subscribing_priorities_stop_once_and_unsubscribe(capsys: pytest.CaptureFixture[str]) -> None:
    class Orders(example("events_subscribing")):  # type: ignore[misc]
        async def _check_inventory(self, order_id: int) -> bool:
            return order_id != 13

    async with boot_xcore({"orders": Orders}) as xcore:
        view = xcore.get_service("events", "orders")
        host_events = xcore.host.events
        await host_events.emit("order.placed", {"order_id": 1, "email": "a@x"})
        out = capsys.readouterr().out
        assert "Sending confirmation for order 1 to a@x" in out
        await host_events.emit("order.placed", {"order_id": 13, "email": "b@x"})
        out = capsys.readouterr().out
        assert "Order 13 validation failed" in out and "Sending confirmation" not in out  # event.stop()
        await host_events.emit("system.ready", {})
        await host_events.emit("system.ready", {})
        assert capsys.readouterr().out.count("System is ready!") == 1  # once
        await host_events.emit("user.created", {"user_id": 7, "email": "c@x"})
        assert "User 7 created with email c@x" in capsys.readouterr().out
        plugin = xcore.plugin("orders")
        await plugin.on_unload()  # the page's unsubscribe
        await host_events.emit("user.created", {"user_id": 8, "email": "d@x"})
        assert "User 8" not in capsys.readouterr().out
        assert [s.pattern.text for s in view.subscriptions()] == ["order.placed", "order.placed"]


async def test_emitting_with_source_and_emit_sync(caplog: pytest.LogCaptureFixture) -> None:
    class Shop(example("events_emitting")):  # type: ignore[misc]
        async def _create_user_in_db(self, data: dict[str, Any]) -> int:
            return 41

        async def _create_order(self, data: dict[str, Any]) -> int:
            return 99

        async def _process(self, payload: dict[str, Any]) -> str:
            return "done"

    caplog.set_level(logging.WARNING, "xcore.events")
    async with boot_xcore({"shop": Shop, "listener": Listener}) as xcore:
        response = await xcore.client.post("/plugins/shop/users", json={"username": "u", "email": "u@x"})
        assert response.json() == {"id": 41}
        order = {"user_id": 41, "amount": 10, "items": ["a"]}
        assert (await xcore.client.post("/plugins/shop/orders", json=order)).json() == {"order_id": 99}
        assert (await xcore.client.post("/plugins/shop/orders", json=order)).json() == {"order_id": 99}
        assert await xcore.call("shop", "process", {"id": 3}) == {"status": "ok"}
        await asyncio.sleep(0.01)  # emit_sync is fire and forget
    assert ("user.created", "shop") in SEEN
    # source= is accepted; the event carries the emitting plugin's real name, and that is said once
    assert ("order.placed", "shop") in SEEN
    assert ("process.completed", "shop") in SEEN
    ignored = [r for r in caplog.records if "source=" in r.getMessage()]
    assert len(ignored) == 1
    assert "plugin 'shop'" in ignored[0].getMessage()


async def test_emit_gather_is_accepted_and_keeps_priority_order(caplog: pytest.LogCaptureFixture) -> None:
    order: list[str] = []

    class Emitter(TrustedBase):
        async def on_load(self) -> None:
            self.ctx.events.on("job.done", lambda e: order.append("low"), priority=1)
            self.ctx.events.on("job.done", lambda e: order.append("high"), priority=9)

        async def handle(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
            results = await self.ctx.events.emit("job.done", {}, gather=True)
            return ok(count=len(results))

    caplog.set_level(logging.WARNING, "xcore.events")
    async with boot_xcore({"emitter": Emitter}) as xcore:
        assert await xcore.call("emitter", "go") == {"status": "ok", "count": 2}
        assert await xcore.call("emitter", "go") == {"status": "ok", "count": 2}
    assert order == ["high", "low", "high", "low"]
    assert len([r for r in caplog.records if "gather=" in r.getMessage()]) == 1


def test_event_object_cancel_and_propagate() -> None:
    event = Event("order.placed", {"id": 1}, "shop")
    assert event.propagate is True and event.cancelled is False
    event.propagate = False
    assert event.stopped and not event.propagate
    with pytest.raises(ValueError, match="cannot propagate again"):
        event.propagate = True
    cancelled = Event("order.placed")
    cancelled.cancel()
    assert cancelled.cancelled and cancelled.stopped


async def test_cancel_stops_the_handlers_after_it() -> None:
    heard: list[str] = []

    class Guard(TrustedBase):
        async def on_load(self) -> None:
            self.ctx.events.on("pay", lambda e: e.cancel(), priority=90)
            self.ctx.events.on("pay", lambda e: heard.append("charged"), priority=10)

    async with boot_xcore({"guard": Guard}) as xcore:
        results = await xcore.host.events.emit("pay", {})
    assert heard == [] and len(results) == 1


async def test_system_events_booted_and_wildcards(capsys: pytest.CaptureFixture[str]) -> None:
    async with boot_xcore({"system": example("events_system")}) as xcore:
        assert "XCore system is ready!" in capsys.readouterr().out  # xcore.booted was emitted
        await xcore.host.events.emit("plugin.billing.reloaded", {})
        assert "Plugin event: plugin.billing.reloaded" in capsys.readouterr().out
        await xcore.host.events.emit("service.error", {"service": "db", "error": "down"})
        assert "Service db error: down" in capsys.readouterr().out


async def test_decorator_style_and_its_cleanup() -> None:
    mails: list[str] = []

    class Welcome(example("events_decorator")):  # type: ignore[misc]
        async def _send_email(self, email: str) -> None:
            mails.append(email)

        async def _check_stock(self, items: list[str]) -> bool:
            return bool(items)

    async with boot_xcore({"welcome": Welcome}) as xcore:
        events = xcore.host.events
        await events.emit("user.created", {"email": "w@x"})
        assert mails == ["w@x"]
        plugin = xcore.plugin("welcome")
        await plugin.on_unload()  # unsubscribes send_welcome from user.created (validate stays: other event)
        await events.emit("user.created", {"email": "again@x"})
        assert mails == ["w@x"]
        assert [s.pattern.text for s in xcore.get_service("events", "welcome").subscriptions()] == ["order.placed"]


async def test_best_practices_priorities_and_clear() -> None:
    steps: list[str] = []

    class Orders(example("events_best_practices")):  # type: ignore[misc]
        async def _check_order_valid(self, data: dict[str, Any]) -> bool:
            steps.append("validate")
            return data["order_id"] != 0

        async def _log_invalid_order(self, data: dict[str, Any]) -> None:
            steps.append("invalid")

        async def _schedule_order_processing(self, data: dict[str, Any]) -> None:
            steps.append("process")

        async def _notify_user(self, event: Event) -> None:
            steps.append("notify")

    async with boot_xcore({"orders": Orders}) as xcore:
        events = xcore.host.events
        await events.emit("order.placed", {"order_id": 5})
        assert steps == ["validate", "process", "notify"]
        steps.clear()
        await events.emit("order.placed", {"order_id": 0})
        assert steps == ["validate", "invalid"]
        steps.clear()
        other = xcore.get_service("events", "orders")
        assert len(other.subscriptions()) == 3
        await xcore.plugin("orders").on_unload()  # clear("order.placed")
        assert other.subscriptions() == []
        await events.emit("order.placed", {"order_id": 5})
        assert steps == []


async def test_clear_only_touches_the_callers_own_subscriptions() -> None:
    heard: list[str] = []

    class Other(TrustedBase):
        async def on_load(self) -> None:
            self.ctx.events.on("order.placed", lambda e: heard.append("other"))

    class Clearer(TrustedBase):
        async def on_load(self) -> None:
            self.ctx.events.on("order.placed", lambda e: heard.append("mine"))
            self.ctx.events.clear("order.placed")
            self.ctx.events.clear()

    async with boot_xcore({"other": Other, "clearer": Clearer}) as xcore:
        await xcore.host.events.emit("order.placed", {})
    assert heard == ["other"]


async def test_request_response_pattern() -> None:
    class Payments(example("events_request_response")):  # type: ignore[misc]
        async def _charge_card(self, amount: int, currency: str) -> dict[str, Any]:
            return {"id": f"tx-{amount}-{currency}"}

    async with boot_xcore({"payments": Payments}) as xcore:
        plugin = xcore.plugin("payments")
        waiting = asyncio.create_task(plugin.wait_for_payment("r1"))
        await asyncio.sleep(0)
        await xcore.host.events.emit("payment.request", {"request_id": "r1", "amount": 5, "currency": "EUR"})
        response = await asyncio.wait_for(waiting, 5)
    assert response == {"request_id": "r1", "status": "success", "transaction_id": "tx-5-EUR"}


async def test_event_chaining(capsys: pytest.CaptureFixture[str]) -> None:
    from .examples.events_patterns import ChainingPlugin

    sent: list[str] = []

    class Onboarding(ChainingPlugin):  # type: ignore[misc]
        async def _create_profile(self, user_id: int) -> dict[str, Any]:
            return {"id": user_id * 10}

        async def _get_user(self, user_id: int) -> dict[str, Any]:
            return {"email": f"user{user_id}@x"}

        async def _send_welcome_email(self, email: str) -> None:
            sent.append(email)

    async with boot_xcore({"onboarding": Onboarding, "listener": Listener}) as xcore:
        await xcore.host.events.emit("user.registered", {"user_id": 4})
    assert sent == ["user4@x"]
    assert "Onboarding complete for user 4" in capsys.readouterr().out
    # each handler emits the next event before the low-priority listener hears the one before it
    assert [name for name, _ in SEEN if not name.startswith("xcore.")] == [
        "welcome.sent",
        "profile.created",
        "user.registered",
    ]


async def test_conditional_handling_broadcasting_and_class_based_handlers() -> None:
    from .examples.events_patterns import BroadcastingPlugin, ClassBasedPlugin, ConditionalPlugin

    done: list[tuple[str, Any]] = []

    class Premium(ConditionalPlugin):  # type: ignore[misc]
        async def _is_premium_user(self, user_id: int) -> bool:
            return user_id == 1

        async def _apply_discount(self, order_id: int, percentage: int) -> None:
            done.append(("discount", (order_id, percentage)))

        async def _add_priority_shipping(self, order_id: int) -> None:
            done.append(("shipping", order_id))

    class Handlers(ClassBasedPlugin):  # type: ignore[misc]
        async def _send_welcome(self, data: dict[str, Any]) -> None:
            done.append(("welcome", data["email"]))

        async def _process_order(self, data: dict[str, Any]) -> None:
            done.append(("order", data["order_id"]))

    plugins = {"premium": Premium, "handlers": Handlers, "news": BroadcastingPlugin, "listener": Listener}
    async with boot_xcore(plugins) as xcore:
        events = xcore.host.events
        await events.emit("order.placed", {"user_id": 2, "order_id": 20})
        await events.emit("order.placed", {"user_id": 1, "order_id": 10})
        await events.emit("user.created", {"email": "e@x"})
        await xcore.plugin("news").notify_all("maintenance at noon")
    assert ("discount", (10, 10)) in done and ("shipping", 10) in done and ("discount", (20, 10)) not in done
    assert ("order", 20) in done and ("order", 10) in done and ("welcome", "e@x") in done
    assert ("notification.broadcast", "news") in SEEN
