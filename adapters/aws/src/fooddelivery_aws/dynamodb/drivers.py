"""Drivers on DynamoDB: reservation by conditional write, and "available near a point" as Queries on map cells.

Every AVAILABLE driver carries ``availableCell`` = ``"AVAILABLE#<geohash of its cell>"`` (precision 5 by default,
cells of 0.0439 x 0.0439 degrees, about 4.9 km north-south), the partition key of the sparse
``AvailableDriversIndex``; a driver who is reserved or goes offline loses it, and one who moves changes cell, in
the same ``PutItem`` that writes the driver. ``available_near`` then reads one index partition per cell: it starts
with the cells covering a circle of one cell size around the point and doubles the circle (reading only the new
cells) until ``limit`` drivers lie within the circle searched so far, or the radius is reached. It never scans.

Reservations: ``save`` is a ``PutItem`` conditioned on ``version = <the version read>``, so of two orders that
read the same AVAILABLE driver exactly one succeeds; the index is eventually consistent, so a search may still
list a driver reserved a moment ago, whose reservation then fails with ``ConcurrencyConflict`` (the caller tries
the next candidate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from fooddelivery.domain.catalog import Driver, DriverStatus
from fooddelivery.domain.errors import ValidationError
from fooddelivery.domain.geo import GeoPoint
from fooddelivery_aws.dynamodb._support import (
    Counters,
    TableRepository,
    decode_item,
    get_required,
    put_new,
    put_versioned,
    reraise,
)
from fooddelivery_aws.dynamodb.geohash import GeoGrid
from fooddelivery_aws.dynamodb.records import AVAILABLE_CELL_PREFIX, driver_from_item, driver_to_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DEFAULT_CELL_PRECISION", "DynamoDBDriverRepository"]

#: Geohash precision of the available-drivers index cells (5: about 4.9 km x 4.9 km at the equator).
DEFAULT_CELL_PRECISION: Final[int] = 5
_INDEX: Final = "AvailableDriversIndex"


class DynamoDBDriverRepository(TableRepository):
    """Drivers keyed by ``driverId`` in DynamoDB (implements ``DriverRepository``).

    Table layout: :data:`fooddelivery_aws.dynamodb.tables.DRIVERS`.

    Counted operations (with ``counters``): ``drivers.reads`` per ``get``, ``drivers.writes`` per
    ``add``/``save`` (successful or not), ``drivers.queries`` per ``available_near``.

    Args:
        table_name: the drivers table.
        client: a ``boto3`` DynamoDB client; built lazily on first use when None.
        cell_precision: geohash precision of the index cells, 3..7. Every writer and reader of one table must
            use the same value (it is baked into the stored ``availableCell``).
        max_cells: most cells one search may read (a guard against radii that would take thousands of
            Queries, e.g. near a pole).
        counters: optional operation counters.
        region_name: region of a lazily built client.
        endpoint_url: endpoint of a lazily built client.

    Raises:
        ValueError: a precision outside 3..7 or ``max_cells`` below 1.
    """

    def __init__(
        self,
        table_name: str,
        *,
        client: DynamoDBClient | None = None,
        cell_precision: int = DEFAULT_CELL_PRECISION,
        max_cells: int = 1024,
        counters: Counters | None = None,
        region_name: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        if not 3 <= cell_precision <= 7:
            raise ValueError("cell_precision must be 3..7")
        if max_cells < 1:
            raise ValueError("max_cells must be >= 1")
        super().__init__(
            table_name, client=client, counters=counters, region_name=region_name, endpoint_url=endpoint_url
        )
        self._grid = GeoGrid(cell_precision)
        self._max_cells = max_cells
        self._last_cells = 0

    @property
    def last_query_cells(self) -> int:
        """How many index cells (one Query each) the last ``available_near`` of this instance read."""
        return self._last_cells

    def add(self, driver: Driver) -> Driver:
        """Insert ``driver``; returns the stored driver at version 1.

        Raises:
            ConcurrencyConflict: the id exists.
            InfrastructureError: the store failed.
        """
        self._count("drivers.writes")
        stored = replace(driver, version=1)
        put_new(
            self._client.get(),
            self._table,
            driver_to_item(stored, self._grid),
            "driverId",
            f"driver {driver.driver_id}",
            "drivers.add",
            driver_id=driver.driver_id,
        )
        return stored

    def get(self, driver_id: str) -> Driver:
        """The stored driver (strongly consistent read).

        Raises:
            NotFound: no such driver.
            InfrastructureError: the store failed, or the item is unreadable.
        """
        self._count("drivers.reads")
        item = get_required(
            self._client.get(),
            self._table,
            {"driverId": {"S": driver_id}},
            "drivers.get",
            f"driver {driver_id}",
            driver_id=driver_id,
        )
        return _driver(item)

    def save(self, driver: Driver) -> Driver:
        """Compare-and-set on ``driver.version`` (a conditional ``PutItem``); returns the driver at version + 1.

        Raises:
            NotFound: no such driver.
            ConcurrencyConflict: the stored version differs (nothing written).
            InfrastructureError: the store failed.
        """
        self._count("drivers.writes")
        stored = replace(driver, version=driver.version + 1)
        put_versioned(
            self._client.get(),
            self._table,
            driver_to_item(stored, self._grid),
            "driverId",
            driver.version,
            f"driver {driver.driver_id}",
            "drivers.save",
            driver_id=driver.driver_id,
        )
        return stored

    def available_near(self, point: GeoPoint, radius_km: float, limit: int) -> Sequence[Driver]:
        """Up to ``limit`` AVAILABLE drivers within ``radius_km`` km (haversine) of ``point``, nearest first,
        equal distances by ``driver_id``.

        Raises:
            ValidationError: a negative or non-finite ``radius_km`` (field ``radius_km``), a ``limit`` below 1
                (field ``limit``), or a search that would read more than ``max_cells`` cells (``radius_km``).
            InfrastructureError: the store failed.
        """
        if not math.isfinite(radius_km) or radius_km < 0:
            raise ValidationError.single("radius_km", "must be a finite number >= 0", "out_of_range")
        if type(limit) is not int or limit < 1:
            raise ValidationError.single("limit", "must be an integer >= 1", "out_of_range")
        self._count("drivers.queries")
        grid = self._grid
        found: dict[str, tuple[float, Driver]] = {}
        seen: set[tuple[int, int]] = set()
        search_km = min(radius_km, grid.cell_km)
        while True:
            rows, cols = grid.covering(point, search_km)
            columns = cols if cols is not None else range(grid.cols)
            if len(rows) * len(columns) > self._max_cells:
                raise ValidationError.single(
                    "radius_km",
                    f"a search of {search_km:.1f} km here would read more than {self._max_cells} index cells",
                    "too_large",
                )
            for row in rows:
                for col in columns:
                    if (row, col) in seen:
                        continue
                    seen.add((row, col))
                    for driver in self._drivers_in(AVAILABLE_CELL_PREFIX + grid.name(row, col)):
                        if driver.status is not DriverStatus.AVAILABLE:
                            continue  # the index lags a write that just reserved the driver
                        distance = point.distance_km(driver.location)
                        if distance <= radius_km:
                            found[driver.driver_id] = (distance, driver)
            if search_km >= radius_km:
                break
            if sum(1 for distance, _ in found.values() if distance <= search_km) >= limit:
                break  # every driver within search_km is known, and `limit` of them qualify
            search_km = min(radius_km, search_km * 2)
        self._last_cells = len(seen)
        ranked = sorted(found.values(), key=lambda pair: (pair[0], pair[1].driver_id))
        return [driver for _, driver in ranked[:limit]]

    def _drivers_in(self, cell: str) -> list[Driver]:
        client = self._client.get()
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": _INDEX,
            "KeyConditionExpression": "availableCell = :c",
            "ExpressionAttributeValues": {":c": {"S": cell}},
        }
        drivers: list[Driver] = []
        while True:
            try:
                response = client.query(**kwargs)
            except Exception as exc:
                reraise(exc, "drivers.available_near")
            drivers.extend(_driver(item) for item in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            if not last:
                return drivers
            kwargs["ExclusiveStartKey"] = last


def _driver(item: dict[str, Any]) -> Driver:
    return decode_item(driver_from_item, item, "driver")
