"""Delivery tracking: ETA from distance, an average speed and the remaining preparation time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fooddelivery.domain.errors import ValidationError
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.order import OrderStatus

__all__ = ["EtaPolicy", "estimate_eta"]


@dataclass(frozen=True, slots=True)
class EtaPolicy:
    """Assumptions of the ETA.

    Attributes:
        average_speed_kmh: the courier's average speed over haversine distance (> 0; 25 km/h is a city
            scooter's typical average including stops).
        handover_minutes: time at the restaurant and at the door.
    """

    average_speed_kmh: float = 25.0
    handover_minutes: float = 2.0

    def __post_init__(self) -> None:
        if not self.average_speed_kmh > 0:
            raise ValidationError.single("average_speed_kmh", "must be positive", "out_of_range")


def estimate_eta(
    *,
    status: OrderStatus,
    now: datetime,
    driver_at: GeoPoint | None,
    restaurant_at: GeoPoint,
    destination: GeoPoint | None,
    ready_at: datetime | None,
    policy: EtaPolicy,
) -> datetime | None:
    """When the order should reach the customer.

    Before pickup: ``max(driver travel to the restaurant, remaining prep) + handover + restaurant -> door``.
    After pickup: ``driver -> door + handover``. Returns None when the door has no coordinates or the order is
    finished; ``now`` when it is delivered.

    Args:
        status: the order's status.
        now: current time (UTC).
        driver_at: the driver's last position, or None (no driver yet: the driver leg is taken as zero).
        restaurant_at: the restaurant.
        destination: the address's coordinates, or None.
        ready_at: when the food is expected ready (confirmation + average prep), or None if unknown.
        policy: speed and handover.
    """
    if status in (OrderStatus.CANCELLED, OrderStatus.FAILED) or destination is None:
        return None
    if status is OrderStatus.DELIVERED:
        return now
    speed = policy.average_speed_kmh
    handover = policy.handover_minutes
    if status is OrderStatus.PICKED_UP:
        start = driver_at or restaurant_at
        minutes = start.distance_km(destination) / speed * 60 + handover
        return now + timedelta(minutes=minutes)
    to_restaurant = (driver_at.distance_km(restaurant_at) / speed * 60) if driver_at else 0.0
    prep_left = max(0.0, (ready_at - now).total_seconds() / 60) if ready_at else 0.0
    minutes = max(to_restaurant, prep_left) + handover + restaurant_at.distance_km(destination) / speed * 60
    return now + timedelta(minutes=minutes)
