"""The in-process event bus: naming and wildcards, order, isolation of failures, timeouts, views."""

from __future__ import annotations

import asyncio
import logging
import types
from typing import Any

import pytest

from xcore._events import (
    Event,
    EventBus,
    EventsView,
    InvalidEventName,
    ReservedEventName,
    compile_pattern,
    kernel,
    on,
    subscribe_marked,
)
from xcore.sdk import TrustedBase

# --------------------------------------------------------------------------- names and wildcards


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("user.created", "user.created", True),
        ("user.created", "user.deleted", False),
        ("user.created", "User.created", False),  # case-sensitive
        ("user.*", "user.created", True),
        ("user.*", "user", False),  # '*' is exactly one segment
        ("user.*", "user.profile.updated", False),
        ("*.created", "user.created", True),
        ("*.created", "a.b.created", False),
        ("*", "ping", True),
        ("*", "a.b", False),
        ("user.**", "user", True),  # '**' is zero or more segments
        ("user.**", "user.created", True),
        ("user.**", "user.profile.updated", True),
        ("user.**", "users.created", False),
        ("**.created", "created", True),
        ("**.created", "a.b.created", True),
        ("**.created", "a.b.created.late", False),
        ("a.**.z", "a.z", True),
        ("a.**.z", "a.b.c.z", True),
        ("a.**.z", "a.b.c", False),
        ("**", "anything.at.all", True),
        ("a.*.**", "a", False),
        ("a.*.**", "a.b", True),
        ("a.**.**.b", "a.x.b", True),
    ],
)
def test_wildcard_rule(pattern: str, name: str, matches: bool) -> None:
    assert compile_pattern(pattern).matches(name) is matches


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "empty"),
        ("user..created", "empty segment"),
        (".user", "empty segment"),
        ("user created", "whitespace"),
        ("us*r.created", "whole segment"),
        ("user.***", "whole segment"),
        (42, "must be a string"),
    ],
)
def test_invalid_patterns_are_refused_with_the_reason(pattern: Any, message: str) -> None:
    bus = EventBus()
    with pytest.raises(InvalidEventName, match=message):
        bus.subscribe(pattern, lambda e: None)
    assert bus.subscriptions() == []


@pytest.mark.parametrize("name", ["user.*", "**", "", "a..b", "a b", None, 3, ["user", "created"]])
async def test_emitting_an_invalid_name_raises(name: Any) -> None:
    bus = EventBus()
    view = EventsView(bus, "p", owner="p")
    seen: list[Event] = []
    bus.subscribe("**", seen.append)
    with pytest.raises(InvalidEventName):
        await bus.emit(name)
    with pytest.raises(InvalidEventName):
        await view.emit(name)
    with pytest.raises(InvalidEventName):
        view.emit_nowait(name)
    assert seen == []


async def test_wildcard_subscriptions_receive_matching_events() -> None:
    bus = EventBus()
    got: dict[str, list[str]] = {"user.*": [], "*.created": [], "user.**": [], "**": []}
    for pattern, names in got.items():
        bus.subscribe(pattern, lambda e, names=names: names.append(e.name))
    for name in ("user.created", "order.created", "user.profile.updated", "user"):
        await bus.emit(name)
    assert got["user.*"] == ["user.created"]
    assert got["*.created"] == ["user.created", "order.created"]
    assert got["user.**"] == ["user.created", "user.profile.updated", "user"]
    assert got["**"] == ["user.created", "order.created", "user.profile.updated", "user"]


# --------------------------------------------------------------------------- order and propagation


async def test_higher_priority_first_then_subscription_order() -> None:
    bus = EventBus()
    calls: list[str] = []
    bus.subscribe("job.done", lambda e: calls.append("a50"))
    bus.subscribe("job.*", lambda e: calls.append("b90"), priority=90)
    bus.subscribe("job.done", lambda e: calls.append("c50"))
    bus.subscribe("**", lambda e: calls.append("d10"), priority=10)
    bus.subscribe("job.done", lambda e: calls.append("e90"), priority=90)
    await bus.emit("job.done")
    assert calls == ["b90", "e90", "a50", "c50", "d10"]


