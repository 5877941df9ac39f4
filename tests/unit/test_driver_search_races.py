"""Driver search under races: a search reads drivers that concurrent orders reserve before this order's
compare-and-set reaches them. When every candidate of a full search was lost that way, the order searches again
(``AssignmentPolicy.searches``) instead of failing with ``NoDriverAvailable`` while drivers are free.

Before this, 8 threads placing 500 orders on SQLite (``bench/sqlite_throughput.py --orders 500 --threads 8``)
left 2 orders of 500 waiting for a driver retry in each of 3 runs, with 300 free drivers.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from fooddelivery.adapters.memory import InMemoryDriverRepository
from fooddelivery.adapters.system import SystemClock
from fooddelivery.application.order_saga import reserve_nearest_driver
from fooddelivery.domain.assignment import AssignmentPolicy
from fooddelivery.domain.catalog import Driver, DriverStatus
from fooddelivery.domain.errors import NoDriverAvailable
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.testing.builders import DOWNTOWN, make_driver, point_at


class RacedDrivers(InMemoryDriverRepository):
    """Drivers whose first ``raced_searches`` searches are each overtaken by other orders: right after the search
    is read, every driver it returned is reserved by some other order (the compare-and-sets then all lose)."""

    def __init__(self, raced_searches: int) -> None:
        super().__init__()
        self.raced_searches = raced_searches
        self.searches = 0
        self.other_orders = 0

    def available_near(self, point: GeoPoint, radius_km: float, limit: int) -> Sequence[Driver]:
        found = super().available_near(point, radius_km, limit)
        self.searches += 1
        if self.searches <= self.raced_searches:
            for driver in found:
                self.other_orders += 1
                self.save(self.get(driver.driver_id).reserve(f"ord-other-{self.other_orders}"))
        return found


def _fleet(store: InMemoryDriverRepository, count: int) -> list[str]:
    ids = []
    for i in range(count):
        driver = make_driver(driver_id=f"drv-{i:02d}", location=point_at(DOWNTOWN, km_north=0.1 * (i + 1)))
        store.add(driver)
        ids.append(driver.driver_id)
    return ids


def test_an_order_whose_whole_search_was_overtaken_searches_again_and_gets_the_next_nearest() -> None:
    store = RacedDrivers(raced_searches=1)
    ids = _fleet(store, 8)
    tried: list[str] = []
    chosen = reserve_nearest_driver(store, "ord-1", DOWNTOWN, AssignmentPolicy(), SystemClock(), tried.append)
    assert chosen == ids[5]  # the five nearest went to other orders; the sixth is the nearest still free
    assert tried == ids[:6]
    assert store.searches == 2
    assert store.get(chosen).current_order_id == "ord-1"
    assert store.get(chosen).status is DriverStatus.ASSIGNED


@pytest.mark.parametrize(("searches", "raced"), [(1, 1), (3, 3), (2, 5)])
def test_the_searches_are_bounded_by_the_policy(searches: int, raced: int) -> None:
    store = RacedDrivers(raced_searches=raced)
    _fleet(store, 30)
    with pytest.raises(NoDriverAvailable):
        reserve_nearest_driver(store, "ord-1", DOWNTOWN, AssignmentPolicy(searches=searches), SystemClock())
    assert store.searches == searches
    assert [d.current_order_id for d in store.available_near(DOWNTOWN, 50, 100)] == [None] * (30 - 5 * searches)


def test_a_search_that_saw_every_free_driver_is_not_repeated() -> None:
    store = RacedDrivers(raced_searches=1)
    _fleet(store, 3)  # fewer than max_candidates: the search saw all of them, and all were taken
    with pytest.raises(NoDriverAvailable):
        reserve_nearest_driver(store, "ord-1", DOWNTOWN, AssignmentPolicy(), SystemClock())
    assert store.searches == 1


def test_without_races_one_search_is_made() -> None:
    store = RacedDrivers(raced_searches=0)
    ids = _fleet(store, 8)
    assert reserve_nearest_driver(store, "ord-1", DOWNTOWN, AssignmentPolicy(), SystemClock()) == ids[0]
    assert store.searches == 1
