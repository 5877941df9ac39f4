"""An in-memory event bus that records what was published."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from functools import cache

from fooddelivery.adapters.counters import OperationCounters, meter_of
from fooddelivery.adapters.sizes import envelope_size
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.metering.operations import BUS_EVENT, RUNTIME_EVENT

__all__ = ["InMemoryEventPublisher"]


@cache
def _needs_runtime() -> tuple[Callable[[DomainEvent], bool], frozenset[EventType]]:
    """``fooddelivery.application.runtime.needs_runtime`` and ``REACTING_EVENT_TYPES`` (the types a row of the
    reaction table names: an event of another type needs no runtime), imported on the first metered publish (the
    application imports this module), once."""
    from fooddelivery.application.runtime import REACTING_EVENT_TYPES, needs_runtime

    return needs_runtime, REACTING_EVENT_TYPES


def _check_retain(retain: int | None) -> None:
    if retain is not None and (type(retain) is not int or retain < 0):
        raise ValueError("retain must be None or an integer >= 0")


class InMemoryEventPublisher:
    """Records published events in order (implements ``EventPublisher``). Thread-safe.

    Every accepted event is counted per type (``counts_by_type``), even when ``retain`` keeps only
    the most recent ones in memory (for simulations of millions of orders). Republishing an event id
    is accepted (the bus is at-least-once) and counted in ``duplicates``; it is detected against the
    events still retained.

    Counted operations (with ``counters``): ``events.published`` per accepted event. Metered: one
    ``bus.event`` per accepted event (sized: its CloudEvents JSON envelope) and one ``runtime.event`` for
    each that the order runtime consumes (``needs_runtime``: a relay routes those to the runtime's queue too).

    Args:
        retain: keep only the last ``retain`` events (and their ids), or None to keep all.
        counters: optional shared operation counters.

    Raises:
        ValueError: a negative ``retain``.
    """

    def __init__(self, *, retain: int | None = None, counters: OperationCounters | None = None) -> None:
        _check_retain(retain)
        self._lock = threading.Lock()
        self._counters = counters
        self._meter = meter_of(counters)
        self._retain = retain
        self._events: deque[DomainEvent] = deque(maxlen=retain)
        self._ids: dict[str, int] = {}
        self._counts: defaultdict[str, int] = defaultdict(int)
        self._total = 0
        self._full = False  # the retained events fill the deque: each append evicts the oldest
        self._duplicates = 0
        self._fail_next = 0

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Accept all of ``events``, in order.

        Raises:
            InfrastructureError: an injected failure (see :meth:`fail_next`); nothing of this call
                was accepted and ``failed_ids`` in the error's context lists every event id.
        """
        with self._lock:
            if self._fail_next:
                self._fail_next -= 1
                raise InfrastructureError(
                    "event bus unavailable (injected failure)",
                    failed_ids=[e.event_id for e in events],
                )
            count = 0  # counted in the loop, not by len(): every publish passes here
            kept, ids, counts = self._events, self._ids, self._counts
            retain = self._retain
            # -1: unbounded; 0: each append evicts (a full deque stays full until clear(): no len() then)
            held = 0 if retain is None else retain if self._full else len(kept)  # how many kept before this call
            room = -1 if retain is None else retain - held
            evictions = 0  # the n-th event kept when full evicts the n-th of (kept before this call + this call's)
            for event in events:
                count += 1
                if room == 0:
                    if retain == 0:
                        counts[event.type] += 1
                        continue
                    evicted = (kept[evictions] if evictions < held else events[evictions - held]).event_id
                    evictions += 1
                    left = ids[evicted] - 1
                    if left:
                        ids[evicted] = left
                    else:
                        del ids[evicted]
                elif room > 0:
                    room -= 1
                event_id = event.event_id
                if event_id in ids:
                    self._duplicates += 1
                    ids[event_id] += 1
                else:
                    ids[event_id] = 1
                counts[event.type] += 1
            if retain != 0:
                kept.extend(events)  # one call; a full deque (maxlen=retain) drops the evicted from its left
            self._total += count
            if room == 0 and retain is not None:
                self._full = True
        if self._counters is not None and count:
            self._counters.local.counts["events.published"] += count
        meter = self._meter
        if meter is not None:
            needs_runtime, reacting = _needs_runtime()
            recorded = meter.local.sized  # meter.record(name, size=size), without the calls
            for event in events:
                size = envelope_size(event)
                recorded[BUS_EVENT, size] += 1
                if event.type in reacting and needs_runtime(event):
                    recorded[RUNTIME_EVENT, size] += 1

    def fail_next(self, n: int = 1) -> None:
        """Make the next ``n`` publishes raise ``InfrastructureError`` (accepting nothing)."""
        with self._lock:
            self._fail_next = n

    # -- what it saw -------------------------------------------------------------------------------
    @property
    def published(self) -> list[DomainEvent]:
        """The retained events, oldest first (a new list)."""
        with self._lock:
            return list(self._events)

    @property
    def published_ids(self) -> set[str]:
        """The ids of the retained events (a new set)."""
        with self._lock:
            return set(self._ids)

    @property
    def counts_by_type(self) -> dict[str, int]:
        """``{event type: events accepted}`` over the publisher's whole life (a new dict)."""
        with self._lock:
            return dict(self._counts)

    @property
    def total(self) -> int:
        """How many events were accepted, retained or not."""
        return self._total

    @property
    def duplicates(self) -> int:
        """How many accepted events repeated the id of a retained event."""
        return self._duplicates

    def of_order(self, order_id: str) -> list[DomainEvent]:
        """The retained events of one order, oldest first."""
        with self._lock:
            return [e for e in self._events if e.order_id == order_id]

    def clear(self) -> None:
        """Forget the retained events and ids (counts and totals stay)."""
        with self._lock:
            self._events.clear()
            self._ids.clear()
            self._full = False
