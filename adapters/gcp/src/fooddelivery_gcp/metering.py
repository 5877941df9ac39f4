"""Firestore billable operations, recorded as the adapters make them (for cost metering).

Firestore bills per document read, write and delete (https://cloud.google.com/firestore/pricing): a point read of
a document counts one read whether or not the document exists; a query counts one read per document returned and
at least one read when it returns none; every document created, updated or set in a write, batch or transaction is
one write; every document deleted is one delete. The adapters call :meth:`FirestoreMeter.record` with exactly
those counts, per collection, so a test or a bench can price a workload.

This recorder is the package's own, small and dependency-free, until the core's metering interface (being
defined on branch ``issue12-cost``) lands on main; then :class:`FirestoreMeter` becomes an adapter of it (the
counts and their names stay as they are: ``firestore.<collection>.reads|writes|deletes``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Final, Literal

__all__ = ["OPERATIONS", "FirestoreMeter", "Operation"]

Operation = Literal["reads", "writes", "deletes"]
#: The three billed kinds of document operation.
OPERATIONS: Final[tuple[Operation, ...]] = ("reads", "writes", "deletes")


class FirestoreMeter:
    """A thread-safe tally of Firestore document operations by collection.

    Names are ``firestore.<collection>.<operation>`` (``firestore.orders.reads``); :meth:`totals` sums them per
    operation over every collection.
    """

    __slots__ = ("_counts", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def record(self, collection: str, *, reads: int = 0, writes: int = 0, deletes: int = 0) -> None:
        """Add billed operations on ``collection``.

        Raises:
            ValueError: a negative count.
        """
        if reads < 0 or writes < 0 or deletes < 0:
            raise ValueError("operation counts are never negative")
        with self._lock:
            for operation, n in (("reads", reads), ("writes", writes), ("deletes", deletes)):
                if n:
                    name = f"firestore.{collection}.{operation}"
                    self._counts[name] = self._counts.get(name, 0) + n

    def get(self, collection: str, operation: Operation) -> int:
        """The count of ``operation`` on ``collection`` (0 if none)."""
        with self._lock:
            return self._counts.get(f"firestore.{collection}.{operation}", 0)

    def snapshot(self) -> dict[str, int]:
        """An independent ``{name: count}`` copy of every non-zero count."""
        with self._lock:
            return dict(self._counts)

    def totals(self) -> Mapping[Operation, int]:
        """Reads, writes and deletes summed over every collection."""
        out: dict[Operation, int] = dict.fromkeys(OPERATIONS, 0)
        with self._lock:
            for name, n in self._counts.items():
                operation = name.rsplit(".", 1)[1]
                for known in OPERATIONS:
                    if operation == known:
                        out[known] += n
        return out

    def reset(self) -> None:
        """Forget every count."""
        with self._lock:
            self._counts.clear()

    def __repr__(self) -> str:
        return f"FirestoreMeter({self.snapshot()!r})"
