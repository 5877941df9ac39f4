"""Drivers in SQLite: compare-and-set reservations and an index for "available near a point"."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Final

from fooddelivery.adapters.counters import OperationCounters
from fooddelivery.adapters.sqlite._geo import bounding_box
from fooddelivery.adapters.sqlite._support import insert_new, read_row, update_versioned
from fooddelivery.adapters.sqlite.database import SqliteDatabase
from fooddelivery.adapters.sqlite.records import driver_from_row, driver_record
from fooddelivery.domain.catalog import Driver, DriverStatus
from fooddelivery.domain.errors import ValidationError
from fooddelivery.domain.geo import GeoPoint, haversine_km

__all__ = ["LAT_CELL_DEGREES", "SqliteDriverRepository"]

#: Height of a latitude band of the index, in degrees (0.01 deg is about 1.1 km).
LAT_CELL_DEGREES: Final[float] = 0.01
#: Above this many bands a query scans the band range instead of seeking each band.
_MAX_SEEKS: Final[int] = 400
_AVAILABLE: Final[str] = DriverStatus.AVAILABLE.value
_COLUMNS: Final[str] = "driver_id, status, lat, lon, version, record"


def _lat_cell(lat: float) -> int:
    return math.floor(lat / LAT_CELL_DEGREES)


class SqliteDriverRepository:
    """Drivers keyed by id (implements ``DriverRepository``).

    ``save`` is ``UPDATE ... WHERE driver_id = ? AND version = ?`` (compare-and-set): of two reservations made
    from the same read exactly one updates a row, the other gets ``ConcurrencyConflict``.

    ``available_near`` is answered by the index ``(status, lat_cell, lon, lat, driver_id)``, where ``lat_cell`` is
    the driver's latitude band (:data:`LAT_CELL_DEGREES`): for the bounding box of a search circle it seeks
    ``status = 'AVAILABLE'`` and each band of the box, and reads the longitude range inside each band, so it
    reads only the drivers inside the box, from the index alone; the full rows of the chosen drivers are read by
    id afterwards, in the same read snapshot. Like the in-memory store it starts with a 1 km circle and doubles it
    up to ``radius_km`` until ``limit`` drivers lie inside the circle searched, so a dense fleet costs the
    drivers near the point. Distances are the domain's haversine, so results (and distance ties, broken by id)
    are those of ``rank_candidates``.

    Counted operations (with ``counters``): ``drivers.reads`` per ``get``, ``drivers.writes`` per
    ``add``/``save`` (successful or not), ``drivers.queries`` per ``available_near``.

    Args:
        db: the database (shared with the other SQLite adapters).
        counters: optional shared operation counters.
    """

    def __init__(self, db: SqliteDatabase, *, counters: OperationCounters | None = None) -> None:
        self._db = db
        self._counters = counters
        self._last_examined = 0

    def add(self, driver: Driver) -> Driver:
        """Insert ``driver``; returns the stored driver at version 1.

        Raises:
            ConcurrencyConflict: the id exists.
            InfrastructureError: the database failed.
        """
        if self._counters is not None:
            self._counters.add("drivers.writes")
        loc = driver.location
        row = (driver.driver_id, driver.status.value, loc.lat, loc.lon, _lat_cell(loc.lat), 1, driver_record(driver))
        with self._db.write() as conn:
            insert_new(
                conn,
                "INSERT INTO drivers (driver_id, status, lat, lon, lat_cell, version, record)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                row,
                f"driver {driver.driver_id}",
                driver_id=driver.driver_id,
            )
        return replace(driver, version=1)

    def get(self, driver_id: str) -> Driver:
        """The stored driver.

        Raises:
            NotFound: no such driver.
            InfrastructureError: the database failed.
        """
        if self._counters is not None:
            self._counters.add("drivers.reads")
        row = read_row(
            self._db,
            f"SELECT {_COLUMNS} FROM drivers WHERE driver_id = ?",
            (driver_id,),
            f"driver {driver_id}",
            driver_id=driver_id,
        )
        return driver_from_row(row)

    def save(self, driver: Driver) -> Driver:
        """Compare-and-set on ``driver.version``; returns the stored driver at version + 1.

        Raises:
            NotFound: no such driver.
            ConcurrencyConflict: the stored version differs (nothing written).
            InfrastructureError: the database failed.
        """
        if self._counters is not None:
            self._counters.add("drivers.writes")
        loc = driver.location
        with self._db.write() as conn:
            update_versioned(
                conn,
                "drivers",
                "status = ?, lat = ?, lon = ?, lat_cell = ?, version = ?, record = ?",
                (driver.status.value, loc.lat, loc.lon, _lat_cell(loc.lat), driver.version + 1, driver_record(driver)),
                "driver_id",
                driver.driver_id,
                driver.version,
                f"driver {driver.driver_id}",
                driver_id=driver.driver_id,
            )
        return replace(driver, version=driver.version + 1)

    def available_near(self, point: GeoPoint, radius_km: float, limit: int) -> Sequence[Driver]:
        """Up to ``limit`` AVAILABLE drivers within ``radius_km`` km (haversine) of ``point``.

        Nearest first; equal distances ordered by ``driver_id``.

        Raises:
            ValidationError: a negative or non-finite ``radius_km`` (field ``radius_km``), or a ``limit`` below 1
                (field ``limit``).
            InfrastructureError: the database failed.
        """
        if not math.isfinite(radius_km) or radius_km < 0:
            raise ValidationError.single("radius_km", "must be a finite number >= 0", "out_of_range")
        if type(limit) is not int or limit < 1:
            raise ValidationError.single("limit", "must be an integer >= 1", "out_of_range")
        if self._counters is not None:
            self._counters.add("drivers.queries")
        lat0, lon0 = point.lat, point.lon
        search_km = min(radius_km, 1.0)
        examined = 0
        with self._db.snapshot() as conn:
            while True:
                found: list[tuple[float, str]] = []
                within_search = 0
                for sql, params in _box_queries(point, search_km):
                    for lat, lon, driver_id in conn.execute(sql, params):
                        examined += 1
                        dist = haversine_km(lat0, lon0, lat, lon)
                        if dist <= radius_km:
                            found.append((dist, driver_id))
                            within_search += dist <= search_km
                if search_km >= radius_km or within_search >= limit:
                    break
                search_km = min(radius_km, search_km * 2)
            found.sort()
            chosen = [driver_id for _, driver_id in found[:limit]]
            rows = []
            for i in range(0, len(chosen), 500):
                chunk = chosen[i : i + 500]
                sql = f"SELECT {_COLUMNS} FROM drivers WHERE driver_id IN ({', '.join('?' * len(chunk))})"
                rows.extend(conn.execute(sql, chunk).fetchall())
        self._last_examined = examined
        by_id = {row[0]: row for row in rows}
        return [driver_from_row(by_id[driver_id]) for driver_id in chosen]

    # -- inspection ----------------------------------------------------------------------------------------
    @property
    def last_query_examined(self) -> int:
        """How many index entries the last ``available_near`` computed a distance for (across its circles)."""
        return self._last_examined

    def __len__(self) -> int:
        """How many drivers are stored."""
        with self._db.read() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM drivers").fetchone()[0])

    def all_drivers(self) -> list[Driver]:
        """Every stored driver, by id (a full scan: for tests and reports, not for the hot path)."""
        with self._db.read() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM drivers ORDER BY driver_id").fetchall()
        return [driver_from_row(r) for r in rows]

    @property
    def available_count(self) -> int:
        """How many drivers are AVAILABLE."""
        with self._db.read() as conn:
            row = conn.execute("SELECT COUNT(*) FROM drivers WHERE status = ?", (_AVAILABLE,)).fetchone()
        return int(row[0])


def _box_queries(point: GeoPoint, radius_km: float) -> list[tuple[str, list[object]]]:
    """The index queries covering the bounding box of the circle: one per longitude interval."""
    box = bounding_box(point, radius_km)
    first, last = _lat_cell(box.lat_lo), _lat_cell(box.lat_hi)
    if last - first + 1 <= _MAX_SEEKS:
        bands = f"lat_cell IN ({', '.join(str(c) for c in range(first, last + 1))})"
    else:
        bands = f"lat_cell BETWEEN {first} AND {last}"
    base = f"SELECT lat, lon, driver_id FROM drivers WHERE status = '{_AVAILABLE}' AND {bands}"
    lat_range: list[object] = [box.lat_lo, box.lat_hi]
    if box.lons is None:
        return [(base + " AND lat BETWEEN ? AND ?", lat_range)]
    sql = base + " AND lon BETWEEN ? AND ? AND lat BETWEEN ? AND ?"
    return [(sql, [west, east, *lat_range]) for west, east in box.lons]
