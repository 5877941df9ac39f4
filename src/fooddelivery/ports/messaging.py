"""Events leaving the core: the transactional outbox and the event bus."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from fooddelivery.domain.events import DomainEvent

__all__ = ["EventPublisher", "Outbox", "OutboxRecord"]


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """An event written with its order, waiting to be published.

    Attributes:
        event: the event.
        attempts: how many publish attempts failed so far.
    """

    event: DomainEvent
    attempts: int = 0


@runtime_checkable
class Outbox(Protocol):
    """The outbox side of the order store. Records are written by ``OrderRepository.add/save``.

    The relay (``fooddelivery.application.relay``) reads pending records, publishes them, then marks them.
    Delivery is at-least-once: a crash between publish and mark republishes; consumers dedupe on event id.
    """

    def pending(self, limit: int = 100) -> Sequence[OutboxRecord]:
        """Up to ``limit`` unpublished records, oldest first; one order's records keep their version order."""
        ...

    def mark_published(self, event_ids: Sequence[str]) -> None:
        """Remove these records from the pending set (unknown ids are ignored: marking is idempotent)."""
        ...

    def mark_failed(self, event_ids: Sequence[str]) -> None:
        """Count a failed publish attempt for these records (they stay pending)."""
        ...


@runtime_checkable
class EventPublisher(Protocol):
    """The event bus (EventBridge, Service Bus, Pub/Sub; in memory for tests and the simulation).

    Each event travels as a CloudEvents 1.0 envelope (``fooddelivery.application.envelope``) whose
    ``partitionkey`` is the order id, so one order's events stay in order.
    """

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Publish all of ``events``; returns only when every one was accepted.

        Raises:
            InfrastructureError: some were not accepted after the adapter's retries (``failed_ids`` in the
                error's context lists them); the accepted ones stay published.
        """
        ...
