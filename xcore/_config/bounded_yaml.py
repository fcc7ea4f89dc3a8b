"""Reading a configuration file as YAML within :mod:`xcore._config.limits`.

PyYAML's safe loader refuses to build objects, but not to be exhausted: an alias is one object
shared by every place that uses it, so the file loads at once and the explosion comes later, when
``${VAR}`` expansion and validation copy the tree. The limits are therefore checked while the
document is composed, before anything is built: the file's size first, then each node's depth, and
the number of values and of characters of text the document expands to, in which an alias counts
everything it repeats. Characters are counted because values alone are not enough: a thousand aliases
of one 300 KB string are a thousand values but 300 MB of text once expansion copies them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import Node

from xcore._config.limits import MAX_CONFIG_BYTES, MAX_DEPTH, MAX_TEXT_CHARS, MAX_VALUES
from xcore._errors import ConfigError


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` counting depth, expanded values and expanded text while it composes the document."""

    def __init__(self, text: str, source: Path) -> None:
        super().__init__(text)
        self.source = source
        self.depth = 0
        self.values = 0
        self.chars = 0
        self.expanded: dict[int, tuple[int, int]] = {}
        """``id(node)`` -> how many values and characters an anchored node stands for, aliases inside
        it expanded (absent while the node is being composed: an alias to it then is an alias inside itself)."""

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            repeated = self.expanded.get(id(node))
            if repeated is None:
                raise ConfigError(
                    f"{self._at(event)}: alias *{event.anchor} is used inside its own anchor; "
                    "a configuration cannot contain itself"
                )
            self._count(*repeated, event, f"alias *{event.anchor}")
            return node
        nests = isinstance(event, yaml.CollectionStartEvent)
        self.depth += nests
        if self.depth > MAX_DEPTH:
            raise ConfigError(
                f"{self._at(event)}: nested deeper than {MAX_DEPTH} levels, the limit for a "
                "configuration file; flatten these settings, or keep such data in a file of its own"
            )
        before = self.values, self.chars
        self._count(1, len(event.value) if isinstance(event, yaml.ScalarEvent) else 0, event, "this value")
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= nests
        if isinstance(event, yaml.NodeEvent) and event.anchor is not None:
            self.expanded[id(node)] = self.values - before[0], self.chars - before[1]
        return node

    def _count(self, values: int, chars: int, event: yaml.Event, what: str) -> None:
        self.values += values
        self.chars += chars
        if self.values > MAX_VALUES:
            raise ConfigError(
                f"{self._at(event)}: with {what} the document expands to more than {MAX_VALUES:,} values, the limit "
                "for a configuration file; YAML aliases may repeat settings, not multiply them"
            )
        if self.chars > MAX_TEXT_CHARS:
            raise ConfigError(
                f"{self._at(event)}: with {what} the document expands to more than {MAX_TEXT_CHARS:,} characters "
                "of text, the limit for a configuration file; YAML aliases may repeat settings, not multiply "
                "them, and large data belongs in files the plugins read"
            )

    def _at(self, event: yaml.Event) -> str:
        line = f": line {event.start_mark.line + 1}" if event.start_mark is not None else ""
        return f"{self.source}{line}"


def read_bounded_yaml(path: Path) -> Any:
    """The YAML document in ``path``, or a :class:`ConfigError` naming the file and the limit it breaks."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: larger than {MAX_CONFIG_BYTES:,} bytes, the limit for a configuration file; "
            "keep large data in files the plugins read"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    loader = _BoundedLoader(text, path)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()
