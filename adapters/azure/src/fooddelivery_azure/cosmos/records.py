"""Record mappers: domain objects <-> Cosmos DB documents, one pair per stored kind.

The SDK serialises documents with the standard ``json`` module, which refuses ``Decimal`` and ``datetime`` and would
turn a float money amount into a binary approximation; and Cosmos DB keeps every number as an IEEE-754 double. So
every value is converted here, explicitly:

- money: ``{"amount": "21.97", "currency": "USD"}`` -- the exact decimal text (never a JSON number) and the
  ISO 4217 code; read back with ``Money.of``, which refuses more decimals than the currency has;
- ratings and tax rates: exact decimal text (``"4.5"``, ``"0.08875"``); a restaurant also carries ``rankKey``, the
  text ``5 - rating`` with 18 decimals, whose ascending order is the rating descending (for ``ORDER BY``);
- times: fixed-width ISO-8601 UTC text with microseconds (``"2026-12-04T18:30:00.000000+00:00"``): they sort as
  text in time order, so ``ORDER BY`` and range filters on them are exact;
- coordinates: GeoJSON points (``{"type": "Point", "coordinates": [lon, lat]}``, the shape Cosmos DB's spatial
  index and ``ST_DISTANCE`` read: https://learn.microsoft.com/azure/cosmos-db/nosql/query/geospatial); a Python float
  survives JSON exactly (its shortest round-tripping text);
- ids: the domain id in its own field (``orderId``, ``restaurantId``...), the document ``id`` derived from it by
  :func:`~fooddelivery_azure.cosmos._support.doc_id` (a Cosmos id may not hold ``/ \\ ? #``);
- JSON-ready data (event payloads, saga data): checked to be plain JSON (no NaN, no Decimal) before writing.

Every document has a ``type`` (``order``, ``outbox``, ``idempotency``, ``restaurant``, ``driver``, ``saga``,
``timer``): the orders container holds three kinds in each order's partition, four when the saga instances live
there too (``saga``, id ``saga-<orderId>``: :func:`saga_doc_id`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any, Final

from fooddelivery.domain.catalog import DeliveryAddress, Driver, DriverStatus, MenuItem, Restaurant
from fooddelivery.domain.errors import ValidationError
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.money import Money
from fooddelivery.domain.order import LineItem, Order, OrderStatus, PaymentStatus
from fooddelivery.domain.pricing import PriceBreakdown
from fooddelivery.ports.messaging import OutboxRecord
from fooddelivery.ports.orders import IdempotencyRecord
from fooddelivery.ports.saga_store import SagaState, SagaStatus
from fooddelivery_azure.cosmos._support import RecordError, doc_id

__all__ = [
    "IDEMPOTENCY_DOC_ID",
    "TYPE_DRIVER",
    "TYPE_IDEMPOTENCY",
    "TYPE_ORDER",
    "TYPE_OUTBOX",
    "TYPE_RESTAURANT",
    "TYPE_SAGA",
    "check_json",
    "decimal_text",
    "driver_from_doc",
    "driver_to_doc",
    "event_from_json",
    "event_to_json",
    "geojson",
    "idempotency_from_doc",
    "idempotency_to_doc",
    "order_from_doc",
    "order_to_doc",
    "outbox_doc_id",
    "outbox_record_from_doc",
    "outbox_seq",
    "outbox_to_doc",
    "parse_utc",
    "point_from_geojson",
    "rank_key",
    "restaurant_from_doc",
    "restaurant_to_doc",
    "saga_doc_id",
    "saga_from_doc",
    "saga_to_doc",
    "utc_text",
]

TYPE_ORDER: Final = "order"
TYPE_OUTBOX: Final = "outbox"
TYPE_IDEMPOTENCY: Final = "idempotency"
TYPE_RESTAURANT: Final = "restaurant"
TYPE_DRIVER: Final = "driver"
TYPE_SAGA: Final = "saga"
#: The ``id`` of the idempotency binding in its partition (``order_id_for_key(scope, key)``): one per partition.
IDEMPOTENCY_DOC_ID: Final = "idempotency"
_RANK_DECIMALS: Final = 18
_RANK_QUANTUM: Final = Decimal(1).scaleb(-_RANK_DECIMALS)
_FIVE: Final = Decimal(5)


# -- primitives -------------------------------------------------------------------------------------------------
def utc_text(value: datetime) -> str:
    """Fixed-width ISO-8601 UTC text with microseconds.

    Raises:
        ValidationError: a naive time (field ``time``).
    """
    if value.utcoffset() is None:
        raise ValidationError.single("time", "must be timezone-aware", "timezone")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def parse_utc(value: object) -> datetime:
    """The aware UTC time of :func:`utc_text` text.

    Raises:
        RecordError: not such text.
    """
    if not isinstance(value, str):
        raise RecordError(f"a time must be text, got {type(value).__name__}")
    parsed = datetime.fromisoformat(value)
    if parsed.utcoffset() is None:
        raise RecordError(f"time {value!r} has no UTC offset")
    return parsed.astimezone(UTC)


def decimal_text(value: Decimal) -> str:
    """The exact text of a finite ``Decimal`` (``"4.5"``, never a float)."""
    if not value.is_finite():
        raise ValidationError.single("decimal", "must be finite", "invalid")
    return str(value)


def _decimal(value: object) -> Decimal:
    if not isinstance(value, str):
        raise RecordError(f"a decimal must be stored as text, got {type(value).__name__}")
    try:
        return Decimal(value)
    except InvalidOperation:
        raise RecordError(f"not a decimal: {value!r}") from None


def rank_key(rating: Decimal) -> str:
    """Text whose ascending order is ``rating`` descending: ``5 - rating`` with 18 decimals."""
    return format((_FIVE - rating).quantize(_RANK_QUANTUM, rounding=ROUND_HALF_EVEN), f".{_RANK_DECIMALS}f")


def _money(money: Money) -> dict[str, str]:
    return {"amount": str(money.amount), "currency": money.currency}


def _money_from(doc: object) -> Money:
    if not isinstance(doc, Mapping):
        raise RecordError("money must be an object")
    amount, currency = doc.get("amount"), doc.get("currency")
    if not isinstance(amount, str) or not isinstance(currency, str):
        raise RecordError("money needs text amount and currency")
    return Money.of(amount, currency)


def geojson(point: GeoPoint) -> dict[str, Any]:
    """A GeoJSON point (longitude first, as GeoJSON orders coordinates)."""
    return {"type": "Point", "coordinates": [point.lon, point.lat]}


def point_from_geojson(doc: object) -> GeoPoint:
    """The point of a :func:`geojson` document.

    Raises:
        RecordError: not a GeoJSON point.
    """
    if not isinstance(doc, Mapping) or doc.get("type") != "Point":
        raise RecordError("not a GeoJSON point")
    coordinates = doc.get("coordinates")
    if not isinstance(coordinates, list) or len(coordinates) != 2:
        raise RecordError("a GeoJSON point has two coordinates")
    lon, lat = coordinates
    return GeoPoint(lat, lon)


def check_json(value: Any, field: str) -> Any:
    """``value`` if it is plain JSON (dicts with string keys, lists, strings, ints, finite floats, bools, None).

    Raises:
        ValidationError: anything else (a ``Decimal``, a ``datetime``, NaN...), naming ``field``.
    """
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError.single(field, f"must be JSON-ready to be stored ({exc})", "not_json") from exc
    return value


def _str(doc: Mapping[str, Any], name: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str):
        raise RecordError(f"field {name!r} is missing or not text")
    return value


def _opt_str(doc: Mapping[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if value is not None and not isinstance(value, str):
        raise RecordError(f"field {name!r} is not text")
    return value


def _int(doc: Mapping[str, Any], name: str) -> int:
    value = doc.get(name)
    if type(value) is not int:
        raise RecordError(f"field {name!r} is missing or not an integer")
    return value


def expect_type(doc: Mapping[str, Any], kind: str) -> None:
    """Raise :class:`RecordError` unless ``doc`` is of ``kind``."""
    if doc.get("type") != kind:
        raise RecordError(f"document {doc.get('id')!r} is a {doc.get('type')!r}, not a {kind!r}")


# -- events and the outbox --------------------------------------------------------------------------------------
def event_to_json(event: DomainEvent) -> dict[str, Any]:
    """An event's six fields as a JSON object.

    Raises:
        ValidationError: the payload is not JSON-ready (field ``payload``).
    """
    return {
        "eventId": event.event_id,
        "eventType": event.type.value,
        "occurredAt": utc_text(event.occurred_at),
        "orderId": event.order_id,
        "orderVersion": event.order_version,
        "payload": check_json(event.payload, "payload"),
    }


def event_from_json(doc: Mapping[str, Any]) -> DomainEvent:
    """The event of :func:`event_to_json`'s object."""
    payload = doc.get("payload")
    if not isinstance(payload, dict):
        raise RecordError("an event payload must be an object")
    return DomainEvent(
        event_id=_str(doc, "eventId"),
        type=EventType(_str(doc, "eventType")),
        occurred_at=parse_utc(doc.get("occurredAt")),
        order_id=_str(doc, "orderId"),
        order_version=_int(doc, "orderVersion"),
        payload=payload,
    )


