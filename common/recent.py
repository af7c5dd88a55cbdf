"""A small per-process cache of recent lookups that expire after a few seconds.

For values every request needs and that may change only rarely (who an API key belongs to),
where a shared cache would cost a round trip per request: each process keeps what it looked
up for a few seconds, so a change made anywhere is seen everywhere within that time, and the
process that makes a change forgets the old value at once (``clear``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from time import monotonic
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Recent(Generic[K, V]):
    """Thread-safe mapping whose entries expire some seconds after they were put."""

    def __init__(self, *, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """Return the value put for key if it has not expired yet, else None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= monotonic():
                del self._entries[key]
                return None
            return entry[1]

    def put(self, key: K, value: V, *, seconds: float) -> None:
        """Remember value for key for seconds (0: not at all); the oldest goes when full."""
        if seconds <= 0:
            return
        with self._lock:
            self._entries[key] = (monotonic() + seconds, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (something the entries depend on changed in this process)."""
        with self._lock:
            self._entries.clear()
