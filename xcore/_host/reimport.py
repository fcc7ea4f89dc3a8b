"""Forgetting a trusted plugin's modules, so the next import reads the code ``pip install -U`` put on disk.

What this can do soundly in one process, and what it cannot (docs/operations.md says the same to
operators): the plugin's own package is removed from ``sys.modules`` and imported again, so its
classes and functions are the new ones. It cannot reach objects that other code still holds:

* a module of another plugin that did ``from plugin_pkg import thing`` keeps the old ``thing``;
* objects the old code handed out (instances in a cache, callbacks registered with a library,
  threads it started and did not stop in ``on_unload``) keep running the old code;
* a C extension module cannot be unloaded by CPython: its old version stays in memory, and the
  re-import gets the old one back (restart the process for those);
* module-level state (counters, connections opened at import) starts afresh in the new modules.

So a reload purges only the packages the plugin's own entry point lives in, and refuses to purge a
package another loaded plugin imports from (both would have to reload together: restart instead).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable

from xcore._errors import XcoreError

PROTECTED = frozenset({"xcore", "fastapi", "starlette", "pydantic", "pluggy", "builtins", "__main__"})
"""Top-level packages a plugin reload never purges, whatever its entry point says."""


class ReloadRefused(XcoreError):
    """A reload that could not be done soundly in this process; the message names why."""


def top_package(target: str) -> str:
    """The top-level package of an entry point target, ``pkg.mod:Plugin`` -> ``pkg``."""
    return target.partition(":")[0].partition(".")[0]


def check_purge(package: str, plugin: str, others: Iterable[tuple[str, str]]) -> None:
    """Raise :class:`ReloadRefused` unless purging ``package`` for ``plugin`` is sound.

    ``others`` are ``(plugin, target)`` pairs of the other loaded plugins: one living in the same
    package makes the purge unsound, and it is refused naming that plugin.
    """
    if not package or package in PROTECTED or package in sys.stdlib_module_names:
        raise ReloadRefused(f"plugin {plugin!r}: its code lives in {package!r}, which a reload cannot re-import")
    sharing = sorted(name for name, target in others if top_package(target) == package)
    if sharing:
        raise ReloadRefused(
            f"plugin {plugin!r} shares the package {package!r} with loaded plugin(s) {', '.join(sharing)}: "
            f"re-importing it would leave them on the old code; restart the host to upgrade it"
        )


def purge(package: str) -> list[str]:
    """Remove ``package`` and its submodules from ``sys.modules`` (checked by :func:`check_purge`); the names."""
    gone = [name for name in list(sys.modules) if name == package or name.startswith(package + ".")]
    for name in gone:
        del sys.modules[name]
    importlib.invalidate_caches()
    return gone


__all__ = ["PROTECTED", "ReloadRefused", "check_purge", "purge", "top_package"]
