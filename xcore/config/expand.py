"""``${VAR}`` and ``${VAR:-default}`` expansion in every string value of the configuration.

Expansion happens on the parsed YAML tree, never on the raw text, so a value containing YAML
syntax cannot change the document's structure. ``$${`` escapes a literal ``${``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from xcore.config.limits import MAX_DEFAULT_NESTING, MAX_DEPTH
from xcore.errors import ConfigError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def key_path(path: tuple[str | int, ...]) -> str:
    """``("services", "databases", "default", "url")`` -> ``services.databases.default.url``."""
    return ".".join(str(part) for part in path) or "(top level)"


def expand_string(value: str, env: Mapping[str, str], path: tuple[str | int, ...], nesting: int = 0) -> str:
    """Expand one string. A default may itself hold references: ``${URL:-sqlite:///${HOME}/app.db}``,
    up to :data:`~xcore.config.limits.MAX_DEFAULT_NESTING` levels (``nesting`` is the current one)."""
    if nesting > MAX_DEFAULT_NESTING:
        raise ConfigError(f"{key_path(path)}: variable defaults are nested deeper than {MAX_DEFAULT_NESTING} levels "
                          "(${A:-${B:-...}}), the limit for a configuration value")
    out: list[str] = []
    index = 0
    while (start := value.find("$", index)) != -1:
        out.append(value[index:start])
        if value.startswith("$${", start):
            out.append("${")
            index = start + 3
        elif value.startswith("${", start):
            text, index = _reference(value, start, env, path, nesting)
            out.append(text)
        else:
            out.append("$")
            index = start + 1
    out.append(value[index:])
    return "".join(out)


def _reference(
    value: str, start: int, env: Mapping[str, str], path: tuple[str | int, ...], nesting: int
) -> tuple[str, int]:
    """Expand the ``${...}`` at ``start``; return its text and the index just past its closing brace."""
    name_match = _NAME.match(value, start + 2)
    where = key_path(path)
    if name_match is None:
        raise ConfigError(f"{where}: {value[start:start + 20]!r} is not a variable reference (write ${{NAME}}; "
                          "$${ gives a literal ${)")
    name, cursor = name_match.group(), name_match.end()
    default: str | None = None
    if value.startswith(":-", cursor):
        depth, scan = 1, cursor + 2
        while scan < len(value) and depth:
            if value.startswith("${", scan):
                depth, scan = depth + 1, scan + 2
                continue
            depth -= value[scan] == "}"
            scan += 1
        if depth:
            raise ConfigError(f"{where}: ${{{name}:-... has no closing brace")
        default, cursor = value[cursor + 2:scan - 1], scan - 1
    if not value.startswith("}", cursor):
        raise ConfigError(f"{where}: ${{{name} has no closing brace (write ${{{name}}} or ${{{name}:-default}})")
    if default is not None and not env.get(name):
        return expand_string(default, env, path, nesting + 1), cursor + 1
    if name in env:
        return env[name], cursor + 1
    raise ConfigError(
        f"environment variable {name} is not set, and {where} uses it without a default "
        f"(set {name}, or write ${{{name}:-default}})"
    )


def expand(tree: Any, env: Mapping[str, str], path: tuple[str | int, ...] = ()) -> Any:
    """A copy of ``tree`` with every variable reference in its strings replaced from ``env``.

    A tree nested deeper than :data:`~xcore.config.limits.MAX_DEPTH` is refused (a file is checked
    as it is read; this covers a ``data`` mapping given in code).
    """
    if len(path) >= MAX_DEPTH and isinstance(tree, (Mapping, list)):
        raise ConfigError(
            f"{key_path(path[:4])}...: nested deeper than {MAX_DEPTH} levels, the limit for a configuration"
        )
    if isinstance(tree, str):
        return expand_string(tree, env, path) if "$" in tree else tree
    if isinstance(tree, Mapping):
        return {key: expand(value, env, (*path, key)) for key, value in tree.items()}
    if isinstance(tree, list):
        return [expand(value, env, (*path, index)) for index, value in enumerate(tree)]
    return tree
