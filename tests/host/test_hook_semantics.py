"""Hooks keep pluggy's semantics: broadcast hooks run through pluggy's call loop (wrappers, tryfirst /
trylast, tracing), per-plugin hooks refuse the options they cannot honour, and async implementations
are awaited where the hookspec allows them and refused at registration where it does not."""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import replace
from typing import Any

import pluggy
import pytest

from xcore import Xcore, hookimpl
from xcore import _hookspecs as hookspecs
from xcore.sdk import TrustedBase, action, ok

from .support import config

Order = list[str]


def ordering_plugins(order: Order) -> dict[str, object]:
    """Two plain implementations (one tryfirst), a new-style wrapper and an old-style hookwrapper."""

    class Late:
        @hookimpl
        def xcore_host_started(self) -> None:
            order.append("late")

    class Early:
        @hookimpl(tryfirst=True)
        def xcore_host_started(self) -> None:
            order.append("early")

    class Wrapper:
        @hookimpl(wrapper=True)
        def xcore_host_started(self) -> Generator[None, Any, Any]:
            order.append("wrapper before")
            result = yield
            order.append("wrapper after")
            return result

    class OldWrapper:
        @hookimpl(hookwrapper=True, trylast=True)
        def xcore_host_started(self) -> Generator[None, Any, None]:
            order.append("hookwrapper before")
            yield
            order.append("hookwrapper after")

    # registered late-first, so that only tryfirst can put "early" first
    return {"wrapper": Wrapper(), "late": Late(), "early": Early(), "old": OldWrapper()}


async def test_broadcast_hooks_run_wrappers_and_order_as_pluggy_does() -> None:
    seen: Order = []
    host = Xcore(config=config(), plugins=ordering_plugins(seen), discover=False)
    await host.boot()
    await host.shutdown()

    direct: Order = []
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name, plugin in ordering_plugins(direct).items():
        pm.register(plugin, name=name)
    pm.hook.xcore_host_started(host=None)
    assert seen == direct
    assert seen == ["wrapper before", "hookwrapper before", "early", "late", "hookwrapper after", "wrapper after"]


async def test_a_wrapper_sees_and_may_change_what_register_service_returns() -> None:
    from tests.host.test_services import ProbeBackend

    class Renamer:
        @hookimpl(wrapper=True)
        def xcore_register_service(self) -> Generator[None, Any, Any]:
            declared = yield
            return [
                [replace(item, name="renamed") if item.name == "scoped" else item for item in group]
                if isinstance(group, list)
                else group
                for group in declared
            ]

    host = Xcore(config=config(), plugins={"probes": ProbeBackend(), "renamer": Renamer()}, discover=False)
    host.prepare()
    registered = {(r.type.kind, r.type.name): r.provider for r in host.service_types}
    # the wrapper ran inside pluggy's call and the host took what it returned; a new answer is the wrapper's
    assert registered[("extension", "renamed")] == "renamer"
    assert ("extension", "scoped") not in registered
    assert registered[("database", "probe")] == "renamer"


async def test_a_raising_implementation_is_logged_with_its_plugin_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: Order = []

    class Broken:
        @hookimpl(tryfirst=True)
        async def xcore_host_started(self) -> None:
            raise RuntimeError("broken on purpose")

    class Fine:
        @hookimpl
        def xcore_host_started(self) -> None:
            seen.append("fine")

    host = Xcore(config=config(), plugins={"broken": Broken(), "fine": Fine()}, discover=False)
    with caplog.at_level(logging.ERROR, logger="xcore"):
        await host.boot()
    await host.shutdown()
    assert seen == ["fine"]
    assert "plugin 'broken': xcore_host_started raised" in caplog.text
    assert "broken on purpose" in caplog.text


async def test_failed_plugins_are_left_out_of_broadcasts() -> None:
    seen: Order = []

    class FailsToLoad(TrustedBase):
        async def on_load(self) -> None:
            raise RuntimeError("no")

        @hookimpl
        def xcore_host_started(self) -> None:
            seen.append("failed plugin")

    host = Xcore(config=config(), plugins={"bad": FailsToLoad}, discover=False)
    await host.boot()
    await host.shutdown()
    assert seen == []


