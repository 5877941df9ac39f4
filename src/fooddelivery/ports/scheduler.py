"""Messages delivered at a time: the saga's timers and retry back-offs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from fooddelivery.domain._frozen import fast_frozen_init

__all__ = ["ScheduledMessage", "Scheduler"]


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class ScheduledMessage:
    """A message to deliver at ``due_at``.

    Attributes:
        message_id: stable id; scheduling the same id again is a no-op (idempotency key).
        due_at: delivery time (UTC). Delivery is at-least-once and may be late, never early.
        kind: what it is (``"saga.timeout"``, ``"saga.retry"``).
        body: JSON-ready content.
    """

    message_id: str
    due_at: datetime
    kind: str
    body: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Scheduler(Protocol):
    """Delivers messages later (SQS delays, EventBridge Scheduler, Service Bus scheduled messages,
    Cloud Tasks; a heap in memory).
    """

    def schedule(self, message: ScheduledMessage) -> None:
        """Arrange delivery of ``message`` at ``message.due_at`` (no-op for a known ``message_id``).

        Raises:
            InfrastructureError: the scheduler refused it.
        """
        ...

    def cancel(self, message_id: str) -> bool:
        """Best-effort cancellation; returns whether a pending message was removed.

        Consumers must still tolerate a cancelled message arriving (they check saga state).
        """
        ...
