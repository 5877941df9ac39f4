"""The in-memory driver index answers exactly what a brute-force scan would, whatever the fleet's shape."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from fooddelivery.adapters.memory import InMemoryDriverRepository
from fooddelivery.domain import Driver, DriverStatus, GeoPoint
from fooddelivery.domain.assignment import rank_candidates

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
