"""The in-memory driver index answers exactly what a brute-force scan would, whatever the fleet's shape."""

from __future__ import annotations

import random
import sys
import threading
from datetime import UTC, datetime

from hypothesis import example, given, settings
from hypothesis import strategies as st

from fooddelivery.adapters.memory import InMemoryDriverRepository
from fooddelivery.domain import Driver, DriverStatus, GeoPoint
from fooddelivery.domain.assignment import rank_candidates
from fooddelivery.domain.errors import ConcurrencyConflict

NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)

centres = st.sampled_from([(40.7128, -74.0060), (-33.8688, 151.2093), (0.0, 179.999), (64.1466, -21.9426)])
offsets = st.tuples(st.floats(-0.12, 0.12), st.floats(-0.12, 0.12))


@settings(max_examples=60, deadline=None)
@given(
    centre=centres,
    fleet=st.lists(st.tuples(offsets, st.booleans()), min_size=0, max_size=60),
    query=offsets,
    radius=st.floats(0.1, 12.0),
    limit=st.integers(1, 8),
    cell=st.sampled_from([0.001, 0.002, 0.005]),
)
def test_available_near_equals_a_brute_force_ranking(
    centre: tuple[float, float],
    fleet: list[tuple[tuple[float, float], bool]],
    query: tuple[float, float],
    radius: float,
    limit: int,
    cell: float,
) -> None:
    def at(offset: tuple[float, float]) -> GeoPoint:
        lon = centre[1] + offset[1]
        lon = (lon + 180.0) % 360.0 - 180.0
        return GeoPoint(centre[0] + offset[0], lon)

    repo = InMemoryDriverRepository(cell_degrees=cell)
    drivers = []
    for i, (offset, available) in enumerate(fleet):
        status = DriverStatus.AVAILABLE if available else DriverStatus.ASSIGNED
        driver = Driver(f"d{i:03d}", "x", status, at(offset), "car", NOW, "o-1" if not available else None)
        repo.add(driver)
        drivers.append(driver)
    point = at(query)

    got = [d.driver_id for d in repo.available_near(point, radius, limit)]

    expected = [d.driver_id for _, d in rank_candidates(drivers, point, radius)[:limit]]
    assert got == expected


@settings(max_examples=60, deadline=None)
@given(
    fleet=st.lists(offsets, min_size=1, max_size=40),
    changes=st.lists(
        st.tuples(st.integers(0, 39), st.sampled_from(["reserve", "release", "move"]), offsets), max_size=80
    ),
    query=offsets,
    limit=st.integers(1, 8),
    cell=st.sampled_from([0.002, 0.05, 0.5]),
)
def test_after_any_reservations_releases_and_moves_the_index_still_equals_a_brute_force_ranking(
    fleet: list[tuple[float, float]],
    changes: list[tuple[int, str, tuple[float, float]]],
    query: tuple[float, float],
    limit: int,
    cell: float,
) -> None:
    # large cells put many drivers in one cell, so leaving it takes entries out of the middle of its list
    centre = (40.7128, -74.0060)

    def at(offset: tuple[float, float]) -> GeoPoint:
        return GeoPoint(centre[0] + offset[0], centre[1] + offset[1])

    repo = InMemoryDriverRepository(cell_degrees=cell)
    for i, offset in enumerate(fleet):
        repo.add(Driver(f"d{i:03d}", "x", DriverStatus.AVAILABLE, at(offset), "car", NOW))
    for n, (pick, change, offset) in enumerate(changes):
        driver = repo.get(f"d{pick % len(fleet):03d}")
        if change == "reserve" and driver.status is DriverStatus.AVAILABLE:
            repo.save(driver.reserve(f"o-{n}"))
        elif change == "release" and driver.current_order_id is not None:
            repo.save(driver.release(driver.current_order_id))
        elif change == "move":
            repo.save(driver.moved(at(offset), NOW))
    stored = repo.all_drivers()
    point = at(query)

    got = [d.driver_id for d in repo.available_near(point, 30.0, limit)]

    expected = [d.driver_id for _, d in rank_candidates(stored, point, 30.0)[:limit]]
    assert got == expected
    assert repo.available_count == sum(1 for d in stored if d.status is DriverStatus.AVAILABLE)


