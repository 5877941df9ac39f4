"""Telling people things (SNS, e-mail, push...)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from fooddelivery.domain._frozen import fast_frozen_init

__all__ = ["Notification", "NotificationKind", "Notifier"]


class NotificationKind(StrEnum):
    """Who is told."""

    RESTAURANT = "restaurant"
    CUSTOMER = "customer"
    OPERATIONS_ALERT = "operations_alert"


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class Notification:
    """One message to one recipient.

    Attributes:
        notification_id: stable id; sending the same id twice delivers once (idempotency key).
        kind: recipient kind.
        recipient_id: restaurant id, customer id, or an operations channel name.
        order_id: the order concerned.
        template: machine name of the message (``"new_order"``, ``"order_confirmed"``...).
        data: template parameters (JSON-ready strings).
    """

    notification_id: str
    kind: NotificationKind
    recipient_id: str
    order_id: str
    template: str
    data: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Notifier(Protocol):
    """Sends notifications, at most once per ``notification_id``."""

    def send(self, notification: Notification) -> None:
        """Send (a no-op if this id was sent before).

        Raises:
            InfrastructureError: the channel failed; retrying with the same id is safe.
        """
        ...
