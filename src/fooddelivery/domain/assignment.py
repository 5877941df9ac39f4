"""Driver assignment: pick the nearest AVAILABLE driver to the restaurant, deterministically."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fooddelivery.domain.catalog import Driver, DriverStatus
from fooddelivery.domain.geo import GeoPoint

__all__ = ["AssignmentPolicy", "rank_candidates"]


@dataclass(frozen=True, slots=True)
class AssignmentPolicy:
    """How drivers are chosen.

    Attributes:
        radius_km: only drivers within this haversine distance of the restaurant qualify.
        max_candidates: how many nearest drivers to try to reserve per search (each try is a compare-and-set
            that may lose a race).
        searches: how many times to search when every candidate of a search was lost to a race (the search read
            drivers that other orders had reserved meanwhile: a new search sees those reservations). A search
            that found fewer candidates than it tried, or none, is not repeated.
    """

    radius_km: float = 8.0
    max_candidates: int = 5
    searches: int = 3


def rank_candidates(
    drivers: Iterable[Driver], pickup: GeoPoint, radius_km: float
) -> list[tuple[float, Driver]]:
    """AVAILABLE drivers within ``radius_km`` of ``pickup``, nearest first.

    Ties on distance break on ``driver_id`` (lexicographic), so the choice is deterministic.

    Returns:
        ``(distance_km, driver)`` pairs.
    """
    ranked = [
        (pickup.distance_km(d.location), d)
        for d in drivers
        if d.status is DriverStatus.AVAILABLE
    ]
    ranked = [(dist, d) for dist, d in ranked if dist <= radius_km]
    ranked.sort(key=lambda pair: (pair[0], pair[1].driver_id))
    return ranked