async def test_stop_skips_the_remaining_handlers() -> None:
    bus = EventBus()
    calls: list[str] = []

    async def guard(event: Event) -> str:
        calls.append("guard")
        event.stop()
        return "stopped here"

    bus.subscribe("order.placed", guard, priority=100)
    bus.subscribe("order.placed", lambda e: calls.append("late"))
    results = await bus.emit("order.placed", {"id": 1})
    assert calls == ["guard"]
    assert [r.value for r in results] == ["stopped here"]


async def test_handlers_receive_name_data_and_source_and_data_is_not_copied() -> None:
    bus = EventBus()
    payload = {"id": 7}
    seen: list[Event] = []
    bus.subscribe("user.created", seen.append)
    await bus.emit("user.created", payload, source="accounts")
    (event,) = seen
    assert (event.name, event.source, event.remote) == ("user.created", "accounts", False)
    assert event.data is payload


async def test_emit_returns_each_handler_value_or_error() -> None:
    bus = EventBus()

    def sync_ok(event: Event) -> int:
        return 1

    async def async_ok(event: Event) -> int:
        await asyncio.sleep(0)
        return 2

    def broken(event: Event) -> None:
        raise ValueError("bad input")

    bus.subscribe("x.y", sync_ok, priority=3)
    bus.subscribe("x.y", async_ok, priority=2)
    bus.subscribe("x.y", broken, priority=1)
    results = await bus.emit("x.y")
    assert [r.value for r in results] == [1, 2, None]
    assert [r.ok for r in results] == [True, True, False]
    assert isinstance(results[2].error, ValueError)
    assert results[2].handler is broken
    assert not results[2].timed_out


async def test_emit_with_no_handler_returns_an_empty_list() -> None:
    assert await EventBus().emit("nobody.listens", {"a": 1}) == []


async def test_sync_handler_returning_an_awaitable_is_awaited() -> None:
    bus = EventBus()

    async def later(event: Event) -> str:
        await asyncio.sleep(0)
        return "done"

    bus.subscribe("a.b", lambda e: later(e))
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    loop.call_soon(future.set_result, "from a future")
    bus.subscribe("a.b", lambda e: future)
    assert [r.value for r in await bus.emit("a.b")] == ["done", "from a future"]


async def test_async_callable_object_is_a_handler() -> None:
    class Counter:
        count = 0

        async def __call__(self, event: Event) -> int:
            await asyncio.sleep(0)
            self.count += 1
            return self.count

    bus = EventBus()
    counter = Counter()
    bus.subscribe("tick", counter)
    assert [r.value for r in await bus.emit("tick")] == [1]


# --------------------------------------------------------------------------- failures and timeouts


async def test_a_raising_handler_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    view = EventsView(bus, "billing", owner="billing")
    calls: list[str] = []

    async def explode(event: Event) -> None:
        raise RuntimeError("card declined")

    view.on("invoice.paid", explode, priority=90)
    bus.subscribe("invoice.paid", lambda e: calls.append("after"))
    with caplog.at_level(logging.ERROR, logger="xcore.events"):
        results = await bus.emit("invoice.paid", {"n": 1})
    assert calls == ["after"]
    assert results[0].plugin == "billing" and isinstance(results[0].error, RuntimeError)
    (record,) = [r for r in caplog.records if "card declined" in r.getMessage()]
    message = record.getMessage()
    assert "'invoice.paid'" in message and "'billing'" in message and "explode" in message


async def test_a_slow_handler_times_out_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus(handler_timeout=0.05)
    view = EventsView(bus, "slowpoke", owner="slowpoke")
    never = asyncio.Event()
    calls: list[str] = []

    async def hang(event: Event) -> None:
        await never.wait()

    view.on("report.requested", hang, priority=90)
    bus.subscribe("report.requested", lambda e: calls.append("after"))
    with caplog.at_level(logging.ERROR, logger="xcore.events"):
        results = await bus.emit("report.requested")
    assert calls == ["after"]
    assert results[0].timed_out and isinstance(results[0].error, TimeoutError)
    assert any(
        "timed out" in r.getMessage() and "'slowpoke'" in r.getMessage() and "'report.requested'" in r.getMessage()
        for r in caplog.records
    )
    # The emitting task is left clean: it can keep awaiting without a stray cancellation.
    await asyncio.sleep(0.01)
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_each_handler_gets_its_own_timeout() -> None:
    bus = EventBus(handler_timeout=0.2)

    async def takes(event: Event) -> str:
        await asyncio.sleep(0.12)
        return "in time"

    for _ in range(3):  # 0.36 s in total, each within 0.2 s
        bus.subscribe("batch.run", takes)
    results = await bus.emit("batch.run")
    assert [r.value for r in results] == ["in time"] * 3


