"""An in-memory, partitioned stream of driver positions."""

from __future__ import annotations

import threading
from collections import deque

from fooddelivery.adapters.counters import OperationCounters, meter_of
from fooddelivery.adapters.sizes import envelope_size
from fooddelivery.domain.errors import InfrastructureError, ValidationError
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.metering.operations import LOCATION

__all__ = ["InMemoryLocationStream"]


class InMemoryLocationStream:
    """Per-partition logs of ``DeliveryLocationUpdated`` events (implements ``LocationStream``).

    Thread-safe. Each partition (driver id) keeps its events in append order; with ``retain`` only
    the last ``retain`` per partition are kept, while ``total`` counts them all.

    Counted operations (with ``counters``): ``location.appends`` per appended event.

    Args:
        retain: events kept per partition, or None to keep all.
        counters: optional shared operation counters.

    Raises:
        ValueError: a negative ``retain``.
    """

    def __init__(self, *, retain: int | None = None, counters: OperationCounters | None = None) -> None:
        if retain is not None and retain < 0:
            raise ValueError("retain must be None or >= 0")
        self._lock = threading.Lock()
        self._counters = counters
        self._meter = meter_of(counters)
        self._retain = retain
        self._partitions: dict[str, deque[DomainEvent]] = {}
        self._total = 0
        self._fail_next = 0

    def append(self, event: DomainEvent, partition_key: str) -> None:
        """Append ``event`` to the partition ``partition_key`` (the driver id).

        Raises:
            ValidationError: the event is not a ``DeliveryLocationUpdated`` (field ``event.type``)
                or the partition key is empty (field ``partition_key``).
            InfrastructureError: an injected failure (see :meth:`fail_next`); nothing was appended.
        """
        if event.type is not EventType.DELIVERY_LOCATION_UPDATED:
            raise ValidationError.single(
                "event.type",
                f"must be {EventType.DELIVERY_LOCATION_UPDATED.value}, not {event.type}",
                "invalid",
            )
        if not partition_key:
            raise ValidationError.single("partition_key", "must not be empty", "required")
        with self._lock:
            if self._fail_next:
                self._fail_next -= 1
                raise InfrastructureError("location stream refused the record (injected failure)")
            if self._retain != 0:  # retain=0 keeps no partition at all, only the total
                log = self._partitions.get(partition_key)
                if log is None:
                    log = self._partitions[partition_key] = deque(maxlen=self._retain)
                log.append(event)
            self._total += 1
        if self._counters is not None:
            self._counters.local.counts["location.appends"] += 1
        if self._meter is not None:
            self._meter.local.sized[LOCATION, envelope_size(event)] += 1  # meter.record, without the call

    def fail_next(self, n: int = 1) -> None:
        """Make the next ``n`` appends raise ``InfrastructureError`` without appending."""
        with self._lock:
            self._fail_next = n

    # -- what it saw -------------------------------------------------------------------------------
    def latest(self, partition_key: str) -> DomainEvent | None:
        """The last event of the partition, or None if it has none."""
        with self._lock:
            log = self._partitions.get(partition_key)
            return log[-1] if log else None

    def events(self, partition_key: str) -> list[DomainEvent]:
        """The partition's retained events, in append order (a new list)."""
        with self._lock:
            return list(self._partitions.get(partition_key, ()))

    @property
    def partitions(self) -> list[str]:
        """The partition keys that have events, sorted."""
        with self._lock:
            return sorted(self._partitions)

    @property
    def total(self) -> int:
        """How many events were appended over the stream's life."""
        return self._total
