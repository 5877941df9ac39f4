"""What one full order lifecycle costs in store calls, on each adapter set: one unit of work per command and per saga
step (place -> pay, notify, assign -> wait -> confirm -> prepare -> ready -> pick up -> deliver).

The counting is the shipped kit's (``fooddelivery.testing.lifecycle.count_lifecycle_store_calls``), so an adapter
package asserts the same figures on its own stores."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.application import PlaceOrder
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
from fooddelivery.testing.lifecycle import (
    COMPOSED_LIFECYCLE_STORE_CALLS,
    LIFECYCLE_START,
    NATIVE_LIFECYCLE_STORE_CALLS,
    SQLITE_LIFECYCLE_STORE_CALLS,
    SQLITE_LIFECYCLE_WRITE_TRANSACTIONS,
    STORE_CALLS,
    AdapterSet,
    boot_adapter_set,
    count_lifecycle_store_calls,
    deliver_orders,
)


def _boot(stores: AdapterSet, tmp_path: Path) -> Any:
    return boot_adapter_set(stores, clock=VirtualClock(LIFECYCLE_START), sqlite_path=tmp_path / "ops.db")


def _restaurant(restaurant_id: str, name: str, cuisine: str, rating: str, *menu: MenuItem) -> Restaurant:
    """A restaurant in lower Manhattan (USD, New York City's sales tax, 20 minutes to prepare) serving ``menu``."""
    return Restaurant(
        restaurant_id,
        name,
        cuisine,
        Decimal(rating),
        GeoPoint(40.73, -73.99),
        "USD",
        Decimal("0.08875"),
        20,
        menu,
    )


@pytest.mark.parametrize(
    ("stores", "expected"), [("memory", NATIVE_LIFECYCLE_STORE_CALLS), ("sqlite", SQLITE_LIFECYCLE_STORE_CALLS)]
)
def test_a_full_lifecycle_costs_25_store_calls_on_a_native_unit_of_work(
    stores: AdapterSet, expected: dict[str, int], tmp_path: Path
) -> None:
    app = _boot(stores, tmp_path)
    counted = count_lifecycle_store_calls(app)
    assert dict(counted) == expected
    assert sum(counted.values()) == 25


def test_on_sqlite_each_commands_events_are_appended_to_the_bus_and_marked_in_one_store_call(tmp_path: Path) -> None:
    # the SQLite outbox publishes to the SQLite bus log of its database (PublishingOutbox); the memory set does not
    assert _boot("memory", tmp_path).adapters["publication"] is None
    app = _boot("sqlite", tmp_path)
    assert app.adapters["publication"] is app.service.relay.publication
    counted = count_lifecycle_store_calls(app)
    assert counted["publication.publish_and_mark"] == 6 and counted["orders.mark_published"] == 0
    (order_id,) = app.adapters["orders"].order_ids()
    bus = app.adapters["publisher"]
    assert bus.duplicates == 0 and app.adapters["orders"].outbox_size == 0
    # every event on the bus once, in commit order (the order's versions 1..11: placed ... delivered)
    assert [e.order_version for e in bus.of_order(order_id)] == list(range(1, 12))


def test_a_unit_of_work_composed_of_the_two_ports_costs_30_store_calls(tmp_path: Path) -> None:
    # what a cloud store costs until it implements the unit of work natively: each commit that changes the order
    # is an order write and a saga write; the placement is not combined with the saga's creation
    app = _boot("composed", tmp_path)
    counted = count_lifecycle_store_calls(app)
    assert dict(counted) == COMPOSED_LIFECYCLE_STORE_CALLS
    assert sum(counted.values()) == 30


def test_a_given_restaurant_and_driver_cost_the_same_and_the_adapters_are_left_unwrapped(tmp_path: Path) -> None:
    app = _boot("memory", tmp_path)
    restaurant = _restaurant(
        "rst-sushi",
        "寿司 Zoë",
        "sushi",
        "4.8",
        MenuItem("itm-gone", "Uni", Money.of("30.00", "USD"), available=False),
        MenuItem("itm-roll", "Maki 🍣", Money.of("12.50", "USD")),
    )
    driver = Driver("drv-zoe", "Zoë", DriverStatus.AVAILABLE, GeoPoint(40.731, -73.991), "bike", LIFECYCLE_START)
    counted = count_lifecycle_store_calls(app, restaurant=restaurant, driver=driver)
    assert counted == Counter(NATIVE_LIFECYCLE_STORE_CALLS)
    for port, methods in STORE_CALLS.items():
        if app.adapters[port] is None:  # no publication in one write on the memory set
            continue
        for name in methods:
            assert name not in vars(app.adapters[port]), f"{port}.{name} is still wrapped"
    (order,) = app.adapters["orders"].iter_orders()
    assert [(line.item_id, line.quantity) for line in order.lines] == [("itm-roll", 1)]
    assert order.driver_id == "drv-zoe"


def test_a_restaurant_without_an_available_dish_is_refused_before_anything_is_added(tmp_path: Path) -> None:
    app = _boot("memory", tmp_path)
    closed_kitchen = _restaurant(
        "rst-empty", "Empty", "pizza", "4", MenuItem("itm-gone", "Gone", Money.of("9.00", "USD"), available=False)
    )
    with pytest.raises(ValueError, match="no available menu item"):
        count_lifecycle_store_calls(app, restaurant=closed_kitchen)
    assert len(app.adapters["restaurants"]) == 0


def test_a_full_lifecycle_on_sqlite_takes_the_counted_write_transactions(tmp_path: Path) -> None:
    app = _boot("sqlite", tmp_path)
    database = app.adapters["sagas"].database
    service = app.service
    restaurant = _restaurant(
        "rst-1", "Trattoria", "pizza", "4.5", MenuItem("itm-pizza", "Pizza", Money.of("15.99", "USD"))
    )
    service.restaurants.add(restaurant)
    service.drivers.add(
        Driver("drv-1", "Dana", DriverStatus.AVAILABLE, GeoPoint(40.731, -73.991), "scooter", LIFECYCLE_START)
    )
    command = PlaceOrder("rst-1", [LineRequest(1, item_id="itm-pizza")], DeliveryAddress("1 Main St"), "tok_visa")
    before = database.write_transactions
    [order_id] = deliver_orders(service, [(Actor.customer("cus-1"), command)])
    assert service.get_order(Actor.admin(), order_id).status is OrderStatus.DELIVERED
    assert database.write_transactions - before == sum(SQLITE_LIFECYCLE_WRITE_TRANSACTIONS.values()) == 22
