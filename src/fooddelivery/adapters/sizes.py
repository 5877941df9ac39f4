"""Sizes in bytes of what the adapters store and send, for metering (:mod:`fooddelivery.metering.operations`).

A stored item is sized as a document store keeps it -- the same fields every store persists, as a native document
(money in integer minor units, times as fixed-width ISO-8601 text, nested maps and lists), plus the index keys a
store adds (a status + creation key for the restaurant's listing, the outbox's pending-index keys) -- and measured by
the rule document stores bill by, DynamoDB's: each attribute's UTF-8 name plus its value; a string by its UTF-8
bytes, a number by one byte per two significant digits plus one, a map or list 3 bytes plus 1 per element
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html). The AWS
package's test (``adapters/aws/tests/messaging/test_metering.py``) compares these sizes with its real items'.
Messages are sized as the bytes that travel: the CloudEvents JSON envelope of an event, the JSON body of a
notification or a timer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from fooddelivery.domain.catalog import Driver, Restaurant
from fooddelivery.domain.events import DomainEvent
from fooddelivery.domain.order import Order
from fooddelivery.ports.notifications import Notification
from fooddelivery.ports.orders import IdempotencyRecord
from fooddelivery.ports.saga_store import SagaState
from fooddelivery.ports.scheduler import ScheduledMessage

__all__ = [
    "document_size",
    "driver_size",
    "envelope_size",
    "idempotency_size",
    "json_size",
    "notification_size",
    "order_size",
    "outbox_size",
    "restaurant_size",
    "saga_size",
    "timer_size",
    "value_size",
]

#: A time as stored: ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (27 bytes).
_TIME: Final[str] = "2026-11-30T18:00:00.000000Z"
#: An epoch-seconds number with microseconds (``1764525600.000000``: 10 significant digits at most).
_EPOCH: Final[Decimal] = Decimal("1764525600.123456")


def _number_size(value: int | Decimal | float) -> int:
    if type(value) is int:
        digits = str(value).lstrip("-").rstrip("0") or "0"
    else:
        text = repr(value) if isinstance(value, float) else str(value)
        mantissa = text.lower().split("e", 1)[0]
        digits = mantissa.lstrip("-").replace(".", "").strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def value_size(value: Any) -> int:
    """Bytes of one stored value (see the module docstring); a datetime counts as its 27-byte text."""
    kind = type(value)
    if kind is str:
        return len(value.encode())
    if value is None or kind is bool:
        return 1
    if kind is int or kind is float or isinstance(value, Decimal):
        return _number_size(value)
    if isinstance(value, Mapping):
        total = 3
        for k, v in value.items():
            total += 1 + len(str(k).encode()) + value_size(v)
        return total
    if isinstance(value, (list, tuple)):
        total = 3
        for v in value:
            total += 1 + value_size(v)
        return total
    return len(_TIME)  # datetimes (and anything else stored as text of that width)


def document_size(document: Mapping[str, Any]) -> int:
    """Bytes of an item: each top-level attribute's UTF-8 name plus its value (absent = None attributes skipped)."""
    return sum(len(name.encode()) + value_size(v) for name, v in document.items() if v is not None)


def json_size(doc: Any) -> int:
    """Bytes of ``doc`` as compact JSON (UTF-8)."""
    return len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False, default=str).encode())


def order_size(order: Order) -> int:
    """Stored size of an order item (its state; not its pending events)."""
    return _order_fixed_size(order) + document_size(
        {
            "orderId": order.order_id,
            "itemType": "order",
            "userId": order.customer_id,
            "restaurantId": order.restaurant_id,
            "status": order.status.value,
            "paymentStatus": order.payment_status.value,
            "paymentMethod": order.payment_method,
            "createdAt": _EPOCH,
            "createdAtUtc": _TIME,
            "updatedAt": _TIME,
            "statusCreatedAt": f"{order.status.value}#{_TIME}#{order.order_id}",
            "createdAtKey": f"{_TIME}#{order.order_id}",
            "currency": order.pricing.total.currency,
            "statusTimes": dict.fromkeys(order.status_times, _TIME),
            "notified": list(order.notified),
            "version": order.version,
            "driverId": order.driver_id,
            "failureReason": order.failure_reason,
            "chargeId": order.charge_id,
        }
    )


#: order id -> (its lines, pricing and address objects, their stored size): they never change once placed.
_FIXED: dict[str, tuple[object, object, object, int]] = {}
_FIXED_MAX: Final[int] = 65_536


