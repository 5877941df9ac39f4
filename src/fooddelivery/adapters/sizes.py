"""Sizes in bytes of what the adapters store and send, for metering (:mod:`fooddelivery.metering.operations`).

A stored item's size follows the rule the document stores bill by -- DynamoDB's: the UTF-8 length of every
attribute name plus its value
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html) -- applied to the
store-neutral record of the SQLite adapters (:mod:`fooddelivery.adapters.sqlite.records`: the same fields every
store keeps, the nested parts as compact JSON). Messages are sized as the bytes that travel: the CloudEvents JSON
envelope of an event, the JSON body of a notification, a location record or a timer. The cloud packages' own
records differ by a few key attributes (index keys, type tags); their tests compare the two.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final

from fooddelivery.adapters.sqlite.records import (
    driver_record,
    event_json,
    order_row,
    restaurant_record,
    saga_record,
    utc_text,
)
from fooddelivery.application.envelope import to_json
from fooddelivery.domain.catalog import Driver, Restaurant
from fooddelivery.domain.events import DomainEvent
from fooddelivery.domain.order import Order
from fooddelivery.ports.notifications import Notification
from fooddelivery.ports.orders import IdempotencyRecord
from fooddelivery.ports.saga_store import SagaState
from fooddelivery.ports.scheduler import ScheduledMessage

__all__ = [
    "attributes_size",
    "driver_size",
    "envelope_size",
    "idempotency_size",
    "json_size",
    "location_size",
    "notification_size",
    "order_size",
    "outbox_size",
    "restaurant_size",
    "saga_size",
    "timer_size",
]

_ORDER_COLUMNS: Final = ("orderId", "customerId", "restaurantId", "status", "createdAt", "version", "record")


def attributes_size(attributes: Iterable[tuple[str, Any]]) -> int:
    """Bytes of an item of ``(name, value)`` attributes: UTF-8 name + UTF-8 text of the value (None is 1 byte)."""
    total = 0
    for name, value in attributes:
        total += len(name.encode())
        total += 1 if value is None else len(str(value).encode())
    return total


def json_size(doc: Any) -> int:
    """Bytes of ``doc`` as compact JSON (UTF-8)."""
    return len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False, default=str).encode())


def order_size(order: Order) -> int:
    """Stored size of an order item (its state; not its pending events)."""
    return attributes_size(zip(_ORDER_COLUMNS, order_row(order), strict=True))


def outbox_size(event: DomainEvent) -> int:
    """Stored size of an outbox record: the key (``outbox#<event id>``), the pending-index keys and the event."""
    return attributes_size(
        (
            ("orderId", "outbox#" + event.event_id),
            ("outboxPartition", "pending#0"),
            ("outboxSeq", f"{utc_text(event.occurred_at)}#{event.order_id}#{event.order_version}"),
            ("event", event_json(event)),
        )
    )


def envelope_size(event: DomainEvent) -> int:
    """Bytes of ``event``'s CloudEvents JSON envelope, as it travels on every bus."""
    return len(to_json(event))


def idempotency_size(record: IdempotencyRecord) -> int:
    """Stored size of an idempotency binding."""
    return attributes_size(
        (
            ("orderId", f"idem#{record.scope}#{record.key}"),
            ("fingerprint", record.fingerprint),
            ("boundOrderId", record.order_id),
        )
    )


def restaurant_size(restaurant: Restaurant) -> int:
    """Stored size of a restaurant item."""
    return attributes_size(
        (
            ("restaurantId", restaurant.restaurant_id),
            ("version", restaurant.version),
            ("record", restaurant_record(restaurant)),
        )
    )


def driver_size(driver: Driver) -> int:
    """Stored size of a driver item (with its position and status, the index attributes)."""
    loc = driver.location
    return attributes_size(
        (
            ("driverId", driver.driver_id),
            ("status", driver.status.value),
            ("lat", loc.lat),
            ("lon", loc.lon),
            ("version", driver.version),
            ("record", driver_record(driver)),
        )
    )


def saga_size(state: SagaState) -> int:
    """Stored size of a saga instance item."""
    return attributes_size(
        (
            ("sagaId", state.saga_id),
            ("status", state.status.value),
            ("version", state.version),
            ("record", saga_record(state)),
        )
    )


def notification_size(notification: Notification) -> int:
    """Bytes of a notification's JSON body."""
    return json_size(
        {
            "notificationId": notification.notification_id,
            "kind": notification.kind.value,
            "recipientId": notification.recipient_id,
            "orderId": notification.order_id,
            "template": notification.template,
            "data": dict(notification.data),
        }
    )


def location_size(order_id: str, driver_id: str, lat: float, lon: float, at: str) -> int:
    """Bytes of a driver-position record's JSON body."""
    return json_size({"orderId": order_id, "driverId": driver_id, "lat": lat, "lon": lon, "at": at})


def timer_size(message: ScheduledMessage) -> int:
    """Bytes of a timer message's JSON body."""
    return json_size(
        {
            "messageId": message.message_id,
            "dueAt": utc_text(message.due_at),
            "kind": message.kind,
            "body": dict(message.body),
        }
    )
