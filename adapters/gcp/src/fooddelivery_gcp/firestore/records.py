"""Record mappers: domain objects <-> Firestore documents, exact both ways.

The only place that knows the stored shapes; the domain never carries storage attributes. Conventions:

- money as ``{"minor": <int minor units>, "currency": "<ISO 4217>"}`` (never a float); ``Decimal`` values
  (ratings, tax rates) as their exact decimal string;
- domain times as Firestore timestamps (microsecond precision, UTC), read back as plain timezone-aware
  ``datetime`` objects; the adapter's own bookkeeping times (``writtenAt``, ``committedAt``) are server timestamps
  and never reach a domain object or an event;
- free-form JSON (event payloads, saga data) as compact JSON *text*, so integers beyond Firestore's 64-bit range,
  key order and exotic keys survive unchanged;
- coordinates as numbers (a float reads back as the same float).

Round trips are exact: ``order_from_doc(order_doc(o))`` has ``same_state(o)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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
from fooddelivery.ports.saga_store import SagaState, SagaStatus

__all__ = [
    "AVAILABLE_CELL",
    "driver_doc",
    "driver_from_doc",
    "dumps",
    "event_from_text",
    "event_text",
    "loads",
    "money_doc",
    "money_from",
    "order_doc",
    "order_from_doc",
    "plain_utc",
    "rank_key",
    "restaurant_doc",
    "restaurant_from_doc",
    "saga_doc",
    "saga_from_doc",
]

#: The field of an AVAILABLE driver's grid cell (absent while the driver is reserved or offline).
AVAILABLE_CELL: Final[str] = "availableCell"
#: Decimal places of a restaurant's rank key.
_RANK_DECIMALS: Final[int] = 18
_RANK_QUANTUM: Final[Decimal] = Decimal(1).scaleb(-_RANK_DECIMALS)
_FIVE: Final[Decimal] = Decimal(5)


# -- primitives -------------------------------------------------------------------------------------------------
def dumps(value: Any, field: str = "record") -> str:
    """Compact JSON text of a JSON-ready value (unicode kept; NaN and infinities refused).

    Raises:
        ValidationError: ``value`` holds something JSON cannot carry exactly, named by ``field``.
    """
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError.single(field, f"must be JSON-ready to be stored ({exc})", "not_json") from exc


def loads(text: Any) -> Any:
    """Parse JSON text written by :func:`dumps`.

    Raises:
        InfrastructureError: the stored value is not JSON text (a damaged document).
    """
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise InfrastructureError(f"a stored record is not valid JSON ({exc})", reason="corrupt_record") from exc


def plain_utc(value: Any) -> datetime:
    """A Firestore timestamp (``DatetimeWithNanoseconds``) as a plain timezone-aware UTC ``datetime``.

    Raises:
        InfrastructureError: not a timezone-aware time (a damaged document).
    """
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InfrastructureError(f"a stored time is not a timestamp: {value!r}", reason="corrupt_record")
    v = value.astimezone(UTC)
    return datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, tzinfo=UTC)


def _utc(value: datetime) -> datetime:
    if value.utcoffset() is None:
        raise ValidationError.single("time", "must be timezone-aware", "timezone")
    return value.astimezone(UTC)


def money_doc(money: Money) -> dict[str, Any]:
    """``{"minor": 2197, "currency": "USD"}``."""
    return {"minor": money.minor, "currency": money.currency}


def money_from(doc: Mapping[str, Any]) -> Money:
    """The ``Money`` of a :func:`money_doc` map (exact)."""
    return Money(int(doc["minor"]), str(doc["currency"]))


def _point_doc(point: GeoPoint | None) -> dict[str, float] | None:
    return None if point is None else {"lat": point.lat, "lon": point.lon}


def _point_from(doc: Mapping[str, Any] | None) -> GeoPoint | None:
    return None if doc is None else GeoPoint(float(doc["lat"]), float(doc["lon"]))


def rank_key(rating: Decimal) -> str:
    """A text key whose ascending order is ``rating`` descending: ``5 - rating`` with 18 decimal places
    (``Decimal("4.5")`` -> ``"0.500000000000000000"``; equal ratings get equal keys)."""
    if not rating.is_finite():
        raise ValidationError.single("rating", "must be a finite number", "invalid")
    return format((_FIVE - rating).quantize(_RANK_QUANTUM, rounding=ROUND_HALF_EVEN), f".{_RANK_DECIMALS}f")


# -- events -----------------------------------------------------------------------------------------------------
def event_text(event: DomainEvent) -> str:
    """The JSON text of a domain event (every field; the payload must be JSON-ready).

    Raises:
        ValidationError: the payload is not JSON-ready (field ``payload``).
    """
    return dumps(
        {
            "eventId": event.event_id,
            "type": event.type.value,
            "occurredAt": _utc(event.occurred_at).isoformat(timespec="microseconds"),
            "orderId": event.order_id,
            "orderVersion": event.order_version,
            "payload": event.payload,
        },
        "payload",
    )


def event_from_text(text: Any) -> DomainEvent:
    """The domain event of :func:`event_text` text.

    Raises:
        InfrastructureError: damaged text.
    """
    doc = loads(text)
    try:
        return DomainEvent(
            event_id=doc["eventId"],
            type=EventType(doc["type"]),
            occurred_at=datetime.fromisoformat(doc["occurredAt"]).astimezone(UTC),
            order_id=doc["orderId"],
            order_version=int(doc["orderVersion"]),
            payload=doc["payload"],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InfrastructureError(f"a stored event is damaged ({exc})", reason="corrupt_record") from exc


# -- orders -----------------------------------------------------------------------------------------------------
def _pricing_doc(p: PriceBreakdown) -> dict[str, Any]:
    return {
        "subtotal": money_doc(p.subtotal),
        "discount": money_doc(p.discount),
        "tax": money_doc(p.tax),
        "deliveryFee": money_doc(p.delivery_fee),
        "serviceFee": money_doc(p.service_fee),
        "tip": money_doc(p.tip),
        "total": money_doc(p.total),
        "promoCode": p.promo_code,
        "distanceKm": p.distance_km,
    }


def _pricing_from(doc: Mapping[str, Any]) -> PriceBreakdown:
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


def order_doc(order: Order) -> dict[str, Any]:
    """The document of ``order``'s state (pending events, ``persisted_version`` and the token are not state).

    ``customerId``, ``restaurantId``, ``status``, ``createdAt`` and ``orderId`` are top-level fields because the
    listings query and order by them (``firestore.indexes.json``).
    """
    return {
        "orderId": order.order_id,
        "customerId": order.customer_id,
        "restaurantId": order.restaurant_id,
        "status": order.status.value,
        "createdAt": _utc(order.created_at),
        "updatedAt": _utc(order.updated_at),
        "version": order.version,
        "lines": [
            {
                "itemId": line.item_id,
                "name": line.name,
                "unitPrice": money_doc(line.unit_price),
                "quantity": line.quantity,
                "lineTotal": money_doc(line.line_total),
            }
            for line in order.lines
        ],
        "deliveryAddress": {
            "text": order.delivery_address.text,
            "location": _point_doc(order.delivery_address.location),
        },
        "paymentMethod": order.payment_method,
        "pricing": _pricing_doc(order.pricing),
        "paymentStatus": order.payment_status.value,
        "driverId": order.driver_id,
        # a manual assignment in flight, else null (always written: the store updates a document field by field,
        # so a claim left out would outlive the assignment that ended it)
        "driverClaim": order.driver_claim,
        "statusTimes": {name: _utc(at) for name, at in order.status_times.items()},
        "failureReason": order.failure_reason,
        "chargeId": order.charge_id,
        "notified": list(order.notified),
    }


def order_from_doc(doc: Mapping[str, Any], token: str | None = None) -> Order:
    """The ``Order`` of an :func:`order_doc` document; ``persisted_version`` = the stored version, and
    ``concurrency_token`` = ``token`` (the document's update time).

    Raises:
        InfrastructureError: a damaged document.
    """
    try:
        address = doc["deliveryAddress"]
        version = int(doc["version"])
        return Order(
            order_id=doc["orderId"],
            customer_id=doc["customerId"],
            restaurant_id=doc["restaurantId"],
            lines=tuple(
                LineItem(
                    item_id=line["itemId"],
                    name=line["name"],
                    unit_price=money_from(line["unitPrice"]),
                    quantity=int(line["quantity"]),
                    line_total=money_from(line["lineTotal"]),
                )
                for line in doc["lines"]
            ),
            delivery_address=DeliveryAddress(address["text"], _point_from(address["location"])),
            payment_method=doc["paymentMethod"],
            pricing=_pricing_from(doc["pricing"]),
            status=OrderStatus(doc["status"]),
            payment_status=PaymentStatus(doc["paymentStatus"]),
            created_at=plain_utc(doc["createdAt"]),
            updated_at=plain_utc(doc["updatedAt"]),
            driver_id=doc["driverId"],
            driver_claim=doc.get("driverClaim"),
            status_times={name: plain_utc(at) for name, at in doc["statusTimes"].items()},
            failure_reason=doc["failureReason"],
            charge_id=doc["chargeId"],
            notified=tuple(doc["notified"]),
            version=version,
            persisted_version=version,
            concurrency_token=token,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InfrastructureError(f"a stored order is damaged ({exc!r})", reason="corrupt_record") from exc


# -- restaurants ------------------------------------------------------------------------------------------------
def restaurant_doc(restaurant: Restaurant) -> dict[str, Any]:
    """The document of a restaurant; ``cuisine`` and ``ratingRank`` are indexed for the search."""
    return {
        "restaurantId": restaurant.restaurant_id,
        "name": restaurant.name,
        "cuisine": restaurant.cuisine,
        "rating": str(restaurant.rating),
        "ratingRank": rank_key(restaurant.rating),
        "location": _point_doc(restaurant.location),
        "currency": restaurant.currency,
        "taxRate": str(restaurant.tax_rate),
        "avgPrepMinutes": restaurant.avg_prep_minutes,
        "menu": [
            {"itemId": i.item_id, "name": i.name, "price": money_doc(i.price), "available": i.available}
            for i in restaurant.menu
        ],
        "acceptingOrders": restaurant.accepting_orders,
        "version": restaurant.version,
    }


def restaurant_from_doc(doc: Mapping[str, Any], token: str | None = None) -> Restaurant:
    """The ``Restaurant`` of a :func:`restaurant_doc` document (``concurrency_token`` = ``token``).

    Raises:
        InfrastructureError: a damaged document.
    """
    try:
        location = _point_from(doc["location"])
        if location is None:
            raise ValueError("no location")
        return Restaurant(
            restaurant_id=doc["restaurantId"],
            name=doc["name"],
            cuisine=doc["cuisine"],
            rating=Decimal(doc["rating"]),
            location=location,
            currency=doc["currency"],
            tax_rate=Decimal(doc["taxRate"]),
            avg_prep_minutes=int(doc["avgPrepMinutes"]),
            menu=tuple(
                MenuItem(i["itemId"], i["name"], money_from(i["price"]), bool(i["available"])) for i in doc["menu"]
            ),
            accepting_orders=bool(doc["acceptingOrders"]),
            version=int(doc["version"]),
            concurrency_token=token,
        )
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise InfrastructureError(f"a stored restaurant is damaged ({exc!r})", reason="corrupt_record") from exc


# -- drivers ----------------------------------------------------------------------------------------------------
def driver_doc(driver: Driver, available_cell: str | None) -> dict[str, Any]:
    """The document of a driver; ``availableCell`` (the grid cell of an AVAILABLE driver) is present only while the
    driver is AVAILABLE, so the "available near" query reads no other driver."""
    doc: dict[str, Any] = {
        "driverId": driver.driver_id,
        "name": driver.name,
        "status": driver.status.value,
        "location": _point_doc(driver.location),
        "vehicle": driver.vehicle,
        "lastSeen": _utc(driver.last_seen),
        "currentOrderId": driver.current_order_id,
        "version": driver.version,
    }
    if available_cell is not None:
        doc[AVAILABLE_CELL] = available_cell
    return doc


def driver_from_doc(doc: Mapping[str, Any], token: str | None = None) -> Driver:
    """The ``Driver`` of a :func:`driver_doc` document (``concurrency_token`` = ``token``).

    Raises:
        InfrastructureError: a damaged document.
    """
    try:
        location = _point_from(doc["location"])
        if location is None:
            raise ValueError("no location")
        return Driver(
            driver_id=doc["driverId"],
            name=doc["name"],
            status=DriverStatus(doc["status"]),
            location=location,
            vehicle=doc["vehicle"],
            last_seen=plain_utc(doc["lastSeen"]),
            current_order_id=doc["currentOrderId"],
            version=int(doc["version"]),
            concurrency_token=token,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InfrastructureError(f"a stored driver is damaged ({exc!r})", reason="corrupt_record") from exc


# -- saga instances ---------------------------------------------------------------------------------------------
def saga_doc(state: SagaState) -> dict[str, Any]:
    """The document of a saga instance: its id, status, version and times as fields, the rest as JSON text.

    Raises:
        ValidationError: ``data`` is not JSON-ready (field ``data``).
    """
    return {
        "sagaId": state.saga_id,
        "definition": state.definition,
        "current": state.current,
        "status": state.status.value,
        "createdAt": _utc(state.created_at),
        "updatedAt": _utc(state.updated_at),
        "version": state.version,
        "record": dumps(
            {
                "data": state.data,
                "completed": state.completed,
                "compensated": state.compensated,
                "attempts": state.attempts,
                "branchesDone": state.branches_done,
                "timerId": state.timer_id,
                "outcome": state.outcome,
            },
            "data",
        ),
    }


def saga_from_doc(doc: Mapping[str, Any]) -> SagaState:
    """The ``SagaState`` of a :func:`saga_doc` document (new, independent containers).

    Raises:
        InfrastructureError: a damaged document.
    """
    record = loads(doc.get("record"))
    try:
        return SagaState(
            saga_id=doc["sagaId"],
            definition=doc["definition"],
            current=doc["current"],
            status=SagaStatus(doc["status"]),
            created_at=plain_utc(doc["createdAt"]),
            updated_at=plain_utc(doc["updatedAt"]),
            data=record["data"],
            completed=record["completed"],
            compensated=record["compensated"],
            attempts=record["attempts"],
            branches_done=record["branchesDone"],
            timer_id=record["timerId"],
            outcome=record["outcome"],
            version=int(doc["version"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InfrastructureError(f"a stored saga is damaged ({exc!r})", reason="corrupt_record") from exc
