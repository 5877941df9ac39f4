"""Operation counters shared by the in-memory adapters ("store calls" in a simulation report), and their meter.

``OperationCounters`` counts port operations under stable names (:data:`OPERATION_NAMES`) and is also the
:class:`~fooddelivery.metering.Meter` the same adapters record their sized, billable operations on
(:mod:`fooddelivery.metering.operations`), so one object injected into every adapter holds both.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any, Final

from fooddelivery.metering import Quantity, Tally, UsageMeter

__all__ = ["OPERATION_NAMES", "OperationCounters", "meter_of"]

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
        "units.reads",
        "units.writes",
    }
)


class _ThreadCounts(threading.local):
    """One thread's counts (``counts``, a ``defaultdict(int)``), made and registered with their
    :class:`OperationCounters` the first time the thread touches them (``threading.local`` runs ``__init__`` once per
    thread, with the arguments it was built with). Registering first adds the counts of the threads that ended to
    ``folded`` and drops their dicts, so counters counted on by short-lived threads (a thread per request) keep
    their counts without a dict per thread they ever saw."""

    def __init__(
        self,
        threads: list[tuple[threading.Thread, defaultdict[str, int]]],
        folded: dict[str, int],
        lock: threading.Lock,
    ) -> None:
        self.counts: defaultdict[str, int] = defaultdict(int)
        with lock:
            live = []
            for thread, counts in threads:
                if thread.is_alive():
                    live.append((thread, counts))
                    continue
                for name, n in counts.items():  # an ended thread counts no more
                    folded[name] = folded.get(name, 0) + n
            threads[:] = live
            threads.append((threading.current_thread(), self.counts))


class OperationCounters:
    """A tally of named operations, like a ``collections.Counter`` shared by threads, plus a meter.

    One instance is usually injected into every in-memory adapter (``counters=...``) so a test or a
    simulation can read how many port operations a scenario cost. Names are free-form; the adapters
    use :data:`OPERATION_NAMES`. Adding takes no lock: each thread adds to its own dict (a dict update
    under the GIL); reading (:meth:`get`, :meth:`snapshot`) sums every thread's dict, so a count is
    never lost, and the hot paths of the adapters pay one dict update per operation: they add to
    ``counters.local.counts[name]`` themselves (this thread's ``defaultdict(int)``: ``+= n`` is :meth:`add` without
    the call).

    It implements :class:`~fooddelivery.metering.Meter` too: :meth:`record` keeps sized, billable operations
    apart from the counts (:meth:`usage`), so :meth:`snapshot` is unchanged by metering.

    Args:
        metering: record billable operations (:meth:`record`); False makes :meth:`record` a no-op and tells the
            adapters (:func:`meter_of`) not to compute sizes at all (a long simulation runs faster without it).
    """

    __slots__ = ("_folded", "_lock", "_threads", "local", "meter", "metering")

    def __init__(self, *, metering: bool = True) -> None:
        self._lock = threading.Lock()
        self._threads: list[tuple[threading.Thread, defaultdict[str, int]]] = []
        #: the counts of the threads that ended
        self._folded: dict[str, int] = {}
        #: this thread's counts: ``local.counts[name] += n`` adds ``n`` to ``name`` (what :meth:`add` does)
        self.local = _ThreadCounts(self._threads, self._folded, self._lock)
        #: where :meth:`record` records (the adapters record on it directly: :func:`meter_of`)
        self.meter = UsageMeter()
        self.metering = metering

    def record(self, name: str, quantity: Quantity = 1, *, size: int | None = None) -> None:
        """Record a billable operation (the :class:`~fooddelivery.metering.Meter` port): ``quantity`` of
        ``name``, each ``size`` bytes when given.

        Raises:
            ValueError: a negative quantity or size.
        """
        if self.metering:
            if size is None and type(quantity) is int and quantity >= 0:
                self.meter.local.unsized[name] += quantity  # meter.record(name, quantity), without the call
            else:
                self.meter.record(name, quantity, size=size)

    def usage(self) -> dict[str, Tally]:
        """What was recorded with :meth:`record`, by name (independent copies)."""
        return self.meter.usage()

    def reset_usage(self) -> None:
        """Forget what was metered (the counts stay): e.g. after setting up a world, before the measured run."""
        self.meter.reset()

    def usage_json(self) -> dict[str, dict[str, Any]]:
        """:meth:`usage` as JSON-ready dicts."""
        return self.meter.usage_json()

    def add(self, name: str, n: int = 1) -> None:
        """Add ``n`` (default 1) to the count of ``name``."""
        self.local.counts[name] += n

    def _totals(self) -> dict[str, int]:
        with self._lock:
            parts = [self._folded.copy(), *(d.copy() for _, d in self._threads)]  # dict.copy: one step (GIL)
        totals: dict[str, int] = {}
        for part in parts:
            for name, count in part.items():
                totals[name] = totals.get(name, 0) + count
        return totals

    def get(self, name: str) -> int:
        """The count of ``name`` (0 if never added)."""
        return self._totals().get(name, 0)

    def __getitem__(self, name: str) -> int:
        """The count of ``name`` (0 if never added), like ``collections.Counter``."""
        return self.get(name)

    def snapshot(self) -> dict[str, int]:
        """An independent ``{name: count}`` copy of every non-zero count."""
        return {name: count for name, count in self._totals().items() if count}

    def reset(self) -> None:
        """Set every count back to zero and forget what was metered (call it while no thread adds)."""
        with self._lock:
            self._folded.clear()
            for _, counts in self._threads:
                counts.clear()
        self.meter.reset()

    def __repr__(self) -> str:
        return f"OperationCounters({self.snapshot()!r})"


def meter_of(counters: OperationCounters | None) -> UsageMeter | None:
    """The meter of ``counters`` if it meters (the adapters record sized operations on it, with one call a record),
    else None (they skip sizing)."""
    return counters.meter if counters is not None and counters.metering else None
