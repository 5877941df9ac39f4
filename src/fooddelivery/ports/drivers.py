"""Driver storage: reservation by compare-and-set, and "available near a point"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from fooddelivery.domain.catalog import Driver
from fooddelivery.domain.geo import GeoPoint

__all__ = ["DriverRepository"]


@runtime_checkable
class DriverRepository(Protocol):
    """Drivers keyed by ``driver_id``."""

    def add(self, driver: Driver) -> Driver:
        """Insert; returns it at version 1.

        Raises:
            ConcurrencyConflict: the id exists.
        """
        ...

    def get(self, driver_id: str) -> Driver:
        """The stored driver.

        Raises:
            NotFound: no such driver.
        """
        ...

    def save(self, driver: Driver) -> Driver:
        """Compare-and-set: replace if the stored driver is still the one ``driver`` was read as (its ``version``, or
        the store's ``concurrency_token``: an etag, an update time); returns it with the version bumped.

        This is how a reservation is made: two orders that read the same AVAILABLE driver both call ``save``
        with the same version and exactly one succeeds.

        Raises:
            ConcurrencyConflict: the stored version differs (nothing written).
            NotFound: no such driver.
        """
        ...

    def available_near(self, point: GeoPoint, radius_km: float, limit: int) -> Sequence[Driver]:
        """Up to ``limit`` AVAILABLE drivers within ``radius_km`` of ``point``, nearest first, ties by id.

        A store answers this with an index query (e.g. a geohash prefix), never a full scan.
        """
        ...
