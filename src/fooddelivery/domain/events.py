"""Domain events: facts in the past tense, each with an id, a time, the order it concerns and its version.

Payload values are JSON-ready (money as decimal strings, times as ISO-8601 UTC strings), so the CloudEvents
envelope (``fooddelivery.application.envelope``) can carry them on EventBridge, Service Bus and Pub/Sub alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from fooddelivery.domain._frozen import fast_frozen_init

__all__ = ["SCHEMA_VERSION", "DomainEvent", "EventType"]

#: Version of every event payload schema; bump on an incompatible change.
SCHEMA_VERSION: Final[str] = "1"


class EventType(StrEnum):
    """Every event the core emits."""

    ORDER_PLACED = "OrderPlaced"
    ORDER_STATUS_CHANGED = "OrderStatusChanged"
    ORDER_CANCELLED = "OrderCancelled"
    ORDER_FAILED = "OrderFailed"
    PAYMENT_CAPTURED = "PaymentCaptured"
    PAYMENT_REFUNDED = "PaymentRefunded"
    DRIVER_ASSIGNED = "DriverAssigned"
    DRIVER_RELEASED = "DriverReleased"
    RESTAURANT_NOTIFIED = "RestaurantNotified"
    CUSTOMER_NOTIFIED = "CustomerNotified"
    DELIVERY_LOCATION_UPDATED = "DeliveryLocationUpdated"


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class DomainEvent:
    """One fact about an order.

    Attributes:
        event_id: opaque unique id; consumers deduplicate on it (at-least-once delivery).
        type: what happened.
        occurred_at: when (UTC).
        order_id: the aggregate it concerns (also the partition/ordering key on every bus).
        order_version: the order's version right after this fact.
        payload: JSON-ready details.
    """

    event_id: str
    type: EventType
    occurred_at: datetime
    order_id: str
    order_version: int
    payload: dict[str, Any] = field(default_factory=dict)