@settings(max_examples=40, deadline=None)
@given(
    centre=centres,
    fleet=st.lists(offsets, min_size=1, max_size=60),
    steps=st.lists(
        st.tuples(offsets, st.floats(0.1, 40.0), st.integers(1, 8), st.integers(0, 59), offsets),
        min_size=1,
        max_size=12,
    ),
    cell=st.sampled_from([0.001, 0.002, 0.005, 1.0, 10.0]),
)
def test_a_run_of_searches_between_moves_equals_a_brute_force_ranking(
    centre: tuple[float, float],
    fleet: list[tuple[float, float]],
    steps: list[tuple[tuple[float, float], float, int, int, tuple[float, float]]],
    cell: float,
) -> None:
    """One store answering search after search while drivers move, get reserved and come back (a search starts from
    what the previous one needed: only its cost may depend on that), with cells up to a tenth of every longitude."""

    def at(offset: tuple[float, float]) -> GeoPoint:
        lon = centre[1] + offset[1]
        lon = (lon + 180.0) % 360.0 - 180.0
        return GeoPoint(centre[0] + offset[0], lon)

    repo = InMemoryDriverRepository(cell_degrees=cell)
    for i, offset in enumerate(fleet):
        repo.add(Driver(f"d{i:03d}", "x", DriverStatus.AVAILABLE, at(offset), "car", NOW))
    for query, radius, limit, which, move in steps:
        point = at(query)
        got = [d.driver_id for d in repo.available_near(point, radius, limit)]
        expected = [d.driver_id for _, d in rank_candidates(repo.all_drivers(), point, radius)[:limit]]
        assert got == expected
        driver = repo.get(f"d{which % len(fleet):03d}")
        if driver.status is DriverStatus.AVAILABLE:
            repo.save(driver.reserve("o-1"))
        else:
            repo.save(driver.evolve(status=DriverStatus.AVAILABLE, current_order_id=None, location=at(move)))


#: Points with many exact distance ties around (40.7, -74.0): the same spot several times, and pairs mirrored across
#: the query's meridian (equal haversine, bit for bit).
_TIE_SPOTS = [(0.0, 0.0), (0.001, 0.0), (0.0, 0.001), (0.0, -0.001), (0.003, 0.002), (0.003, -0.002), (-0.02, 0.0)]


@settings(max_examples=60, deadline=None)
@given(
    spots=st.lists(st.integers(0, len(_TIE_SPOTS) - 1), min_size=1, max_size=30),
    order=st.randoms(use_true_random=False),
    leave=st.lists(st.integers(0, 29), max_size=15),
    limit=st.integers(1, 10),
    cell=st.sampled_from([0.002, 0.05, 0.5]),
)
def test_with_distance_ties_the_answer_does_not_depend_on_the_order_drivers_entered_or_left_their_cells(
    spots: list[int], order: random.Random, leave: list[int], limit: int, cell: float
) -> None:
    """Two stores holding the same drivers, added and reserved in different orders (so each cell's list is in a
    different order), answer the same, examine the same number of drivers, and equal a brute-force ranking."""
    lat, lon = 40.7128, -74.0060

    def driver(i: int) -> Driver:
        d_lat, d_lon = _TIE_SPOTS[spots[i]]
        return Driver(f"d{i:03d}", "x", DriverStatus.AVAILABLE, GeoPoint(lat + d_lat, lon + d_lon), "car", NOW)

    ids = list(range(len(spots)))
    gone = sorted({i % len(spots) for i in leave})
    stores = []
    for shuffle in (False, True):
        repo = InMemoryDriverRepository(cell_degrees=cell)
        adds, leaves = list(ids), list(gone)
        if shuffle:
            order.shuffle(adds)
            order.shuffle(leaves)
        for i in adds:
            repo.add(driver(i))
        for i in leaves:
            repo.save(repo.get(f"d{i:03d}").reserve("o-1"))
        stores.append(repo)
    point = GeoPoint(lat, lon)
    expected = [d.driver_id for _, d in rank_candidates(stores[0].all_drivers(), point, 5.0)[:limit]]

    answers = [[d.driver_id for d in repo.available_near(point, 5.0, limit)] for repo in stores]

    assert answers == [expected, expected]
    assert stores[0].last_query_examined == stores[1].last_query_examined


