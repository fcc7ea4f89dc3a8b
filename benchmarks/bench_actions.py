"""In-process actions: ``await host.call(plugin, action, payload)`` against calling the plugin directly.

The baseline is the plugin's own code awaited with no host in between (``await plugin.handle(action,
payload)`` for a ``TrustedBase`` plugin, the ``xcore_handle`` function for a module plugin), so the
difference is exactly what the host adds per call: the name lookup and one coroutine frame. The target
is an overhead under 1 microsecond (``bench_original`` measures the original XCore's own action call
side by side). Both paths run back to back in many short rounds in one event loop (the order alternates);
figures are medians in ns per call, loop overhead included on both sides alike, and the overhead is the
median of the per-round differences, which a preemption on this shared machine spoils only once.
"""

from __future__ import annotations

import types
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.common import Result, paired_async
from xcore import Xcore, hookimpl
from xcore.sdk import TrustedBase, action, ok
from xcore.testing.configs import no_services

AREA = "actions"
BUDGET_NS = 1000.0


class RoutedPlugin(TrustedBase):
    """Actions routed by ``@action`` (the SDK's default ``handle``)."""

    @action("ping")
    async def ping(self, payload: dict[str, Any]) -> dict[str, Any]:
        return ok(echo=payload.get("n"))


class HandWrittenPlugin(TrustedBase):
    """A ``handle`` written by hand, as in the spec's examples."""

    async def handle(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action == "ping":
            return ok(echo=payload.get("n"))
        return ok()


def module_plugin() -> types.ModuleType:
    """A module-style plugin: a plain ``@hookimpl`` coroutine function instead of a class."""
    module = types.ModuleType("bench_module_plugin")

    @hookimpl
    async def xcore_handle(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        return ok(echo=payload.get("n"))

    module.xcore_handle = xcore_handle  # type: ignore[attr-defined]
    return module


async def run(quick: bool) -> list[Result]:
    ops, rounds = (1_000, 41) if quick else (2_000, 301)
    module = module_plugin()
    host = Xcore(
        config={"services": no_services()},
        plugins={"routed": RoutedPlugin, "handwritten": HandWrittenPlugin, "module": module},
        discover=False,
    )
    await host.boot()
    results: list[Result] = []
    try:
        payload = {"n": 1}
        routed = host.records["routed"].handle.instance  # type: ignore[union-attr]
        handwritten = host.records["handwritten"].handle.instance  # type: ignore[union-attr]
        cases: list[tuple[str, str, Callable[[], Awaitable[Any]], str]] = [
            ("TrustedBase @action", "routed", lambda: routed.handle("ping", payload), "plugin.handle()"),
            ("TrustedBase handle()", "handwritten", lambda: handwritten.handle("ping", payload), "plugin.handle()"),
            (
                "module @hookimpl xcore_handle",
                "module",
                lambda: module.xcore_handle("ping", payload),
                "the xcore_handle function",
            ),
        ]
        for label, name, direct, what in cases:
            assert (await host.call(name, "ping", payload)) == (await direct())

            def via_host(name: str = name) -> Any:
                return host.call(name, "ping", payload)

            xcore_ns, direct_ns, overhead = await paired_async(via_host, direct, ops, rounds)
            results.append(
                Result(
                    AREA,
                    f"xcore.call vs direct, {label}",
                    xcore_ns,
                    direct_ns,
                    "ns/call",
                    note=f"baseline: await {what} directly; median paired overhead {overhead:.0f} ns/call",
                )
            )
            results.append(
                Result(
                    AREA,
                    f"xcore.call overhead, {label}",
                    overhead,
                    BUDGET_NS,
                    "ns/call",
                    target=1.0,
                    note="baseline column is the 1 us budget; bench_original compares with the original XCore",
                )
            )
    finally:
        await host.shutdown()
    return results
