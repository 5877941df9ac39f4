"""Drivers on Cosmos DB: reservation by etag, and "available near a point" on the spatial index.

Container ``drivers``, partition key ``/driverId`` (see :mod:`fooddelivery_azure.cosmos.containers`).

Reservations: ``get`` puts the document's etag in ``Driver.concurrency_token`` (``Driver.reserve`` keeps it), and
``save`` replaces the document only if its etag is still that one (``IfNotModified``): of two orders that read the
same AVAILABLE driver exactly one write succeeds, the other gets a 412, i.e. ``ConcurrencyConflict``, and tries the
next candidate.

``available_near`` never scans: it asks the spatial index for AVAILABLE drivers within a circle
(``ST_DISTANCE(c.location, @point) <= @meters``), starting with a circle of :data:`FIRST_RING_KM` and doubling it
until ``limit`` drivers lie inside the circle searched or the radius is reached (so a dense city reads few
documents, a sparse one few queries). Cosmos DB measures on the WGS-84 ellipsoid, the core on a sphere: each query
is 1 % wider and every candidate is checked with the core's distance, so the answer is the core's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Final

from fooddelivery.domain.catalog import Driver, DriverStatus
from fooddelivery.domain.errors import ConcurrencyConflict, NotFound, ValidationError
from fooddelivery.domain.geo import GeoPoint
from fooddelivery_azure.cosmos._support import CosmosCalls, decode_document, doc_id, status_of
from fooddelivery_azure.cosmos.records import TYPE_DRIVER, driver_from_doc, driver_to_doc, geojson
from fooddelivery_azure.metering import ChargeSink, RequestChargeRecorder

if TYPE_CHECKING:
    from azure.cosmos import ContainerProxy

__all__ = ["FIRST_RING_KM", "CosmosDriverRepository"]

#: Radius of the first circle ``available_near`` asks for (km).
FIRST_RING_KM: Final[float] = 1.0
_RADIUS_MARGIN: Final[float] = 1.01


class CosmosDriverRepository:
    """Drivers in Cosmos DB (``DriverRepository``; see the module docstring).

    Args:
        container: the ``drivers`` container.
        charges: where each call's request charge goes.
    """

    def __init__(self, container: ContainerProxy, *, charges: ChargeSink | None = None) -> None:
        self.charges: ChargeSink = charges if charges is not None else RequestChargeRecorder()
        self._calls = CosmosCalls(container, self.charges)
        self.last_query_rings = 0

    def add(self, driver: Driver) -> Driver:
        """Insert; returns the driver at version 1 with its etag.

        Raises:
            ConcurrencyConflict: the id exists.
            InfrastructureError: the store failed.
        """
        stored = replace(driver, version=1)
        try:
            created = self._calls.create("drivers.add", driver_to_doc(stored))
        except Exception as exc:
            if status_of(exc) == 409:
                raise ConcurrencyConflict(
                    f"driver {driver.driver_id} already exists", driver_id=driver.driver_id
                ) from exc
            raise
        return replace(stored, concurrency_token=created.get("_etag"))

    def get(self, driver_id: str) -> Driver:
        """The stored driver (a point read), ``concurrency_token`` = its etag.

        Raises:
            NotFound: no such driver.
            InfrastructureError: the store failed.
        """
        doc = self._calls.read("drivers.get", doc_id(driver_id), driver_id)
        if doc is None or doc.get("type") != TYPE_DRIVER:
            raise NotFound(f"driver {driver_id} not found", driver_id=driver_id)
        return decode_document(driver_from_doc, doc, "driver")

    def save(self, driver: Driver) -> Driver:
        """Compare-and-set on the etag read (without one, on ``version``); returns the driver at version + 1.

        Raises:
            NotFound: no such driver.
            ConcurrencyConflict: it changed since it was read (nothing written).
            InfrastructureError: the store failed.
        """
        etag = driver.concurrency_token
        if etag is None:
            current = self.get(driver.driver_id)
            if current.version != driver.version:
                raise ConcurrencyConflict(
                    f"driver {driver.driver_id} is at version {current.version}, not {driver.version}",
                    driver_id=driver.driver_id,
                )
            etag = current.concurrency_token
        stored = replace(driver, version=driver.version + 1)
        doc = driver_to_doc(stored)
        try:
            written = self._calls.replace("drivers.save", doc["id"], doc, etag)
        except Exception as exc:
            if status_of(exc) == 404:
                raise NotFound(f"driver {driver.driver_id} not found", driver_id=driver.driver_id) from exc
            if status_of(exc) == 412:
                raise ConcurrencyConflict(
                    f"driver {driver.driver_id} changed since it was read", driver_id=driver.driver_id
                ) from exc
            raise
        return replace(stored, concurrency_token=written.get("_etag"))

    def available_near(self, point: GeoPoint, radius_km: float, limit: int) -> Sequence[Driver]:
        """Up to ``limit`` AVAILABLE drivers within ``radius_km`` (the core's haversine distance) of ``point``,
        nearest first, equal distances by id.

        Raises:
            ValidationError: a negative or non-finite radius (field ``radius_km``), a limit below 1 (``limit``).
            InfrastructureError: the store failed.
        """
        if not math.isfinite(radius_km) or radius_km < 0:
            raise ValidationError.single("radius_km", "must be a finite number >= 0", "out_of_range")
        if type(limit) is not int or limit < 1:
            raise ValidationError.single("limit", "must be an integer >= 1", "out_of_range")
        search_km = min(radius_km, FIRST_RING_KM)
        rings = 0
        while True:
            rings += 1
            found: list[tuple[float, Driver]] = []
            sql = (
                "SELECT * FROM c WHERE c.type = 'driver' AND c.status = 'AVAILABLE' "
                "AND ST_DISTANCE(c.location, @point) <= @meters"
            )
            params = {"@point": geojson(point), "@meters": search_km * 1000.0 * _RADIUS_MARGIN}
            for doc in self._calls.query("drivers.available_near", sql, params):
                driver = decode_document(driver_from_doc, doc, "driver")
                distance = point.distance_km(driver.location)
                if driver.status is DriverStatus.AVAILABLE and distance <= radius_km:
                    found.append((distance, driver))
            within = sum(1 for distance, _ in found if distance <= search_km)
            if search_km >= radius_km or within >= limit:
                break
            search_km = min(radius_km, search_km * 2)
        self.last_query_rings = rings
        found.sort(key=lambda pair: (pair[0], pair[1].driver_id))
        return [driver for _, driver in found[:limit]]
