"""``plugins.directory``: plugins laid out as the original XCore expects, loaded without packaging.

Each folder of the directory that holds a ``plugin.yaml`` manifest is one plugin::

    plugins/hello_world/
    ├── plugin.yaml        # name, version, entry_point (default src/main.py), requires, ...
    └── src/main.py        # defines class Plugin(TrustedBase)

The manifest's ``name`` (default: the folder's name) is the plugin's name; ``entry_point`` is the
file whose ``Plugin`` attribute is the plugin; ``version`` is reported like a distribution's;
``requires`` (``"other_plugin >= 1.2"``; versions are not checked) is added to the class's own
``requires``. Found plugins go through the same registration, ordering and loading as installed
ones. What XCore does not do (``execution_mode: sandboxed``, permissions, resource limits, signing)
is listed in ``docs/migrating.md``; a sandboxed manifest fails that plugin with that explanation
rather than running it trusted.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from xcore._discovery import PluginSource
from xcore._errors import ConfigError

MANIFEST = "plugin.yaml"
DEFAULT_ENTRY_POINT = "src/main.py"
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9_.\-]+)")


def directory_sources(directory: str | Path) -> list[PluginSource]:
    """One source per plugin folder of ``directory``, sorted by name; nothing is imported yet."""
    root = Path(directory)
    if not root.is_dir():
        raise ConfigError(f"plugins.directory: {root} is not a directory")
    sources = []
    for manifest_path in sorted(root.glob(f"*/{MANIFEST}")):
        sources.append(_source(manifest_path))
    return sources


def _manifest(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a plugin manifest must be a mapping (name, version, entry_point...)")
    return data


def _source(manifest_path: Path) -> PluginSource:
    folder = manifest_path.parent
    manifest = _manifest(manifest_path)
    name = str(manifest.get("name") or folder.name)
    entry = folder / str(manifest.get("entry_point") or DEFAULT_ENTRY_POINT)
    version = manifest.get("version")
    requires = [m[1] for r in manifest.get("requires") or () if (m := _REQUIREMENT_NAME.match(str(r)))]

    def load() -> Any:
        mode = manifest.get("execution_mode", "trusted")
        if mode != "trusted":
            raise RuntimeError(
                f"{manifest_path}: execution_mode {mode!r} is not supported by XCore, which runs "
                "plugins in process (trusted); see docs/migrating.md"
            )
        if not entry.is_file():
            raise FileNotFoundError(f"{manifest_path}: entry_point {entry} does not exist")
        module_name = f"xcore_plugins_dir.{name}"
        spec = importlib.util.spec_from_file_location(module_name, entry)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {entry}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        plugin = getattr(module, "Plugin", None)
        if plugin is None:
            raise AttributeError(f"{entry} defines no class Plugin")
        if requires and isinstance(plugin, type):
            own = tuple(getattr(plugin, "requires", ()))
            setattr(plugin, "requires", own + tuple(r for r in requires if r not in own))  # noqa: B010
        return plugin

    return PluginSource(
        name=name, group="directory", target=str(entry), load=load, version=None if version is None else str(version)
    )


__all__ = ["DEFAULT_ENTRY_POINT", "MANIFEST", "directory_sources"]
