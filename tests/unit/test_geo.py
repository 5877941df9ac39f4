"""Great-circle distances and coordinate validation."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fooddelivery.domain import GeoPoint, ValidationError, haversine_km

from ._factories import EARTH_RADIUS_KM, LONDON, PARIS, field_codes, meridian_km, north_of


def test_paris_to_london_is_about_343_5_km() -> None:
    # Published great-circle distance between the city centres: about 343.5 km.
    assert PARIS.distance_km(LONDON) == pytest.approx(343.5, rel=0.005)


def test_new_york_to_los_angeles_is_about_3936_km() -> None:
    # City-hall to city-hall great-circle distance: about 3,936 km.
    new_york, los_angeles = GeoPoint(40.7128, -74.0060), GeoPoint(34.0522, -118.2437)
    assert new_york.distance_km(los_angeles) == pytest.approx(3936, rel=0.005)


def test_distance_is_symmetric_and_zero_to_itself() -> None:
    assert PARIS.distance_km(PARIS) == 0.0
    assert PARIS.distance_km(LONDON) == LONDON.distance_km(PARIS)


@pytest.mark.parametrize("km", [0.001, 1.0, 2.5, 42.195, 1000.0])
def test_distance_along_a_meridian_is_the_arc_length(km: float) -> None:
    there = north_of(PARIS, km)
    assert meridian_km(PARIS, there) == pytest.approx(km, rel=1e-9)
    assert PARIS.distance_km(there) == pytest.approx(km, rel=1e-9)


def test_spherical_landmarks() -> None:
    quarter = math.pi / 2 * EARTH_RADIUS_KM
    assert haversine_km(0, 0, 90, 0) == pytest.approx(quarter, rel=1e-12)
    assert haversine_km(0, 0, 0, 180) == pytest.approx(
        2 * quarter, rel=1e-12
    )  # antipodes: asin clamp
    assert haversine_km(0, 0, 0, 1) == pytest.approx(
        111.195, abs=0.001
    )  # one degree at the equator
    assert haversine_km(0, 179.5, 0, -179.5) == pytest.approx(
        111.195, abs=0.001
    )  # across the date line


@pytest.mark.parametrize(
    ("lat", "lon"), [(90, 180), (-90, -180), (0, 0), (48.8566, 2.3522), (45, -73)]
)
def test_coordinates_on_the_boundaries_are_accepted(lat: float, lon: float) -> None:
    point = GeoPoint(lat, lon)
    assert (point.lat, point.lon) == (lat, lon)


@pytest.mark.parametrize(
    ("lat", "lon", "expected"),
    [
        (90.0001, 0.0, {"lat": "out_of_range"}),
        (-90.5, 0.0, {"lat": "out_of_range"}),
        (0.0, 180.1, {"lon": "out_of_range"}),
        (0.0, -181, {"lon": "out_of_range"}),
        (math.nan, 0.0, {"lat": "out_of_range"}),
        (0.0, math.inf, {"lon": "out_of_range"}),
        (-math.inf, 0.0, {"lat": "out_of_range"}),
        (True, 0.0, {"lat": "type"}),
        (0.0, False, {"lon": "type"}),
        ("48.8", 2.3, {"lat": "type"}),
        (None, 2.3, {"lat": "type"}),
        (Decimal("48.8"), 2.3, {"lat": "type"}),
        (91, math.nan, {"lat": "out_of_range", "lon": "out_of_range"}),
        (None, "x", {"lat": "type", "lon": "type"}),
    ],
)
def test_invalid_coordinates_are_refused_naming_each_field(
    lat: object, lon: object, expected: dict[str, str]
) -> None:
    with pytest.raises(ValidationError) as info:
        GeoPoint(lat, lon)  # type: ignore[arg-type]
    assert field_codes(info.value) == expected


def _textbook_haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The haversine as written with ``math.radians`` and ``min`` (what ``haversine_km`` computed before it inlined
    both)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


@given(
    st.floats(-90, 90), st.floats(-180, 180), st.floats(-90, 90), st.floats(-180, 180),
)
def test_the_inlined_haversine_gives_the_textbook_formulas_floats_bit_for_bit(
    lat1: float, lon1: float, lat2: float, lon2: float
) -> None:
    assert haversine_km(lat1, lon1, lat2, lon2) == _textbook_haversine_km(lat1, lon1, lat2, lon2)


def test_antipodes_stay_at_half_the_circumference() -> None:
    assert haversine_km(0.0, 0.0, 0.0, 180.0) == _textbook_haversine_km(0.0, 0.0, 0.0, 180.0)
    assert haversine_km(0.0, 0.0, 0.0, 180.0) == pytest.approx(math.pi * EARTH_RADIUS_KM)
