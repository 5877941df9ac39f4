"""Record mappers: domain objects <-> SQLite columns and JSON text, exact both ways.

The domain never carries storage attributes; these functions are the only place that knows the stored shapes.
Conventions (see ``fooddelivery.adapters.sqlite.schema``): times as fixed-width ISO-8601 UTC text, money as
integer minor units plus currency, ``Decimal`` as its exact string, coordinates as JSON numbers (Python writes the
shortest text that reads back as the same float). Round trips are exact: ``order_from_row(order_row(o))`` has
``same_state(o)``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

from fooddelivery.domain.catalog import DeliveryAddress, Driver, DriverStatus, MenuItem, Restaurant
from fooddelivery.domain.errors import InfrastructureError, ValidationError
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.money import Money
from fooddelivery.domain.order import LineItem, Order, OrderStatus, PaymentStatus
from fooddelivery.domain.pricing import PriceBreakdown
from fooddelivery.ports.notifications import Notification, NotificationKind
from fooddelivery.ports.saga_store import SagaState, SagaStatus
from fooddelivery.ports.scheduler import ScheduledMessage

__all__ = [
    "RANK_DECIMALS",
    "OrderRow",
    "driver_from_row",
    "driver_record",
    "dumps",
    "event_from_json",
    "event_json",
    "loads",
    "money_from",
    "money_json",
    "notification_from_row",
    "order_from_row",
    "order_row",
    "parse_utc",
    "rank_key",
    "restaurant_from_row",
    "restaurant_record",
    "saga_from_row",
    "saga_record",
    "scheduled_from_row",
    "utc_text",
]

#: Decimal places of a restaurant's rank key (ratings with more places sort by their rounded value).
RANK_DECIMALS: Final[int] = 18
_RANK_QUANTUM: Final[Decimal] = Decimal(1).scaleb(-RANK_DECIMALS)
_FIVE: Final[Decimal] = Decimal(5)


# -- primitives -------------------------------------------------------------------------------------------------
def dumps(value: Any, field: str = "record") -> str:
    """Compact JSON text of a JSON-ready value (unicode kept as is; NaN and infinities refused).

    Raises:
        ValidationError: ``value`` holds something JSON cannot carry exactly (a float NaN, a ``Decimal``, a
            ``datetime``, a set...), named by ``field``.
    """
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError.single(field, f"must be JSON-ready to be stored ({exc})", "not_json") from exc


def loads(text: str) -> Any:
    """Parse JSON text written by :func:`dumps`.

    Raises:
        InfrastructureError: the stored text is not JSON (a damaged row).
    """
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InfrastructureError(f"a stored record is not valid JSON ({exc})", reason="corrupt_record") from exc


def utc_text(value: datetime) -> str:
    """``value`` as fixed-width ISO-8601 UTC text with microseconds, e.g. ``2025-03-14T12:00:00.000000+00:00``.

    Raises:
        ValidationError: a naive ``value`` (field ``time``).
    """
    if value.utcoffset() is None:
        raise ValidationError.single("time", "must be timezone-aware", "timezone")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def parse_utc(text: str) -> datetime:
    """The timezone-aware UTC ``datetime`` of text written by :func:`utc_text`."""
    return datetime.fromisoformat(text).astimezone(UTC)


def money_json(money: Money) -> dict[str, int | str]:
    """``{"minor": 2197, "currency": "USD"}``: integer minor units (cents for USD) and the ISO 4217 code."""
    return {"minor": money.minor, "currency": money.currency}


def money_from(doc: dict[str, Any]) -> Money:
    """The ``Money`` of a :func:`money_json` document (exact).

    Raises:
        ValidationError: the minor units are not an integer, or the currency is unknown (a damaged record).
    """
    return Money(doc["minor"], doc["currency"])


def _point_json(point: GeoPoint | None) -> dict[str, float] | None:
    return None if point is None else {"lat": point.lat, "lon": point.lon}


def _point_from(doc: dict[str, float] | None) -> GeoPoint | None:
    return None if doc is None else GeoPoint(doc["lat"], doc["lon"])


def rank_key(rating: Decimal) -> str:
    """A text key whose ascending order is ``rating`` descending: ``5 - rating`` with 18 decimal places.

    ``Decimal("4.5")`` -> ``"0.500000000000000000"``; equal ratings (``4.5`` and ``4.50``) get equal keys.
    """
    return format((_FIVE - rating).quantize(_RANK_QUANTUM, rounding=ROUND_HALF_EVEN), f".{RANK_DECIMALS}f")


# -- events -----------------------------------------------------------------------------------------------------
def event_json(event: DomainEvent) -> str:
    """The JSON text of a domain event (all six fields; the payload as given, which must be JSON-ready).

    Raises:
        ValidationError: the payload is not JSON-ready (field ``payload``).
    """
    return dumps(
        {
            "eventId": event.event_id,
            "type": event.type.value,
            "occurredAt": utc_text(event.occurred_at),
            "orderId": event.order_id,
            "orderVersion": event.order_version,
            "payload": event.payload,
        },
        "payload",
    )


def event_from_json(text: str) -> DomainEvent:
    """The domain event of :func:`event_json` text."""
    doc = loads(text)
    return DomainEvent(
        event_id=doc["eventId"],
        type=EventType(doc["type"]),
        occurred_at=parse_utc(doc["occurredAt"]),
        order_id=doc["orderId"],
        order_version=doc["orderVersion"],
        payload=doc["payload"],
    )


# -- orders -----------------------------------------------------------------------------------------------------
#: The columns of the ``orders`` table, in order:
#: (order_id, customer_id, restaurant_id, status, created_at, version, record).
OrderRow = tuple[str, str, str, str, str, int, str]


def _pricing_json(p: PriceBreakdown) -> dict[str, Any]:
    return {
        "subtotal": money_json(p.subtotal),
        "discount": money_json(p.discount),
        "tax": money_json(p.tax),
        "deliveryFee": money_json(p.delivery_fee),
        "serviceFee": money_json(p.service_fee),
        "tip": money_json(p.tip),
        "total": money_json(p.total),
        "promoCode": p.promo_code,
        "distanceKm": p.distance_km,
    }


def _pricing_from(doc: dict[str, Any]) -> PriceBreakdown:
    return PriceBreakdown(
        subtotal=money_from(doc["subtotal"]),
        discount=money_from(doc["discount"]),
        tax=money_from(doc["tax"]),
        delivery_fee=money_from(doc["deliveryFee"]),
        service_fee=money_from(doc["serviceFee"]),
        tip=money_from(doc["tip"]),
        total=money_from(doc["total"]),
        promo_code=doc["promoCode"],
        distance_km=doc["distanceKm"],
    )


def order_row(order: Order) -> OrderRow:
    """The ``orders`` row of ``order``'s state (pending events and ``persisted_version`` are not state).

    Raises:
        ValidationError: a naive time (cannot happen for orders built by the domain).
    """
    record = {
        "lines": [
            {
                "itemId": line.item_id,
                "name": line.name,
                "unitPrice": money_json(line.unit_price),
                "quantity": line.quantity,
                "lineTotal": money_json(line.line_total),
            }
            for line in order.lines
        ],
        "deliveryAddress": {
            "text": order.delivery_address.text,
            "location": _point_json(order.delivery_address.location),
        },
        "paymentMethod": order.payment_method,
        "pricing": _pricing_json(order.pricing),
        "paymentStatus": order.payment_status.value,
        "updatedAt": utc_text(order.updated_at),
        "driverId": order.driver_id,
        "statusTimes": {name: utc_text(at) for name, at in order.status_times.items()},
        "failureReason": order.failure_reason,
        "chargeId": order.charge_id,
        "notified": list(order.notified),
    }
    if order.driver_claim is not None:  # a manual assignment in flight (rare: kept out of every other record)
        record["driverClaim"] = order.driver_claim
    return (
        order.order_id,
        order.customer_id,
        order.restaurant_id,
        order.status.value,
        utc_text(order.created_at),
        order.version,
        dumps(record),
    )


def order_from_row(row: tuple[Any, ...]) -> Order:
    """The ``Order`` of an :data:`OrderRow`, its ``persisted_version`` set to the stored version."""
    order_id, customer_id, restaurant_id, status, created_at, version, record = row
    doc = loads(record)
    address = doc["deliveryAddress"]
    return Order(
        order_id=order_id,
        customer_id=customer_id,
        restaurant_id=restaurant_id,
        lines=tuple(
            LineItem(
                item_id=line["itemId"],
                name=line["name"],
                unit_price=money_from(line["unitPrice"]),
                quantity=line["quantity"],
                line_total=money_from(line["lineTotal"]),
            )
            for line in doc["lines"]
        ),
        delivery_address=DeliveryAddress(address["text"], _point_from(address["location"])),
        payment_method=doc["paymentMethod"],
        pricing=_pricing_from(doc["pricing"]),
        status=OrderStatus(status),
        payment_status=PaymentStatus(doc["paymentStatus"]),
        created_at=parse_utc(created_at),
        updated_at=parse_utc(doc["updatedAt"]),
        driver_id=doc["driverId"],
        driver_claim=doc.get("driverClaim"),
        status_times={name: parse_utc(at) for name, at in doc["statusTimes"].items()},
        failure_reason=doc["failureReason"],
        charge_id=doc["chargeId"],
        notified=tuple(doc["notified"]),
        version=version,
        persisted_version=version,
    )


# -- restaurants ------------------------------------------------------------------------------------------------
def restaurant_record(restaurant: Restaurant) -> str:
    """The JSON ``record`` of a restaurant (every field but its id and version, which are columns)."""
    return dumps(
        {
            "name": restaurant.name,
            "cuisine": restaurant.cuisine,
            "rating": str(restaurant.rating),
            "location": _point_json(restaurant.location),
            "currency": restaurant.currency,
            "taxRate": str(restaurant.tax_rate),
            "avgPrepMinutes": restaurant.avg_prep_minutes,
            "menu": [
                {"itemId": i.item_id, "name": i.name, "price": money_json(i.price), "available": i.available}
                for i in restaurant.menu
            ],
            "acceptingOrders": restaurant.accepting_orders,
        }
    )


def restaurant_from_row(restaurant_id: str, version: int, record: str) -> Restaurant:
    """The ``Restaurant`` of its id, stored version and :func:`restaurant_record` text."""
    doc = loads(record)
    location = _point_from(doc["location"])
    assert location is not None
    return Restaurant(
        restaurant_id=restaurant_id,
        name=doc["name"],
        cuisine=doc["cuisine"],
        rating=Decimal(doc["rating"]),
        location=location,
        currency=doc["currency"],
        tax_rate=Decimal(doc["taxRate"]),
        avg_prep_minutes=doc["avgPrepMinutes"],
        menu=tuple(MenuItem(i["itemId"], i["name"], money_from(i["price"]), i["available"]) for i in doc["menu"]),
        accepting_orders=doc["acceptingOrders"],
        version=version,
    )


# -- drivers ----------------------------------------------------------------------------------------------------
def driver_record(driver: Driver) -> str:
    """The JSON ``record`` of a driver (name, vehicle, last seen, current order; the rest are columns)."""
    return dumps(
        {
            "name": driver.name,
            "vehicle": driver.vehicle,
            "lastSeen": utc_text(driver.last_seen),
            "currentOrderId": driver.current_order_id,
        }
    )


def driver_from_row(row: tuple[Any, ...]) -> Driver:
    """The ``Driver`` of a ``(driver_id, status, lat, lon, version, record)`` row."""
    driver_id, status, lat, lon, version, record = row
    doc = loads(record)
    return Driver(
        driver_id=driver_id,
        name=doc["name"],
        status=DriverStatus(status),
        location=GeoPoint(lat, lon),
        vehicle=doc["vehicle"],
        last_seen=parse_utc(doc["lastSeen"]),
        current_order_id=doc["currentOrderId"],
        version=version,
    )


# -- saga instances ---------------------------------------------------------------------------------------------
def saga_record(state: SagaState) -> str:
    """The JSON ``record`` of a saga instance (its id, status, version and update time are also columns).

    Raises:
        ValidationError: ``data`` is not JSON-ready (field ``data``).
    """
    return dumps(
        {
            "definition": state.definition,
            "current": state.current,
            "createdAt": utc_text(state.created_at),
            "updatedAt": utc_text(state.updated_at),
            "data": state.data,
            "completed": state.completed,
            "compensated": state.compensated,
            "attempts": state.attempts,
            "branchesDone": state.branches_done,
            "timerId": state.timer_id,
            "outcome": state.outcome,
        },
        "data",
    )


def saga_from_row(saga_id: str, status: str, version: int, record: str) -> SagaState:
    """The ``SagaState`` of its columns and :func:`saga_record` text (new, independent containers)."""
    doc = loads(record)
    return SagaState(
        saga_id=saga_id,
        definition=doc["definition"],
        current=doc["current"],
        status=SagaStatus(status),
        created_at=parse_utc(doc["createdAt"]),
        updated_at=parse_utc(doc["updatedAt"]),
        data=doc["data"],
        completed=doc["completed"],
        compensated=doc["compensated"],
        attempts=doc["attempts"],
        branches_done=doc["branchesDone"],
        timer_id=doc["timerId"],
        outcome=doc["outcome"],
        version=version,
    )


# -- scheduled messages and notifications ---------------------------------------------------------------------
def scheduled_from_row(message_id: str, due_at: str, kind: str, body: str) -> ScheduledMessage:
    """The ``ScheduledMessage`` of a ``timers`` row."""
    return ScheduledMessage(message_id, parse_utc(due_at), kind, loads(body))


def notification_from_row(row: tuple[Any, ...]) -> Notification:
    """The ``Notification`` of a ``(notification_id, kind, recipient_id, order_id, template, data)`` row."""
    notification_id, kind, recipient_id, order_id, template, data = row
    return Notification(notification_id, NotificationKind(kind), recipient_id, order_id, template, loads(data))
