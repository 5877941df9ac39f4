"""Record mappers: domain objects <-> DynamoDB items (low-level attribute values), one pair per stored kind.

The domain never carries storage attributes; every key, index attribute and unit choice lives here:

- money: integer **minor units** (``"subtotalMinor": {"N": "2197"}``) plus one ISO 4217 ``currency`` per order or
  restaurant (every amount of an order is in its restaurant's currency);
- rates and ratings: exact decimal text (``{"N": "0.08875"}``);
- coordinates: the float's shortest round-tripping text;
- times: ISO-8601 UTC strings with microseconds, plus ``createdAt`` as epoch seconds (N) where the reference's
  index sorts on a number;
- JSON-ready data (event payloads, saga data): native maps and lists, floats refused (see ``attributes``).

Public for the Streams relay: :func:`is_outbox_item` and :func:`outbox_record_from_item` read the outbox
records of a stream record's ``NewImage`` (stream images use the same attribute-value format).
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Context, Decimal, Inexact
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
from fooddelivery_aws.dynamodb.attributes import (
    Item,
    RecordError,
    attr_to_json,
    decimal_value,
    epoch_text,
    float_value,
    get_bool,
    get_decimal,
    get_float,
    get_int,
    get_list,
    get_map,
    get_opt_str,
    get_str,
    get_time,
    int_value,
    iso_utc,
    json_to_attr,
    parse_utc,
)
from fooddelivery_aws.dynamodb.geohash import GeoGrid

__all__ = [
    "AVAILABLE_CELL_PREFIX",
    "IDEMPOTENCY_KEY_PREFIX",
    "ITEM_IDEMPOTENCY",
    "ITEM_ORDER",
    "ITEM_OUTBOX",
    "LISTING_ALL",
    "LOCATION_KEY_PRECISION",
    "OUTBOX_KEY_PREFIX",
    "available_cell",
    "created_key",
    "driver_from_item",
    "driver_to_item",
    "idempotency_from_item",
    "idempotency_key",
    "idempotency_to_item",
    "is_outbox_item",
    "order_from_item",
    "order_to_item",
    "outbox_partition",
    "outbox_record_from_item",
    "outbox_seq",
    "outbox_to_item",
    "rating_bound",
    "rating_rank",
    "restaurant_from_item",
    "restaurant_to_item",
    "saga_from_item",
    "saga_to_item",
    "status_created_key",
]

#: ``itemType`` of the three kinds of item in the orders table.
ITEM_ORDER: Final = "order"
ITEM_OUTBOX: Final = "outbox"
ITEM_IDEMPOTENCY: Final = "idempotency"
#: Key prefixes of outbox records and idempotency bindings in the orders table.
OUTBOX_KEY_PREFIX: Final = "outbox#"
IDEMPOTENCY_KEY_PREFIX: Final = "idem#"
#: The constant partition of the all-cuisines ``RatingIndex``.
LISTING_ALL: Final = "ALL"
#: Prefix of ``availableCell`` (the status half of the available-drivers index key).
AVAILABLE_CELL_PREFIX: Final = "AVAILABLE#"
#: Precision of ``locationKey``, the sort key of the available-drivers index (about 4.8 m x 4.8 m).
LOCATION_KEY_PRECISION: Final = 9

_LOCATION_GRID: Final = GeoGrid(LOCATION_KEY_PRECISION)
#: What a malformed item raises while it is mapped (domain validation included).
_MALFORMED: Final = (KeyError, ValueError, TypeError, ValidationError)
#: Exact arithmetic for ``5 - rating`` (any rating the domain accepts has far fewer digits).
_EXACT: Final = Context(prec=200, traps=[Inexact])


# -- orders ------------------------------------------------------------------------------------------------
def status_created_key(status: OrderStatus, created_at: datetime, order_id: str) -> str:
    """Sort key of the RestaurantOrdersIndex: ``"<STATUS>#<createdAt ISO>#<orderId>"``."""
    return f"{status.value}#{iso_utc(created_at)}#{order_id}"


def created_key(created_at: datetime, order_id: str) -> str:
    """Sort key of the RestaurantTimeIndex: ``"<createdAt ISO>#<orderId>"`` (creation time, then id, as text)."""
    return f"{iso_utc(created_at)}#{order_id}"


def order_to_item(order: Order) -> Item:
    """The orders-table item of ``order`` (its pending events are not part of it: see :func:`outbox_to_item`).

    Raises:
        ValidationError: a naive datetime somewhere in the order.
    """
    pricing = order.pricing
    currency = pricing.total.currency
    item: Item = {
        "orderId": {"S": order.order_id},
        "itemType": {"S": ITEM_ORDER},
        "userId": {"S": order.customer_id},
        "restaurantId": {"S": order.restaurant_id},
        "status": {"S": order.status.value},
        "paymentStatus": {"S": order.payment_status.value},
        "paymentMethod": {"S": order.payment_method},
        "createdAt": {"N": epoch_text(order.created_at)},
        "createdAtUtc": {"S": iso_utc(order.created_at)},
        "updatedAt": {"S": iso_utc(order.updated_at)},
        "statusCreatedAt": {"S": status_created_key(order.status, order.created_at, order.order_id)},
        "createdAtKey": {"S": created_key(order.created_at, order.order_id)},
        "currency": {"S": currency},
        "lines": {"L": [{"M": _line_to_map(line)} for line in order.lines]},
        "pricing": {"M": _pricing_to_map(pricing)},
        "deliveryAddress": {"M": _address_to_map(order.delivery_address)},
        "statusTimes": {"M": {name: {"S": iso_utc(at)} for name, at in order.status_times.items()}},
        "notified": {"L": [{"S": n} for n in order.notified]},
        "version": int_value(order.version),
    }
    if order.driver_id is not None:
        item["driverId"] = {"S": order.driver_id}
    if order.driver_claim is not None:
        item["driverClaim"] = {"S": order.driver_claim}
    if order.failure_reason is not None:
        item["failureReason"] = {"S": order.failure_reason}
    if order.charge_id is not None:
        item["chargeId"] = {"S": order.charge_id}
    return item


def _line_to_map(line: LineItem) -> Item:
    return {
        "itemId": {"S": line.item_id},
        "name": {"S": line.name},
        "unitPriceMinor": int_value(line.unit_price.minor),
        "quantity": int_value(line.quantity),
        "lineTotalMinor": int_value(line.line_total.minor),
    }


_PRICING_FIELDS: Final = (
    ("subtotal", "subtotalMinor"),
    ("discount", "discountMinor"),
    ("tax", "taxMinor"),
    ("delivery_fee", "deliveryFeeMinor"),
    ("service_fee", "serviceFeeMinor"),
    ("tip", "tipMinor"),
    ("total", "totalMinor"),
)


def _pricing_to_map(pricing: PriceBreakdown) -> Item:
    out: Item = {name: int_value(getattr(pricing, attr).minor) for attr, name in _PRICING_FIELDS}
    if pricing.promo_code is not None:
        out["promoCode"] = {"S": pricing.promo_code}
    if pricing.distance_km is not None:
        out["distanceKm"] = {"S": pricing.distance_km}
    return out


def _address_to_map(address: DeliveryAddress) -> Item:
    out: Item = {"text": {"S": address.text}}
    if address.location is not None:
        out["lat"] = float_value(address.location.lat)
        out["lon"] = float_value(address.location.lon)
    return out


def order_from_item(item: Mapping[str, Any]) -> Order:
    """The order stored in ``item`` (``persisted_version`` = its version, no pending events).

    Raises:
        RecordError: not an order item of this package's shape.
    """
    if get_opt_str(item, "itemType") != ITEM_ORDER:
        raise RecordError("not an order item")
    try:
        currency = get_str(item, "currency")
        pricing_map = get_map(item, "pricing")

        def money(m: Mapping[str, Any], name: str) -> Money:
            return Money(get_int(m, name), currency)

        pricing = PriceBreakdown(
            **{attr: money(pricing_map, name) for attr, name in _PRICING_FIELDS},
            promo_code=get_opt_str(pricing_map, "promoCode"),
            distance_km=get_opt_str(pricing_map, "distanceKm"),
        )
        lines = tuple(
            LineItem(
                item_id=get_str(m, "itemId"),
                name=get_str(m, "name"),
                unit_price=money(m, "unitPriceMinor"),
                quantity=get_int(m, "quantity"),
                line_total=money(m, "lineTotalMinor"),
            )
            for m in (_as_map(v) for v in get_list(item, "lines"))
        )
        address_map = get_map(item, "deliveryAddress")
        location = None
        if "lat" in address_map:
            location = GeoPoint(get_float(address_map, "lat"), get_float(address_map, "lon"))
        version = get_int(item, "version")
        order = Order(
            order_id=get_str(item, "orderId"),
            customer_id=get_str(item, "userId"),
            restaurant_id=get_str(item, "restaurantId"),
            lines=lines,
            delivery_address=DeliveryAddress(get_str(address_map, "text"), location),
            payment_method=get_str(item, "paymentMethod"),
            pricing=pricing,
            status=OrderStatus(get_str(item, "status")),
            payment_status=PaymentStatus(get_str(item, "paymentStatus")),
            created_at=get_time(item, "createdAtUtc"),
            updated_at=get_time(item, "updatedAt"),
            driver_id=get_opt_str(item, "driverId"),
            driver_claim=get_opt_str(item, "driverClaim"),
            status_times={k: parse_utc(_as_str(v)) for k, v in get_map(item, "statusTimes").items()},
            failure_reason=get_opt_str(item, "failureReason"),
            charge_id=get_opt_str(item, "chargeId"),
            notified=tuple(_as_str(v) for v in get_list(item, "notified")),
            version=version,
        )
    except RecordError:
        raise
    except _MALFORMED as exc:
        raise RecordError(f"malformed order item: {exc}") from exc
    order.persisted_version = version
    return order


def _as_map(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not isinstance(value.get("M"), dict):
        raise RecordError("expected a map")
    return dict(value["M"])


def _as_str(value: Any) -> str:
    if not isinstance(value, Mapping) or not isinstance(value.get("S"), str):
        raise RecordError("expected a string")
    return str(value["S"])


# -- outbox ------------------------------------------------------------------------------------------------
def outbox_partition(order_id: str, shards: int) -> str:
    """``"pending#<shard>"``: the OutboxPendingIndex partition of ``order_id``'s records (a stable hash, so
    one order's records share a partition and keep their order).
    """
    return f"pending#{zlib.crc32(order_id.encode()) % shards}"


def outbox_seq(order: Order, event: DomainEvent) -> str:
    """Sort key of a pending record: ``"<order createdAt ISO>#<orderId>#<version, 10 digits>"``.

    Oldest order first, and one order's records in version order, whatever clocks its writers had.
    """
    return f"{iso_utc(order.created_at)}#{order.order_id}#{event.order_version:010d}"


def outbox_to_item(order: Order, event: DomainEvent, *, key_attr: str, key_prefix: str, shards: int) -> Item:
    """A pending outbox record of ``event`` (of ``order``).

    Args:
        order: the order whose write carries the event.
        event: the event.
        key_attr: the table's hash key (``"orderId"`` in the orders table, ``"eventId"`` in an outbox table).
        key_prefix: prefix of the key value (``"outbox#"`` in the orders table, ``""`` in an outbox table).
        shards: number of OutboxPendingIndex partitions.

    Raises:
        ValidationError: a float or another non-JSON value in the payload.
    """
    item: Item = {
        "itemType": {"S": ITEM_OUTBOX},
        "eventId": {"S": event.event_id},
        "eventType": {"S": event.type.value},
        "occurredAt": {"S": iso_utc(event.occurred_at)},
        "aggregateId": {"S": event.order_id},
        "orderVersion": int_value(event.order_version),
        "payload": json_to_attr(event.payload, "payload"),
        "attempts": {"N": "0"},
        "outboxPartition": {"S": outbox_partition(order.order_id, shards)},
        "outboxSeq": {"S": outbox_seq(order, event)},
    }
    item[key_attr] = {"S": key_prefix + event.event_id}
    return item


def is_outbox_item(item: Mapping[str, Any]) -> bool:
    """Whether ``item`` (e.g. a stream record's ``NewImage``) is an outbox record."""
    value = item.get("itemType")
    return isinstance(value, Mapping) and value.get("S") == ITEM_OUTBOX


def outbox_record_from_item(item: Mapping[str, Any]) -> OutboxRecord:
    """The outbox record stored in ``item``.

    Raises:
        RecordError: not an outbox item of this package's shape.
    """
    if not is_outbox_item(item):
        raise RecordError("not an outbox item")
    try:
        payload = attr_to_json(item["payload"])
        if not isinstance(payload, dict):
            raise RecordError("payload is not a map")
        event = DomainEvent(
            event_id=get_str(item, "eventId"),
            type=EventType(get_str(item, "eventType")),
            occurred_at=get_time(item, "occurredAt"),
            order_id=get_str(item, "aggregateId"),
            order_version=get_int(item, "orderVersion"),
            payload=payload,
        )
    except RecordError:
        raise
    except _MALFORMED as exc:
        raise RecordError(f"malformed outbox item: {exc}") from exc
    return OutboxRecord(event, get_int(item, "attempts"))


# -- idempotency -------------------------------------------------------------------------------------------
def idempotency_key(scope: str, key: str) -> str:
    """``"idem#<len(scope)>#<scope>#<key>"``: the length makes the pair unambiguous whatever they contain."""
    return f"{IDEMPOTENCY_KEY_PREFIX}{len(scope)}#{scope}#{key}"


def idempotency_to_item(record: IdempotencyRecord, *, expires_at: int | None = None) -> Item:
    """The orders-table item binding ``record``'s key (``expires_at``: TTL in epoch seconds, or None)."""
    item: Item = {
        "orderId": {"S": idempotency_key(record.scope, record.key)},
        "itemType": {"S": ITEM_IDEMPOTENCY},
        "scope": {"S": record.scope},
        "idempotencyKey": {"S": record.key},
        "fingerprint": {"S": record.fingerprint},
        "boundOrderId": {"S": record.order_id},
    }
    if expires_at is not None:
        item["expiresAt"] = int_value(expires_at)
    return item


def idempotency_from_item(item: Mapping[str, Any]) -> IdempotencyRecord:
    """The binding stored in ``item``.

    Raises:
        RecordError: not an idempotency item.
    """
    if get_opt_str(item, "itemType") != ITEM_IDEMPOTENCY:
        raise RecordError("not an idempotency item")
    return IdempotencyRecord(
        scope=get_str(item, "scope"),
        key=get_str(item, "idempotencyKey"),
        fingerprint=get_str(item, "fingerprint"),
        order_id=get_str(item, "boundOrderId"),
    )


# -- restaurants -------------------------------------------------------------------------------------------
def rating_rank(rating: Decimal, restaurant_id: str) -> str:
    """Sort key of the rating indexes: ``"<5 - rating>#<restaurantId>"``, ascending = rating descending, then id.

    ``5 - rating`` (0..5) is written with one integer digit and no trailing zeros (``"0.5"``, ``"1"``,
    ``"1.05"``): for such strings text order is numeric order, and ``"#"`` sorts below ``"."`` and every digit,
    so ``"1#..."`` (rating 4) comes before ``"1.5#..."`` (rating 3.5).

    Raises:
        ValueError: a rating outside 0..5.
    """
    inverse = _EXACT.subtract(Decimal(5), rating)
    if not Decimal(0) <= inverse <= Decimal(5):
        raise ValueError("rating must be 0..5")
    text = format(inverse, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}#{restaurant_id}"


def rating_bound(min_rating: Decimal) -> str:
    """The exclusive upper bound of ``ratingRank`` for ratings ``>= min_rating`` (``"<5 - min>$"``: ``"$"`` is
    the character after ``"#"``)."""
    return rating_rank(min_rating, "")[:-1] + "$"


def restaurant_to_item(restaurant: Restaurant) -> Item:
    """The restaurants-table item of ``restaurant``."""
    return {
        "restaurantId": {"S": restaurant.restaurant_id},
        "name": {"S": restaurant.name},
        "cuisineType": {"S": restaurant.cuisine},
        "rating": decimal_value(restaurant.rating),
        "ratingRank": {"S": rating_rank(restaurant.rating, restaurant.restaurant_id)},
        "listing": {"S": LISTING_ALL},
        "lat": float_value(restaurant.location.lat),
        "lon": float_value(restaurant.location.lon),
        "currency": {"S": restaurant.currency},
        "taxRate": decimal_value(restaurant.tax_rate),
        "avgPrepMinutes": int_value(restaurant.avg_prep_minutes),
        "menu": {
            "L": [
                {
                    "M": {
                        "itemId": {"S": m.item_id},
                        "name": {"S": m.name},
                        "priceMinor": int_value(m.price.minor),
                        "available": {"BOOL": m.available},
                    }
                }
                for m in restaurant.menu
            ]
        },
        "acceptingOrders": {"BOOL": restaurant.accepting_orders},
        "version": int_value(restaurant.version),
    }


def restaurant_from_item(item: Mapping[str, Any]) -> Restaurant:
    """The restaurant stored in ``item``.

    Raises:
        RecordError: not a restaurant item of this package's shape.
    """
    try:
        currency = get_str(item, "currency")
        return Restaurant(
            restaurant_id=get_str(item, "restaurantId"),
            name=get_str(item, "name"),
            cuisine=get_str(item, "cuisineType"),
            rating=get_decimal(item, "rating"),
            location=GeoPoint(get_float(item, "lat"), get_float(item, "lon")),
            currency=currency,
            tax_rate=get_decimal(item, "taxRate"),
            avg_prep_minutes=get_int(item, "avgPrepMinutes"),
            menu=tuple(
                MenuItem(
                    item_id=get_str(m, "itemId"),
                    name=get_str(m, "name"),
                    price=Money(get_int(m, "priceMinor"), currency),
                    available=get_bool(m, "available"),
                )
                for m in (_as_map(v) for v in get_list(item, "menu"))
            ),
            accepting_orders=get_bool(item, "acceptingOrders"),
            version=get_int(item, "version"),
        )
    except RecordError:
        raise
    except _MALFORMED as exc:
        raise RecordError(f"malformed restaurant item: {exc}") from exc


# -- drivers -----------------------------------------------------------------------------------------------
def available_cell(grid: GeoGrid, point: GeoPoint) -> str:
    """``"AVAILABLE#<geohash>"``: the available-drivers index partition of ``point``'s cell."""
    return AVAILABLE_CELL_PREFIX + grid.encode(point)


def driver_to_item(driver: Driver, grid: GeoGrid) -> Item:
    """The drivers-table item of ``driver``; AVAILABLE drivers get ``availableCell`` (``grid``'s cell)."""
    item: Item = {
        "driverId": {"S": driver.driver_id},
        "name": {"S": driver.name},
        "status": {"S": driver.status.value},
        "lat": float_value(driver.location.lat),
        "lon": float_value(driver.location.lon),
        "locationKey": {"S": _LOCATION_GRID.encode(driver.location)},
        "vehicle": {"S": driver.vehicle},
        "lastSeen": {"S": iso_utc(driver.last_seen)},
        "version": int_value(driver.version),
    }
    if driver.current_order_id is not None:
        item["currentOrderId"] = {"S": driver.current_order_id}
    if driver.status is DriverStatus.AVAILABLE:
        item["availableCell"] = {"S": available_cell(grid, driver.location)}
    return item


def driver_from_item(item: Mapping[str, Any]) -> Driver:
    """The driver stored in ``item``.

    Raises:
        RecordError: not a driver item of this package's shape.
    """
    try:
        return Driver(
            driver_id=get_str(item, "driverId"),
            name=get_str(item, "name"),
            status=DriverStatus(get_str(item, "status")),
            location=GeoPoint(get_float(item, "lat"), get_float(item, "lon")),
            vehicle=get_str(item, "vehicle"),
            last_seen=get_time(item, "lastSeen"),
            current_order_id=get_opt_str(item, "currentOrderId"),
            version=get_int(item, "version"),
        )
    except RecordError:
        raise
    except _MALFORMED as exc:
        raise RecordError(f"malformed driver item: {exc}") from exc


# -- sagas -------------------------------------------------------------------------------------------------
def saga_to_item(state: SagaState) -> Item:
    """The sagas-table item of ``state``, stamped with a new ``commitId`` (32 hex digits, random, ignored when read):
    the id of the write that puts it, so that a write refused after its answer was lost and the request resent can
    tell its own item (applied the first time) from a rival's that happens to hold the same state.

    Raises:
        ValidationError: a float or another non-JSON value in ``state.data``.
    """
    item: Item = {
        "sagaId": {"S": state.saga_id},
        "definition": {"S": state.definition},
        "current": {"S": state.current},
        "status": {"S": state.status.value},
        "createdAt": {"S": iso_utc(state.created_at)},
        "updatedAt": {"S": iso_utc(state.updated_at)},
        "data": json_to_attr(state.data, "data"),
        "completed": _str_list(state.completed),
        "compensated": _str_list(state.compensated),
        "attempts": {"M": {step: int_value(n) for step, n in state.attempts.items()}},
        "branchesDone": _str_list(state.branches_done),
        "version": int_value(state.version),
        "commitId": {"S": uuid.uuid4().hex},
    }
    if state.timer_id is not None:
        item["timerId"] = {"S": state.timer_id}
    if state.outcome is not None:
        item["outcome"] = {"S": state.outcome}
    return item


def _str_list(values: Sequence[str]) -> dict[str, Any]:
    return {"L": [{"S": v} for v in values]}


def saga_from_item(item: Mapping[str, Any]) -> SagaState:
    """The saga instance stored in ``item``.

    Raises:
        RecordError: not a saga item of this package's shape.
    """
    try:
        data = attr_to_json(item["data"])
        if not isinstance(data, dict):
            raise RecordError("saga data is not a map")
        return SagaState(
            saga_id=get_str(item, "sagaId"),
            definition=get_str(item, "definition"),
            current=get_str(item, "current"),
            status=SagaStatus(get_str(item, "status")),
            created_at=get_time(item, "createdAt"),
            updated_at=get_time(item, "updatedAt"),
            data=data,
            completed=[_as_str(v) for v in get_list(item, "completed")],
            compensated=[_as_str(v) for v in get_list(item, "compensated")],
            attempts={step: get_int({"n": v}, "n") for step, v in get_map(item, "attempts").items()},
            branches_done=[_as_str(v) for v in get_list(item, "branchesDone")],
            timer_id=get_opt_str(item, "timerId"),
            outcome=get_opt_str(item, "outcome"),
            version=get_int(item, "version"),
        )
    except RecordError:
        raise
    except _MALFORMED as exc:
        raise RecordError(f"malformed saga item: {exc}") from exc
