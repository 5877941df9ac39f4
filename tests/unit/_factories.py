"""Little factories for domain unit tests: a known restaurant, the reference cart, orders by status.

Coordinates are real city centres. Where a test needs a known distance it offsets a point along its
meridian, because on a sphere that distance is exactly ``R * delta_latitude`` (no haversine needed).
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fooddelivery.domain import (
    TRANSITIONS,
    Actor,
    DeliveryAddress,
    Driver,
    DriverStatus,
    GeoPoint,
    LineRequest,
    MenuItem,
    Money,
    Order,
    OrderStatus,
    Restaurant,
)

#: IUGG mean Earth radius (km), the sphere the domain measures on.
EARTH_RADIUS_KM = 6371.0088

NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)

PARIS = GeoPoint(48.8566, 2.3522)
LONDON = GeoPoint(51.5074, -0.1278)

CUSTOMER_ID = "cust-1"
RESTAURANT_ID = "rest-1"
DRIVER_ID = "drv-1"

_event_ids = itertools.count(1)


def event_id() -> str:
    """A fresh event id."""
    return f"evt-{next(_event_ids)}"


def north_of(point: GeoPoint, km: float) -> GeoPoint:
    """The point ``km`` kilometres due north of ``point`` (same meridian; negative goes south)."""
    return GeoPoint(point.lat + math.degrees(km / EARTH_RADIUS_KM), point.lon)


def meridian_km(a: GeoPoint, b: GeoPoint) -> float:
    """Exact spherical distance between two points on the same meridian: ``R * |delta_lat|``."""
    assert a.lon == b.lon
    return EARTH_RADIUS_KM * math.radians(abs(a.lat - b.lat))


def money(amount: str | int, currency: str = "USD") -> Money:
    """Shorthand for :meth:`Money.of`."""
    return Money.of(amount, currency)


def menu_item(
    item_id: str = "pizza",
    name: str = "Pizza",
    price: str = "15.99",
    currency: str = "USD",
    *,
    available: bool = True,
) -> MenuItem:
    """One menu item."""
    return MenuItem(item_id, name, Money.of(price, currency), available)


def restaurant(
    *,
    restaurant_id: str = RESTAURANT_ID,
    name: str = "Luigi's",
    currency: str = "USD",
    tax_rate: str = "0.0875",
    menu: tuple[MenuItem, ...] | None = None,
    accepting_orders: bool = True,
    location: GeoPoint = PARIS,
) -> Restaurant:
    """A restaurant whose default menu is Pizza 15.99 and Soda 2.99 (USD)."""
    if menu is None:
        menu = (menu_item("pizza", "Pizza", "15.99"), menu_item("soda", "Soda", "2.99"))
    return Restaurant(
        restaurant_id=restaurant_id,
        name=name,
        cuisine="pizza",
        rating=Decimal("4.5"),
        location=location,
        currency=currency,
        tax_rate=Decimal(tax_rate),
        avg_prep_minutes=20,
        menu=menu,
        accepting_orders=accepting_orders,
    )


#: The reference cart: one Pizza at 15.99 and two Sodas at 2.99 (subtotal 21.97).
REFERENCE_LINES = (
    LineRequest(quantity=1, item_id="pizza", unit_price="15.99"),
    LineRequest(quantity=2, item_id="soda", unit_price="2.99"),
)


def place(
    *,
    rest: Restaurant | None = None,
    lines: tuple[LineRequest, ...] | list[LineRequest] = REFERENCE_LINES,
    address: DeliveryAddress | None = None,
    order_id: str = "ord-1",
    customer_id: str = CUSTOMER_ID,
    payment_method: object = "tok_visa",
    tip: object = None,
    now: datetime = NOW,
) -> Order:
    """Place an order (the reference cart at the default restaurant unless told otherwise)."""
    return Order.place(
        order_id=order_id,
        event_id=event_id(),
        customer_id=customer_id,
        restaurant=rest or restaurant(),
        lines=lines,
        delivery_address=address or DeliveryAddress("1 Main St"),
        payment_method=payment_method,  # type: ignore[arg-type]
        now=now,
        tip=tip,
    )


def path_to(status: OrderStatus) -> list[OrderStatus]:
    """The shortest legal sequence of statuses from PENDING to ``status``, per ``TRANSITIONS``."""
    queue: deque[list[OrderStatus]] = deque([[OrderStatus.PENDING]])
    while queue:
        path = queue.popleft()
        if path[-1] is status:
            return path[1:]
        for frm, to in TRANSITIONS:
            if frm is path[-1] and to not in path:
                queue.append([*path, to])
    raise AssertionError(f"{status} is unreachable")


def order_in(status: OrderStatus, *, driver_id: str | None = DRIVER_ID) -> Order:
    """A placed order driven by an admin to ``status``, with ``driver_id`` assigned while PENDING.

    Pending events are cleared, so tests see only what they cause.
    """
    order = place()
    if driver_id is not None:
        order.assign_driver(driver_id, NOW, event_id())
    now = NOW
    for step in path_to(status):
        now += timedelta(minutes=5)
        order.transition(
            step, Actor.admin(), now, event_id(), reason="test" if step.is_terminal else None
        )
    order.take_events()
    return order


def driver(
    driver_id: str = DRIVER_ID,
    *,
    location: GeoPoint = PARIS,
    status: DriverStatus = DriverStatus.AVAILABLE,
    current_order_id: str | None = None,
) -> Driver:
    """A driver (AVAILABLE at the default restaurant unless told otherwise)."""
    return Driver(
        driver_id=driver_id,
        name="Dana",
        status=status,
        location=location,
        vehicle="scooter",
        last_seen=NOW,
        current_order_id=current_order_id,
    )


def field_names(exc: BaseException) -> set[str]:
    """The field names an error reports."""
    return {f.field for f in getattr(exc, "fields", [])}


def field_codes(exc: BaseException) -> dict[str, str]:
    """field -> code of every field an error reports."""
    return {f.field: f.code for f in getattr(exc, "fields", [])}
