"""Contract of ``DriverRepository``: every driver store must pass it.

Subclass :class:`DriverRepositoryContract` in a ``Test*`` class and provide the ``repo`` fixture (an
empty store).
"""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from datetime import timedelta

import pytest

from fooddelivery.domain.assignment import rank_candidates
from fooddelivery.domain.catalog import Driver, DriverStatus
from fooddelivery.domain.errors import ConcurrencyConflict, NotFound
from fooddelivery.ports.drivers import DriverRepository
from fooddelivery.testing.builders import DOWNTOWN, T0, make_driver, point_at

__all__ = ["DriverRepositoryContract"]


class DriverRepositoryContract:
    """Behaviour every ``DriverRepository`` must show (fixture ``repo``: an empty store)."""

    @pytest.fixture
    def repo(self) -> DriverRepository:
        """The DriverRepository under test, fresh for each test (subclasses override this fixture)."""
        raise NotImplementedError("a subclass provides the store under test")

    # -- add / get / save --------------------------------------------------------------------------
    def test_an_added_driver_is_stored_at_version_1_with_every_field_equal(self, repo: DriverRepository) -> None:
        driver = make_driver(name="Zoë Łukasiewicz-Núñez 🛵 محمد", vehicle="vélo cargo")
        stored = repo.add(driver)
        assert stored == replace(driver, version=1)
        got = repo.get(driver.driver_id)
        assert got == stored
        assert got.name == "Zoë Łukasiewicz-Núñez 🛵 محمد"
        assert got.last_seen == T0

    def test_adding_an_existing_id_raises_concurrency_conflict(self, repo: DriverRepository) -> None:
        first = repo.add(make_driver(driver_id="drv-dup", vehicle="car"))
        with pytest.raises(ConcurrencyConflict):
            repo.add(make_driver(driver_id="drv-dup", vehicle="bicycle"))
        assert repo.get("drv-dup") == first

    def test_get_of_an_unknown_driver_raises_not_found(self, repo: DriverRepository) -> None:
        with pytest.raises(NotFound):
            repo.get("drv-missing")

    def test_save_of_an_unknown_driver_raises_not_found(self, repo: DriverRepository) -> None:
        with pytest.raises(NotFound):
            repo.save(make_driver(version=1))

    def test_save_compares_the_version_and_returns_the_driver_bumped(self, repo: DriverRepository) -> None:
        stored = repo.add(make_driver())
        reserved = repo.save(stored.reserve("ord-1"))
        assert reserved.version == 2
        assert reserved.status is DriverStatus.ASSIGNED
        assert reserved.current_order_id == "ord-1"
        assert repo.get(stored.driver_id) == reserved

    def test_of_two_reservations_from_the_same_read_exactly_one_wins(self, repo: DriverRepository) -> None:
        stored = repo.add(make_driver())
        read_a = repo.get(stored.driver_id)
        read_b = repo.get(stored.driver_id)
        won = repo.save(read_a.reserve("ord-a"))
        with pytest.raises(ConcurrencyConflict):
            repo.save(read_b.reserve("ord-b"))
        assert repo.get(stored.driver_id) == won
        assert won.current_order_id == "ord-a"

    def test_twenty_orders_racing_for_five_drivers_never_reserve_a_driver_twice(self, repo: DriverRepository) -> None:
        race_for_drivers(repo, orders=20, drivers=5, spacing_km=0.2, radius_km=5.0)

    # -- available_near ----------------------------------------------------------------------------
    def test_available_near_lists_nearest_first(self, repo: DriverRepository) -> None:
        for driver_id, km in (("drv-far", 3.0), ("drv-near", 0.4), ("drv-mid", 1.5)):
            repo.add(make_driver(driver_id=driver_id, location=point_at(DOWNTOWN, km_north=km)))
        found = repo.available_near(DOWNTOWN, 5.0, 10)
        assert [d.driver_id for d in found] == ["drv-near", "drv-mid", "drv-far"]

    def test_available_near_breaks_distance_ties_by_driver_id(self, repo: DriverRepository) -> None:
        spot = point_at(DOWNTOWN, km_east=1.0)
        for driver_id in ("drv-c", "drv-a", "drv-b"):
            repo.add(make_driver(driver_id=driver_id, location=spot))
        found = repo.available_near(DOWNTOWN, 5.0, 10)
        assert [d.driver_id for d in found] == ["drv-a", "drv-b", "drv-c"]

    def test_available_near_keeps_only_drivers_within_the_radius(self, repo: DriverRepository) -> None:
        repo.add(make_driver(driver_id="drv-inside", location=point_at(DOWNTOWN, km_north=4.9)))
        repo.add(make_driver(driver_id="drv-outside", location=point_at(DOWNTOWN, km_north=5.1)))
        repo.add(make_driver(driver_id="drv-west", location=point_at(DOWNTOWN, km_east=-4.95)))
        found = repo.available_near(DOWNTOWN, 5.0, 10)
        assert [d.driver_id for d in found] == ["drv-inside", "drv-west"]

    def test_available_near_returns_at_most_limit_drivers(self, repo: DriverRepository) -> None:
        for i in range(8):
            repo.add(make_driver(driver_id=f"drv-{i}", location=point_at(DOWNTOWN, km_north=0.1 * (i + 1))))
        found = repo.available_near(DOWNTOWN, 5.0, 3)
        assert [d.driver_id for d in found] == ["drv-0", "drv-1", "drv-2"]

    def test_available_near_skips_assigned_and_offline_drivers(self, repo: DriverRepository) -> None:
        repo.add(make_driver(driver_id="drv-free", location=point_at(DOWNTOWN, km_north=2)))
        repo.add(make_driver(driver_id="drv-busy", status=DriverStatus.ASSIGNED, location=DOWNTOWN))
        repo.add(make_driver(driver_id="drv-off", status=DriverStatus.OFFLINE, location=DOWNTOWN))
        found = repo.available_near(DOWNTOWN, 5.0, 10)
        assert [d.driver_id for d in found] == ["drv-free"]

    def test_available_near_follows_reservations_and_releases(self, repo: DriverRepository) -> None:
        stored = repo.add(make_driver(driver_id="drv-cycle"))
        reserved = repo.save(stored.reserve("ord-1"))
        assert list(repo.available_near(DOWNTOWN, 5.0, 10)) == []
        released = repo.save(reserved.release("ord-1"))
        assert list(repo.available_near(DOWNTOWN, 5.0, 10)) == [released]

    def test_available_near_follows_drivers_as_they_move(self, repo: DriverRepository) -> None:
        far = point_at(DOWNTOWN, km_north=40)
        stored = repo.add(make_driver(driver_id="drv-mover", location=far))
        assert list(repo.available_near(DOWNTOWN, 5.0, 10)) == []
        moved = repo.save(stored.moved(point_at(DOWNTOWN, km_east=1), T0 + timedelta(minutes=3)))
        assert list(repo.available_near(DOWNTOWN, 5.0, 10)) == [moved]
        repo.save(moved.moved(far, T0 + timedelta(minutes=9)))
        assert list(repo.available_near(DOWNTOWN, 5.0, 10)) == []
        assert [d.driver_id for d in repo.available_near(far, 1.0, 10)] == ["drv-mover"]

    def test_available_near_returns_the_stored_drivers(self, repo: DriverRepository) -> None:
        stored = repo.add(make_driver())
        (found,) = repo.available_near(DOWNTOWN, 5.0, 1)
        assert found == stored
        assert found.version == 1

    def test_available_near_agrees_with_ranking_every_driver(self, repo: DriverRepository) -> None:
        rng = random.Random(20250314)
        drivers: list[Driver] = []
        statuses = [DriverStatus.AVAILABLE] * 8 + [DriverStatus.ASSIGNED, DriverStatus.OFFLINE]
        for i in range(1500):
            spot = point_at(DOWNTOWN, km_north=rng.uniform(-25, 25), km_east=rng.uniform(-25, 25))
            drivers.append(repo.add(make_driver(driver_id=f"drv-{i:05d}", location=spot, status=rng.choice(statuses))))
        for _ in range(25):
            centre = point_at(DOWNTOWN, km_north=rng.uniform(-20, 20), km_east=rng.uniform(-20, 20))
            radius = rng.choice([0.5, 2.0, 8.0, 30.0])
            limit = rng.choice([1, 5, 50])
            expected = [d.driver_id for _, d in rank_candidates(drivers, centre, radius)][:limit]
            assert [d.driver_id for d in repo.available_near(centre, radius, limit)] == expected


