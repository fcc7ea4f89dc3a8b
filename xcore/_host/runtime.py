"""Changing the plugins of a serving host: disable, enable, reload, and applying a re-read configuration.

Every change goes through the lifecycle's single load and unload points, one change at a time (a
lock), so what a boot guarantees holds here too: ``on_unload`` runs bounded, services are told
``plugin_unloaded`` (the scheduler drops the plugin's jobs, the events service its subscriptions),
``plugin_loading`` / ``plugin_loaded`` on the way back in, and the kernel events are announced.

**Disable**: the plugin's actions go first (new calls get a "disabled" error), then its routes leave the
app (and the OpenAPI page: FastAPI's cached schema is dropped); a catch-all under its prefix answers
``503`` while the requests already inside finish (at most ``app.shutdown_timeout``), then ``404``
naming the plugin. Only then does it unload. A plugin another loaded plugin ``requires`` is refused.

**Enable**: the plugin is imported and registered again (found anew in the entry points when it
was installed after boot), then loaded with the checks of a boot (requirements, migrations).

**Reload**: disable, forget its modules (:mod:`.reimport`, trusted plugins) or let the next worker
process import them (sandboxed), read its entry point again, enable. A reload whose new code fails to
load leaves the plugin failed, with the error, and the host serving the others.

None of this is written back to the configuration: a restart (or a configuration reload) decides again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from xcore._config.models import XcoreConfig
from xcore._errors import PluginNotFoundError, XcoreError
from xcore._host.dispatch import ActionDispatcher
from xcore._host.gate import PluginGate
from xcore._host.lifecycle import PluginLifecycle
from xcore._host.registry import PluginRegistry, is_enabled
from xcore._host.reimport import check_purge, purge, top_package
from xcore._plugins import PluginRecord

log = logging.getLogger("xcore")


_UNKNOWN = PluginGate("")
"""Counts calls naming no known plugin (they fail at once); nobody waits on it."""


class PluginStateError(XcoreError):
    """A runtime change that cannot be made (a dependent plugin, an unknown name...); the message says why."""


class PluginRuntime:
    """Disable, enable and reload the plugins of one booted host."""

    def __init__(
        self, config: XcoreConfig, registry: PluginRegistry, lifecycle: PluginLifecycle, actions: ActionDispatcher
    ) -> None:
        self._config = config
        self._registry = registry
        self._lifecycle = lifecycle
        self._actions = actions
        self._lock = asyncio.Lock()
        self._away: dict[str, Any] = {}  # plugin -> its catch-all route while it is away

    # ------------------------------------------------------------------ the operations

    async def disable(self, name: str, *, reason: str = "disabled at runtime") -> dict[str, Any]:
        """Take plugin ``name`` out of service; a report ``{plugin, action, changed, state, in_flight_left}``."""
        async with self._lock:
            record = self._plugin(name, allow_new=False)
            return await self._disable(record, reason)

    async def enable(self, name: str) -> dict[str, Any]:
        """Load plugin ``name`` (installed, disabled or failed); the report says ``state`` and ``error``."""
        async with self._lock:
            record = self._plugin(name, allow_new=True)
            if record.state == "loaded":
                return self._report(record, "enable", changed=False)
            return await self._enable(record)

    async def reload(self, name: str) -> dict[str, Any]:
        """Unload plugin ``name``, read its code and entry point again, load it; the report has both versions."""
        async with self._lock:
            record = self._plugin(name, allow_new=False)
            before = record.source.version
            # Modules to forget: an installed or local plugin's package. Not a sandboxed one (its next worker
            # imports afresh), a given object, nor a plugins.directory one (its loader runs its file again).
            purges = record.source.group not in ("given", "directory") and name not in self._config.plugins.sandboxed
            if purges:
                others = [(r.name, r.source.target) for r in self._registry.plugins("loaded") if r is not record]
                check_purge(top_package(record.source.target), name, others)
            left = 0
            if record.state == "loaded":
                left = (await self._disable(record, "reloading", status=503))["in_flight_left"]
            elif record.handle is not None:
                self._registry.unregister_at_runtime(record)
            if purges:
                purge(top_package(record.source.target))
            source = self._registry.rescan(name) if record.source.group != "given" else None
            report = await self._enable(record, source)
            return {**report, "action": "reload", "previous_version": before, "in_flight_left": left}

    async def apply_plugins(self, new: XcoreConfig) -> list[dict[str, Any]]:
        """Make the loaded plugins match ``new.plugins`` (enabled, disabled, settings); one report per change.

        The new rules replace the old ones first, so a plugin enabled here reads its new settings.
        Plugins leave last-loaded first (a dependent before what it requires) and come in as their
        requirements allow; one that cannot change is reported with its error and the rest go on. A
        plugin whose settings changed is unloaded and loaded again (settings reach it at load).
        """
        async with self._lock:
            old_settings = self._config.plugins.settings
            self._config.plugins = new.plugins
            records = self._registry.plugins()
            wanted = {r.name: is_enabled(new.plugins, r.source) for r in records}
            position = {name: index for index, name in enumerate(self._lifecycle.load_order)}
            leaving = [r for r in records if not wanted[r.name] and r.state != "disabled"]
            leaving.sort(key=lambda r: position.get(r.name, -1), reverse=True)
            reports = [await self._disable_or_report(r, "disabled by the configuration") for r in leaving]
            changed = [r for r in records if r.state == "loaded" and wanted[r.name]
                       and old_settings.get(r.name) != new.plugins.settings.get(r.name)]  # fmt: skip
            reports += [await self._restart(record) for record in changed]
            arriving = [r for r in records if wanted[r.name] and r.state in ("disabled", "unloaded")]
            return reports + await self._enable_in_turn(arriving)

    async def _restart(self, record: PluginRecord) -> dict[str, Any]:
        """Unload and load ``record`` again (its settings changed); the report of the load, or of the refusal."""
        report = await self._disable_or_report(record, "restarting with new settings", status=503)
        if report.get("state") == "disabled":
            report = await self._enable(record)
        return {**report, "action": "settings"}

    async def _enable_in_turn(self, arriving: list[PluginRecord]) -> list[dict[str, Any]]:
        """Enable ``arriving``; one whose requirement arrives later in the list is tried again after it."""
        enabled: dict[str, dict[str, Any]] = {}
        while arriving:
            tried = [(r, await self._enable(r)) for r in arriving]
            enabled.update((r.name, report) for r, report in tried)
            left = [r for r, report in tried if report["state"] != "loaded"]
            if len(left) == len(arriving):
                break
            arriving = left
        return list(enabled.values())

    async def _disable_or_report(self, record: PluginRecord, reason: str, status: int = 404) -> dict[str, Any]:
        try:
            return await self._disable(record, reason, status)
        except PluginStateError as exc:
            return {**self._report(record, "disable", changed=False), "error": str(exc)}

    def gate(self, plugin: str) -> PluginGate:
        """The request gate of ``plugin``: ``with runtime.gate(name):`` counts a request a disable waits for."""
        return self._lifecycle.gates.get(plugin) or _UNKNOWN  # a name from a URL never adds an entry

    def rows(self) -> list[dict[str, Any]]:
        """Every application plugin's report, with the requests running inside it now (``in_flight``)."""
        return plugin_rows(self._registry.records, self._lifecycle.gates)

    # ------------------------------------------------------------------ the steps

    async def _disable(self, record: PluginRecord, reason: str, status: int = 404) -> dict[str, Any]:
        if record.state != "loaded":
            if record.handle is not None:
                self._registry.unregister_at_runtime(record)
            changed = record.state != "disabled"
            record.state, record.error = "disabled", None
            self._set_away(record, reason, status)
            return self._report(record, "disable", changed=changed)
        dependents = [r.name for r in self._registry.plugins("loaded") if record.name in r.dependencies.requires]
        if dependents:
            raise PluginStateError(
                f"plugin {record.name!r} is required by loaded plugin(s) {', '.join(sorted(dependents))}: "
                f"disable those first"
            )
        gate = self._set_away(record, f"plugin {record.name!r} is {reason}; requests in flight are finishing", 503)
        self._actions.remove(record.name)
        self._lifecycle.unmount(record)
        left = await gate.drain(self._config.app.shutdown_timeout)
        if left:
            log.warning(
                "plugin %r: %d request(s) still running after app.shutdown_timeout (%gs); unloading anyway",
                record.name,
                left,
                self._config.app.shutdown_timeout,
            )
        await self._lifecycle.unload(record)
        if record.name in self._lifecycle.load_order:
            self._lifecycle.load_order.remove(record.name)
        self._registry.unregister_at_runtime(record)
        record.state = "disabled"
        self._set_away(record, reason, status)
        log.info("plugin %r %s", record.name, reason)
        return {**self._report(record, "disable", changed=True), "in_flight_left": left}

    async def _enable(self, record: PluginRecord, source: Any = None) -> dict[str, Any]:
        if source is None and record.source.group not in ("given",):
            source = self._registry.rescan(record.name)  # installed after boot, or upgraded since
        if self._registry.register_at_runtime(record, source):
            await self._lifecycle.load_one(record, self._registry.checked_services, self._registry.migration_sources)
        if record.state == "loaded":
            self._clear_away(record)
        else:
            self._set_away(record, f"plugin {record.name!r} failed to load: {record.error}", 404)
            if record.handle is not None:
                self._registry.unregister_at_runtime(record)
        return self._report(record, "enable", changed=True)

    # ------------------------------------------------------------------ helpers

    def _plugin(self, name: str, *, allow_new: bool) -> PluginRecord:
        record = self._registry.records.get(name)
        if record is not None and record.source.kind == "plugin":
            return record
        if allow_new and (source := self._registry.rescan(name)) is not None:
            return self._registry.add_record(source)
        known = ", ".join(sorted(r.name for r in self._registry.plugins())) or "(none)"
        raise PluginNotFoundError(f"no plugin named {name!r}; plugins: {known}")

    def _set_away(self, record: PluginRecord, reason: str, status: int) -> PluginGate:
        gate = self._lifecycle.gates.setdefault(record.name, PluginGate(record.name))
        gate.away_status = status
        gate.away_reason = reason if reason.startswith("plugin ") else f"plugin {record.name!r} is {reason}"
        app = self._lifecycle.app
        if app is not None and record.name not in self._away:
            route = gate.away_route(f"{self._config.app.plugin_prefix}/{record.name}")
            app.router.routes.append(route)
            self._away[record.name] = route
        return gate

    def _clear_away(self, record: PluginRecord) -> None:
        route = self._away.pop(record.name, None)
        app = self._lifecycle.app
        if route is not None and app is not None and route in app.router.routes:
            app.router.routes.remove(route)

    @staticmethod
    def _report(record: PluginRecord, action: str, *, changed: bool) -> dict[str, Any]:
        return {
            "plugin": record.name,
            "action": action,
            "changed": changed,
            "state": record.state,
            "version": record.source.version,
            "error": record.error,
            "in_flight_left": 0,
        }


def plugin_rows(records: Mapping[str, PluginRecord], gates: Mapping[str, PluginGate]) -> list[dict[str, Any]]:
    """The admin view of every plugin: its report plus the requests running inside it now."""
    rows = []
    for record in records.values():
        if record.source.kind != "plugin":
            continue
        gate = gates.get(record.name)
        rows.append({**record.report(), "in_flight": gate.active if gate is not None else 0})
    return rows


__all__ = ["PluginRuntime", "PluginStateError", "plugin_rows"]
