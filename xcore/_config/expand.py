"""``${VAR}`` and ``${VAR:-default}`` expansion in every string value of the configuration.

Expansion happens on the parsed YAML tree, never on the raw text, so a value containing YAML
syntax cannot change the document's structure. ``$${`` escapes a literal ``${``.

The text expansion builds is held to :data:`~xcore._config.limits.MAX_TEXT_CHARS`, counted as it is
built (variables' values included), so a reference repeated by YAML aliases, or many times in one
string, fails before the text exists. A string repeated by aliases is one object in the parsed tree;
it is expanded once and its expansion shared, as the alias shared it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from xcore._config.limits import MAX_DEFAULT_NESTING, MAX_DEPTH, MAX_TEXT_CHARS
from xcore._errors import ConfigError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def key_path(path: tuple[str | int, ...]) -> str:
    """``("services", "databases", "default", "url")`` -> ``services.databases.default.url``."""
    return ".".join(str(part) for part in path) or "(top level)"


def expand(tree: Any, env: Mapping[str, str], path: tuple[str | int, ...] = ()) -> Any:
    """A copy of ``tree`` with every variable reference in its strings replaced from ``env``.

    A tree nested deeper than :data:`~xcore._config.limits.MAX_DEPTH` is refused (a file is checked
    as it is read; this covers a ``data`` mapping given in code), and so is one whose text, once
    expanded, is longer than :data:`~xcore._config.limits.MAX_TEXT_CHARS`.
    """
    return _Expansion(env).tree(tree, path)


def expand_string(value: str, env: Mapping[str, str], path: tuple[str | int, ...]) -> str:
    """One string expanded as :func:`expand` would expand it (``path`` names it in errors)."""
    return _Expansion(env).string(value, path)


class _Expansion:
    """One expansion of a configuration: how much text it has built, and what each distinct string
    containing ``$`` became (so that a string an alias repeats a thousand times is expanded once)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.chars = 0
        self.expanded: dict[str, str] = {}

    def tree(self, tree: Any, path: tuple[str | int, ...]) -> Any:
        if len(path) >= MAX_DEPTH and isinstance(tree, (Mapping, list)):
            raise ConfigError(
                f"{key_path(path[:4])}...: nested deeper than {MAX_DEPTH} levels, the limit for a configuration"
            )
        if isinstance(tree, str):
            return self.string(tree, path)
        if isinstance(tree, Mapping):
            copy = {}
            for key, value in tree.items():
                if isinstance(key, str):
                    self._spend(len(key), (*path, key))
                copy[key] = self.tree(value, (*path, key))
            return copy
        if isinstance(tree, list):
            return [self.tree(value, (*path, index)) for index, value in enumerate(tree)]
        return tree

    def string(self, value: str, path: tuple[str | int, ...]) -> str:
        """``value`` expanded; its length is spent every time, its expansion is built once."""
        if "$" not in value:
            self._spend(len(value), path)
            return value
        done = self.expanded.get(value)
        if done is not None:
            self._spend(len(done), path)
            return done
        done = self.expanded[value] = self._expand(value, path, 0)  # spends as it builds
        return done

    def _expand(self, value: str, path: tuple[str | int, ...], nesting: int) -> str:
        """Expand one string. A default may itself hold references: ``${URL:-sqlite:///${HOME}/app.db}``,
        up to :data:`~xcore._config.limits.MAX_DEFAULT_NESTING` levels (``nesting`` is the current one)."""
        if nesting > MAX_DEFAULT_NESTING:
            raise ConfigError(
                f"{key_path(path)}: variable defaults are nested deeper than {MAX_DEFAULT_NESTING} levels "
                "(${A:-${B:-...}}), the limit for a configuration value"
            )
        out: list[str] = []
        index = 0
        while (start := value.find("$", index)) != -1:
            self._keep(out, value[index:start], path)
            if value.startswith("$${", start):
                self._keep(out, "${", path)
                index = start + 3
            elif value.startswith("${", start):
                index = self._reference(value, start, out, path, nesting)
            else:
                self._keep(out, "$", path)
                index = start + 1
        self._keep(out, value[index:], path)
        return "".join(out)

    def _reference(self, value: str, start: int, out: list[str], path: tuple[str | int, ...], nesting: int) -> int:
        """Expand the ``${...}`` at ``start`` onto ``out``; return the index just past its closing brace."""
        name_match = _NAME.match(value, start + 2)
        where = key_path(path)
        if name_match is None:
            raise ConfigError(
                f"{where}: {value[start : start + 20]!r} is not a variable reference (write ${{NAME}}; "
                "$${ gives a literal ${)"
            )
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
            default, cursor = value[cursor + 2 : scan - 1], scan - 1
        if not value.startswith("}", cursor):
            raise ConfigError(f"{where}: ${{{name} has no closing brace (write ${{{name}}} or ${{{name}:-default}})")
        if default is not None and not self.env.get(name):
            out.append(self._expand(default, path, nesting + 1))  # already spent, piece by piece
        elif name in self.env:
            self._keep(out, self.env[name], path)
        else:
            raise ConfigError(
                f"environment variable {name} is not set, and {where} uses it without a default "
                f"(set {name}, or write ${{{name}:-default}})"
            )
        return cursor + 1

    def _keep(self, out: list[str], text: str, path: tuple[str | int, ...]) -> None:
        self._spend(len(text), path)
        out.append(text)

    def _spend(self, chars: int, path: tuple[str | int, ...]) -> None:
        self.chars += chars
        if self.chars > MAX_TEXT_CHARS:
            raise ConfigError(
                f"{key_path(path)}: with this value the configuration's text, its variables expanded, is longer "
                f"than {MAX_TEXT_CHARS:,} characters, the limit for a configuration; YAML aliases and "
                "${VAR} references may repeat a value, not multiply it, and large data belongs in files the "
                "plugins read"
            )
