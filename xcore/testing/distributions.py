"""Throwaway installed distributions, for tests and benchmarks of plugin discovery.

:func:`write_distribution` lays out what ``pip install`` would leave in site-packages (a
``*.dist-info`` folder with ``METADATA`` and ``entry_points.txt``, plus module files) under a folder
of your choice. Put that folder on ``sys.path`` and ``importlib.metadata`` finds the distribution
exactly as it finds a pip-installed one: discovery is tested for real, with no patching.
"""

from __future__ import annotations

import importlib
import textwrap
from collections.abc import Mapping
from pathlib import Path


def write_distribution(
    site: Path,
    name: str,
    version: str = "1.0.0",
    entry_points: Mapping[str, Mapping[str, str]] | None = None,
    files: Mapping[str, str] | None = None,
) -> Path:
    """Write distribution ``name`` into ``site``; return its dist-info folder.

    ``entry_points`` maps a group (``xcore.plugins``) to ``{entry name: "module:attr"}``;
    ``files`` maps a path relative to ``site`` (``my_plugin.py``) to its source text.
    """
    site.mkdir(parents=True, exist_ok=True)
    normalized = name.replace("-", "_")
    info = site / f"{normalized}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines: list[str] = []
    for group, entries in (entry_points or {}).items():
        lines.append(f"[{group}]")
        lines += [f"{entry} = {target}" for entry, target in entries.items()]
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines))
    (info / "RECORD").write_text("")
    for relative, source in (files or {}).items():
        path = site / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    importlib.invalidate_caches()
    return info


def remove_distribution(site: Path, name: str, packages: tuple[str, ...] = ()) -> None:
    """Uninstall distribution ``name`` from ``site``: its dist-info folders and the ``packages``
    (top-level folders or modules) it installed, as ``pip uninstall`` would before an upgrade."""
    import shutil

    normalized = name.replace("-", "_")
    for info in site.glob(f"{normalized}-*.dist-info"):
        shutil.rmtree(info)
    for package in packages:
        target = site / package
        if target.is_dir():
            shutil.rmtree(target)
        elif (module := site / f"{package}.py").exists():
            module.unlink()
    importlib.invalidate_caches()
