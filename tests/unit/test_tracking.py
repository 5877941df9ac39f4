"""ETA: max(driver to restaurant, prep left) + handover + restaurant to door; after pickup, to door.

Distances are checked against arcs along the Paris meridian, whose length is exactly R * delta_lat.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from fooddelivery.domain import EtaPolicy, GeoPoint, OrderStatus, ValidationError, estimate_eta

from ._factories import NOW, PARIS, field_codes, meridian_km, north_of

RESTAURANT = PARIS
DOOR = north_of(PARIS, 5.0)  # 5 km north of the restaurant
#: 30 km/h is 2 minutes per km; 2 minutes of handover.
POLICY = EtaPolicy(average_speed_kmh=30.0, handover_minutes=2.0)


def _eta(
    status: OrderStatus,
    *,
    driver_at: GeoPoint | None = None,
    destination: GeoPoint | None = DOOR,
    ready_at: datetime | None = None,
) -> datetime | None:
    return estimate_eta(
        status=status,
        now=NOW,
        driver_at=driver_at,
        restaurant_at=RESTAURANT,
        destination=destination,
        ready_at=ready_at,
        policy=POLICY,
    )


def _minutes_after_now(eta: datetime | None) -> float:
    assert eta is not None
    return (eta - NOW).total_seconds() / 60


def _travel_minutes(a: GeoPoint, b: GeoPoint) -> float:
    return meridian_km(a, b) / 30.0 * 60


def test_the_test_geometry_is_what_it_claims() -> None:
    assert meridian_km(RESTAURANT, DOOR) == pytest.approx(5.0, rel=1e-12)
    assert _travel_minutes(RESTAURANT, DOOR) == pytest.approx(10.0)


@pytest.mark.parametrize(
    "status",
    [
        OrderStatus.PENDING,
        OrderStatus.CONFIRMED,
        OrderStatus.PREPARING,
        OrderStatus.READY_FOR_PICKUP,
    ],
)
def test_before_pickup_a_long_preparation_bounds_the_eta(status: OrderStatus) -> None:
    driver_at = north_of(PARIS, -2.0)  # 4 minutes away, food ready in 10
    eta = _eta(status, driver_at=driver_at, ready_at=NOW + timedelta(minutes=10))
    expected = 10 + 2 + _travel_minutes(RESTAURANT, DOOR)
    assert _minutes_after_now(eta) == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(22.0)


def test_before_pickup_a_far_driver_bounds_the_eta() -> None:
    driver_at = north_of(PARIS, -10.0)  # 20 minutes away, food ready in 5
    eta = _eta(OrderStatus.CONFIRMED, driver_at=driver_at, ready_at=NOW + timedelta(minutes=5))
    expected = _travel_minutes(driver_at, RESTAURANT) + 2 + _travel_minutes(RESTAURANT, DOOR)
    assert _minutes_after_now(eta) == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(32.0)


def test_before_pickup_one_kilometre_is_two_minutes_at_30_kmh() -> None:
    driver_at = north_of(PARIS, -1.0)
    eta = _eta(
        OrderStatus.READY_FOR_PICKUP, driver_at=driver_at, ready_at=NOW - timedelta(minutes=3)
    )
    assert _minutes_after_now(eta) == pytest.approx(2 + 2 + 10, abs=1e-6)


def test_without_a_driver_or_known_readiness_only_the_delivery_leg_counts() -> None:
    assert _minutes_after_now(_eta(OrderStatus.PENDING)) == pytest.approx(12.0, abs=1e-6)
    overdue = _eta(OrderStatus.PREPARING, ready_at=NOW - timedelta(hours=1))
    assert _minutes_after_now(overdue) == pytest.approx(12.0, abs=1e-6)


def test_after_pickup_only_the_driver_to_door_leg_and_handover_count() -> None:
    driver_at = north_of(PARIS, 4.0)  # 1 km short of the door
    eta = _eta(OrderStatus.PICKED_UP, driver_at=driver_at, ready_at=NOW + timedelta(hours=1))
    assert _minutes_after_now(eta) == pytest.approx(_travel_minutes(driver_at, DOOR) + 2, abs=1e-6)
    assert _minutes_after_now(eta) == pytest.approx(4.0, abs=1e-6)


def test_after_pickup_without_a_position_the_trip_starts_at_the_restaurant() -> None:
    assert _minutes_after_now(_eta(OrderStatus.PICKED_UP)) == pytest.approx(12.0, abs=1e-6)


def test_paris_to_london_after_pickup_at_the_default_25_kmh() -> None:
    eta = estimate_eta(
        status=OrderStatus.PICKED_UP,
        now=NOW,
        driver_at=PARIS,
        restaurant_at=PARIS,
        destination=GeoPoint(51.5074, -0.1278),
        ready_at=None,
        policy=EtaPolicy(),
    )
    hours = (eta - NOW).total_seconds() / 3600  # type: ignore[operator]
    assert hours == pytest.approx(343.5 / 25 + 2 / 60, rel=0.005)


def test_a_delivered_order_is_due_now() -> None:
    assert _eta(OrderStatus.DELIVERED, driver_at=north_of(PARIS, 3)) == NOW


@pytest.mark.parametrize("status", [OrderStatus.CANCELLED, OrderStatus.FAILED])
def test_a_cancelled_or_failed_order_has_no_eta(status: OrderStatus) -> None:
    assert _eta(status, driver_at=PARIS) is None


@pytest.mark.parametrize("status", [s for s in OrderStatus if s is not OrderStatus.DELIVERED])
def test_without_door_coordinates_there_is_no_eta(status: OrderStatus) -> None:
    assert _eta(status, destination=None, driver_at=PARIS) is None


@pytest.mark.parametrize("speed", [0.0, -5.0, math.nan])
def test_the_average_speed_must_be_positive(speed: float) -> None:
    with pytest.raises(ValidationError) as info:
        EtaPolicy(average_speed_kmh=speed)
    assert field_codes(info.value) == {"average_speed_kmh": "out_of_range"}
