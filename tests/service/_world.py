"""A small, fully known world for the service tests, built through ``bootstrap()`` with in-memory adapters.

Coordinates: the main restaurant sits in central Paris; every other point is placed due north or south of it
on the same meridian, where the great-circle distance is exactly ``R * delta_latitude`` (so the distances the
tests rely on are known without trusting the code under test).

Time: a :class:`VirtualClock` that only moves when a test says so; due timers run with ``World.advance``.
Ids: a :class:`SequentialIdGenerator` (``ord-00000001``, ``evt-00000002``...).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fooddelivery.adapters.memory import SequentialIdGenerator, VirtualClock
from fooddelivery.application import PlaceOrder, PlaceOrderResult
from fooddelivery.application.saga.runner import SignalOutcome
from fooddelivery.bootstrap import Bootstrapped, Settings, bootstrap
from fooddelivery.domain import (
    Actor,
    DeliveryAddress,
    Driver,
    DriverStatus,
    EventType,
    GeoPoint,
    LineRequest,
    MenuItem,
    Money,
    Order,
    Restaurant,
)
from fooddelivery.ports.saga_store import SagaState

#: IUGG mean Earth radius (km), the sphere the core measures on.
EARTH_RADIUS_KM = 6371.0088

START = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)

REST_ID = "rest-1"
OTHER_REST_ID = "rest-2"
CUSTOMER = "cust-ana"
OTHER_CUSTOMER = "cust-bo"
PARIS = GeoPoint(48.8566, 2.3522)

#: Menu of the main restaurant (EUR), with non-ASCII names that must round-trip unchanged.
MARGHERITA = MenuItem("margherita", "Pizza Margherita", Money.of("9.50", "EUR"))
CREME = MenuItem("creme", "Crème brûlée", Money.of("6.20", "EUR"))
RAMEN = MenuItem("ramen", "ラーメン 🍜", Money.of("12.00", "EUR"))
LIMONADE = MenuItem("limonade", "Limonade à l'ancienne", Money.of("3.00", "EUR"))
TRUFFLE = MenuItem("truffle", "Tartufo nero", Money.of("45.00", "EUR"), available=False)

#: The default cart: 2 x Pizza Margherita by id (with the menu price), 1 x Crème brûlée by name.
#: Subtotal 2 x 9.50 + 6.20 = 25.20 EUR.
DEFAULT_LINES: tuple[LineRequest, ...] = (
    LineRequest(2, item_id="margherita", unit_price="9.50"),
    LineRequest(1, name="Crème brûlée"),
)


def north_of(point: GeoPoint, km: float) -> GeoPoint:
    """The point ``km`` kilometres due north of ``point`` (negative: south)."""
    return GeoPoint(point.lat + math.degrees(km / EARTH_RADIUS_KM), point.lon)


def meridian_km(a: GeoPoint, b: GeoPoint) -> float:
    """Exact spherical distance between two points on one meridian."""
    assert a.lon == b.lon
    return EARTH_RADIUS_KM * math.radians(abs(a.lat - b.lat))


#: Where the default customer lives: 3 km south of the restaurant.
HOME = north_of(PARIS, -3.0)
HOME_ADDRESS = DeliveryAddress("12 rue de l'Éxample, 75014 Paris — porte B", HOME)

#: Drivers by id -> (km north of the restaurant, status). The search radius is 8 km.
DRIVER_LAYOUT: dict[str, tuple[float, DriverStatus]] = {
    "drv-near": (0.5, DriverStatus.AVAILABLE),
    "drv-mid": (1.5, DriverStatus.AVAILABLE),
    "drv-far": (4.0, DriverStatus.AVAILABLE),
    "drv-out": (20.0, DriverStatus.AVAILABLE),  # outside the radius
    "drv-off": (0.2, DriverStatus.OFFLINE),  # nearest of all, but offline
}
#: Only a driver outside the radius: the saga finds nobody.
NO_DRIVER_LAYOUT: dict[str, tuple[float, DriverStatus]] = {"drv-out": (20.0, DriverStatus.AVAILABLE)}


def make_restaurant(
    restaurant_id: str = REST_ID,
    *,
    name: str = "Trattoria Ünïcode 🍕",
    cuisine: str = "pizza",
    rating: str = "4.5",
    location: GeoPoint = PARIS,
    accepting_orders: bool = True,
    menu: tuple[MenuItem, ...] = (MARGHERITA, CREME, RAMEN, LIMONADE, TRUFFLE),
) -> Restaurant:
    """A restaurant in EUR with a 10 % tax rate and 15 minutes of average preparation."""
    return Restaurant(
        restaurant_id=restaurant_id,
        name=name,
        cuisine=cuisine,
        rating=Decimal(rating),
        location=location,
        currency="EUR",
        tax_rate=Decimal("0.10"),
        avg_prep_minutes=15,
        menu=menu,
        accepting_orders=accepting_orders,
    )


def make_driver(driver_id: str, km_north: float, status: DriverStatus = DriverStatus.AVAILABLE) -> Driver:
    """A driver ``km_north`` km north of the restaurant, seen at the start."""
    return Driver(driver_id, f"Driver {driver_id}", status, north_of(PARIS, km_north), "scooter", START)


@dataclass
class World:
    """The bootstrapped core plus the clock, with shortcuts the tests read like sentences."""

    boot: Bootstrapped
    clock: VirtualClock
    placed: list[str] = field(default_factory=list)

    # -- adapters -----------------------------------------------------------------------------------------
    @property
    def service(self) -> Any:
        return self.boot.service

    @property
    def runner(self) -> Any:
        return self.boot.runner

    def __getattr__(self, name: str) -> Any:
        # orders, sagas, drivers, payments, notifier, publisher, scheduler, location, restaurants...
        return getattr(self.__dict__["boot"], name)

    # -- commands -----------------------------------------------------------------------------------------
    def place(
        self,
        customer: str = CUSTOMER,
        *,
        token: str = "tok_visa",
        lines: Sequence[LineRequest] = DEFAULT_LINES,
        key: str | None = None,
        address: DeliveryAddress = HOME_ADDRESS,
        restaurant_id: str = REST_ID,
        tip: object = None,
        promo: str | None = None,
        customer_id: str | None = None,
        actor: Actor | None = None,
    ) -> PlaceOrderResult:
        """Place an order as ``customer`` (the default cart, a good card, delivered home)."""
        command = PlaceOrder(
            restaurant_id=restaurant_id,
            lines=list(lines),
            delivery_address=address,
            payment_method=token,
            tip=tip,
            promo_code=promo,
            customer_id=customer_id,
        )
        result = self.service.place_order(actor or Actor.customer(customer), command, key)
        if result.order.order_id not in self.placed:
            self.placed.append(result.order.order_id)
        return result

    def place_id(self, customer: str = CUSTOMER, **kwargs: Any) -> str:
        """Place an order and return its id."""
        return self.place(customer, **kwargs).order.order_id

    def confirm(self, order_id: str, restaurant_id: str = REST_ID) -> SignalOutcome:
        return self.service.confirm_order(Actor.restaurant(restaurant_id), order_id)

    def reject(self, order_id: str, reason: str = "out of dough", restaurant_id: str = REST_ID) -> SignalOutcome:
        return self.service.reject_order(Actor.restaurant(restaurant_id), order_id, reason)

    def cancel(self, order_id: str, customer: str = CUSTOMER, reason: str = "changed my mind") -> Order:
        return self.service.cancel_order(Actor.customer(customer), order_id, reason)

    def advance(self, seconds: float) -> int:
        """Move virtual time forward and deliver every timer now due; returns how many were delivered."""
        self.clock.advance(seconds)
        return self.boot.run_due()

    # -- reading ------------------------------------------------------------------------------------------
    def order(self, order_id: str) -> Order:
        return self.service.get_order(Actor.admin(), order_id)

    def saga(self, order_id: str) -> SagaState:
        return self.sagas.get(order_id)

    def driver(self, driver_id: str) -> Driver:
        return self.drivers.get(driver_id)

    def event_types(self, order_id: str) -> list[EventType]:
        """The types of the order's published events, oldest first."""
        return [e.type for e in self.publisher.of_order(order_id)]

    def templates(self, recipient_id: str) -> list[str]:
        """The templates of the notifications sent to ``recipient_id``, oldest first."""
        return [n.template for n in self.notifier.sent_to(recipient_id)]

    def alerts(self) -> list[Any]:
        return self.notifier.sent_to("operations")

    def pending_timers(self) -> list[tuple[str, float]]:
        """Pending scheduler messages as (message id, seconds after START)."""
        return [(m.message_id, (m.due_at - START).total_seconds()) for m in self.scheduler.pending()]

    def held_drivers(self) -> dict[str, str]:
        """driver id -> the order it holds, for every ASSIGNED driver."""
        return {d.driver_id: d.current_order_id for d in self.drivers.all_drivers() if d.current_order_id}

    def observable(self) -> dict[str, Any]:
        """Everything a use case could have changed (reads excluded), for "nothing changed" assertions."""
        writes = {
            k: v
            for k, v in (self.counters.snapshot() if self.counters else {}).items()
            if not k.endswith((".reads", ".queries"))
        }
        orders = []
        for order_id in self.placed:
            o = self.orders.get(order_id)
            orders.append((o.order_id, o.version, o.status, o.payment_status, o.driver_id, o.failure_reason))
        return {
            "writes": writes,
            "orders": orders,
            "order_count": len(self.orders),
            "outbox": self.orders.outbox_size,
            "sagas": [
                (s.saga_id, s.version, s.status, s.current, s.outcome, s.timer_id)
                for s in (self.sagas.get(i) for i in self.sagas.ids())
            ],
            "published": sorted(self.publisher.published_ids),
            "notifications": [n.notification_id for n in self.notifier.sent],
            "payment_calls": self.payments.calls,
            "charges": self.payments.charges,
            "refunds": self.payments.refunds,
            "timers": [m.message_id for m in self.scheduler.pending()],
            "drivers": [(d.driver_id, d.status, d.current_order_id, d.version) for d in self.drivers.all_drivers()],
            "locations": self.location.total,
        }

    def published_type_counts(self) -> Counter[str]:
        return Counter(e.type.value for e in self.publisher.published)


def build_world(
    *,
    drivers: dict[str, tuple[float, DriverStatus]] | None = None,
    settings: Settings | None = None,
    **overrides: Any,
) -> World:
    """Bootstrap the core with in-memory adapters (``overrides`` are passed to ``bootstrap``), then add the
    main restaurant, a second restaurant (for "another restaurant" checks) and the drivers."""
    clock = overrides.pop("clock", None) or VirtualClock(START)
    ids = overrides.pop("ids", None) or SequentialIdGenerator()
    boot = bootstrap(settings or Settings(), clock=clock, ids=ids, **overrides)
    boot.restaurants.add(make_restaurant())
    boot.restaurants.add(
        make_restaurant(OTHER_REST_ID, name="Sushi 寿司 Bar", cuisine="japanese", location=north_of(PARIS, 2.0))
    )
    for driver_id, (km, status) in (DRIVER_LAYOUT if drivers is None else drivers).items():
        boot.drivers.add(make_driver(driver_id, km, status))
    return World(boot, clock)
