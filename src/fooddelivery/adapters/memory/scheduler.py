"""An in-memory scheduler: a heap of timed messages, delivered when the caller asks."""

from __future__ import annotations

import heapq
import threading
from datetime import datetime

from fooddelivery.adapters._support import copy_json
from fooddelivery.adapters.counters import OperationCounters, meter_of
from fooddelivery.adapters.sizes import timer_size
from fooddelivery.domain.catalog import check_utc
from fooddelivery.metering.operations import TIMER_CANCEL, TIMER_FIRE, TIMER_SCHEDULE
from fooddelivery.ports.scheduler import ScheduledMessage

__all__ = ["InMemoryScheduler"]

#: Heap entry: (due_at, sequence, message_id). The sequence keeps equal due times in scheduling
#: order.
_Entry = tuple[datetime, int, str]


class InMemoryScheduler:
    """Holds messages until :meth:`pop_due` reaches their ``due_at`` (implements ``Scheduler``).

    Thread-safe.

    ``schedule`` is a no-op for a ``message_id`` that is still pending; once delivered or cancelled,
    the id may be scheduled again. Messages are stored as independent copies (``body`` copied at
    every dict/list depth). Cancellation removes the message at once; its heap entry is skipped
    lazily and the heap is compacted when stale entries outnumber live ones.

    Counted operations (with ``counters``): ``scheduler.scheduled`` per message accepted (not per
    no-op), ``scheduler.cancelled`` per message removed, ``scheduler.delivered`` per message
    returned by ``pop_due``.

    Args:
        counters: optional shared operation counters.
    """

    def __init__(self, *, counters: OperationCounters | None = None) -> None:
        self._lock = threading.Lock()
        self._counters = counters
        self._meter = meter_of(counters)
        self._heap: list[_Entry] = []
        self._pending: dict[str, tuple[int, ScheduledMessage]] = {}
        self._seq = 0

    # -- Scheduler ---------------------------------------------------------------------------------
    def schedule(self, message: ScheduledMessage) -> None:
        """Arrange delivery of ``message`` at ``message.due_at`` (a no-op while its id is pending).

        Raises:
            ValidationError: ``due_at`` is not timezone-aware UTC (field ``due_at``).
        """
        check_utc(message.due_at, "due_at")
        with self._lock:
            if message.message_id in self._pending:
                return
            self._seq += 1
            stored = ScheduledMessage(message.message_id, message.due_at, message.kind, copy_json(message.body))
            self._pending[message.message_id] = (self._seq, stored)
            heapq.heappush(self._heap, (message.due_at, self._seq, message.message_id))
        if self._counters is not None:
            self._counters.local.counts["scheduler.scheduled"] += 1
        if self._meter is not None:
            self._meter.local.sized[TIMER_SCHEDULE, timer_size(message)] += 1  # meter.record, without the call

    def cancel(self, message_id: str) -> bool:
        """Remove a pending message; returns True if one was removed (False: unknown or gone)."""
        with self._lock:
            if self._pending.pop(message_id, None) is None:
                return False
            if len(self._heap) > 64 and len(self._heap) > 2 * len(self._pending):
                self._compact()
        if self._counters is not None:
            self._counters.local.counts["scheduler.cancelled"] += 1
        if self._meter is not None:
            self._meter.local.unsized[TIMER_CANCEL] += 1  # meter.record, without the call
        return True

    # -- delivery ----------------------------------------------------------------------------------
    def pop_due(self, now: datetime) -> list[ScheduledMessage]:
        """Remove and return the messages due at or before ``now``, by due time then scheduling."""
        out: list[ScheduledMessage] = []
        with self._lock:
            heap, pending = self._heap, self._pending
            while heap and heap[0][0] <= now:
                _, seq, message_id = heapq.heappop(heap)
                live = pending.get(message_id)
                if live is not None and live[0] == seq:
                    del pending[message_id]
                    out.append(live[1])
        if self._counters is not None and out:
            self._counters.local.counts["scheduler.delivered"] += len(out)
        if self._meter is not None and out:
            self._meter.record(TIMER_FIRE, len(out))
        return out

    def next_due(self) -> datetime | None:
        """When the earliest pending message is due, or None when nothing is pending."""
        with self._lock:
            heap, pending = self._heap, self._pending
            while heap:
                _, seq, message_id = heap[0]
                live = pending.get(message_id)
                if live is not None and live[0] == seq:
                    return heap[0][0]
                heapq.heappop(heap)
            return None

    @property
    def pending_count(self) -> int:
        """How many messages are pending."""
        return len(self._pending)

    def pending(self) -> list[ScheduledMessage]:
        """The pending messages in delivery order (a new list; for inspection)."""
        with self._lock:
            ordered = sorted(self._pending.values(), key=lambda item: (item[1].due_at, item[0]))
            return [message for _, message in ordered]

    def _compact(self) -> None:
        self._heap = [(m.due_at, seq, mid) for mid, (seq, m) in self._pending.items()]
        heapq.heapify(self._heap)
