"""Builders of fully populated domain objects for every test suite (unit, service, contract, cloud).

Every builder returns a valid object with realistic, non-default values in every field (unicode
names, coordinates, a promo code, a tip...) and takes keyword overrides for any field. Ids are
unique per call (``rst-000001``, ``ord-000002``...) unless given, so tests never collide with each
other.

Typical use::

    restaurant = make_restaurant(cuisine="sushi")
    order = make_order(restaurant, customer_id="cus-ana")
    driver = make_driver(location=point_at(restaurant.location, km_north=1.5))
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from fooddelivery.domain.actors import Actor
from fooddelivery.domain.catalog import DeliveryAddress, Driver, DriverStatus, MenuItem, Restaurant
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.domain.geo import EARTH_RADIUS_KM, GeoPoint
from fooddelivery.domain.money import Money
from fooddelivery.domain.order import LineRequest, Order, OrderStatus
from fooddelivery.domain.pricing import PromoCode, PromoKind
from fooddelivery.ports.notifications import Notification, NotificationKind
from fooddelivery.ports.saga_store import SagaState, SagaStatus
from fooddelivery.ports.scheduler import ScheduledMessage

__all__ = [
    "DOWNTOWN",
    "T0",
    "UNICODE_NAMES",
    "advance",
    "make_address",
    "make_driver",
    "make_event",
    "make_location_event",
    "make_menu",
    "make_notification",
    "make_order",
    "make_promo",
    "make_restaurant",
    "make_saga_state",
    "make_scheduled",
    "point_at",
    "unique_id",
    "with_version",
]

#: The tests' "now": a fixed, timezone-aware UTC instant.
T0: Final[datetime] = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
#: A restaurant location (lower Manhattan); other points are placed relative to it with
#: :func:`point_at`.
DOWNTOWN: Final[GeoPoint] = GeoPoint(40.7128, -74.0060)
#: Names that must round-trip unchanged through every store: accents, CJK, emoji, RTL script, ZWJ.
UNICODE_NAMES: Final[tuple[str, ...]] = (
    "Crème brûlée",
    "寿司盛り合わせ",
    "Pizza 🍕 Diavola",
    "شاورما دجاج",
    "Çiğ köfte",
    "Family 👨‍👩‍👧 platter",
)

_KM_PER_DEGREE: Final[float] = math.pi / 180 * EARTH_RADIUS_KM
_counter = itertools.count(1)


def unique_id(prefix: str) -> str:
    """A process-unique id ``"<prefix>-<n:06d>"``."""
    return f"{prefix}-{next(_counter):06d}"


def point_at(origin: GeoPoint, km_north: float = 0.0, km_east: float = 0.0) -> GeoPoint:
    """The point ``km_north`` km north and ``km_east`` km east of ``origin``.

    A local flat approximation: exact along a meridian; within about 0.1 % east-west for a few km,
    away from the poles.
    """
    lat = origin.lat + km_north / _KM_PER_DEGREE
    lon = origin.lon + km_east / (_KM_PER_DEGREE * math.cos(math.radians(lat)))
    return GeoPoint(lat, lon)


def make_menu(currency: str = "USD") -> tuple[MenuItem, ...]:
    """Six dishes named :data:`UNICODE_NAMES`, priced 4.50..18.00; the fifth is unavailable."""
    prices = ("12.50", "18.00", "14.25", "9.99", "4.50", "16.75")
    return tuple(
        MenuItem(f"itm-{i + 1}", name, Money.of(price, currency), available=(i != 4))
        for i, (name, price) in enumerate(zip(UNICODE_NAMES, prices, strict=True))
    )


def make_restaurant(**overrides: Any) -> Restaurant:
    """A restaurant accepting orders, with a unicode name and the :func:`make_menu` menu.

    Defaults: ``rst-NNNNNN``, "Café Zoë — 東京店", cuisine ``"pizza"``, rating 4.5, at
    :data:`DOWNTOWN`, USD, tax 8.875 %, 18 minutes of preparation, version 0. Any field can be
    overridden.
    """
    currency = overrides.get("currency", "USD")
    fields: dict[str, Any] = {
        "restaurant_id": unique_id("rst"),
        "name": "Café Zoë — 東京店",
        "cuisine": "pizza",
        "rating": Decimal("4.5"),
        "location": DOWNTOWN,
        "currency": currency,
        "tax_rate": Decimal("0.08875"),
        "avg_prep_minutes": 18,
        "menu": make_menu(currency),
        "accepting_orders": True,
        "version": 0,
    }
    fields.update(overrides)
    return Restaurant(**fields)


def make_address(**overrides: Any) -> DeliveryAddress:
    """A unicode address about 2 km north-east of :data:`DOWNTOWN`, with coordinates."""
    fields: dict[str, Any] = {
        "text": "Müllerstraße 5, 3. OG — «Tür 🚪 links», 東京",
        "location": point_at(DOWNTOWN, km_north=1.6, km_east=1.2),
    }
    fields.update(overrides)
    return DeliveryAddress(**fields)


def make_promo(**overrides: Any) -> PromoCode:
    """``SAVE10``: 10 % off a subtotal of 10.00 USD or more, until 30 days after :data:`T0`."""
    fields: dict[str, Any] = {
        "code": "save10",
        "kind": PromoKind.PERCENT,
        "percent": Decimal("10"),
        "min_subtotal": Money.of("10.00", "USD"),
        "expires_at": T0 + timedelta(days=30),
    }
    fields.update(overrides)
    return PromoCode(**fields)


_DEFAULT: Any = object()


def make_order(
    restaurant: Restaurant | None = None,
    *,
    order_id: str | None = None,
    event_id: str | None = None,
    customer_id: str | None = None,
    lines: list[LineRequest] | None = None,
    address: DeliveryAddress | None = None,
    payment_method: str = "tok_visa",
    now: datetime = T0,
    tip: object = "3.50",
    promo: PromoCode | None = _DEFAULT,
) -> Order:
    """A freshly placed order with every field set: PENDING, version 1, one ``OrderPlaced`` event.

    Defaults: three lines (one by id, one by name with a sent price, a quantity of 3), the unicode
    :func:`make_address` with coordinates, a 3.50 tip and the :func:`make_promo` code; pass
    ``promo=None`` for none. ``restaurant`` defaults to a new :func:`make_restaurant`.
    """
    restaurant = restaurant or make_restaurant()
    menu = restaurant.menu
    if lines is None:
        lines = [
            LineRequest(quantity=2, item_id=menu[0].item_id),
            LineRequest(quantity=1, name=menu[1].name.upper(), unit_price=str(menu[1].price)),
            LineRequest(quantity=3, item_id=menu[2].item_id),
        ]
    if promo is _DEFAULT:
        promo = make_promo(min_subtotal=Money.of("10", restaurant.currency))
    return Order.place(
        order_id=order_id or unique_id("ord"),
        event_id=event_id or unique_id("evt"),
        customer_id=customer_id or unique_id("cus"),
        restaurant=restaurant,
        lines=lines,
        delivery_address=address or make_address(),
        payment_method=payment_method,
        now=now,
        tip=tip,
        promo=promo,
    )


_HAPPY_PATH: Final[tuple[OrderStatus, ...]] = (
    OrderStatus.CONFIRMED,
    OrderStatus.PREPARING,
    OrderStatus.READY_FOR_PICKUP,
    OrderStatus.PICKED_UP,
    OrderStatus.DELIVERED,
)


def advance(order: Order, to: OrderStatus, now: datetime | None = None, driver_id: str = "drv-ana") -> Order:
    """Walk ``order`` along the happy path up to ``to``, one minute per step.

    CONFIRMED is made by the system, PREPARING and READY_FOR_PICKUP by the restaurant, PICKED_UP and
    DELIVERED by the driver (``driver_id`` is assigned first if the order has none). Each step
    records its event on the order, which is returned for chaining.

    Raises:
        ValueError: ``to`` is not on the happy path.
    """
    if to not in _HAPPY_PATH:
        raise ValueError(f"{to} is not on the happy path")
    at = now or order.updated_at
    start = _HAPPY_PATH.index(order.status) + 1 if order.status in _HAPPY_PATH else 0
    for status in _HAPPY_PATH[start:]:
        at += timedelta(minutes=1)
        if status is OrderStatus.CONFIRMED:
            actor = Actor.system()
        elif status in (OrderStatus.PREPARING, OrderStatus.READY_FOR_PICKUP):
            actor = Actor.restaurant(order.restaurant_id)
        else:
            if order.driver_id is None:
                order.assign_driver(driver_id, at, unique_id("evt"))
            actor = Actor.driver(order.driver_id or driver_id)
        order.transition(status, actor, at, unique_id("evt"))
        if status is to:
            break
    return order


def make_driver(**overrides: Any) -> Driver:
    """An AVAILABLE driver (unicode name, scooter) 500 m north of :data:`DOWNTOWN`, version 0."""
    fields: dict[str, Any] = {
        "driver_id": unique_id("drv"),
        "name": "Zoë Łukasiewicz-Núñez 🛵",
        "status": DriverStatus.AVAILABLE,
        "location": point_at(DOWNTOWN, km_north=0.5),
        "vehicle": "scooter",
        "last_seen": T0,
        "current_order_id": None,
        "version": 0,
    }
    fields.update(overrides)
    if fields["status"] is DriverStatus.ASSIGNED and fields["current_order_id"] is None:
        fields["current_order_id"] = unique_id("ord")
    return Driver(**fields)


def make_event(**overrides: Any) -> DomainEvent:
    """An ``OrderPlaced`` event at :data:`T0` (version 1) with a JSON-ready unicode payload."""
    fields: dict[str, Any] = {
        "event_id": unique_id("evt"),
        "type": EventType.ORDER_PLACED,
        "occurred_at": T0,
        "order_id": unique_id("ord"),
        "order_version": 1,
        "payload": {
            "customerId": "cus-zoë",
            "total": "21.97",
            "currency": "USD",
            "note": "café ☕",
        },
    }
    fields.update(overrides)
    return DomainEvent(**fields)


def make_location_event(
    driver_id: str = "drv-ana",
    order_id: str = "ord-ana",
    at: datetime = T0,
    point: GeoPoint = DOWNTOWN,
    version: int = 7,
) -> DomainEvent:
    """A ``DeliveryLocationUpdated`` event: ``driver_id`` on ``order_id`` is at ``point``.

    The payload carries the coordinates as text (``repr`` of the floats).
    """
    return DomainEvent(
        event_id=unique_id("loc"),
        type=EventType.DELIVERY_LOCATION_UPDATED,
        occurred_at=at,
        order_id=order_id,
        order_version=version,
        payload={"driverId": driver_id, "lat": repr(point.lat), "lon": repr(point.lon)},
    )


def make_notification(**overrides: Any) -> Notification:
    """A ``new_order`` notification to a restaurant, with unicode template data."""
    fields: dict[str, Any] = {
        "notification_id": unique_id("ntf"),
        "kind": NotificationKind.RESTAURANT,
        "recipient_id": "rst-zoë",
        "order_id": unique_id("ord"),
        "template": "new_order",
        "data": {"customerName": "Zoë", "items": "寿司盛り合わせ x2", "total": "21.97"},
    }
    fields.update(overrides)
    return Notification(**fields)


def make_scheduled(**overrides: Any) -> ScheduledMessage:
    """A ``saga.timeout`` message due 5 minutes after :data:`T0`, with a nested JSON body."""
    fields: dict[str, Any] = {
        "message_id": unique_id("msg"),
        "due_at": T0 + timedelta(minutes=5),
        "kind": "saga.timeout",
        "body": {
            "sagaId": "ord-zoë",
            "step": "WaitForConfirmation",
            "meta": {"attempt": 1, "tags": ["ä"]},
        },
    }
    fields.update(overrides)
    return ScheduledMessage(**fields)


def make_saga_state(**overrides: Any) -> SagaState:
    """A WAITING order-saga instance with every field set (nested data, attempts, a timer...)."""
    fields: dict[str, Any] = {
        "saga_id": unique_id("ord"),
        "definition": "order@1",
        "current": "WaitForConfirmation",
        "status": SagaStatus.WAITING,
        "created_at": T0,
        "updated_at": T0 + timedelta(seconds=42),
        "data": {
            "orderId": "ord-zoë",
            "chargeId": "ch_00000001",
            "total": "21.97",
            "driver": {"id": "drv-ana", "name": "Zoë 🛵", "history": ["drv-bob", "drv-cy"]},
            "attempt": 2,
        },
        "completed": ["ValidateOrder", "ProcessPayment"],
        "compensated": ["ReleaseDriver"],
        "attempts": {"ProcessPayment": 2, "AssignDriver": 1},
        "branches_done": ["NotifyRestaurant"],
        "timer_id": "msg-timeout-1",
        "outcome": None,
        "version": 0,
    }
    fields.update(overrides)
    return SagaState(**fields)


def with_version(driver: Driver, version: int) -> Driver:
    """``driver`` with another ``version`` (to simulate a stale read)."""
    return replace(driver, version=version)