def outbox_doc_id(event_id: str) -> str:
    """The ``id`` of an event's outbox document in its order's partition."""
    return doc_id(event_id, "outbox-")


def outbox_seq(order: Order, version: int) -> str:
    """The outbox ordering key: ``<order createdAt>#<orderId>#<version, 10 digits>`` -- orders oldest first, one
    order's events contiguous and in version order (``ORDER BY outboxSeq`` is what ``pending()`` reads)."""
    return f"{utc_text(order.created_at)}#{order.order_id}#{version:010d}"


def outbox_to_doc(order: Order, event: DomainEvent) -> dict[str, Any]:
    """The outbox document of one of ``order``'s pending events (partition: the order id).

    Raises:
        ValidationError: the payload is not JSON-ready.
    """
    return {
        "id": outbox_doc_id(event.event_id),
        "orderId": order.order_id,
        "type": TYPE_OUTBOX,
        "outboxSeq": outbox_seq(order, event.order_version),
        "attempts": 0,
        "event": event_to_json(event),
    }


def outbox_record_from_doc(doc: Mapping[str, Any]) -> OutboxRecord:
    """The outbox record of an outbox document (from a read, a query or the change feed)."""
    expect_type(doc, TYPE_OUTBOX)
    event = doc.get("event")
    if not isinstance(event, Mapping):
        raise RecordError("an outbox document carries an event object")
    attempts = doc.get("attempts", 0)
    return OutboxRecord(event_from_json(event), attempts if type(attempts) is int else 0)


