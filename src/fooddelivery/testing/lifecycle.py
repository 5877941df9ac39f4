"""Drive orders through their whole lifecycle, on the adapter sets whose costs are compared.

One lifecycle is: the customer places the order (payment, restaurant notice and driver assignment follow in the
saga), the restaurant confirms it, marks it ``PREPARING`` then ``READY_FOR_PICKUP``, and the assigned driver marks
it ``PICKED_UP`` then ``DELIVERED``. The store-call test (``tests/contract/test_lifecycle_operations.py``) and the
throughput benchmark (``bench/saga_throughput.py``) both drive it with :func:`deliver_orders`, on an application
built by :func:`boot_adapter_set`::

    app = boot_adapter_set("sqlite", clock=VirtualClock(start), sqlite_path=tmp_path / "ops.db")
    ...  # add restaurants and drivers
    [order_id] = deliver_orders(app.service, [(Actor.customer("cus-1"), place_order_command)])

:func:`count_lifecycle_store_calls` counts the store calls of one such lifecycle on any application (an adapter
package's stores included); :data:`NATIVE_LIFECYCLE_STORE_CALLS` is what it counts on a native unit of work (on the
SQLite set, whose outbox also publishes to the bus log, :data:`SQLITE_LIFECYCLE_STORE_CALLS`)::

    app = bootstrap(Settings(), clock=VirtualClock(start), ids=SequentialIdGenerator(), orders=..., sagas=...)
    assert count_lifecycle_store_calls(app) == Counter(NATIVE_LIFECYCLE_STORE_CALLS)  # 25 store calls
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Literal

from fooddelivery.adapters.memory import InMemoryOrderRepository, InMemorySagaStateStore, SequentialIdGenerator
from fooddelivery.adapters.sqlite import open_sqlite_adapters
from fooddelivery.application import FoodDeliveryService, PlaceOrder
from fooddelivery.application.unit_of_work import ComposedUnitOfWork
from fooddelivery.bootstrap import Bootstrapped, Settings, bootstrap
from fooddelivery.domain import (
    Actor,
    DeliveryAddress,
    Driver,
    DriverStatus,
    GeoPoint,
    LineRequest,
    MenuItem,
    Money,
    OrderStatus,
    Restaurant,
)
from fooddelivery.ports import Clock

__all__ = [
    "COMPOSED_LIFECYCLE_STORE_CALLS",
    "LIFECYCLE_START",
    "NATIVE_LIFECYCLE_STORE_CALLS",
    "SQLITE_LIFECYCLE_STORE_CALLS",
    "SQLITE_LIFECYCLE_WRITE_TRANSACTIONS",
    "STORE_CALLS",
    "AdapterSet",
    "boot_adapter_set",
    "count_lifecycle_store_calls",
    "deliver_orders",
]

#: The adapter sets :func:`boot_adapter_set` builds.
AdapterSet = Literal["memory", "sqlite", "composed"]

#: The status changes after the confirmation, in order, and who makes each.
_AFTER_CONFIRMATION = (
    ("restaurant", OrderStatus.PREPARING),
    ("restaurant", OrderStatus.READY_FOR_PICKUP),
    ("driver", OrderStatus.PICKED_UP),
    ("driver", OrderStatus.DELIVERED),
)


def boot_adapter_set(
    stores: AdapterSet, *, clock: Clock, sqlite_path: Path | None = None, **options: Any
) -> Bootstrapped:
    """Build the application on one adapter set, with sequential ids (``ord-1``...).

    Args:
        stores: ``"memory"`` (the in-memory stores and their native unit of work), ``"sqlite"`` (the SQLite stores
            in one file, their native unit of work) or ``"composed"`` (the in-memory order and saga stores with a
            :class:`ComposedUnitOfWork` over their ports, as a store without a native unit of work has).
        clock: the clock of every adapter (a ``VirtualClock`` for repeatable runs).
        sqlite_path: the SQLite database file; required for ``"sqlite"``, ignored otherwise.
        **options: further keyword arguments of :func:`fooddelivery.bootstrap.bootstrap` (``retain=``...).

    Returns:
        What :func:`fooddelivery.bootstrap.bootstrap` built.

    Raises:
        ValueError: ``stores`` is none of the three, or ``"sqlite"`` comes without ``sqlite_path``.
    """
    extra: dict[str, Any] = {}
    if stores == "composed":
        orders, sagas = InMemoryOrderRepository(), InMemorySagaStateStore()
        extra = {"orders": orders, "sagas": sagas, "unit_of_work": ComposedUnitOfWork(orders, sagas)}
    elif stores == "sqlite":
        if sqlite_path is None:
            raise ValueError("the sqlite adapter set needs sqlite_path")
        extra = dict(open_sqlite_adapters(sqlite_path, clock=clock).ports())
    elif stores != "memory":
        raise ValueError(f"unknown adapter set {stores!r}: expected memory, sqlite or composed")
    return bootstrap(Settings(), clock=clock, ids=SequentialIdGenerator(), **extra, **options)


def deliver_orders(service: FoodDeliveryService, orders: Sequence[tuple[Actor, PlaceOrder]]) -> list[str]:
    """Take each order from its placement to the customer's door, one after the other.

    Each is placed by its customer; its restaurant (``command.restaurant_id``) confirms it and marks it preparing
    then ready for pickup; the driver the placement assigned marks it picked up then delivered. The loop calls
    nothing but the service (no per-order helper call, no ``list.append``), so a profiler's count of calls per
    order is the service's own.

    Args:
        service: the use cases, with the orders' restaurants and at least one available driver near each.
        orders: ``(customer actor, place-order command)`` pairs.

    Returns:
        The orders' ids, in the order given.

    Raises:
        fooddelivery.domain.FoodDeliveryError: a use case refused a step (no driver available, an unknown
            restaurant...).
    """
    delivered = [""] * len(orders)
    for n, (customer, command) in enumerate(orders):
        order = service.place_order(customer, command).order
        actors = {"restaurant": Actor.restaurant(command.restaurant_id), "driver": Actor.driver(str(order.driver_id))}
        service.confirm_order(actors["restaurant"], order.order_id)
        for who, status in _AFTER_CONFIRMATION:
            service.change_status(actors[who], order.order_id, status)
        delivered[n] = order.order_id
    return delivered


#: The port methods that are store calls (each a round trip to a deployment's stores), by the port name of the
#: adapter in ``Bootstrapped.adapters``: ``{port: (method, ...)}``. The outbox's methods (``pending``,
#: ``mark_published``, ``mark_failed``) are counted under ``orders`` whether or not the outbox is the order store.
#: The unit of work's are counted only when it is native (``atomic``): a composed one is made of the order and saga
#: stores' calls, which are counted instead. ``publication`` is the outbox's publication to the bus in one write
#: (``PublishingOutbox``: the SQLite set's), absent (None) elsewhere: each ``publish_and_mark`` is one store write,
#: where the other sets' relay calls ``publisher.publish`` (not a store call) and ``orders.mark_published``.
STORE_CALLS: Final[dict[str, tuple[str, ...]]] = {
    "orders": (
        "add",
        "get",
        "save",
        "find_idempotent",
        "list_by_customer",
        "list_by_restaurant",
        "pending",
        "mark_published",
        "mark_failed",
    ),
    "unit_of_work": ("load", "commit"),
    "sagas": ("create", "get", "save"),
    "drivers": ("add", "get", "save", "available_near"),
    "restaurants": ("add", "get", "save", "search"),
    "publication": ("publish_and_mark",),
}
_OUTBOX_METHODS: Final = frozenset({"pending", "mark_published", "mark_failed"})

#: One lifecycle (:func:`count_lifecycle_store_calls`) on a native unit of work, call by call
#: (``"<port>.<method>": calls``): 25 store calls. A unit of work composed of the two ports costs 30
#: (:data:`COMPOSED_LIFECYCLE_STORE_CALLS`).
NATIVE_LIFECYCLE_STORE_CALLS: Final[dict[str, int]] = {
    "unit_of_work.commit": 5,  # placement with its saga; payment + restaurant notice + driver checkpoint; the
    # wait with the driver and the customer notice; the confirmation; the confirmed order with its notice
    "unit_of_work.load": 1,  # the restaurant's confirmation reads the order with its saga
    "orders.get": 4,  # the four status changes read the order
    "orders.save": 4,  # ... and write it
    "orders.mark_published": 6,  # one per command: place, confirm, four status changes
    "restaurants.get": 1,  # the placement reads the restaurant (the driver search reuses it)
    "drivers.available_near": 1,
    "drivers.save": 2,  # the reservation; the release after the delivery
    "drivers.get": 1,  # the release reads the driver first
}

#: The same lifecycle on the SQLite adapter set (a native unit of work, and an outbox that publishes to the SQLite
#: bus log in the write that marks: ``PublishingOutbox``): each of the 6 marks is a ``publish_and_mark`` that also
#: appends the command's events to the bus, so 25 store calls too (and no ``publisher.publish`` call at all).
SQLITE_LIFECYCLE_STORE_CALLS: Final[dict[str, int]] = {
    **{call: n for call, n in NATIVE_LIFECYCLE_STORE_CALLS.items() if call != "orders.mark_published"},
    "publication.publish_and_mark": 6,  # one per command: place, confirm, four status changes
}

#: The same lifecycle on a unit of work composed of the order and saga stores' own ports
#: (:class:`~fooddelivery.application.unit_of_work.ComposedUnitOfWork`: what a store costs until it implements the
#: unit natively): each commit that changes the order is an order write and a saga write, and the placement is not
#: combined with the saga's creation: 30 store calls.
COMPOSED_LIFECYCLE_STORE_CALLS: Final[dict[str, int]] = {
    "orders.add": 1,
    "orders.get": 5,
    "orders.save": 7,
    "orders.mark_published": 6,
    "sagas.create": 1,
    "sagas.get": 1,
    "sagas.save": 4,
    "restaurants.get": 1,
    "drivers.available_near": 1,
    "drivers.save": 2,
    "drivers.get": 1,
}

#: SQLite write transactions (``SqliteDatabase.write_transactions``: each a ``BEGIN IMMEDIATE`` behind the single
#: writer) of one lifecycle driven by :func:`deliver_orders` on the SQLite adapter set, the saga running in the
#: caller's thread, by what each one writes: 22. The unit of work holds the scheduler's timers (one database), so
#: the wait's timeout is written in the wait's commit and removed in the confirmation's: 2 fewer than with the
#: timer scheduled in a transaction of its own before the wait's commit and cancelled in one after the
#: confirmation's. The outbox appends each command's events to the bus log in the write that marks them
#: (``PublishingOutbox``): 7 fewer than with an append per publication (7: the placement's events, then the saga's)
#: before the command's mark (29; 31 with the timers apart).
SQLITE_LIFECYCLE_WRITE_TRANSACTIONS: Final[dict[str, int]] = {
    "unit of work commits (placement with its saga; payment, notice and driver checkpoint; the wait with its "
    "timeout; the confirmation, removing the timeout; the confirmed saga)": 5,
    "outbox publications (one per command: its events appended to the bus log and marked sent)": 6,
    "order saves (the four status changes)": 4,
    "notifications sent": 3,
    "driver saves (the reservation; the release)": 2,
    "payment records (authorization; capture)": 2,
}

#: When the default driver of :func:`count_lifecycle_store_calls` was last seen (UTC): start the application's
#: clock there (or later).
LIFECYCLE_START: Final = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)


def _default_restaurant() -> Restaurant:
    return Restaurant(
        "rest-1",
        "Trattoria",
        "pizza",
        Decimal("4.5"),
        GeoPoint(40.7128, -74.0060),
        "USD",
        Decimal("0.08875"),
        15,
        (MenuItem("pizza", "Pizza", Money.of("15.99", "USD")),),
    )


def _default_driver() -> Driver:
    return Driver("drv-1", "Dana", DriverStatus.AVAILABLE, GeoPoint(40.715, -74.002), "scooter", LIFECYCLE_START)


@contextmanager
def _counting(app: Bootstrapped, counted: Counter[str]) -> Iterator[None]:
    """Count the :data:`STORE_CALLS` made on ``app``'s adapters within the block; the adapters are as before after
    it (the counting wrappers are instance attributes, removed again)."""
    adapters = app.adapters
    patched: list[tuple[object, str, object | None]] = []  # (adapter, method name, instance attribute it shadowed)
    try:
        for port, methods in STORE_CALLS.items():
            if port == "unit_of_work" and not getattr(adapters[port], "atomic", False):
                continue  # composed of the order and saga stores' calls: those are counted
            if adapters.get(port) is None:
                continue  # no publication in one write (publish, then mark: both counted where they are)
            for name in methods:
                outbox_method = port == "orders" and name in _OUTBOX_METHODS
                adapter = adapters.get("outbox", adapters[port]) if outbox_method else adapters[port]
                method = getattr(adapter, name)

                def wrapped(*args: Any, _m: Any = method, _n: str = f"{port}.{name}", **kwargs: Any) -> Any:
                    counted[_n] += 1
                    return _m(*args, **kwargs)

                patched.append((adapter, name, getattr(adapter, "__dict__", {}).get(name)))
                setattr(adapter, name, wrapped)
        yield
    finally:
        for adapter, name, shadowed in reversed(patched):
            if shadowed is not None:
                setattr(adapter, name, shadowed)
            else:
                delattr(adapter, name)


def count_lifecycle_store_calls(
    app: Bootstrapped, *, restaurant: Restaurant | None = None, driver: Driver | None = None
) -> Counter[str]:
    """The store calls one full order lifecycle makes on ``app``, by port method.

    Adds ``restaurant`` and ``driver`` through ``app.service`` (not counted), then drives one order of the
    restaurant's first available menu item from placement to ``DELIVERED`` with :func:`deliver_orders`, counting
    every call of a :data:`STORE_CALLS` method on ``app.adapters`` meanwhile (the unit of work's only when it is
    native); then checks, uncounted, that the order was delivered by ``driver`` and that the driver is available
    again. The adapters are left as they were (the counting wrappers are removed).

    Compare the result with :data:`NATIVE_LIFECYCLE_STORE_CALLS` (25 calls on a native unit of work;
    :data:`SQLITE_LIFECYCLE_STORE_CALLS` on the SQLite set, 25 too); a unit of work composed of the two ports costs
    30 (:data:`COMPOSED_LIFECYCLE_STORE_CALLS`).

    Args:
        app: an application from :func:`fooddelivery.bootstrap.bootstrap` (or :func:`boot_adapter_set`), with the
            in-process saga runner, no orders of its own yet and no restaurant or driver with the ids below; its
            clock must be at or after the driver's ``last_seen`` (e.g. a ``VirtualClock``; the default driver's is
            :data:`LIFECYCLE_START`).
        restaurant: the restaurant (with at least one available menu item, priced in its currency); by default
            ``rest-1``, "Trattoria" in lower Manhattan with one pizza at 15.99 USD.
        driver: an available driver near it; by default ``drv-1`` on a scooter about 0.4 km away.

    Returns:
        ``Counter({"<port>.<method>": calls})``, e.g. ``{"unit_of_work.commit": 5, "orders.get": 4, ...}``.

    Raises:
        AssertionError: the order did not end ``DELIVERED`` by ``driver``, or the driver was not freed.
        ValueError: ``restaurant`` has no available menu item.
        fooddelivery.domain.FoodDeliveryError: a use case refused a step (the restaurant or driver exists, no
            driver near the restaurant...).
    """
    restaurant = restaurant or _default_restaurant()
    driver = driver or _default_driver()
    item = next((i for i in restaurant.menu if i.available), None)
    if item is None:
        raise ValueError(f"restaurant {restaurant.restaurant_id} has no available menu item")
    service = app.service
    service.restaurants.add(restaurant)
    service.drivers.add(driver)
    command = PlaceOrder(
        restaurant.restaurant_id, [LineRequest(1, item_id=item.item_id)], DeliveryAddress("1 Main St"), "tok_visa"
    )
    counted: Counter[str] = Counter()
    with _counting(app, counted):
        [order_id] = deliver_orders(service, [(Actor.customer("cus-1"), command)])
    delivered = service.get_order(Actor.admin(), order_id)
    if delivered.status is not OrderStatus.DELIVERED or delivered.driver_id != driver.driver_id:
        raise AssertionError(
            f"order {order_id} ended {delivered.status.value} with driver {delivered.driver_id}, not DELIVERED by "
            f"{driver.driver_id}"
        )
    freed = app.adapters["drivers"].get(driver.driver_id)
    if freed.status is not DriverStatus.AVAILABLE:
        raise AssertionError(f"driver {driver.driver_id} is {freed.status.value} after the delivery, not AVAILABLE")
    return counted