async def test_a_handler_raising_timeout_error_itself_is_not_a_bus_timeout() -> None:
    bus = EventBus()

    async def own(event: Event) -> None:
        await asyncio.sleep(0)
        raise TimeoutError("upstream API timed out")

    bus.subscribe("x.y", own)
    (result,) = await bus.emit("x.y")
    assert isinstance(result.error, TimeoutError) and not result.timed_out


async def test_cancelling_the_emitter_still_cancels_it() -> None:
    bus = EventBus(handler_timeout=30)
    started = asyncio.Event()

    async def hang(event: Event) -> None:
        started.set()
        await asyncio.Event().wait()

    bus.subscribe("wait.forever", hang)
    task = asyncio.create_task(bus.emit("wait.forever"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_handler_swallowing_the_timeout_cancellation_leaves_the_emitter_usable() -> None:
    bus = EventBus(handler_timeout=0.05)

    async def stubborn(event: Event) -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return "ignored the cancellation"
        return "slept"

    bus.subscribe("a.b", stubborn)
    (result,) = await bus.emit("a.b")
    assert result.value == "ignored the cancellation"
    await asyncio.sleep(0.01)  # would raise CancelledError if the deadline's cancel were left pending


async def test_a_handler_may_clean_up_asynchronously_after_the_timeout() -> None:
    bus = EventBus(handler_timeout=0.05)
    cleaned: list[str] = []

    async def careful(event: Event) -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(0.01)  # waits again after the cancellation, then gives up
            cleaned.append("cleaned")
            raise
        return "slept"

    bus.subscribe("a.b", careful)
    bus.subscribe("a.b", lambda e: "next")
    results = await bus.emit("a.b")
    assert cleaned == ["cleaned"]
    assert results[0].timed_out and results[1].value == "next"


async def test_nested_emit_inside_a_handler() -> None:
    bus = EventBus(handler_timeout=1)
    calls: list[str] = []

    async def outer(event: Event) -> None:
        await asyncio.sleep(0)
        await bus.emit("inner.event", source="outer")
        calls.append("outer done")

    async def inner(event: Event) -> None:
        await asyncio.sleep(0)
        calls.append(f"inner from {event.source}")

    bus.subscribe("outer.event", outer)
    bus.subscribe("inner.event", inner)
    await bus.emit("outer.event")
    assert calls == ["inner from outer", "outer done"]


# --------------------------------------------------------------------------- subscriptions


async def test_once_runs_a_single_time() -> None:
    bus = EventBus()
    calls: list[str] = []
    view = EventsView(bus, "p", owner="p")
    view.once("boot.done", lambda e: calls.append("once"))
    await bus.emit("boot.done")
    await bus.emit("boot.done")
    assert calls == ["once"]
    assert view.subscriptions() == []


async def test_off_by_subscription_by_name_and_handler_and_by_name() -> None:
    bus = EventBus()
    view = EventsView(bus, "p", owner="p")
    calls: list[str] = []

    def a(e: Event) -> None:
        calls.append("a")

    def b(e: Event) -> None:
        calls.append("b")

    sub = view.on("x.y", a)
    view.on("x.y", b)
    view.on("x.*", a)
    assert view.off(sub) == 1
    assert view.off(sub) == 0
    await bus.emit("x.y")
    assert sorted(calls) == ["a", "b"]  # 'x.*' -> a, 'x.y' -> b
    assert view.off("x.y", b) == 1
    assert view.off("x.*") == 1
    calls.clear()
    await bus.emit("x.y")
    assert calls == []


async def test_off_during_dispatch_takes_effect_at_once() -> None:
    bus = EventBus()
    calls: list[str] = []
    later = bus.subscribe("a.b", lambda e: calls.append("later"))
    bus.subscribe("a.b", lambda e: later.cancel(), priority=99)
    await bus.emit("a.b")
    assert calls == []


async def test_subscribing_after_an_emit_is_seen_by_the_next_emit() -> None:
    bus = EventBus()
    calls: list[str] = []
    await bus.emit("user.created")  # resolves and caches "no handler"
    bus.subscribe("user.*", lambda e: calls.append(e.name))
    await bus.emit("user.created")
    assert calls == ["user.created"]


def test_bad_handler_or_priority_is_refused() -> None:
    bus = EventBus()
    with pytest.raises(TypeError, match="callable"):
        bus.subscribe("a.b", "not a function")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="priority"):
        bus.subscribe("a.b", lambda e: None, priority="high")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="handler_timeout"):
        EventBus(handler_timeout=0)
    assert bus.subscriptions() == []


