"""The in-memory order, driver and restaurant stores' ``get`` takes no lock: readers racing writers on real threads
each see one committed write, whole (a stored record is replaced by a write, never changed in place)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta

import pytest

from fooddelivery.adapters.memory import (
    InMemoryDriverRepository,
    InMemoryOrderRepository,
    InMemoryRestaurantRepository,
)
from fooddelivery.domain import Driver, DriverStatus, GeoPoint, Order, Restaurant
from fooddelivery.domain.actors import Role
from fooddelivery.testing.builders import T0, make_driver, make_order, make_restaurant

WRITES = 1500
READERS = 3


@pytest.fixture(autouse=True)
def _switch_often() -> Iterator[None]:
    """Switch threads every microsecond, so readers land inside writes."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def _race(write: Callable[[int], None], read: Callable[[], object], check: Callable[[object], None]) -> int:
    """Run ``write(i)`` for each i on one thread while READERS threads ``read()`` and ``check`` what they got;
    returns how many reads were checked (a failed check fails the test from here)."""
    done = threading.Event()
    seen: list[object] = []
    errors: list[BaseException] = []

    def reader() -> None:
        got = []
        while not done.is_set():
            got.append(read())
        seen.extend(got)

    threads = [threading.Thread(target=reader) for _ in range(READERS)]
    for t in threads:
        t.start()
    try:
        for i in range(WRITES):
            write(i)
    except BaseException as exc:  # pragma: no cover - reported below
        errors.append(exc)
    finally:
        done.set()
        for t in threads:
            t.join()
    assert not errors
    for value in seen:
        check(value)
    return len(seen)


def test_an_order_read_while_it_is_saved_is_one_saved_version_whole() -> None:
    orders = InMemoryOrderRepository()
    placed = make_order(now=T0)
    orders.add(placed)
    base = placed.version

    def write(i: int) -> None:
        order = orders.get(placed.order_id)
        order.record_notified(Role.CUSTOMER, T0 + timedelta(seconds=i + 1), f"evt-{i}", f"n-{i}")
        orders.save(order)

    def check(value: object) -> None:
        assert isinstance(value, Order)
        n = len(value.notified)  # the save of write n - 1 made version base + n, at T0 + n s
        assert (value.version, value.persisted_version, value.updated_at) == (base + n, base + n, T0 + n * _SECOND)
        assert value.notified == tuple(f"n-{k}" for k in range(n))
        assert value.pending_events == []

    assert _race(write, lambda: orders.get(placed.order_id), check) > 0
    assert orders.get(placed.order_id).version == base + WRITES


def test_a_driver_read_while_it_is_reserved_released_and_moved_is_one_saved_version_whole() -> None:
    drivers = InMemoryDriverRepository()
    stored = drivers.add(make_driver(driver_id="drv-race", location=GeoPoint(40.0, -74.0)))

    def at(version: int) -> GeoPoint:
        return GeoPoint(40.0 + version * 1e-6, -74.0)

    def write(i: int) -> None:
        driver = drivers.get("drv-race")
        moved = driver.moved(at(driver.version + 1), T0 + timedelta(seconds=driver.version + 1))
        drivers.save(moved.reserve(f"ord-{i}") if i % 2 == 0 else moved.release(f"ord-{i - 1}"))

    def read() -> tuple[object, ...]:  # the fields as read now (a stored driver changed later must not pass)
        d = drivers.get("drv-race")
        return type(d), d.version, d.location, d.last_seen, d.status, d.current_order_id

    def check(value: object) -> None:
        assert isinstance(value, tuple)
        kind, version, location, last_seen, status, holds = value
        assert kind is Driver
        if version > 1:
            assert (location, last_seen) == (at(version), T0 + timedelta(seconds=version))
        # even versions hold the order reserved by the write that made them, odd ones are free
        if version % 2 == 0:
            assert (status, holds) == (DriverStatus.ASSIGNED, f"ord-{version - 2}")
        else:
            assert (status, holds) == (DriverStatus.AVAILABLE, None)

    assert stored.version == 1
    assert _race(write, read, check) > 0
    assert drivers.get("drv-race").version == 1 + WRITES


def test_a_restaurant_read_while_it_is_saved_is_one_saved_version_whole() -> None:
    restaurants = InMemoryRestaurantRepository()
    stored = restaurants.add(make_restaurant(restaurant_id="rest-race", name="v1", accepting_orders=False))

    def write(i: int) -> None:
        current = restaurants.get("rest-race")
        restaurants.save(replace(current, name=f"v{current.version + 1}", accepting_orders=current.version % 2 == 0))

    def read() -> tuple[object, ...]:  # the fields as read now (a stored restaurant changed later must not pass)
        r = restaurants.get("rest-race")
        return type(r), r.version, r.name, r.accepting_orders

    def check(value: object) -> None:
        assert isinstance(value, tuple)
        kind, version, name, accepting = value
        assert (kind, name, accepting) == (Restaurant, f"v{version}", version % 2 == 1 and version > 1)

    assert stored.version == 1
    assert _race(write, read, check) > 0
    assert restaurants.get("rest-race").version == 1 + WRITES


_SECOND = timedelta(seconds=1)
