"""Limits on configuration files: how big, how deep, how far aliases and variable defaults expand.

A configuration file is trusted to configure the host, not to exhaust it: a 342-byte YAML alias
bomb (nine aliases of nine aliases...) expands to billions of values, a thousand aliases of one long
string (or of one ``${VAR}`` holding a long ``.env`` value) to gigabytes of text, and 10,000 levels
of nesting or of ``${A:-${A:-...}}`` defaults overflow Python's stack. Real configurations are a few kilobytes,
fewer than ten levels deep and a few hundred values, so these limits are far above any of them and
far below anything that costs the host noticeable time or memory.
"""

from __future__ import annotations

MAX_CONFIG_BYTES = 1024 * 1024
"""Largest configuration file read (1 MiB); a larger one is refused before it is parsed."""

MAX_DEPTH = 64
"""Deepest nesting of mappings and lists in a configuration (the top-level mapping is level 1)."""

MAX_VALUES = 100_000
"""Most values (scalars, mappings and lists) a configuration may hold once its YAML aliases are
expanded: each ``*alias`` counts the whole part of the file it repeats, every time it is used."""

MAX_TEXT_CHARS = 8 * 1024 * 1024
"""Most characters of text (8 MiB) a configuration may hold once its YAML aliases and its ``${VAR}``
references are expanded: the length of every string in it (mapping keys too), each ``*alias``
counting the text it repeats, each reference the length of the value it stands for, every time.
Counting values alone is not enough: one value may be a megabyte long."""

MAX_DEFAULT_NESTING = 16
"""Deepest nesting of variable defaults in one string: ``${A:-${B:-...}}`` is two levels."""