def race_for_drivers(
    repo: DriverRepository, *, orders: int, drivers: int, spacing_km: float, radius_km: float
) -> dict[str, str]:
    """Race ``orders`` threads, released together, to reserve one of ``drivers`` drivers each (nearest first,
    compare-and-set), and assert that no driver was reserved twice: exactly ``drivers`` orders win, every winner's
    driver is ASSIGNED to it at version 2, and no driver is left available. Returns order id -> driver id.
    """
    for i in range(drivers):
        repo.add(make_driver(driver_id=f"drv-race-{i}", location=point_at(DOWNTOWN, km_east=spacing_km * i)))
    winners: dict[str, str] = {}
    losers: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(orders)

    def reserve(order_id: str) -> None:
        barrier.wait()
        for candidate in repo.available_near(DOWNTOWN, radius_km, drivers):
            try:
                reserved = repo.save(candidate.reserve(order_id))
            except ConcurrencyConflict:
                continue
            with lock:
                winners[order_id] = reserved.driver_id
            return
        with lock:
            losers.append(order_id)

    threads = [threading.Thread(target=reserve, args=(f"ord-race-{i:02d}",)) for i in range(orders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == drivers and len(losers) == orders - drivers
    assert sorted(winners.values()) == [f"drv-race-{i}" for i in range(drivers)]
    for order_id, driver_id in winners.items():
        stored = repo.get(driver_id)
        assert (stored.status, stored.current_order_id, stored.version) == (DriverStatus.ASSIGNED, order_id, 2)
    assert list(repo.available_near(DOWNTOWN, radius_km, drivers)) == []
    return winners