def test_threads_reserving_releasing_and_moving_drivers_of_shared_cells_leave_each_indexed_once() -> None:
    """Four threads change 40 drivers of a few shared cells at random (a compare-and-set lost is skipped) while a fifth
    searches; afterwards every AVAILABLE driver is found exactly once and nothing else is."""
    centre = GeoPoint(40.7128, -74.0060)
    repo = InMemoryDriverRepository(cell_degrees=0.05)
    for i in range(40):
        repo.add(Driver(f"d{i:03d}", "x", DriverStatus.AVAILABLE, _near(centre, random.Random(i)), "car", NOW))
    barrier = threading.Barrier(5)
    errors: list[BaseException] = []

    def change(seed: int) -> None:
        rng = random.Random(seed)
        barrier.wait()
        for n in range(400):
            driver = repo.get(f"d{rng.randrange(40):03d}")
            try:
                if driver.status is DriverStatus.AVAILABLE and rng.random() < 0.4:
                    repo.save(driver.reserve(f"o-{seed}-{n}"))
                elif driver.current_order_id is not None and rng.random() < 0.7:
                    repo.save(driver.release(driver.current_order_id))
                else:
                    repo.save(driver.moved(_near(centre, rng), NOW))
            except ConcurrencyConflict:
                continue

    def search() -> None:
        barrier.wait()
        for _ in range(300):
            found = [d.driver_id for d in repo.available_near(centre, 30.0, 40)]
            if len(found) != len(set(found)):
                errors.append(AssertionError(f"a driver listed twice: {found}"))

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, so index changes interleave
    try:
        threads = [threading.Thread(target=change, args=(seed,)) for seed in range(4)]
        threads.append(threading.Thread(target=search))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(previous)

    stored = repo.all_drivers()
    available = sorted(d.driver_id for d in stored if d.status is DriverStatus.AVAILABLE)
    assert errors == []
    assert sorted(d.driver_id for d in repo.available_near(centre, 30.0, 40)) == available
    assert repo.available_count == len(available)
    expected = [d.driver_id for _, d in rank_candidates(stored, centre, 30.0)]
    assert [d.driver_id for d in repo.available_near(centre, 30.0, 40)] == expected


def _near(centre: GeoPoint, rng: random.Random) -> GeoPoint:
    """A point up to 0.1 deg from ``centre``, often on one of four spots (so drivers share cells and positions)."""
    if rng.random() < 0.5:
        d_lat, d_lon = rng.choice([(0.0, 0.0), (0.01, 0.01), (0.06, -0.02), (-0.049, 0.051)])
    else:
        d_lat, d_lon = rng.uniform(-0.1, 0.1), rng.uniform(-0.1, 0.1)
    return GeoPoint(centre.lat + d_lat, centre.lon + d_lon)


@settings(max_examples=40, deadline=None)
@given(
    centre=st.sampled_from([(89.999, 0.0), (-89.99, 179.9), (89.95, -180.0), (90.0, 0.0), (-90.0, 180.0)]),
    fleet=st.lists(st.tuples(st.floats(-0.2, 0.2), st.floats(-180.0, 180.0), st.booleans()), max_size=40),
    query=st.tuples(st.floats(-0.2, 0.2), st.floats(-180.0, 180.0)),
    radius=st.floats(0.0, 60.0),
    limit=st.integers(1, 8),
    cell=st.sampled_from([0.002, 0.05, 1.0]),
)
def test_near_a_pole_and_across_the_antimeridian_the_index_equals_a_brute_force_ranking(
    centre: tuple[float, float],
    fleet: list[tuple[float, float, bool]],
    query: tuple[float, float],
    radius: float,
    limit: int,
    cell: float,
) -> None:
    def at(d_lat: float, lon: float) -> GeoPoint:
        return GeoPoint(max(-90.0, min(90.0, centre[0] + d_lat)), lon)

    repo = InMemoryDriverRepository(cell_degrees=cell)
    for i, (d_lat, lon, available) in enumerate(fleet):
        stored = repo.add(Driver(f"d{i:03d}", "x", DriverStatus.AVAILABLE, at(d_lat, lon), "car", NOW))
        if not available:
            repo.save(stored.reserve("o-1"))
    point = at(*query)

    got = [d.driver_id for d in repo.available_near(point, radius, limit)]

    expected = [d.driver_id for _, d in rank_candidates(repo.all_drivers(), point, radius)[:limit]]
    assert got == expected


