"""What the host records of each plugin, and how it calls one plugin's own hook implementations.

Per-plugin hooks (``xcore_on_load``, ``xcore_handle``...) are called for one plugin at a time with
its own context, so a failing or slow plugin can be timed out and recorded without touching the
others. :class:`PluginHooks` finds that plugin's implementations once, through pluggy's registry,
and calls each through a pluggy subset caller holding that plugin alone, so pluggy matches the
arguments and traces the call as it does for every hook (see :mod:`xcore._hookcalls`).
"""

from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass, field
from typing import Any, Literal

import pluggy

from xcore import _hookspecs as hookspecs
from xcore._discovery import PluginSource
from xcore._observability import tracing
from xcore._ordering import Dependencies
from xcore.sdk._context import PluginContext, PluginHandle

PluginState = Literal["disabled", "registered", "loaded", "failed", "unloaded"]

HOOK_NAMES = frozenset(name for name in dir(hookspecs) if name.startswith("xcore_"))


@dataclass(eq=False)
class PluginRecord:
    """One plugin as the host knows it: origin, state, error, hooks, mount point."""

    source: PluginSource
    state: PluginState = "registered"
    error: str | None = None
    handle: PluginHandle | None = None
    hooks: PluginHooks | None = None
    context: PluginContext | None = None
    dependencies: Dependencies = field(default_factory=Dependencies)
    mounted_at: str | None = None

    @property
    def name(self) -> str:
        return self.source.name

    def fail(self, error: str) -> None:
        self.state, self.error = "failed", error

    def report(self) -> dict[str, Any]:
        """The row shown by ``xcore plugins`` and ``GET /health/ready``."""
        return {
            "name": self.name,
            "kind": self.source.kind,
            "version": self.source.version,
            "distribution": self.source.distribution,
            "source": self.source.target,
            "state": self.state,
            "error": self.error,
            "hooks": sorted(self.hooks.names) if self.hooks else [],
            "requires": list(self.dependencies.requires),
            "mounted_at": self.mounted_at,
            **(
                {"sandbox": sandbox()}
                if (sandbox := getattr(self.handle and self.handle.instance, "sandbox_report", None))
                else {}
            ),
        }


class PluginHooks:
    """The hook implementations of one registered plugin object, by hook name."""

    def __init__(self, impls: dict[str, pluggy.HookImpl] | None = None, pm: pluggy.PluginManager | None = None) -> None:
        self.impls: dict[str, pluggy.HookImpl] = impls or {}
        self._pm = pm
        self._callers: dict[str, pluggy.HookCaller] = {}

    @classmethod
    def index(cls, pm: pluggy.PluginManager) -> dict[str, PluginHooks]:
        """Every registered plugin's implementations, by plugin name, in one pass over pluggy's registry.

        (``pm.get_hookcallers(plugin)`` scans every implementation per plugin: quadratic at boot.)
        """
        found: dict[str, PluginHooks] = {}
        for caller in vars(pm.hook).values():
            if not isinstance(caller, pluggy.HookCaller):
                continue
            for impl in caller.get_hookimpls():
                found.setdefault(impl.plugin_name, cls(pm=pm)).impls[caller.name] = impl
        return found

    @property
    def names(self) -> list[str]:
        return list(self.impls)

    def __contains__(self, hook: str) -> bool:
        return hook in self.impls

    def bind(self, hook: str, **kwargs: Any) -> Any:
        """A zero-argument callable running ``hook`` with the arguments its implementation accepts."""
        impl = self.impls[hook]
        args = [kwargs[name] for name in impl.argnames]
        function = impl.function
        return lambda: function(*args)

    def forget_callers(self) -> None:
        """Drop the built callers: another plugin was registered or unregistered since (runtime changes)."""
        self._callers.clear()

    def caller(self, hook: str) -> pluggy.HookCaller:
        """A pluggy caller of ``hook`` holding this plugin's implementation alone (built once).

        Built on first use, after every plugin is registered (the host registers them all first).
        """
        caller = self._callers.get(hook)
        if caller is None:
            assert self._pm is not None, "PluginHooks.index() builds hooks that can be called"
            mine = self.impls[hook].plugin
            others = {i.plugin for i in getattr(self._pm.hook, hook).get_hookimpls() if i.plugin is not mine}
            caller = self._callers[hook] = self._pm.subset_hook_caller(hook, others)
        return caller

    async def call(self, hook: str, **kwargs: Any) -> Any:
        """Run ``hook`` if this plugin implements it (awaiting a coroutine result); else ``None``."""
        if hook not in self.impls:
            return None
        if tracing.TRACER is not None:
            plugin = self.impls[hook].plugin_name
            with tracing.span(f"hook {plugin}.{hook}", plugin, **{"xcore.hook": hook}):
                return await self._call(hook, kwargs)
        return await self._call(hook, kwargs)

    async def _call(self, hook: str, kwargs: dict[str, Any]) -> Any:
        results = self.caller(hook)(**kwargs)
        result = results[0] if results else None
        if inspect.isawaitable(result):
            result = await result
        return result


def unknown_hooks(plugin: object) -> list[str]:
    """Names of ``@hookimpl`` functions on ``plugin`` that match no hookspec, with a suggestion."""
    problems = []
    for attr in dir(plugin):
        if not attr.startswith("xcore_") or attr in HOOK_NAMES:
            continue
        value = getattr(plugin, attr, None)
        if getattr(value, f"{hookspecs.PROJECT_NAME}_impl", None) is None:
            continue
        guess = difflib.get_close_matches(attr, HOOK_NAMES, n=1)
        problems.append(f"{attr} (did you mean {guess[0]}?)" if guess else attr)
    return problems


def declared_dependencies(plugin: object) -> Dependencies:
    """``requires`` / ``load_after`` declared on a plugin class or module."""

    def names(attr: str) -> tuple[str, ...]:
        value = getattr(plugin, attr, ())
        if isinstance(value, str):
            return (value,)
        return tuple(str(v) for v in value or ())

    return Dependencies(requires=names("requires"), load_after=names("load_after"))
