"""The driver index against a brute-force ranking with exact ties (drivers sharing spots),
near the poles (growing-box path), across the antimeridian and at the 80-degree switch."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fooddelivery.adapters.memory import InMemoryDriverRepository
from fooddelivery.domain import Driver, DriverStatus, GeoPoint
from fooddelivery.domain.assignment import rank_candidates

NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
# a handful of spots so ties happen; near poles, antimeridian, equator
centres = st.sampled_from(
    [(79.5, 179.99), (-79.6, -179.99), (0.0, 180.0 - 1e-9), (45.0, 0.0), (89.5, 10.0), (-89.99, 0.0), (79.95, 0.0)]
)
spot = st.tuples(st.integers(-4, 4), st.integers(-4, 4))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    centre=centres,
    fleet=st.lists(st.tuples(spot, st.booleans(), st.integers(0, 999)), max_size=40, unique_by=lambda t: t[2]),
    query=spot,
    step=st.sampled_from([1e-4, 1e-3, 0.01, 0.05, 0.3]),
    radius=st.sampled_from([0.0, 0.01, 0.5, 3.0, 8.0, 25.0]),
    limit=st.integers(1, 8),
    cell=st.sampled_from([0.002, 0.005, 0.02, 0.1]),
)
def test_hard(centre, fleet, query, step, radius, limit, cell):
    def at(o):
        lat = max(-90.0, min(90.0, centre[0] + o[0] * step))
        lon = centre[1] + o[1] * step
        lon = (lon + 180.0) % 360.0 - 180.0
        return GeoPoint(lat, lon)

    repo = InMemoryDriverRepository(cell_degrees=cell)
    drivers = []
    for o, avail, n in fleet:
        st_ = DriverStatus.AVAILABLE if avail else DriverStatus.ASSIGNED
        d = Driver(f"d{n:03d}", "x", st_, at(o), "car", NOW, None if avail else "o-1")
        repo.add(d)
        drivers.append(d)
    p = at(query)
    got = [d.driver_id for d in repo.available_near(p, radius, limit)]
    exp = [d.driver_id for _, d in rank_candidates(drivers, p, radius)[:limit]]
    assert got == exp
