"""Driver positions as a stream (Kinesis, Event Hubs, Pub/Sub)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from fooddelivery.domain.events import DomainEvent

__all__ = ["LocationStream"]


@runtime_checkable
class LocationStream(Protocol):
    """An append-only stream of ``DeliveryLocationUpdated`` events, partitioned by driver id.

    Positions are frequent and individually expendable, so they do not pass through the order outbox.
    """

    def append(self, event: DomainEvent, partition_key: str) -> None:
        """Append ``event`` (type ``DeliveryLocationUpdated``) to the partition ``partition_key`` (driver id).

        Raises:
            InfrastructureError: the stream refused the record.
        """
        ...