# -- idempotency bindings ---------------------------------------------------------------------------------------
def idempotency_to_doc(record: IdempotencyRecord, partition: str) -> dict[str, Any]:
    """The binding document in ``partition`` (``order_id_for_key(scope, key)``)."""
    return {
        "id": IDEMPOTENCY_DOC_ID,
        "orderId": partition,
        "type": TYPE_IDEMPOTENCY,
        "scope": record.scope,
        "key": record.key,
        "fingerprint": record.fingerprint,
        "boundOrderId": record.order_id,
    }


def idempotency_from_doc(doc: Mapping[str, Any]) -> IdempotencyRecord:
    """The binding of an idempotency document."""
    expect_type(doc, TYPE_IDEMPOTENCY)
    return IdempotencyRecord(_str(doc, "scope"), _str(doc, "key"), _str(doc, "fingerprint"), _str(doc, "boundOrderId"))


# -- orders -----------------------------------------------------------------------------------------------------
def _pricing(p: PriceBreakdown) -> dict[str, Any]:
    return {
        "subtotal": _money(p.subtotal),
        "discount": _money(p.discount),
        "tax": _money(p.tax),
        "deliveryFee": _money(p.delivery_fee),
        "serviceFee": _money(p.service_fee),
        "tip": _money(p.tip),
        "total": _money(p.total),
        "promoCode": p.promo_code,
        "distanceKm": p.distance_km,
    }


def _pricing_from(doc: Mapping[str, Any]) -> PriceBreakdown:
    return PriceBreakdown(
        subtotal=_money_from(doc["subtotal"]),
        discount=_money_from(doc["discount"]),
        tax=_money_from(doc["tax"]),
        delivery_fee=_money_from(doc["deliveryFee"]),
        service_fee=_money_from(doc["serviceFee"]),
        tip=_money_from(doc["tip"]),
        total=_money_from(doc["total"]),
        promo_code=_opt_str(doc, "promoCode"),
        distance_km=_opt_str(doc, "distanceKm"),
    )


