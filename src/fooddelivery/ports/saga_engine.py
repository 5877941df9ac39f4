"""Where sagas run: in process (``SagaRunner``), on queues, or in a cloud workflow engine (Step Functions...)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from fooddelivery.ports.saga_store import SagaStatus

__all__ = ["SagaEngine", "SignalOutcome"]


class SignalOutcome(StrEnum):
    """The answer to an event sent to a saga."""

    ACCEPTED = "ACCEPTED"
    """The saga was waiting for it and moved on."""
    DUPLICATE = "DUPLICATE"
    """The same event was already accepted; nothing changed."""


@runtime_checkable
class SagaEngine(Protocol):
    """Starts saga instances and delivers external events to them.

    The use cases talk to this port only, so the same service runs with the in-process runner, the queue-driven
    runner, or a compiled workflow (Step Functions, Durable Functions, Cloud Workflows).
    """

    def start(self, saga_id: str, data: Mapping[str, Any] | None = None) -> object:
        """Start the instance ``saga_id`` (idempotent: starting it again changes nothing).

        Raises:
            InfrastructureError: the engine refused; retrying is safe.
        """
        ...

    def signal(self, saga_id: str, event: str, detail: Mapping[str, Any] | None = None) -> SignalOutcome:
        """Deliver the external ``event`` (``"RestaurantConfirmed"``...).

        Returns:
            ACCEPTED, or DUPLICATE when this event was already accepted (nothing changes).

        Raises:
            NotFound: no such instance.
            LateEvent: the wait it belongs to is over; nothing changes.
            InvalidTransition: the instance is not yet waiting for events; retry later.
        """
        ...

    def status(self, saga_id: str) -> SagaStatus | None:
        """The instance's status, or None when it was never started."""
        ...
