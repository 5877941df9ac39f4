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

Every metered operation sizes what it moved, so these functions run about fifty times per simulated order; they
compute each size from the attributes' lengths instead of building the document (``order_document``,
``outbox_document``, ``driver_document``, ``saga_document`` and ``restaurant_document`` build it: the reference
the fast forms are tested against, ``tests/cost/test_size_fast_paths.py``), size what an order never changes once
per order, a restaurant and a driver once per stored object, and take the sizes of recurring small values (map
keys, state names, floats, enum values) from bounded memos (dicts whose misses compute the size: a hit costs a
subscript, no call). An envelope is sized from its attributes' JSON lengths, with only its ``data`` encoded (by
the C encoder, built once).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any, Final

from fooddelivery.domain.catalog import Driver, Restaurant
from fooddelivery.domain.events import SCHEMA_VERSION, DomainEvent
from fooddelivery.domain.order import Order
from fooddelivery.observability.tracing import TRACE_KEY
from fooddelivery.ports.notifications import Notification
from fooddelivery.ports.orders import IdempotencyRecord
from fooddelivery.ports.saga_store import SagaState, SagaStatus
from fooddelivery.ports.scheduler import ScheduledMessage

__all__ = [
    "document_size",
    "driver_document",
    "driver_size",
    "envelope_size",
    "forget_order",
    "idempotency_size",
    "json_size",
    "notification_size",
    "order_document",
    "order_size",
    "outbox_document",
    "outbox_size",
    "restaurant_document",
    "restaurant_size",
    "saga_document",
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
        if 0 <= value < _SMALL_INTS:
            return _INT_SIZES[value]
        digits = str(value).lstrip("-").rstrip("0") or "0"
    else:
        text = repr(value) if isinstance(value, float) else str(value)
        mantissa = text.lower().split("e", 1)[0]
        digits = mantissa.lstrip("-").replace(".", "").strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def _int_size(value: int) -> int:
    digits = str(value).lstrip("-").rstrip("0") or "0"
    return (len(digits) + 1) // 2 + 1


#: Sizes of the small non-negative integers (versions, quantities, attempts), looked up instead of formatted.
_SMALL_INTS: Final[int] = 4096
_INT_SIZES: Final[tuple[int, ...]] = tuple(_int_size(i) for i in range(_SMALL_INTS))
#: Decimal digits of the small non-negative integers (as text).
_DIGITS: Final[tuple[int, ...]] = tuple(len(str(i)) for i in range(_SMALL_INTS))


def _text_size(text: str) -> int:
    """UTF-8 bytes of ``text`` (its length when it is ASCII, which ``str.isascii`` tells without a scan)."""
    return len(text) if text.isascii() else len(text.encode())


class _Memo(dict[Any, int]):
    """A bounded memo of sizes: ``memo[key]`` is the size of ``key``, computed by ``size_of`` the first time (a
    dict subscript: no call on a hit). Emptied when it reaches ``limit`` entries."""

    __slots__ = ("limit", "size_of")

    def __init__(self, size_of: Callable[[Any], int], limit: int = 4096) -> None:
        super().__init__()
        self.size_of = size_of
        self.limit = limit

    def __missing__(self, key: Any) -> int:
        size = self.size_of(key)
        if len(self) >= self.limit:
            self.clear()
        self[key] = size
        return size


#: UTF-8 bytes of the value of an enum member (its status, type or kind): ``_ENUM_BYTES[member]``.
_ENUM_BYTES: Final = _Memo(lambda member: _text_size(member._value_), 1024)
#: UTF-8 bytes of a string from a small vocabulary (statuses, state names): ``_WORD_BYTES[text]``.
_WORD_BYTES: Final = _Memo(_text_size, 1024)
#: Bytes of a float: the same few numbers (coordinates of restaurants, addresses and drivers) recur.
_FLOAT_SIZES: Final = _Memo(_number_size, 65_536)


def _items_size(pairs: Iterable[tuple[Any, Any]]) -> int:
    """Bytes of a map's entries (see :func:`value_size`): 3, plus 1 + key + value per entry; a str key (from the
    memo: keys are a small vocabulary), a str value (measured: mostly ids, which a memo missed more often than it
    hit -- 12.7 misses per simulated order at 100,000 orders -- and a measure costs less than a memo's hit) and a
    small int are sized here, without a call."""
    total = 3
    for k, v in pairs:
        total += 1 + (_WORD_BYTES[k] if type(k) is str else _text_size(str(k)))
        kind = type(v)
        if kind is str:
            total += len(v) if v.isascii() else len(v.encode())
        elif kind is int and 0 <= v < _SMALL_INTS:
            total += _INT_SIZES[v]
        elif v is None or kind is bool:
            total += 1
        elif kind is dict:  # a nested map (a saga's signal details): value_size(v) without the call
            total += _items_size(v.items())
        else:
            total += value_size(v)
    return total


def value_size(value: Any) -> int:
    """Bytes of one stored value (see the module docstring); a datetime counts as its 27-byte text."""
    kind = type(value)
    if kind is str:
        return len(value) if value.isascii() else len(value.encode())
    if kind is dict:
        return _items_size(value.items())
    if value is None or kind is bool:
        return 1
    if kind is int:
        return _INT_SIZES[value] if 0 <= value < _SMALL_INTS else _int_size(value)
    if kind is float:
        return _FLOAT_SIZES[value]
    if isinstance(value, Decimal):
        return _number_size(value)
    if isinstance(value, Mapping):
        return _items_size(value.items())
    if kind is list or kind is tuple or isinstance(value, (list, tuple)):
        total = 3
        for v in value:
            if type(v) is str:
                total += 1 + (len(v) if v.isascii() else len(v.encode()))
            else:
                total += 1 + value_size(v)
        return total
    return len(_TIME)  # datetimes (and anything else stored as text of that width)


def document_size(document: Mapping[str, Any]) -> int:
    """Bytes of an item: each top-level attribute's UTF-8 name plus its value (absent = None attributes skipped)."""
    return sum(len(name.encode()) + value_size(v) for name, v in document.items() if v is not None)


def _chunk_encoder(encoder: json.JSONEncoder) -> Callable[[Any, int], list[str]]:
    """``encoder``'s C encoding function (``encoder(value, 0)`` is the JSON text's chunks), built once with its
    options, as ``JSONEncoder.encode`` builds it per call; without the C module, ``[encoder.encode(value)]``."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython has the C accelerator
        return lambda value, _level: [encoder.encode(value)]
    strings = json.encoder.encode_basestring_ascii if encoder.ensure_ascii else json.encoder.encode_basestring
    chunks: Callable[[Any, int], list[str]] = make(
        None, encoder.default, strings, None, encoder.key_separator, encoder.item_separator,
        encoder.sort_keys, encoder.skipkeys, encoder.allow_nan,
    )
    return chunks


#: ``json.dumps(doc, separators=(",", ":"), ensure_ascii=False, default=str)``'s chunks, its encoder made once
#: (``dumps`` with options builds an encoder per call).
_COMPACT_JSON: Final = _chunk_encoder(json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str))


def json_size(doc: Any) -> int:
    """Bytes of ``doc`` as compact JSON (UTF-8)."""
    text = "".join(_COMPACT_JSON(doc, 0))
    return len(text) if text.isascii() else len(text.encode())


def _order_fixed_parts(order: Order) -> dict[str, Any]:
    """The parts of an order's stored item that never change (lines, pricing, delivery address), as
    :func:`order_document` holds them and :func:`_order_fixed_size` sizes them."""
    pricing = order.pricing
    address = order.delivery_address
    location = address.location
    return {
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


def order_document(order: Order) -> dict[str, Any]:
    """The stored order item :func:`order_size` measures (its state; not its pending events): the reference form,
    built attribute by attribute (:func:`order_size` computes the same size without building it)."""
    return {
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
        "driverClaim": order.driver_claim,
        **_order_fixed_parts(order),
    }


#: Bytes of the order item's attributes whose values are the same for every order (names included).
_ORDER_CONSTANT: Final[int] = (
    len("itemType") + len("order")
    + len("createdAt") + _number_size(_EPOCH)
    + len("createdAtUtc") + len(_TIME)
    + len("updatedAt") + len(_TIME)
    + len("statusCreatedAt") + 1 + len(_TIME) + 1  # + the status and the order id
    + len("createdAtKey") + len(_TIME) + 1  # + the order id
    + len("statusTimes") + 3  # + 1 + key + time per status
    + len("notified") + 3  # + 1 + id per notification
    + len("version")
)
#: Per entry of ``statusTimes``: its separator byte and the time (plus the key's bytes).
_STATUS_TIME_ENTRY: Final[int] = 1 + len(_TIME)


def order_size(order: Order) -> int:
    """Stored size of an order item (its state; not its pending events): ``document_size(order_document(order))``,
    computed from the attributes' lengths, with what an order never changes sized once per order
    (:func:`_order_fixed_size`)."""
    # "status" and its value, twice; "paymentStatus" and its value
    size = _order_fixed_size(order) + _ORDER_CONSTANT + 2 * _ENUM_BYTES[order.status] + 6
    size += 13 + _ENUM_BYTES[order.payment_status]
    size += _STATUS_TIMES_BYTES[tuple(order.status_times)]  # the statuses reached: a few sequences recur
    # the ids (notifications, driver, charge, claim) are measured, not taken from a memo: an order is written
    # again minutes later, after thousands of other orders' ids went through it (it missed more than it hit)
    for nid in order.notified:
        size += 1 + (len(nid) if type(nid) is str and nid.isascii() else value_size(nid))
    version = order.version
    size += _INT_SIZES[version] if type(version) is int and 0 <= version < _SMALL_INTS else value_size(version)
    # "driverId", "failureReason", "chargeId", "driverClaim" when set
    value = order.driver_id
    if value is not None:
        size += 8 + (len(value) if type(value) is str and value.isascii() else value_size(value))
    value = order.failure_reason
    if value is not None:  # a reason: a small vocabulary
        size += 13 + (_WORD_BYTES[value] if type(value) is str else value_size(value))
    value = order.charge_id
    if value is not None:
        size += 8 + (len(value) if type(value) is str and value.isascii() else value_size(value))
    value = order.driver_claim
    if value is not None:
        size += 11 + (len(value) if type(value) is str and value.isascii() else value_size(value))
    return size


def _status_times_size(keys: tuple[Any, ...]) -> int:
    """Bytes of ``statusTimes``' entries (not its 3 bytes): 1 + the key + a time each."""
    return sum(_STATUS_TIME_ENTRY + (_WORD_BYTES[key] if type(key) is str else _text_size(str(key))) for key in keys)


#: Bytes of the entries of ``statusTimes`` by its keys in order (the statuses an order reached: a small vocabulary
#: of sequences): ``_STATUS_TIMES_BYTES[tuple(order.status_times)]``.
_STATUS_TIMES_BYTES: Final = _Memo(_status_times_size, 1024)


#: order id -> (the objects and texts sized, their stored size): an order's lines, pricing, address, customer,
#: restaurant and payment method never change once it is placed.
_FIXED: dict[str, tuple[object, object, object, object, object, object, int]] = {}
#: Emptied when it holds this many orders. A store that releases its finished orders (``forget_order``) keeps only
#: the orders in flight here: a simulated million-order day has ~90,000 at its peak (8,856 at 100,000 orders), and
#: with room for fewer every one of them was sized again at each write (~8.8 us instead of ~0.4 us an order_size,
#: ~8 writes an order). An entry holds objects its order holds too (~150 bytes of its own).
_FIXED_MAX: Final[int] = 262_144


def forget_order(order_id: str) -> None:
    """Drop what :func:`order_size` keeps about an order (its store released it)."""
    _FIXED.pop(order_id, None)


def _order_fixed_size(order: Order) -> int:
    """Bytes of the attributes an order never changes (its id, customer, restaurant, payment method, currency,
    lines, pricing, delivery address and the copies of its id in index keys), computed once per order (and again if
    its objects are not the ones sized)."""
    cached = _FIXED.get(order.order_id)
    if cached is not None and (
        cached[0] is order.lines
        and cached[1] is order.pricing
        and cached[2] is order.delivery_address
        and cached[3] is order.customer_id
        and cached[4] is order.restaurant_id
        and cached[5] is order.payment_method
    ):
        return cached[6]
    size = _order_fixed_bytes(order)
    if len(_FIXED) >= _FIXED_MAX:
        _FIXED.clear()
    _FIXED[order.order_id] = (
        order.lines, order.pricing, order.delivery_address, order.customer_id, order.restaurant_id,
        order.payment_method, size,
    )
    return size


def _order_fixed_bytes(order: Order) -> int:
    """:func:`_order_fixed_size`'s bytes, computed: ``document_size`` of the order's id, customer, restaurant,
    payment method and currency and of :func:`_order_fixed_parts`, plus the id's bytes twice (in statusCreatedAt
    and createdAtKey), summed attribute by attribute (names' bytes written as numbers) without building the maps."""
    vs = value_size
    order_id = order.order_id
    id_bytes = vs(order_id)
    # "orderId", and the id in statusCreatedAt and createdAtKey: text there even when the id is a str subclass,
    # which value_size sizes as a time
    size = 7 + id_bytes + 2 * (id_bytes if type(order_id) is str else _text_size(order_id))
    value: Any = order.customer_id
    if value is not None:  # "userId"
        size += 6 + vs(value)
    value = order.restaurant_id
    if value is not None:  # "restaurantId"
        size += 12 + vs(value)
    value = order.payment_method
    if value is not None:  # "paymentMethod"
        size += 13 + vs(value)
    pricing = order.pricing
    value = pricing.total.currency
    if value is not None:  # "currency"
        size += 8 + vs(value)
    # "lines": a list (3 bytes, 1 per element) of maps (3 bytes, 1 + name + value per entry): itemId, name,
    # unitPriceMinor, quantity, lineTotalMinor
    size += 5 + 3
    for line in order.lines:
        size += 1 + 3 + (1 + 6 + vs(line.item_id)) + (1 + 4 + vs(line.name)) + (1 + 14 + vs(line.unit_price.minor))
        size += (1 + 8 + vs(line.quantity)) + (1 + 14 + vs(line.line_total.minor))
    # "pricing": subtotalMinor, discountMinor, taxMinor, deliveryFeeMinor, serviceFeeMinor, tipMinor, totalMinor,
    # promoCode and distanceKm when set
    size += 7 + 3 + (1 + 13 + vs(pricing.subtotal.minor)) + (1 + 13 + vs(pricing.discount.minor))
    size += (1 + 8 + vs(pricing.tax.minor)) + (1 + 16 + vs(pricing.delivery_fee.minor))
    size += (1 + 15 + vs(pricing.service_fee.minor)) + (1 + 8 + vs(pricing.tip.minor))
    size += 1 + 10 + vs(pricing.total.minor)
    if pricing.promo_code is not None:
        size += 1 + 9 + vs(pricing.promo_code)
    if pricing.distance_km is not None:
        size += 1 + 10 + vs(pricing.distance_km)
    # "deliveryAddress": text, and lat and lon when known
    address = order.delivery_address
    size += 15 + 3 + 1 + 4 + vs(address.text)
    location = address.location
    if location is not None:
        size += (1 + 3 + vs(location.lat)) + (1 + 3 + vs(location.lon))
    return size


def outbox_document(event: DomainEvent) -> dict[str, Any]:
    """The stored outbox record :func:`outbox_size` measures: the event, its key and the pending-index keys."""
    return {
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


#: Bytes of the outbox record's attributes whose values are the same for every record (names included).
_OUTBOX_CONSTANT: Final[int] = (
    len("orderId") + len("outbox#")  # + the event id
    + len("itemType") + len("outbox")
    + len("eventId") + len("eventType") + len("occurredAt") + len(_TIME) + len("aggregateId") + len("orderVersion")
    + len("payload") + len("attempts") + _INT_SIZES[0]
    + len("outboxPartition") + len("pending#0")
    + len("outboxSeq") + len(_TIME) + 2  # + the order id and the version's 10 digits
)


def outbox_size(event: DomainEvent) -> int:
    """Stored size of an outbox record: ``document_size(outbox_document(event))``, from the attributes' lengths."""
    version = event.order_version
    event_id = event.event_id
    order_id = event.order_id
    payload = event.payload
    return (
        _OUTBOX_CONSTANT
        + 2 * (len(event_id) if type(event_id) is str and event_id.isascii() else value_size(event_id))
        + _ENUM_BYTES[event.type]
        + 2 * (len(order_id) if type(order_id) is str and order_id.isascii() else value_size(order_id))
        + (_INT_SIZES[version] if type(version) is int and 0 <= version < _SMALL_INTS else value_size(version))
        + (_items_size(payload.items()) if type(payload) is dict else value_size(payload))
        + (10 if type(version) is int and 0 <= version < 10**10 else len(f"{version:010d}"))  # outboxSeq's digits
    )


def _envelope_default(value: object) -> object:
    """How the CloudEvents SDK 2.x JSON format writes a non-JSON value: a datetime as ISO 8601 with ``Z`` for
    +00:00 (``cloudevents.core.formats.json._JSONEncoderWithDatetime``); anything else is refused, as there."""
    if isinstance(value, datetime):
        text = value.isoformat()
        return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


#: The SDK's ``json.dumps(event_dict, cls=_JSONEncoderWithDatetime)``: default separators, ASCII escapes (so the
#: text's length is its length in UTF-8), datetimes as above; made once.
_ENVELOPE_JSON: Final = json.JSONEncoder(default=_envelope_default).encode


@cache
def _sdk_writes_v2() -> bool:
    """Whether the installed CloudEvents SDK is 2.x (whose JSON format :func:`envelope_size` reproduces)."""
    try:
        import cloudevents.core.formats.json  # noqa: F401
    except ImportError:
        return False
    return True


def envelope_size(event: DomainEvent) -> int:
    """Bytes of ``event``'s CloudEvents JSON envelope, as it travels on every bus: ``len(envelope.to_json(event))``.

    With the CloudEvents SDK 2.x the length of the same JSON is computed without building and validating the SDK's
    event (the attributes of ``fooddelivery.application.envelope.to_cloudevent``, written as the SDK's
    ``json.dumps`` writes them: default separators, ASCII escapes, so a length in characters is one in bytes):
    the constant attributes' bytes are summed once, each string attribute is measured as its JSON string, the
    time from its fixed width, and only ``data`` is encoded; with a 1.x SDK the envelope itself is written and
    measured.

    Raises:
        ValidationError: ``occurred_at`` is a naive time, which the envelope refuses too (``to_json``).
    """
    if not _sdk_writes_v2():
        from fooddelivery.application.envelope import to_json

        return len(to_json(event))
    occurred_at = event.occurred_at
    version = event.order_version
    payload = event.payload
    event_id = event.event_id
    order_id = event.order_id
    if (
        type(occurred_at) is not datetime
        or type(version) is not int
        or type(event_id) is not str
        or type(order_id) is not str
        or TRACE_KEY in payload
    ):
        return _envelope_size_encoded(event)
    # "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" in UTC (isoformat's widths)
    time = (29 if occurred_at.microsecond else 22) if occurred_at.tzinfo is UTC else _time_json_size(occurred_at)
    return (
        _ENVELOPE_FIXED
        + len(_ENVELOPE_STRING(event_id))
        + _TYPE_JSON_BYTES[event.type]
        + 2 * len(_ENVELOPE_STRING(order_id))  # subject, partitionkey (measured: cheaper than a memo's miss)
        + time
        + (_DIGITS[version] if 0 <= version < _SMALL_INTS else len(str(version))) + 2  # orderversion, quoted
        + len("".join(_ENVELOPE_DATA(payload if type(payload) is dict else dict(payload), 0)))
    )


def _time_json_size(occurred_at: datetime) -> int:
    """Bytes of ``occurred_at`` as the envelope's ``time`` JSON string (quoted).

    Raises:
        ValidationError: a naive time, as :func:`fooddelivery.application.envelope.to_json` refuses it.
    """
    offset = occurred_at.utcoffset()
    if offset is None:
        from fooddelivery.application.envelope import check_event_time

        check_event_time(occurred_at)  # raises
    if not offset:
        time = 22 + (7 if occurred_at.microsecond else 0)  # "YYYY-MM-DDTHH:MM:SS[.ffffff]Z"
    else:
        time = len(_ENVELOPE_STRING(str(_envelope_default(occurred_at))))
    return time


def _envelope_size_encoded(event: DomainEvent) -> int:
    """:func:`envelope_size` by writing the SDK's JSON (an event with a trace context, or unusual types).

    Raises:
        ValidationError: a naive time (:func:`fooddelivery.application.envelope.check_event_time`).
    """
    from fooddelivery.application.envelope import EVENT_SOURCE, TYPE_PREFIX, check_event_time

    if isinstance(event.occurred_at, datetime):
        check_event_time(event.occurred_at)  # a naive time is refused, as the envelope does

    data = dict(event.payload)
    attributes: dict[str, Any] = {
        "id": event.event_id,
        "source": EVENT_SOURCE,
        "type": TYPE_PREFIX + event.type.value,
        "subject": event.order_id,
        "time": event.occurred_at,
        "datacontenttype": "application/json",
        "schemaversion": SCHEMA_VERSION,
        "orderversion": str(event.order_version),
        "partitionkey": event.order_id,
        "specversion": "1.0",
    }
    trace = data.pop(TRACE_KEY, None)
    if isinstance(trace, dict):
        for name in ("traceparent", "tracestate"):
            value = trace.get(name)
            if isinstance(value, str) and value:
                attributes[name] = value
    attributes["data"] = data
    text: str = _ENVELOPE_JSON(attributes)
    return len(text)


#: JSON string of a text as the SDK writes it (quoted, ASCII escapes).
_ENVELOPE_STRING: Final[Callable[[str], str]] = json.encoder.encode_basestring_ascii


def _json_string_size(text: str) -> int:
    """Bytes of ``text`` as a JSON string in the envelope (quoted, escaped as the SDK's ``json.dumps`` does)."""
    return len(_ENVELOPE_STRING(text))


#: The envelope's ``data`` as JSON chunks, written as the SDK writes it.
_ENVELOPE_DATA: Final = _chunk_encoder(json.JSONEncoder(default=_envelope_default))


def _envelope_fixed() -> int:
    """Bytes of the envelope around its variable values: the braces, every attribute's name (quoted), ``": "`` and
    ``", "``, the constant values (source, content type, schema and spec versions), the type's prefix and the
    quotes of ``orderversion``; ``time``'s quotes are counted with it."""
    from fooddelivery.application.envelope import EVENT_SOURCE, TYPE_PREFIX

    names = ("id", "source", "type", "subject", "time", "datacontenttype", "schemaversion", "orderversion",
             "partitionkey", "specversion", "data")
    return (
        2
        + sum(len(name) + 2 + 2 for name in names)  # '"name": '
        + 2 * (len(names) - 1)  # ', '
        + _json_string_size(EVENT_SOURCE)
        + len(TYPE_PREFIX)
        + _json_string_size("application/json")
        + _json_string_size(SCHEMA_VERSION)
        + _json_string_size("1.0")
    )


_ENVELOPE_FIXED: Final[int] = _envelope_fixed()
#: Bytes of an event type's JSON string in ``type`` without the prefix (its quotes and value).
_TYPE_JSON_BYTES: Final = _Memo(lambda member: _json_string_size(member._value_), 256)


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


def restaurant_document(restaurant: Restaurant) -> dict[str, Any]:
    """The stored restaurant item :func:`restaurant_size` measures."""
    return {
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


def driver_document(driver: Driver) -> dict[str, Any]:
    """The stored driver item :func:`driver_size` measures (with its position, status and cell keys, the index
    attributes)."""
    available = driver.status.value == "AVAILABLE"
    return {
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


#: restaurant id -> (the restaurant sized, its size): a restaurant is read with every order placed and rarely
#: changes, so it is sized once per stored version (an identity check: ``Restaurant`` is immutable).
_RESTAURANTS: dict[str, tuple[Restaurant, int]] = {}
_RESTAURANTS_MAX: Final[int] = 65_536


def restaurant_size(restaurant: Restaurant) -> int:
    """Stored size of a restaurant item: ``document_size(restaurant_document(restaurant))``, once per object."""
    cached = _RESTAURANTS.get(restaurant.restaurant_id)
    if cached is not None and cached[0] is restaurant:
        return cached[1]
    size = document_size(restaurant_document(restaurant))
    if len(_RESTAURANTS) >= _RESTAURANTS_MAX:
        _RESTAURANTS.clear()
    _RESTAURANTS[restaurant.restaurant_id] = (restaurant, size)
    return size


#: Bytes of the driver item's attributes whose values are the same for every driver (names included).
_DRIVER_CONSTANT: Final[int] = (
    len("driverId") + len("name") + len("status") + len("lat") + len("lon")
    + len("locationKey") + len("dr5ru7c") + len("vehicle") + len("lastSeen") + len(_TIME) + len("version")
)
#: ``availableCell`` and its value, present while the driver is AVAILABLE.
_AVAILABLE_CELL: Final[int] = len("availableCell") + len("cell#dr5ru")


#: driver id -> (the driver sized, its size, the bytes of its id, name, vehicle and constant attributes): a stored
#: driver is read (and found by queries) several times between two writes, so it is sized once per stored version
#: (an identity check: ``Driver`` is immutable).
_DRIVERS: dict[str, tuple[Driver, int, int]] = {}
_DRIVERS_MAX: Final[int] = 65_536


def driver_size(driver: Driver) -> int:
    """Stored size of a driver item: ``document_size(driver_document(driver))``, from the attributes' lengths, once
    per object (and its id, name and vehicle once per driver while they are the same objects)."""
    cached = _DRIVERS.get(driver.driver_id)
    if cached is None:
        fixed = _driver_fixed_size(driver)
    else:
        previous = cached[0]
        if previous is driver:
            return cached[1]
        if previous.name is driver.name and previous.vehicle is driver.vehicle:
            fixed = cached[2]
        else:
            fixed = _driver_fixed_size(driver)
    status = driver.status
    location = driver.location
    size = fixed + _ENUM_BYTES[status]
    values: tuple[Any, ...] = (location.lat, location.lon, driver.version)
    for value in values:
        kind = type(value)
        if kind is float:
            size += _FLOAT_SIZES[value]
        elif kind is int and 0 <= value < _SMALL_INTS:
            size += _INT_SIZES[value]
        else:
            size += value_size(value)
    current = driver.current_order_id
    if current is not None:  # "currentOrderId"
        size += 14 + (len(current) if type(current) is str and current.isascii() else value_size(current))
    if status == "AVAILABLE":
        size += _AVAILABLE_CELL
    if len(_DRIVERS) >= _DRIVERS_MAX:
        _DRIVERS.clear()
    _DRIVERS[driver.driver_id] = (driver, size, fixed)
    return size


def _driver_fixed_size(driver: Driver) -> int:
    """Bytes of the driver item's attributes that do not change: the constant ones, its id, name and vehicle."""
    return _DRIVER_CONSTANT + value_size(driver.driver_id) + value_size(driver.name) + value_size(driver.vehicle)


#: The id of the write that stored a saga item (32 hex digits): DynamoDB's and Firestore's stores stamp every saga
#: write with one, to tell their own write, resent after a lost answer, from a rival's.
_COMMIT_ID: Final[str] = "0" * 32


def saga_document(state: SagaState) -> dict[str, Any]:
    """The stored saga instance item :func:`saga_size` measures."""
    return {
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
        "commitId": _COMMIT_ID,
        "timerId": state.timer_id,
        "outcome": state.outcome,
    }


#: Bytes of the saga item's attributes whose values are the same for every saga (names included).
_SAGA_CONSTANT: Final[int] = (
    len("sagaId") + len("createdAt") + len("updatedAt") + 2 * len(_TIME) + len("commitId") + len(_COMMIT_ID)
)


def _words_size(words: list[Any]) -> int:
    """Bytes of a list of names (state names: a small vocabulary, sized from the memo)."""
    total = 3
    for word in words:
        total += 1 + (_WORD_BYTES[word] if type(word) is str else value_size(word))
    return total


def _saga_field_bytes(value: Any) -> int:
    """Bytes of one saga attribute's value (not None) of a type :func:`saga_size` does not size inline."""
    kind = type(value)
    if kind is str:  # a definition, state or outcome name
        return _WORD_BYTES[value]
    if kind is dict:
        return _items_size(value.items())
    if kind is list:
        return _words_size(value) if value else 3  # an empty list: 3 bytes
    if kind is int and 0 <= value < _SMALL_INTS:
        size: int = _INT_SIZES[value]
        return size
    if kind is SagaStatus:
        return _ENUM_BYTES[value]
    return value_size(value)


def saga_size(state: SagaState) -> int:
    """Stored size of a saga instance item: ``document_size(saga_document(state))``, without building it.

    Written out attribute by attribute, each with the type it has in a saga (a name, the status, a dict, a list, a
    small int) sized inline and any other through :func:`_saga_field_bytes`: no tuple of the attributes built
    and walked per write (about five writes per order)."""
    saga_id = state.saga_id
    size = _SAGA_CONSTANT + (len(saga_id) if type(saga_id) is str and saga_id.isascii() else value_size(saga_id))
    value: Any = state.timer_id
    if value is not None:  # "timerId"
        size += 7 + (len(value) if type(value) is str and value.isascii() else value_size(value))
    value = state.definition
    if type(value) is str:  # "definition"
        size += 10 + _WORD_BYTES[value]
    elif value is not None:
        size += 10 + _saga_field_bytes(value)
    value = state.current
    if type(value) is str:  # "current"
        size += 7 + _WORD_BYTES[value]
    elif value is not None:
        size += 7 + _saga_field_bytes(value)
    value = state.status
    if type(value) is SagaStatus:  # "status" (a StrEnum: sized as its value)
        size += 6 + _ENUM_BYTES[value]
    elif value is not None:
        size += 6 + _saga_field_bytes(value)
    value = state.data
    if type(value) is dict:  # "data"
        size += 4 + _items_size(value.items())
    elif value is not None:
        size += 4 + _saga_field_bytes(value)
    value = state.completed
    if type(value) is list:  # "completed"
        size += 9 + (_words_size(value) if value else 3)
    elif value is not None:
        size += 9 + _saga_field_bytes(value)
    value = state.compensated
    if type(value) is list:  # "compensated"
        size += 11 + (_words_size(value) if value else 3)
    elif value is not None:
        size += 11 + _saga_field_bytes(value)
    value = state.attempts
    if type(value) is dict:  # "attempts"
        size += 8 + _items_size(value.items())
    elif value is not None:
        size += 8 + _saga_field_bytes(value)
    value = state.branches_done
    if type(value) is list:  # "branchesDone"
        size += 12 + (_words_size(value) if value else 3)
    elif value is not None:
        size += 12 + _saga_field_bytes(value)
    value = state.version
    if type(value) is int and 0 <= value < _SMALL_INTS:  # "version"
        size += 7 + _INT_SIZES[value]
    elif value is not None:
        size += 7 + _saga_field_bytes(value)
    value = state.outcome
    if type(value) is str:  # "outcome"
        size += 7 + _WORD_BYTES[value]
    elif value is not None:
        size += 7 + _saga_field_bytes(value)
    return size


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
