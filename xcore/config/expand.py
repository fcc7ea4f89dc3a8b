"""``${VAR}`` and ``${VAR:-default}`` expansion in every string value of the configuration.

Expansion happens on the parsed YAML tree, never on the raw text, so a value containing YAML
syntax cannot change the document's structure. ``$${`` escapes a literal ``${``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from xcore.errors import ConfigError

_PATTERN = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


def key_path(path: tuple[str | int, ...]) -> str:
    """``("services", "databases", "default", "url")`` -> ``services.databases.default.url``."""
    return ".".join(str(part) for part in path) or "(top level)"


def expand_string(value: str, env: Mapping[str, str], path: tuple[str | int, ...]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        if default is not None and not env.get(name):
            return default
        if name in env:
            return env[name]
        raise ConfigError(
            f"environment variable {name} is not set, and {key_path(path)} uses it without a default "
            f"(set {name}, or write ${{{name}:-default}})"
        )

    return _PATTERN.sub(replace, value)


def expand(tree: Any, env: Mapping[str, str], path: tuple[str | int, ...] = ()) -> Any:
    """A copy of ``tree`` with every variable reference in its strings replaced from ``env``."""
    if isinstance(tree, str):
        return expand_string(tree, env, path) if "$" in tree else tree
    if isinstance(tree, Mapping):
        return {key: expand(value, env, (*path, key)) for key, value in tree.items()}
    if isinstance(tree, list):
        return [expand(value, env, (*path, index)) for index, value in enumerate(tree)]
    return tree