def order_to_doc(order: Order) -> dict[str, Any]:
    """The order document (partition: the order id); pending events and ``persisted_version`` are not state."""
    location = order.delivery_address.location
    return {
        "id": doc_id(order.order_id),
        "orderId": order.order_id,
        "type": TYPE_ORDER,
        "customerId": order.customer_id,
        "restaurantId": order.restaurant_id,
        "status": order.status.value,
        "createdAt": utc_text(order.created_at),
        "updatedAt": utc_text(order.updated_at),
        "version": order.version,
        "lines": [
            {
                "itemId": line.item_id,
                "name": line.name,
                "unitPrice": _money(line.unit_price),
                "quantity": line.quantity,
                "lineTotal": _money(line.line_total),
            }
            for line in order.lines
        ],
        "deliveryAddress": {
            "text": order.delivery_address.text,
            "location": None if location is None else geojson(location),
        },
        "paymentMethod": order.payment_method,
        "pricing": _pricing(order.pricing),
        "paymentStatus": order.payment_status.value,
        "driverId": order.driver_id,
        # a manual assignment in flight (rare: absent from every other document)
        **({"driverClaim": order.driver_claim} if order.driver_claim is not None else {}),
        "statusTimes": {name: utc_text(at) for name, at in order.status_times.items()},
        "failureReason": order.failure_reason,
        "chargeId": order.charge_id,
        "notified": list(order.notified),
    }


def order_from_doc(doc: Mapping[str, Any]) -> Order:
    """The order of its document: ``persisted_version`` = the stored version, ``concurrency_token`` = its etag."""
    expect_type(doc, TYPE_ORDER)
    address = doc["deliveryAddress"]
    location = address.get("location")
    version = _int(doc, "version")
    return Order(
        order_id=_str(doc, "orderId"),
        customer_id=_str(doc, "customerId"),
        restaurant_id=_str(doc, "restaurantId"),
        lines=tuple(
            LineItem(
                item_id=line["itemId"],
                name=line["name"],
                unit_price=_money_from(line["unitPrice"]),
                quantity=_int(line, "quantity"),
                line_total=_money_from(line["lineTotal"]),
            )
            for line in doc["lines"]
        ),
        delivery_address=DeliveryAddress(address["text"], None if location is None else point_from_geojson(location)),
        payment_method=_str(doc, "paymentMethod"),
        pricing=_pricing_from(doc["pricing"]),
        status=OrderStatus(_str(doc, "status")),
        payment_status=PaymentStatus(_str(doc, "paymentStatus")),
        created_at=parse_utc(doc.get("createdAt")),
        updated_at=parse_utc(doc.get("updatedAt")),
        driver_id=_opt_str(doc, "driverId"),
        driver_claim=_opt_str(doc, "driverClaim"),
        status_times={str(name): parse_utc(at) for name, at in doc["statusTimes"].items()},
        failure_reason=_opt_str(doc, "failureReason"),
        charge_id=_opt_str(doc, "chargeId"),
        notified=tuple(doc["notified"]),
        version=version,
        persisted_version=version,
        concurrency_token=_opt_str(doc, "_etag"),
    )


# -- restaurants ------------------------------------------------------------------------------------------------
def restaurant_to_doc(restaurant: Restaurant) -> dict[str, Any]:
    """The restaurant document (partition: the restaurant id)."""
    return {
        "id": doc_id(restaurant.restaurant_id),
        "restaurantId": restaurant.restaurant_id,
        "type": TYPE_RESTAURANT,
        "name": restaurant.name,
        "cuisine": restaurant.cuisine,
        "rating": decimal_text(restaurant.rating),
        "rankKey": rank_key(restaurant.rating),
        "location": geojson(restaurant.location),
        "currency": restaurant.currency,
        "taxRate": decimal_text(restaurant.tax_rate),
        "avgPrepMinutes": restaurant.avg_prep_minutes,
        "menu": [
            {"itemId": i.item_id, "name": i.name, "price": _money(i.price), "available": i.available}
            for i in restaurant.menu
        ],
        "acceptingOrders": restaurant.accepting_orders,
        "version": restaurant.version,
    }


def restaurant_from_doc(doc: Mapping[str, Any]) -> Restaurant:
    """The restaurant of its document, its ``concurrency_token`` the document's etag."""
    expect_type(doc, TYPE_RESTAURANT)
    return Restaurant(
        restaurant_id=_str(doc, "restaurantId"),
        name=_str(doc, "name"),
        cuisine=_str(doc, "cuisine"),
        rating=_decimal(doc.get("rating")),
        location=point_from_geojson(doc.get("location")),
        currency=_str(doc, "currency"),
        tax_rate=_decimal(doc.get("taxRate")),
        avg_prep_minutes=_int(doc, "avgPrepMinutes"),
        menu=tuple(
            MenuItem(i["itemId"], i["name"], _money_from(i["price"]), bool(i["available"])) for i in doc["menu"]
        ),
        accepting_orders=bool(doc["acceptingOrders"]),
        version=_int(doc, "version"),
        concurrency_token=_opt_str(doc, "_etag"),
    )


