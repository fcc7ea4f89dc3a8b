"""Render a new plugin or service-backend package from the templates beside this module.

Templates are plain files under ``templates/<kind>/`` ending in ``.tmpl``, with ``string.Template``
placeholders (``${name}``, ``${module}``...) and ``__module__`` in paths standing for the Python
package. Every file is rendered in memory before anything touches the disk, so a bad name or an
occupied target leaves the disk as it was.
"""

from __future__ import annotations

import importlib.util
import keyword
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Literal

from xcore import __version__
from xcore._errors import XcoreError

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE_SUFFIX = ".tmpl"
MODULE_PLACEHOLDER = "__module__"

Kind = Literal["plugin", "service"]
KINDS: tuple[Kind, ...] = ("plugin", "service")

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
_RESERVED = frozenset({"tests", "test", "xcore", "src", "docs"})


class ScaffoldError(XcoreError, ValueError):
    """The name or the target directory cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class Names:
    """The spellings of one name a package needs."""

    name: str  # the entry point name: the plugin's name, or the service type name
    dist: str  # the distribution name on pip
    module: str  # the importable Python package
    class_name: str
    title: str


def names_for(name: str) -> Names:
    """Check ``name`` and derive the package's names from it; ``ScaffoldError`` explains a refusal."""
    if not _NAME.match(name):
        raise ScaffoldError(
            f"invalid name {name!r}: use lowercase letters, digits, '-' or '_', starting with a letter "
            "(for example 'greetings' or 'user-stats')"
        )
    module = name.replace("-", "_")
    if keyword.iskeyword(module) or module in _RESERVED:
        raise ScaffoldError(f"invalid name {name!r}: {module!r} is reserved in Python or in a package layout")
    if importlib.util.find_spec(module) is not None:
        raise ScaffoldError(
            f"invalid name {name!r}: a module called {module!r} is already importable (standard library or an "
            "installed package); the new package would shadow it or be shadowed. Pick another name"
        )
    parts = re.split(r"[-_]", name)
    return Names(
        name=name,
        dist=name,
        module=module,
        class_name="".join(part.capitalize() for part in parts),
        title=" ".join(parts).capitalize(),
    )


def render(kind: Kind, names: Names) -> dict[Path, str]:
    """Every file of a new ``kind`` package, by path relative to the package root."""
    if kind not in KINDS:
        raise ScaffoldError(f"unknown package kind {kind!r}; choose one of: {', '.join(KINDS)}")
    root = TEMPLATES / kind
    values = {
        "name": names.name,
        "dist": names.dist,
        "module": names.module,
        "class_name": names.class_name,
        "title": names.title,
        "xcore_version": __version__,
    }
    files: dict[Path, str] = {}
    for template in sorted(root.rglob(f"*{TEMPLATE_SUFFIX}")):
        relative = template.relative_to(root)
        target = Path(*(names.module if part == MODULE_PLACEHOLDER else part for part in relative.parts))
        files[target.with_name(target.name.removesuffix(TEMPLATE_SUFFIX))] = Template(
            template.read_text(encoding="utf-8")
        ).substitute(values)
    return files


def create(kind: Kind, name: str, directory: Path | None = None) -> Path:
    """Write a new ``kind`` package called ``name`` into ``directory`` (default ``./<name>``); return it.

    Refuses a directory that exists and is not empty: nothing already there is overwritten.
    """
    names = names_for(name)
    files = render(kind, names)
    target = Path(directory) if directory is not None else Path.cwd() / names.dist
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScaffoldError(f"{target} already exists and is not an empty directory; nothing was written")
    created = not target.exists()
    try:
        for relative, text in files.items():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    except OSError:
        if created:
            shutil.rmtree(target, ignore_errors=True)
        raise
    return target
