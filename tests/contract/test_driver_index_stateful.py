"""The in-memory driver index, driven through any sequence of adds, reservations, releases, moves and searches,
answers every search as a brute-force ranking of the stored drivers would (each cell keeps its drivers in a list and
three arrays of doubles that must stay in step through every removal)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from fooddelivery.adapters.memory import InMemoryDriverRepository
from fooddelivery.domain import Driver, DriverStatus, GeoPoint
from fooddelivery.domain.assignment import rank_candidates

NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)

#: Centres: negative latitudes (rows below zero), the equator, the antimeridian, next to the 80-degree switch between
#: the two searches, and near both poles.
_CENTRES = [
    (40.7128, -74.0060),
    (-33.8688, 151.2093),
    (0.0, 180.0),
    (-0.0005, -179.9995),
    (79.9, 10.0),
    (-79.95, -179.99),
    (89.99, 0.0),
    (-89.99, 45.0),
    (-60.0, 0.0),
]
_CELLS = [0.002, 0.005, 0.05, 0.25, 1.0, 10.0]
#: A position near the centre: a whole number of cells away (on a cell edge, when the centre is on one), give or take
#: a fraction of a cell.
_offsets = st.tuples(
    st.integers(-1, 1) | st.integers(-5, 5),
    st.sampled_from([0.0, 0.0, 1e-12, -1e-12, 0.5, 0.999]),
    st.just(0.0) | st.floats(-3, 3),  # then 1e-4 degrees times this
)


class DriverIndexMachine(RuleBasedStateMachine):
    """The store against a list of what it should hold (the stored drivers, read back with ``all_drivers``)."""

    def __init__(self) -> None:
        super().__init__()
        self.repo = InMemoryDriverRepository()
        self.cell = 0.002
        self.centre = (0.0, 0.0)
        self.ids: list[str] = []

    @initialize(
        centre=st.sampled_from(_CENTRES),
        cell=st.sampled_from(_CELLS),
        fleet=st.lists(st.tuples(_offsets, _offsets), min_size=5, max_size=40),
    )
    def start(
        self,
        centre: tuple[float, float],
        cell: float,
        fleet: list[tuple[tuple[int, float, float], tuple[int, float, float]]],
    ) -> None:
        self.repo = InMemoryDriverRepository(cell_degrees=cell)
        self.cell, self.centre = cell, centre
        for lat, lon in fleet:
            self.add(lat, lon)

    def at(self, lat_offset: tuple[int, float, float], lon_offset: tuple[int, float, float]) -> GeoPoint:
        c = self.cell
        lat = (math.floor(self.centre[0] / c) + lat_offset[0] + lat_offset[1]) * c + lat_offset[2] * 1e-4
        lon = (math.floor(self.centre[1] / c) + lon_offset[0] + lon_offset[1]) * c + lon_offset[2] * 1e-4
        lat = max(-90.0, min(90.0, lat))
        if not -180.0 <= lon <= 180.0:
            lon = (lon + 180.0) % 360.0 - 180.0
        return GeoPoint(lat, lon)

    @rule(lat=_offsets, lon=_offsets)
    def add(self, lat: tuple[int, float, float], lon: tuple[int, float, float]) -> None:
        driver_id = f"d{len(self.ids):03d}"
        self.repo.add(Driver(driver_id, "x", DriverStatus.AVAILABLE, self.at(lat, lon), "car", NOW))
        self.ids.append(driver_id)

    @precondition(lambda self: self.ids)
    @rule(pick=st.integers(0, 10_000), lat=_offsets, lon=_offsets, change=st.sampled_from(["flip", "move", "both"]))
    def change(self, pick: int, lat: tuple[int, float, float], lon: tuple[int, float, float], change: str) -> None:
        driver = self.repo.get(self.ids[pick % len(self.ids)])
        if change in ("flip", "both"):
            if driver.status is DriverStatus.AVAILABLE:
                driver = self.repo.save(driver.reserve(f"o-{pick}"))
            elif driver.current_order_id is not None:
                driver = self.repo.save(driver.release(driver.current_order_id))
        if change in ("move", "both"):
            self.repo.save(driver.moved(self.at(lat, lon), NOW))

    @rule(
        lat=_offsets,
        lon=_offsets,
        radius=st.sampled_from([0.0, 1e-9, 1e-3, 0.1, 1.0, 5.0, 30.0, 300.0, 3000.0]) | st.floats(0.0, 100.0),
        limit=st.sampled_from([1, 1, 2, 3, 5, 100]),
    )
    def search(self, lat: tuple[int, float, float], lon: tuple[int, float, float], radius: float, limit: int) -> None:
        point = self.at(lat, lon)
        got = [d.driver_id for d in self.repo.available_near(point, radius, limit)]
        expected = [d.driver_id for _, d in rank_candidates(self.repo.all_drivers(), point, radius)[:limit]]
        assert got == expected

    @precondition(lambda self: self.ids)
    @rule(pick=st.integers(0, 10_000))
    def search_at_a_driver(self, pick: int) -> None:
        """A search at a driver's own position, radius 0: it, and any driver on the same spot, nearest."""
        driver = self.repo.get(self.ids[pick % len(self.ids)])
        got = [d.driver_id for d in self.repo.available_near(driver.location, 0.0, 100)]
        expected = [d.driver_id for _, d in rank_candidates(self.repo.all_drivers(), driver.location, 0.0)]
        assert got == expected
        assert (driver.driver_id in got) is (driver.status is DriverStatus.AVAILABLE)

    @invariant()
    def counts_the_available_drivers(self) -> None:
        stored = self.repo.all_drivers()
        assert self.repo.available_count == sum(1 for d in stored if d.status is DriverStatus.AVAILABLE)


DriverIndexMachine.TestCase.settings = settings(max_examples=120, stateful_step_count=40, deadline=None)
test_the_driver_index_through_any_sequence_of_changes_equals_a_brute_force_ranking = DriverIndexMachine.TestCase
