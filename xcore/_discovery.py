"""Finding plugins: entry points (read once per boot), local ``module:attr`` plugins, given objects.

``importlib_metadata.entry_points()`` re-reads every installed distribution on each call, so one
boot reads them exactly once (:func:`scan_entry_points`) and keeps the groups it needs. Finding a
plugin never imports it: a disabled plugin's code is never run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import importlib_metadata

SERVICES_GROUP = "xcore.services"
PLUGINS_GROUP = "xcore.plugins"


@dataclass
class PluginSource:
    """Where a plugin comes from, before it is imported."""

    name: str
    group: str
    target: str
    load: Callable[[], Any]
    distribution: str | None = None
    version: str | None = None
    clashes: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "service" if self.group == SERVICES_GROUP else "plugin"


def scan_entry_points(groups: tuple[str, ...] = (SERVICES_GROUP, PLUGINS_GROUP)) -> dict[str, dict[str, PluginSource]]:
    """One pass over the installed distributions: ``{group: {name: source}}``.

    Two distributions claiming one name in one group are both kept as a clash on the source, so the
    host can fail that plugin naming both distributions (and load everything else).
    """
    found: dict[str, dict[str, PluginSource]] = {group: {} for group in groups}
    for ep in importlib_metadata.entry_points():
        if ep.group not in found:
            continue
        dist = ep.dist
        source = PluginSource(
            name=ep.name,
            group=ep.group,
            target=ep.value,
            load=ep.load,
            distribution=dist.name if dist is not None else None,
            version=dist.version if dist is not None else None,
        )
        existing = found[ep.group].get(ep.name)
        if existing is None:
            found[ep.group][ep.name] = source
        elif existing.distribution != source.distribution:
            existing.clashes.append(f"{source.distribution} {source.version} ({source.target})")
    return found


def local_source(name: str, target: str) -> PluginSource:
    """A plugin named in ``plugins.local`` as ``module:attr`` (development, not pip-installed)."""

    def load() -> Any:
        module_name, _, attr = target.partition(":")
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj

    return PluginSource(name=name, group="local", target=target, load=load)


def given_source(name: str, obj: Any) -> PluginSource:
    """A plugin object handed to ``Xcore(plugins={...})`` directly (tests, embedding)."""
    target = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__qualname__
    module = getattr(obj, "__module__", None)
    return PluginSource(name=name, group="given", target=f"{module}:{target}" if module else target, load=lambda: obj)
