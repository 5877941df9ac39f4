"""Operation counters shared by the in-memory adapters ("store calls" in a simulation report)."""

from __future__ import annotations

import threading
from typing import Final

__all__ = ["OPERATION_NAMES", "OperationCounters"]

#: The stable names the in-memory adapters count under. Each adapter's docstring says which calls
#: count.
OPERATION_NAMES: Final[frozenset[str]] = frozenset(
    {
        "orders.reads",
        "orders.writes",
        "restaurants.reads",
        "restaurants.writes",
        "drivers.reads",
        "drivers.writes",
        "drivers.queries",
        "outbox.writes",
        "events.published",
        "notifications.sent",
        "payments.calls",
        "location.appends",
        "scheduler.scheduled",
        "scheduler.cancelled",
        "scheduler.delivered",
        "saga.reads",
        "saga.writes",
    }
)


class OperationCounters:
    """A thread-safe tally of named operations, like a locked ``collections.Counter``.

    One instance is usually injected into every in-memory adapter (``counters=...``) so a test or a
    simulation can read how many port operations a scenario cost. Names are free-form; the adapters
    use :data:`OPERATION_NAMES`. Adding is one lock round-trip and one dict update, cheap enough for
    hot paths.
    """

    __slots__ = ("_counts", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def add(self, name: str, n: int = 1) -> None:
        """Add ``n`` (default 1) to the count of ``name``."""
        with self._lock:
            counts = self._counts
            counts[name] = counts.get(name, 0) + n

    def get(self, name: str) -> int:
        """The count of ``name`` (0 if never added)."""
        with self._lock:
            return self._counts.get(name, 0)

    def __getitem__(self, name: str) -> int:
        """The count of ``name`` (0 if never added), like ``collections.Counter``."""
        return self.get(name)

    def snapshot(self) -> dict[str, int]:
        """An independent ``{name: count}`` copy of every non-zero count."""
        with self._lock:
            return {name: count for name, count in self._counts.items() if count}

    def reset(self) -> None:
        """Set every count back to zero."""
        with self._lock:
            self._counts.clear()

    def __repr__(self) -> str:
        return f"OperationCounters({self.snapshot()!r})"
