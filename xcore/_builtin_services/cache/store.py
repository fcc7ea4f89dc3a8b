"""The memory backend's store: least-recently-used eviction at ``max_size``, an expiry time per key.

Why not cachetools' ``TLRUCache``: it keeps its own linked list and expiry heap in Python, and a write
through it costs several times a dict write, more than everything else the memory backend does per
``set``. Here an ``OrderedDict`` (in C) holds the LRU order, and a heap of ``(expires_at, key)`` is
read only when the store is full, to drop expired keys before live ones are evicted.

The heap exists only once the store has been full: until then nothing is evicted, nothing needs the
soonest expiry, and a write is a dict write (keeping the heap costs about as much again). The first
write beyond ``max_size`` builds it from the entries, once; from then on every write pushes to it,
until :meth:`ExpiringLRU.clear`.

Expired keys are dropped when read, when counted or listed, and when the store is full. The heap may
hold entries for keys since rewritten or deleted; they are skipped when popped, and the heap is rebuilt
from the live entries when it grows past twice their number, so it stays within ``O(max_size)``.
"""

from __future__ import annotations

import heapq
import math
from collections import OrderedDict
from collections.abc import Callable, Iterator
from heapq import heappush
from typing import Any

_NEVER = math.inf

Entry = tuple[Any, float, Any]
"""``(stored value, expires_at, anything its owner keeps beside it)``; ``expires_at`` is on the store's
clock, ``math.inf`` for never. The store reads only ``expires_at``."""


class ExpiringLRU:
    """A mapping of key to :data:`Entry` with LRU eviction beyond ``max_size`` and per-key expiry."""

    def __init__(self, max_size: int, timer: Callable[[], float]) -> None:
        self.max_size = max_size
        self._timer = timer
        self.entries: OrderedDict[str, Entry] = OrderedDict()
        """Key -> entry, least recently used first; expired entries may linger until read or evicted."""
        self._expiries: list[tuple[float, str]] | None = None
        """``(expires_at, key)`` heap; ``None`` until the store is first full (see the module docstring)."""
        self._expiries_limit = 64

    def get(self, key: str) -> Entry | None:
        """The live entry for ``key`` (now the most recently used), or ``None``."""
        entry = self.entries.get(key)
        if entry is None:
            return None
        if entry[1] <= self._timer():
            del self.entries[key]
            return None
        self.entries.move_to_end(key)
        return entry

    def peek(self, key: str) -> Entry | None:
        """The live entry for ``key`` without making it the most recently used."""
        entry = self.entries.get(key)
        if entry is None or entry[1] <= self._timer():
            return None
        return entry

    def put(self, key: str, entry: Entry) -> None:
        entries = self.entries
        entries[key] = entry
        entries.move_to_end(key)  # a rewritten key keeps its place in an OrderedDict otherwise
        expiries = self._expiries
        if expiries is not None and entry[1] != _NEVER:
            heappush(expiries, (entry[1], key))
            if len(expiries) > self._expiries_limit:
                self._rebuild_expiries()
        if len(entries) > self.max_size:
            self._make_room()

    def pop(self, key: str) -> Entry | None:
        """Remove ``key``; its entry if it was live."""
        entry = self.entries.pop(key, None)
        if entry is None or entry[1] <= self._timer():
            return None
        return entry

    def clear(self) -> None:
        self.entries.clear()
        self._expiries = None

    def live_keys(self) -> Iterator[str]:
        """Every live key (a snapshot: the store may change while the caller iterates)."""
        now = self._timer()
        return iter([key for key, entry in self.entries.items() if entry[1] > now])

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` has a live entry (without making it the most recently used)."""
        return isinstance(key, str) and self.peek(key) is not None

    def __len__(self) -> int:
        """The number of live keys (expired ones are dropped first)."""
        self.expire()
        return len(self.entries)

    def expire(self) -> None:
        """Drop every expired key."""
        now = self._timer()
        expiries, entries = self._expiries, self.entries
        if expiries is None:  # never full: no heap to read, so look at each entry
            for key in [key for key, entry in entries.items() if entry[1] <= now]:
                del entries[key]
            return
        while expiries and expiries[0][0] <= now:
            expires, key = heapq.heappop(expiries)
            entry = entries.get(key)
            if entry is not None and entry[1] == expires:
                del entries[key]

    def _make_room(self) -> None:
        if self._expiries is None:
            self._rebuild_expiries()
        self.expire()
        entries = self.entries
        while len(entries) > self.max_size:
            entries.popitem(last=False)

    def _rebuild_expiries(self) -> None:
        expiries = [(entry[1], key) for key, entry in self.entries.items() if entry[1] != _NEVER]
        heapq.heapify(expiries)
        self._expiries = expiries
        self._expiries_limit = 2 * len(expiries) + 64
