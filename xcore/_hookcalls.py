"""How the host calls hooks, so that every pluggy option means what pluggy says it means.

*Broadcast hooks* are called through pluggy's own machinery (``pm.hook`` or a subset caller that leaves
out failed plugins): ``wrapper=True`` / ``hookwrapper=True`` implementations wrap the others,
``tryfirst`` / ``trylast`` order them, ``firstresult`` stops at the first answer, and tracing
(``XCORE_TRACE_HOOKS=1``) shows the call. What XCore adds is isolation: each plain (non-wrapper)
implementation is wrapped once, at registration, so that the host learns which plugin returned what
and which one raised. A raising implementation is recorded against its plugin and counts as
returning ``None``; the other implementations and the wrappers still run. A coroutine an
implementation returns is awaited by the host after pluggy's call, in call order, with the same
isolation (wrappers see the coroutine, not its result: pluggy itself is synchronous).

*Per-plugin hooks* are called for one plugin at a time, through a pluggy subset caller holding only
that plugin (so tracing shows them too). Options that order or wrap *other* implementations cannot
apply to them: a per-plugin hook with ``wrapper``, ``hookwrapper``, ``tryfirst`` or ``trylast`` is
refused at registration, naming the plugin, the hook and the option. A wrapper there would also see
every other plugin's context and payload, which no plugin may.

``xcore_register_service`` and ``xcore_register_commands`` run while the configuration is checked or
the command line is built, outside any event loop: a coroutine function there is refused at
registration too. Every other hook may be a coroutine function.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import Any

import pluggy

BROADCAST_HOOKS = frozenset(
    {"xcore_register_service", "xcore_register_commands", "xcore_host_started", "xcore_host_stopping"}
)
PER_PLUGIN_HOOKS = frozenset({"xcore_on_load", "xcore_get_router", "xcore_handle", "xcore_health", "xcore_on_unload"})
SYNC_ONLY_HOOKS = frozenset({"xcore_register_service", "xcore_register_commands"})
"""Called outside any event loop (configuration check, CLI start): no coroutine functions."""

_ORDERING_AND_WRAPPING = ("wrapper", "hookwrapper", "tryfirst", "trylast")


def option_problems(impls: dict[str, pluggy.HookImpl]) -> list[str]:
    """What in one plugin's implementations the host cannot honour, one sentence per problem."""
    problems = []
    for hook, impl in sorted(impls.items()):
        if hook in PER_PLUGIN_HOOKS:
            used = [option for option in _ORDERING_AND_WRAPPING if getattr(impl, option)]
            if used:
                problems.append(
                    f"{hook} is marked {', '.join(f'{o}=True' for o in used)}, but it is a per-plugin hook: "
                    "the host calls it for this plugin alone, so there is nothing to wrap or order (load order "
                    "comes from requires / load_after); remove the option"
                )
        if hook in SYNC_ONLY_HOOKS and (
            inspect.iscoroutinefunction(impl.function) or inspect.isasyncgenfunction(impl.function)
        ):
            problems.append(
                f"{hook} is a coroutine function, but it is called outside any event loop (while the "
                "configuration is checked or the command line is built); make it a plain def"
            )
    return problems


@dataclass
class Outcome:
    """What one plugin's implementation did in a broadcast call."""

    plugin: str
    value: Any = None
    error: BaseException | None = None


class BroadcastRecorder:
    """Wraps plain implementations of broadcast hooks so the host knows who returned or raised what."""

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []

    def guard(self, impl: pluggy.HookImpl) -> None:
        """Wrap ``impl`` (once): record its result or exception; an exception becomes ``None``."""
        if impl.wrapper or impl.hookwrapper or getattr(impl.function, "_xcore_guarded", False):
            return
        function = impl.function
        plugin = impl.plugin_name
        outcomes = self.outcomes

        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                value = function(*args, **kwargs)
            except Exception as exc:
                outcomes.append(Outcome(plugin, error=exc))
                return None
            if inspect.isawaitable(value):
                return _recorded(plugin, value, outcomes)
            outcomes.append(Outcome(plugin, value))
            return value

        guarded._xcore_guarded = True  # type: ignore[attr-defined]
        guarded.__wrapped__ = function  # type: ignore[attr-defined]
        # HookImpl.function is what pluggy's call loop runs; argnames were read from the original.
        setattr(impl, "function", guarded)  # noqa: B010

    def call(self, pm: pluggy.PluginManager, hook: str, skip: Iterable[object], kwargs: dict[str, Any]) -> Any:
        """Run ``hook`` through pluggy, leaving out the plugin objects in ``skip``; fresh outcomes."""
        self.outcomes.clear()
        caller = pm.subset_hook_caller(hook, skip)
        return caller(**kwargs)

    def answers(self, results: list[Any], impls: Iterable[pluggy.HookImpl]) -> list[tuple[str | None, Any]]:
        """Each answer pluggy returned (wrappers may have changed them) with the plugin that gave it.

        The giver is the implementation that returned that very object, else the outermost wrapper, which
        made it; ``None`` when there is neither.
        """
        givers = {id(o.value): o.plugin for o in self.outcomes if o.error is None}
        wrappers = [impl.plugin_name for impl in impls if impl.wrapper or impl.hookwrapper]
        return [(givers.get(id(answer)) or (wrappers[-1] if wrappers else None), answer) for answer in results]

    def errors(self) -> list[tuple[str, BaseException]]:
        """``(plugin, exception)`` for each implementation that raised in the last call, in call order."""
        return [(outcome.plugin, outcome.error) for outcome in self.outcomes if outcome.error is not None]

    async def settle(self, results: Any) -> None:
        """Await, in call order, the coroutines the implementations returned."""
        for item in results if isinstance(results, list) else [results]:
            if inspect.isawaitable(item):
                await item


async def _recorded(plugin: str, awaitable: Awaitable[Any], outcomes: list[Outcome]) -> Any:
    try:
        value = await awaitable
    except Exception as exc:
        outcomes.append(Outcome(plugin, error=exc))
        return None
    outcomes.append(Outcome(plugin, value))
    return value


def culprit(exc: BaseException, impls: Iterable[pluggy.HookImpl]) -> str | None:
    """The plugin whose implementation (a wrapper: the others are guarded) appears deepest in ``exc``'s traceback."""
    codes = {getattr(impl.function, "__code__", None): impl.plugin_name for impl in impls}
    found = None
    tb = exc.__traceback__
    while tb is not None:
        found = codes.get(tb.tb_frame.f_code, found)
        tb = tb.tb_next
    return found