# --------------------------------------------------------------------------- per-plugin views


async def test_view_sets_the_source_and_only_removes_its_own_subscriptions() -> None:
    bus = EventBus()
    accounts = EventsView(bus, "accounts", owner="accounts")
    mailer = EventsView(bus, "mailer", owner="mailer")
    seen: list[tuple[str, str | None]] = []

    def record(event: Event) -> None:
        seen.append((event.name, event.source))

    mailer.on("user.created", record)
    accounts.on("user.created", record)
    assert accounts.off("user.created", record) == 1
    await accounts.emit("user.created", {"id": 1})
    assert seen == [("user.created", "accounts")]
    assert bus.remove_owner("mailer") == 1
    assert bus.subscriptions() == []


async def test_view_decorator_form() -> None:
    bus = EventBus()
    view = EventsView(bus, "p", owner="p")
    calls: list[Any] = []

    @view.on("user.created", priority=10)
    async def on_user(event: Event) -> None:
        calls.append(event.data)

    await view.emit("user.created", 5)
    assert calls == [5]
    assert view.subscriptions()[0].handler is on_user


async def test_plugins_cannot_emit_kernel_events_but_can_follow_them() -> None:
    bus = EventBus()
    view = EventsView(bus, "intruder", owner="intruder")
    seen: list[str] = []
    view.on("xcore.plugin.*", lambda e: seen.append(e.name))
    with pytest.raises(ReservedEventName, match="intruder"):
        await view.emit(kernel.PLUGIN_LOADED, {"plugin": "fake", "version": None})
    with pytest.raises(ReservedEventName):
        view.emit_nowait(kernel.PLUGIN_FAILED)
    assert seen == []
    await bus.emit(kernel.PLUGIN_LOADED, {"plugin": "real", "version": "1.0"}, source="xcore")
    assert seen == [kernel.PLUGIN_LOADED]


# --------------------------------------------------------------------------- fire and forget


async def test_emit_nowait_runs_in_the_background_and_keeps_its_task() -> None:
    bus = EventBus()
    gate = asyncio.Event()

    async def handler(event: Event) -> str:
        await gate.wait()
        return "handled"

    bus.subscribe("a.b", handler)
    future = bus.emit_nowait("a.b")
    assert bus.pending == 1
    gate.set()
    assert [r.value for r in await future] == ["handled"]
    assert bus.pending == 0
    assert await bus.emit_nowait("nobody.listens") == []


async def test_emit_nowait_checks_the_name_before_returning() -> None:
    with pytest.raises(InvalidEventName):
        EventBus().emit_nowait("bad..name")


class Fatal(BaseException):
    """Escapes the handler isolation (which catches Exception), as a bug in dispatch would."""