# -- drivers ----------------------------------------------------------------------------------------------------
def driver_to_doc(driver: Driver) -> dict[str, Any]:
    """The driver document (partition: the driver id)."""
    return {
        "id": doc_id(driver.driver_id),
        "driverId": driver.driver_id,
        "type": TYPE_DRIVER,
        "name": driver.name,
        "status": driver.status.value,
        "location": geojson(driver.location),
        "vehicle": driver.vehicle,
        "lastSeen": utc_text(driver.last_seen),
        "currentOrderId": driver.current_order_id,
        "version": driver.version,
    }


def driver_from_doc(doc: Mapping[str, Any]) -> Driver:
    """The driver of its document, its ``concurrency_token`` the document's etag."""
    expect_type(doc, TYPE_DRIVER)
    return Driver(
        driver_id=_str(doc, "driverId"),
        name=_str(doc, "name"),
        status=DriverStatus(_str(doc, "status")),
        location=point_from_geojson(doc.get("location")),
        vehicle=_str(doc, "vehicle"),
        last_seen=parse_utc(doc.get("lastSeen")),
        current_order_id=_opt_str(doc, "currentOrderId"),
        version=_int(doc, "version"),
        concurrency_token=_opt_str(doc, "_etag"),
    )


# -- saga instances ---------------------------------------------------------------------------------------------
def saga_doc_id(saga_id: str, *, in_order_partition: bool) -> str:
    """The ``id`` of a saga instance's document: the saga id itself in a container of its own (partition key
    ``/sagaId``), ``saga-<saga id>`` in its order's partition of the orders container (where the order document has
    the order id -- which is the saga id -- as its ``id``)."""
    return doc_id(saga_id, "saga-") if in_order_partition else doc_id(saga_id)


def saga_to_doc(state: SagaState, *, in_order_partition: bool = False) -> dict[str, Any]:
    """The saga instance document (partition: the saga id, which is the order id). It carries the id in both
    ``sagaId`` (the partition key of a container of its own) and ``orderId`` (that of the orders container).

    Args:
        state: the instance.
        in_order_partition: the document goes to its order's partition of the orders container (its ``id`` is
            then :func:`saga_doc_id` ``(..., in_order_partition=True)``).

    Raises:
        ValidationError: ``data`` is not JSON-ready (field ``data``).
    """
    return {
        "id": saga_doc_id(state.saga_id, in_order_partition=in_order_partition),
        "sagaId": state.saga_id,
        "orderId": state.saga_id,
        "type": TYPE_SAGA,
        "definition": state.definition,
        "current": state.current,
        "status": state.status.value,
        "createdAt": utc_text(state.created_at),
        "updatedAt": utc_text(state.updated_at),
        "data": check_json(state.data, "data"),
        "completed": list(state.completed),
        "compensated": list(state.compensated),
        "attempts": dict(state.attempts),
        "branchesDone": list(state.branches_done),
        "timerId": state.timer_id,
        "outcome": state.outcome,
        "version": state.version,
    }


def saga_from_doc(doc: Mapping[str, Any]) -> SagaState:
    """The saga instance of its document (new, independent containers)."""
    expect_type(doc, TYPE_SAGA)
    return SagaState(
        saga_id=_str(doc, "sagaId"),
        definition=_str(doc, "definition"),
        current=_str(doc, "current"),
        status=SagaStatus(_str(doc, "status")),
        created_at=parse_utc(doc.get("createdAt")),
        updated_at=parse_utc(doc.get("updatedAt")),
        data=json.loads(json.dumps(doc["data"])),
        completed=list(doc["completed"]),
        compensated=list(doc["compensated"]),
        attempts={str(k): int(v) for k, v in doc["attempts"].items()},
        branches_done=list(doc["branchesDone"]),
        timer_id=_opt_str(doc, "timerId"),
        outcome=_opt_str(doc, "outcome"),
        version=_int(doc, "version"),
    )