@pytest.mark.parametrize(
    ("options", "hook", "fragment"),
    [
        ({"wrapper": True}, "xcore_on_load", "xcore_on_load is marked wrapper=True, but it is a per-plugin hook"),
        ({"hookwrapper": True}, "xcore_handle", "xcore_handle is marked hookwrapper=True"),
        ({"tryfirst": True}, "xcore_health", "xcore_health is marked tryfirst=True"),
        ({"trylast": True}, "xcore_get_router", "xcore_get_router is marked trylast=True"),
    ],
)
async def test_options_a_per_plugin_hook_cannot_honour_fail_that_plugin_at_registration(
    options: dict[str, bool], hook: str, fragment: str
) -> None:
    wrapping = options.get("wrapper") or options.get("hookwrapper")

    def implementation(ctx: Any) -> Any:
        if wrapping:
            yield
        return None

    plugin = type("Odd", (), {hook: hookimpl(**options)(implementation if wrapping else (lambda ctx: None))})()

    class Neighbour(TrustedBase):
        @action()
        async def ping(self, payload: dict[str, Any]) -> dict[str, Any]:
            return ok()

    host = Xcore(config=config(), plugins={"odd": plugin, "neighbour": Neighbour}, discover=False)
    await host.boot()
    try:
        odd = host.records["odd"]
        assert odd.state == "failed"
        assert odd.error is not None and odd.error.startswith("hook options XCore cannot honour: " + fragment)
        assert "remove the option" in odd.error
        assert host.pm.get_plugin("odd") is None  # nothing of it is ever called
        assert host.records["neighbour"].state == "loaded"
        assert await host.call("neighbour", "ping", {}) == ok()
    finally:
        await host.shutdown()


@pytest.mark.parametrize("hook", ["xcore_register_service", "xcore_register_commands"])
async def test_async_implementations_of_sync_only_hooks_are_refused_at_registration(hook: str) -> None:
    async def declare(cli: Any = None) -> None:
        return None

    plugin = type("AsyncDeclarer", (), {hook: hookimpl(declare)})()
    host = Xcore(config=config(), plugins={"eager": plugin}, discover=False)
    await host.boot()  # the boot goes on; before, an async xcore_register_service failed it with a ConfigError
    try:
        error = host.records["eager"].error
        assert host.records["eager"].state == "failed"
        assert error is not None and f"{hook} is a coroutine function, but it is called outside any event loop" in error
    finally:
        await host.shutdown()


async def test_async_host_hooks_are_awaited() -> None:
    seen: Order = []

    class Async:
        @hookimpl
        async def xcore_host_started(self, host: Xcore) -> None:
            seen.append(f"started {len(host.plugins)}")

        @hookimpl
        async def xcore_host_stopping(self) -> None:
            seen.append("stopping")

    host = Xcore(config=config(), plugins={"async": Async()}, discover=False)
    await host.boot()
    await host.shutdown()
    assert seen[0].startswith("started ") and seen[1:] == ["stopping"]


async def test_trace_shows_every_hook_call_per_plugin_ones_included(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("XCORE_TRACE_HOOKS", "1")

    class Traced(TrustedBase):
        @action()
        async def ping(self, payload: dict[str, Any]) -> dict[str, Any]:
            return ok(pong=True)

    host = Xcore(config=config(), plugins={"traced": Traced}, discover=False)
    with caplog.at_level(logging.DEBUG, logger="xcore.hooks"):
        await host.boot()
        assert await host.call("traced", "ping", {}) == ok(pong=True)
        await host.health()
        await host.shutdown()
    traced = "\n".join(r.getMessage() for r in caplog.records if r.name == "xcore.hooks")
    for hook in (
        "xcore_register_service",
        "xcore_on_load",
        "xcore_get_router",
        "xcore_handle",
        "xcore_health",
        "xcore_host_started",
        "xcore_host_stopping",
        "xcore_on_unload",
    ):
        assert f"{hook} [hook]" in traced, f"{hook} is not in the trace:\n{traced}"
    assert "name='traced'" in traced  # per-plugin calls show the plugin's context