class _CountingBoxes(InMemoryDriverRepository):
    """The store, counting the bounding boxes its growing-box search (near a pole) computes: one per step."""

    boxes = 0

    def _box(self, point: GeoPoint, radius_km: float) -> tuple[range, tuple[int, int] | None]:
        self.boxes += 1
        return super()._box(point, radius_km)


def test_a_wide_search_near_a_pole_in_a_sparse_fleet_grows_its_box_in_few_steps() -> None:
    """A 300 km search at 79 deg N (so past the best-first search's 80 deg) with 0.002 deg cells and 20 drivers far
    apart: growing the box one 220 m cell per step took ~1,400 steps (2.6 s here; a 5,000 km search from 40 deg N
    did not end in 2 minutes). Once the box holds more cells than are occupied, each step walks the occupied cells,
    so the box doubles instead."""
    repo = _CountingBoxes(cell_degrees=0.002)
    for i in range(20):
        repo.add(Driver(f"d{i:02d}", "x", DriverStatus.AVAILABLE, GeoPoint(78.0 + i * 0.1, 18.0 * i - 180), "car", NOW))
    point = GeoPoint(79.0, 0.0)

    got = [d.driver_id for d in repo.available_near(point, 300.0, 5)]

    expected = [d.driver_id for _, d in rank_candidates(repo.all_drivers(), point, 300.0)[:5]]
    assert got == expected
    assert expected != []
    assert repo.boxes < 40


@settings(max_examples=40, deadline=None)
@example(piles=[(0, 300)], limit=5, order=random.Random(1), cell=0.002)
@example(piles=[(1, 200), (2, 200)], limit=257, order=random.Random(2), cell=0.05)
@given(
    piles=st.lists(st.tuples(st.integers(0, len(_TIE_SPOTS) - 1), st.integers(1, 200)), min_size=1, max_size=4),
    limit=st.sampled_from([1, 2, 7, 256, 257, 1000]),
    order=st.randoms(use_true_random=False),
    cell=st.sampled_from([0.002, 0.05]),
)
def test_hundreds_of_drivers_piled_on_a_few_spots_rank_by_distance_then_id_past_the_sorted_short_list(
    piles: list[tuple[int, int]], limit: int, order: random.Random, cell: float
) -> None:
    """More than 256 drivers found (every driver tied with the limit-th distance is kept) take the heap path of
    available_near, fewer its in-place sort: both answer the brute-force ranking (distance, then driver id), whatever
    order the drivers were added in."""
    lat, lon = 40.7128, -74.0060
    spots = [spot for spot, count in piles for _ in range(count)]
    ids = list(range(len(spots)))
    order.shuffle(ids)
    repo = InMemoryDriverRepository(cell_degrees=cell)
    for i, spot in zip(ids, spots, strict=True):
        d_lat, d_lon = _TIE_SPOTS[spot]
        repo.add(Driver(f"d{i:04d}", "x", DriverStatus.AVAILABLE, GeoPoint(lat + d_lat, lon + d_lon), "car", NOW))
    point = GeoPoint(lat, lon)
    expected = [d.driver_id for _, d in rank_candidates(repo.all_drivers(), point, 5.0)[:limit]]

    got = [d.driver_id for d in repo.available_near(point, 5.0, limit)]

    assert got == expected
    assert len(got) == min(limit, len(spots))