def _order_fixed_size(order: Order) -> int:
    """Bytes of the attributes an order never changes (lines, pricing, delivery address), computed once per order
    (and again if its objects are not the ones sized)."""
    cached = _FIXED.get(order.order_id)
    if cached is not None and cached[0] is order.lines and cached[1] is order.pricing and (
        cached[2] is order.delivery_address
    ):
        return cached[3]
    pricing = order.pricing
    address = order.delivery_address
    location = address.location
    size = document_size(
        {
            "lines": [
                {
                    "itemId": line.item_id,
                    "name": line.name,
                    "unitPriceMinor": line.unit_price.minor,
                    "quantity": line.quantity,
                    "lineTotalMinor": line.line_total.minor,
                }
                for line in order.lines
            ],
            "pricing": {
                "subtotalMinor": pricing.subtotal.minor,
                "discountMinor": pricing.discount.minor,
                "taxMinor": pricing.tax.minor,
                "deliveryFeeMinor": pricing.delivery_fee.minor,
                "serviceFeeMinor": pricing.service_fee.minor,
                "tipMinor": pricing.tip.minor,
                "totalMinor": pricing.total.minor,
                **({"promoCode": pricing.promo_code} if pricing.promo_code is not None else {}),
                **({"distanceKm": pricing.distance_km} if pricing.distance_km is not None else {}),
            },
            "deliveryAddress": {
                "text": address.text,
                **({"lat": location.lat, "lon": location.lon} if location is not None else {}),
            },
        }
    )
    if len(_FIXED) >= _FIXED_MAX:
        _FIXED.clear()
    _FIXED[order.order_id] = (order.lines, order.pricing, order.delivery_address, size)
    return size


def outbox_size(event: DomainEvent) -> int:
    """Stored size of an outbox record: the event, its key and the pending-index keys."""
    return document_size(
        {
            "orderId": "outbox#" + event.event_id,
            "itemType": "outbox",
            "eventId": event.event_id,
            "eventType": event.type.value,
            "occurredAt": _TIME,
            "aggregateId": event.order_id,
            "orderVersion": event.order_version,
            "payload": dict(event.payload),
            "attempts": 0,
            "outboxPartition": "pending#0",
            "outboxSeq": f"{_TIME}#{event.order_id}#{event.order_version:010d}",
        }
    )


def envelope_size(event: DomainEvent) -> int:
    """Bytes of ``event``'s CloudEvents JSON envelope, as it travels on every bus."""
    from fooddelivery.application.envelope import to_json

    return len(to_json(event))


def idempotency_size(record: IdempotencyRecord) -> int:
    """Stored size of an idempotency binding."""
    return document_size(
        {
            "orderId": f"idem#{record.scope}#{record.key}",
            "itemType": "idempotency",
            "scope": record.scope,
            "idempotencyKey": record.key,
            "fingerprint": record.fingerprint,
            "boundOrderId": record.order_id,
        }
    )


def restaurant_size(restaurant: Restaurant) -> int:
    """Stored size of a restaurant item."""
    return document_size(
        {
            "restaurantId": restaurant.restaurant_id,
            "name": restaurant.name,
            "cuisineType": restaurant.cuisine,
            "rating": restaurant.rating,
            "ratingRank": f"{Decimal(5) - restaurant.rating:.18f}#{restaurant.restaurant_id}",
            "listing": "all",
            "lat": restaurant.location.lat,
            "lon": restaurant.location.lon,
            "currency": restaurant.currency,
            "taxRate": restaurant.tax_rate,
            "avgPrepMinutes": restaurant.avg_prep_minutes,
            "menu": [
                {"itemId": m.item_id, "name": m.name, "priceMinor": m.price.minor, "available": m.available}
                for m in restaurant.menu
            ],
            "acceptingOrders": restaurant.accepting_orders,
            "version": restaurant.version,
        }
    )


def driver_size(driver: Driver) -> int:
    """Stored size of a driver item (with its position, status and cell keys, the index attributes)."""
    available = driver.status.value == "AVAILABLE"
    return document_size(
        {
            "driverId": driver.driver_id,
            "name": driver.name,
            "status": driver.status.value,
            "lat": driver.location.lat,
            "lon": driver.location.lon,
            "locationKey": "dr5ru7c",
            "vehicle": driver.vehicle,
            "lastSeen": _TIME,
            "version": driver.version,
            "currentOrderId": driver.current_order_id,
            "availableCell": "cell#dr5ru" if available else None,
        }
    )


def saga_size(state: SagaState) -> int:
    """Stored size of a saga instance item."""
    return document_size(
        {
            "sagaId": state.saga_id,
            "definition": state.definition,
            "current": state.current,
            "status": state.status.value,
            "createdAt": _TIME,
            "updatedAt": _TIME,
            "data": state.data,
            "completed": state.completed,
            "compensated": state.compensated,
            "attempts": state.attempts,
            "branchesDone": state.branches_done,
            "version": state.version,
            "timerId": state.timer_id,
            "outcome": state.outcome,
        }
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


def timer_size(message: ScheduledMessage) -> int:
    """Bytes of a timer message's JSON body."""
    return json_size(
        {
            "messageId": message.message_id,
            "dueAt": _TIME,
            "kind": message.kind,
            "body": dict(message.body),
        }
    )
