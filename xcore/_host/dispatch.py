"""The action dispatcher: ``Xcore.call(plugin, action, payload)`` and the HTTP action endpoint use it.

Each loaded plugin implementing ``xcore_handle`` gets one entry, an ``async (action, payload)``
callable resolved at load time, so a call costs a dict lookup, one Python call and an await. An
unknown plugin gets a :class:`~xcore.errors.PluginNotFoundError` that says why (failed, disabled, not
loaded, no actions) from the plugin records.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from xcore._errors import PluginNotFoundError
from xcore._observability import metrics as observed
from xcore._observability import tracing
from xcore._plugins import PluginRecord
from xcore.sdk._base import TrustedBase
from xcore.sdk._context import PluginContext

ActionHandler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class ActionDispatcher:
    """Plugin name -> action handler, for the plugins loaded now."""

    def __init__(self, records: Mapping[str, PluginRecord], *, tracing: bool = False) -> None:
        self._records = records
        self._tracing = tracing
        self._handlers: dict[str, ActionHandler] = {}

    def add(self, record: PluginRecord, ctx: PluginContext) -> None:
        """Make ``record``'s actions callable (only if it implements ``xcore_handle``)."""
        assert record.hooks is not None
        if "xcore_handle" in record.hooks:
            self._handlers[record.name] = _traced_handler(record, ctx) if self._tracing else _handler(record, ctx)

    def remove(self, plugin: str) -> None:
        """Forget ``plugin``'s actions (it is unloading, or failed)."""
        self._handlers.pop(plugin, None)

    async def call(self, plugin: str, action: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run ``action`` of ``plugin`` in process and return its response dict."""
        try:
            handler = self._handlers[plugin]
        except KeyError:
            raise self._not_found(plugin) from None
        call = handler(action, {} if payload is None else payload)
        if tracing.TRACER is not None:
            call = tracing.traced(f"action {plugin}.{action}", plugin, call, **{"xcore.action": action})
        metrics = observed.ACTIVE
        if metrics is None:
            return await call
        return await metrics.timed_action(plugin, action, call)

    def _not_found(self, plugin: str) -> PluginNotFoundError:
        record = self._records.get(plugin)
        if record is not None and record.state == "failed":
            return PluginNotFoundError(f"plugin {plugin!r} failed to load: {record.error}")
        if record is not None and record.state == "disabled":
            return PluginNotFoundError(
                f"plugin {plugin!r} is disabled (in the configuration, or at runtime by an operator)"
            )
        if record is not None and record.state != "loaded":
            return PluginNotFoundError(f"plugin {plugin!r} is not loaded (state: {record.state})")
        if record is not None and record.hooks is not None and "xcore_handle" in record.hooks:
            return PluginNotFoundError(f"plugin {plugin!r} is being disabled or reloaded (docs/operations.md)")
        if record is not None:
            return PluginNotFoundError(f"plugin {plugin!r} has no actions (it does not implement handle)")
        known = sorted(self._handlers)
        return PluginNotFoundError(f"no plugin named {plugin!r}; plugins with actions: {', '.join(known) or '(none)'}")


def _traced_handler(record: PluginRecord, ctx: PluginContext) -> ActionHandler:
    """With ``XCORE_TRACE_HOOKS``, actions run through pluggy's caller too, so the trace shows them."""
    hooks = record.hooks
    assert hooks is not None

    async def handler(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await hooks.call("xcore_handle", ctx=ctx, action=action, payload=payload)
        return result

    return handler


def _handler(record: PluginRecord, ctx: PluginContext) -> ActionHandler:
    assert record.hooks is not None and record.handle is not None
    instance = record.handle.instance
    if isinstance(instance, TrustedBase):
        # The class-based face: call the plugin's own ``handle`` without the hook's extra frame.
        return instance.handle
    impl = record.hooks.impls["xcore_handle"]
    function = impl.function
    # Argument positions are fixed at load, so a call costs one Python call and an await.
    takes_ctx = impl.argnames[:1] == ("ctx",)
    if impl.argnames not in (("ctx", "action", "payload"), ("action", "payload")):
        bound = record.hooks.bind  # an unusual subset of the arguments: resolve by name per call

        def call(action: str, payload: dict[str, Any]) -> Any:
            return bound("xcore_handle", ctx=ctx, action=action, payload=payload)()
    elif takes_ctx:

        def call(action: str, payload: dict[str, Any]) -> Any:
            return function(ctx, action, payload)
    else:
        call = function
    if inspect.iscoroutinefunction(function):
        return call  # type: ignore[no-any-return]

    async def handler(action: str, payload: dict[str, Any]) -> dict[str, Any]:
        result: Any = call(action, payload)
        if inspect.isawaitable(result):
            result = await result
        return result  # type: ignore[no-any-return]

    return handler
