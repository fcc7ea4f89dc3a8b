"""Load order from declared dependencies, failing only the plugins a problem involves.

``requires`` must be present and load first; a missing one fails the plugin (and, in turn, the
plugins requiring it). ``load_after`` only orders: an absent name is ignored. A cycle fails the
plugins on it, naming the others, and never the rest.
"""

from __future__ import annotations

import graphlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Dependencies:
    requires: Sequence[str] = ()
    load_after: Sequence[str] = ()


def resolve_order(plugins: Mapping[str, Dependencies]) -> tuple[list[str], dict[str, str]]:
    """Return (load order, {failed plugin: reason}). Ties keep alphabetical order."""
    failed: dict[str, str] = {}
    while True:
        _propagate_missing(plugins, failed)
        sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
        for name in sorted(plugins):
            if name in failed:
                continue
            deps = plugins[name]
            before = [d for d in (*deps.requires, *deps.load_after) if d in plugins and d not in failed]
            sorter.add(name, *sorted(set(before)))
        try:
            return list(sorter.static_order()), failed
        except graphlib.CycleError as exc:
            cycle: list[str] = exc.args[1]
            path = " -> ".join(reversed(cycle))
            for name in set(cycle):
                others = sorted(set(cycle) - {name})
                failed[name] = f"dependency cycle {path} (with {', '.join(others)})"


def _propagate_missing(plugins: Mapping[str, Dependencies], failed: dict[str, str]) -> None:
    changed = True
    while changed:
        changed = False
        for name in sorted(plugins):
            if name in failed:
                continue
            for req in plugins[name].requires:
                if req not in plugins:
                    failed[name] = f"requires plugin {req!r}, which is not installed or not enabled"
                elif req in failed:
                    failed[name] = f"requires plugin {req!r}, which failed: {failed[req]}"
                else:
                    continue
                changed = True
                break