async def test_emit_nowait_reports_a_failed_dispatch(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()

    def fatal(event: Event) -> None:
        raise Fatal("dispatch broke")

    bus.subscribe("a.b", fatal)
    with caplog.at_level(logging.ERROR, logger="xcore.events"):
        future = bus.emit_nowait("a.b")
        with pytest.raises(Fatal):
            await future
        await asyncio.sleep(0)
    assert any("background emit failed" in r.getMessage() and "'a.b'" in r.getMessage() for r in caplog.records)


async def test_emit_nowait_from_a_thread_reaches_the_loop() -> None:
    bus = EventBus()
    bus.bind_loop(asyncio.get_running_loop())
    seen: list[str] = []
    bus.subscribe("job.finished", lambda e: seen.append(e.data))
    future = await asyncio.to_thread(bus.emit_nowait, "job.finished", "from a thread")
    await asyncio.wrap_future(future)  # type: ignore[arg-type]
    assert seen == ["from a thread"]


def test_emit_nowait_from_a_thread_without_a_started_bus_says_why() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        EventBus().emit_nowait("a.b")


async def test_drain_waits_for_background_emits_and_cancels_stragglers() -> None:
    bus = EventBus(handler_timeout=60)
    done: list[str] = []

    async def quick(event: Event) -> None:
        await asyncio.sleep(0.01)
        done.append("quick")

    async def stuck(event: Event) -> None:
        await asyncio.Event().wait()

    bus.subscribe("quick", quick)
    bus.subscribe("stuck", stuck)
    bus.emit_nowait("quick")
    straggler = bus.emit_nowait("stuck")
    await bus.drain(timeout=0.2)
    assert done == ["quick"]
    assert straggler.cancelled()


# --------------------------------------------------------------------------- @on and subscribe_marked


class Mailer(TrustedBase):
    def __init__(self) -> None:
        self.sent: list[str] = []

    @on("user.created")
    async def welcome(self, event: Event) -> str:
        self.sent.append(f"welcome {event.data['email']}")
        return "sent"

    @on("user.deleted", priority=90)
    @on("user.banned")
    def goodbye(self, event: Event) -> None:
        self.sent.append(f"goodbye {event.name}")

    @on("system.ready", once=True)
    def ready(self, event: Event) -> None:
        self.sent.append("ready")


class QuietMailer(Mailer):
    def goodbye(self, event: Event) -> None:  # overridden without a mark: not subscribed
        self.sent.append("quiet")


async def test_marked_methods_subscribe_bound_through_the_plugin_view() -> None:
    bus = EventBus()
    view = EventsView(bus, "mailer", owner="mailer")
    plugin = Mailer()
    subs = subscribe_marked(view, plugin)
    assert len(subs) == 4 and all(s.owner == "mailer" for s in subs)
    results = await bus.emit("user.created", {"email": "a@example.com"})
    await bus.emit("user.banned")
    await bus.emit("system.ready")
    await bus.emit("system.ready")
    assert [r.value for r in results] == ["sent"]
    assert plugin.sent == ["welcome a@example.com", "goodbye user.banned", "ready"]
    assert bus.remove_owner("mailer") == 3  # the once-subscription is gone already


async def test_an_override_without_the_mark_is_not_subscribed() -> None:
    bus = EventBus()
    plugin = QuietMailer()
    subscribe_marked(EventsView(bus, "q", owner="q"), plugin)
    await bus.emit("user.banned")
    assert plugin.sent == []


async def test_marked_module_functions_subscribe_too() -> None:
    module = types.ModuleType("module_plugin")
    calls: list[str] = []

    @on("order.*")
    def audit(event: Event) -> None:
        calls.append(event.name)

    module.audit = audit  # type: ignore[attr-defined]
    module.unrelated = lambda: None  # type: ignore[attr-defined]
    bus = EventBus()
    assert len(subscribe_marked(EventsView(bus, "m", owner="m"), module)) == 1
    await bus.emit("order.placed")
    assert calls == ["order.placed"]
    assert subscribe_marked(EventsView(bus, "none", owner="none"), None) == []


def test_a_bad_pattern_in_the_decorator_fails_at_definition() -> None:
    with pytest.raises(InvalidEventName, match="whole segment"):

        @on("user.cre*ted")
        def handler(event: Event) -> None: ...


# --------------------------------------------------------------------------- kernel events


def test_kernel_event_names_are_in_the_host_namespace_and_documented() -> None:
    from pathlib import Path

    docs = (Path(__file__).parent.parent / "docs" / "events.md").read_text()
    assert len(kernel.KERNEL_EVENTS) == 11
    for name, payload in kernel.PAYLOADS.items():
        assert name.startswith("xcore.")
        assert f"`{name}`" in docs, f"{name} is not documented in docs/events.md"
        for key in payload.__annotations__:
            assert f"`{key}`" in docs, f"payload key {key!r} of {name} is not documented"
