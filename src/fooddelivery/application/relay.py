"""The outbox relay: moves committed events from the outbox to the event bus, then to in-process consumers.

Delivery is at-least-once: a crash after publishing and before marking republishes, so every consumer
deduplicates on the event id (the saga does so by being idempotent on the order id).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.domain.events import DomainEvent
from fooddelivery.ports.messaging import EventPublisher, Outbox

__all__ = ["OutboxRelay"]


class OutboxRelay:
    """Publishes pending outbox records in batches.

    Args:
        outbox: where committed events wait.
        publisher: the bus.
        consumer: called with each published batch, in order (the in-process event handlers), or None.
        batch_size: records per publish call.
    """

    def __init__(
        self,
        outbox: Outbox,
        publisher: EventPublisher,
        consumer: Callable[[Sequence[DomainEvent]], None] | None = None,
        batch_size: int = 100,
    ) -> None:
        self.outbox = outbox
        self.publisher = publisher
        self.consumer = consumer
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._wanted = False

    def flush(self) -> int:
        """Publish until the outbox is empty (events handled by the consumer may add more).

        One flush runs at a time: a re-entrant call (a consumer that commits and flushes) or a call from another
        thread while one runs returns 0 at once, and the running flush picks their events up; after it lets go
        it looks once more, so events committed just as it finished are not left waiting.

        Returns:
            How many events were published.

        Raises:
            InfrastructureError: the bus refused a batch; those records stay pending (attempts counted).
        """
        published = 0
        while True:
            # Raise the flag *before* trying the lock: a flush that holds it either drains our events (it
            # cleared the flag before it started reading) or sees the flag after letting go and goes again.
            self._wanted = True
            if not self._lock.acquire(blocking=False):
                return published
            try:
                self._wanted = False
                published += self._drain()
            finally:
                self._lock.release()
            if not self._wanted:
                return published

    def _drain(self) -> int:
        published = 0
        while True:
            records = self.outbox.pending(self.batch_size)
            if not records:
                return published
            events = [r.event for r in records]
            ids = [e.event_id for e in events]
            try:
                self.publisher.publish(events)
            except InfrastructureError:
                self.outbox.mark_failed(ids)
                raise
            # Consumers first, then the mark: a crash in between republishes (at-least-once, consumers are
            # idempotent); marking first would lose the in-process delivery for good.
            if self.consumer is not None:
                self.consumer(events)
            self.outbox.mark_published(ids)
            published += len(events)
