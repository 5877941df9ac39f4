"""Drivers on Firestore: reservation as a compare-and-set write (an update-time precondition), and "available near
a point" as queries on grid cells.

Grid: the map is cut in cells of ``cell_deg`` x ``cell_deg`` degrees (default 0.02: about 2.2 km north-south);
an AVAILABLE driver's document carries ``availableCell`` = ``"<row>:<col>"`` of its cell, and loses the field when
reserved or offline (the same write that changes its status), so the search reads available drivers only.
``available_near`` reads the cells covering a circle around the point -- first one cell size, then doubling the
radius (reading only new cells) -- until ``limit`` drivers lie within the circle searched so far or the radius is
reached: every driver within that circle is in those cells, so the ``limit`` nearest found are the ``limit``
nearest. Each query is ``availableCell in [<= 30 cells>]`` (Firestore's limit of ``in`` values,
https://firebase.google.com/docs/firestore/query-data/queries#limits_on_or_queries) on the automatic single-field
index: no composite index is needed and nothing is ever scanned.

Writes: ``add`` is a ``create``; ``save`` -- a reservation, a release, a move -- is a compare-and-set: one
``update`` with a ``last_update_time`` precondition, which Firestore checks and applies atomically on the server.
The precondition is the ``concurrency_token`` the caller's copy was read with (the document's update time); a copy
without a token (built by hand) is compared by ``version`` with a plain read first, and written with that read's
update time. A failed precondition means a competing write committed: the core's ``ConcurrencyConflict`` (so the
saga tries the next candidate). Of two orders that read the same AVAILABLE driver, exactly one reserves it.

Why not a read-compare-write transaction: a server client library's transaction locks what it reads until it
commits, so twenty orders reading the same nearest driver held twenty read locks, and each commit waited for the
others to give theirs up; on the emulator every round of all twenty ended after about 10 s (measured) with none
written. A conditional write holds no lock across round trips. Firestore may still answer ``ABORTED`` under heavy
write contention on one document; nothing was written then, and
:func:`~fooddelivery_gcp.firestore._support.retry_contention` writes again, within a time budget (the precondition
still guards it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from fooddelivery.domain.catalog import Driver, DriverStatus
from fooddelivery.domain.errors import ConcurrencyConflict, NotFound
from fooddelivery.domain.geo import EARTH_RADIUS_KM, GeoPoint
from fooddelivery_gcp.firestore._support import (
    FirestoreRepository,
    LazyFirestore,
    doc_id,
    error_name,
    format_token,
    parse_token,
    reraise,
    retry_contention,
)
from fooddelivery_gcp.firestore.records import AVAILABLE_CELL, driver_doc, driver_from_doc
from fooddelivery_gcp.metering import FirestoreMeter

if TYPE_CHECKING:
    from google.cloud.firestore import Client, DocumentReference

__all__ = ["FirestoreDriverRepository", "cell_of", "cells_covering"]

DRIVERS: Final[str] = "drivers"
#: Most values of one ``in`` filter.
_IN_LIMIT: Final[int] = 30
_KM_PER_DEG: Final[float] = math.pi * EARTH_RADIUS_KM / 180.0


def cell_of(point: GeoPoint, cell_deg: float) -> str:
    """The grid cell of ``point``: ``"<row>:<col>"`` (row from the south pole, column from the antimeridian)."""
    rows = math.ceil(180.0 / cell_deg)
    cols = math.ceil(360.0 / cell_deg)
    row = min(rows - 1, int((point.lat + 90.0) // cell_deg))
    col = int((point.lon + 180.0) // cell_deg) % cols
    return f"{row}:{col}"


def cells_covering(center: GeoPoint, radius_km: float, cell_deg: float) -> set[str]:
    """Every cell that holds a point within ``radius_km`` of ``center`` (a superset: the bounding box's cells).

    Near a pole, or for a circle wider than the longitude span of its latitude band, every column is taken.
    """
    rows = math.ceil(180.0 / cell_deg)
    cols = math.ceil(360.0 / cell_deg)
    dlat = radius_km / _KM_PER_DEG + 1e-9
    lat_lo, lat_hi = max(-90.0, center.lat - dlat), min(90.0, center.lat + dlat)
    row_lo = int((lat_lo + 90.0) // cell_deg)
    row_hi = min(rows - 1, int((lat_hi + 90.0) // cell_deg))
    widest = max(abs(lat_lo), abs(lat_hi))
    cos_lat = math.cos(math.radians(widest))
    dlon = 360.0 if cos_lat <= 1e-9 else radius_km / (_KM_PER_DEG * cos_lat) + 1e-9
    if dlon >= 180.0:
        columns: Iterable[int] = range(cols)
    else:
        col_lo = math.floor((center.lon - dlon + 180.0) / cell_deg)
        col_hi = math.floor((center.lon + dlon + 180.0) / cell_deg)
        columns = {c % cols for c in range(col_lo, col_hi + 1)}
    return {f"{r}:{c}" for r in range(row_lo, row_hi + 1) for c in columns}


class FirestoreDriverRepository(FirestoreRepository):
    """Drivers in Firestore (implements ``DriverRepository``; see the module docstring).

    Args:
        client: a ``google.cloud.firestore.Client`` (or ``LazyFirestore``); built lazily when None.
        prefix: prepended to the collection name.
        meter: records billed document operations.
        cell_deg: grid cell size in degrees (every writer and reader of one collection must agree).
        max_cells: most cells one search reads (a guard against radii of thousands of cells near a pole).

    Raises:
        ValueError: a cell size outside (0, 10] or ``max_cells`` below 1.
    """

    def __init__(
        self,
        client: Client | LazyFirestore | None = None,
        *,
        prefix: str = "",
        meter: FirestoreMeter | None = None,
        cell_deg: float = 0.02,
        max_cells: int = 2048,
    ) -> None:
        if not 0 < cell_deg <= 10:
            raise ValueError("cell_deg must be in (0, 10]")
        if max_cells < 1:
            raise ValueError("max_cells must be >= 1")
        super().__init__(client, prefix=prefix, meter=meter)
        self.cell_deg = cell_deg
        self.max_cells = max_cells
        self.last_query_cells = 0

    def _ref(self, driver_id: str) -> DocumentReference:
        return self.client.collection(self.collection_name(DRIVERS)).document(doc_id(driver_id))

    def _doc(self, driver: Driver) -> dict[str, object]:
        cell = cell_of(driver.location, self.cell_deg) if driver.status is DriverStatus.AVAILABLE else None
        return driver_doc(driver, cell)

    def add(self, driver: Driver) -> Driver:
        """Insert ``driver``; returns it at version 1 (its token the write's update time).

        Raises:
            ConcurrencyConflict: the id exists.
            InfrastructureError: Firestore failed.
        """
        stored = replace(driver, version=1, concurrency_token=None)
        try:
            result = self._ref(driver.driver_id).create(self._doc(stored))
        except Exception as exc:
            if error_name(exc) == "AlreadyExists":
                raise ConcurrencyConflict(
                    f"driver {driver.driver_id} already exists", driver_id=driver.driver_id
                ) from exc
            reraise(exc, "drivers.add", driver_id=driver.driver_id)
        finally:
            self._record(DRIVERS, writes=1)
        return replace(stored, concurrency_token=format_token(result.update_time))

    def get(self, driver_id: str) -> Driver:
        """The stored driver (its token = the document's update time).

        Raises:
            NotFound: no such driver.
            InfrastructureError: Firestore failed, or the document is damaged.
        """
        try:
            snap = self._ref(driver_id).get()
        except Exception as exc:
            reraise(exc, "drivers.get", driver_id=driver_id)
        self._record(DRIVERS, reads=1)
        if not snap.exists:
            raise NotFound(f"driver {driver_id} not found", driver_id=driver_id)
        return driver_from_doc(snap.to_dict() or {}, format_token(snap.update_time))

    def save(self, driver: Driver) -> Driver:
        """Compare-and-set (see the module docstring); returns the driver at version + 1 with its new token.

        A failed precondition where the stored driver is exactly the one this save writes (same state, version + 1)
        is this save's own commit, resent by the client library after its answer was lost: a success, not a
        conflict.

        Raises:
            NotFound: no such driver.
            ConcurrencyConflict: the stored driver changed since it was read, or the write stayed contended for
                the whole contention budget (nothing written).
            InfrastructureError: Firestore failed.
        """
        from google.cloud.firestore import DELETE_FIELD

        did = driver.driver_id
        stored = replace(driver, version=driver.version + 1, concurrency_token=None)
        doc: dict[str, object] = self._doc(stored)
        doc.setdefault(AVAILABLE_CELL, DELETE_FIELD)  # an update keeps the fields it does not name
        ref = self._ref(did)
        if driver.concurrency_token is not None:
            known = parse_token(driver.concurrency_token)
        else:
            current = self.get(did)  # NotFound if there is no such driver
            if current.version != driver.version:
                raise ConcurrencyConflict(f"driver {did} changed since it was read", driver_id=did)
            known = parse_token(current.concurrency_token or "")
        option = self.client.write_option(last_update_time=known)

        def write() -> object:
            self._record(DRIVERS, writes=1)
            return ref.update(doc, option=option)

        try:
            result: Any = retry_contention(write, "drivers.save", driver_id=did)
        except ConcurrencyConflict:
            raise
        except Exception as exc:
            name = error_name(exc)
            if name == "NotFound":
                raise NotFound(f"driver {did} not found", driver_id=did) from exc
            if name == "FailedPrecondition":
                current = self.get(did)  # NotFound if it is gone
                if current == stored:
                    # Our own write: the client library resends a commit whose answer was lost (it retries
                    # UNAVAILABLE on Commit), and the resent one fails the precondition on the update time our
                    # first one set. The same state at the same version is this save, done (a reservation reported
                    # as a conflict would leave the driver ASSIGNED to an order that takes another one).
                    return current
                raise ConcurrencyConflict(f"driver {did} changed since it was read", driver_id=did) from exc
            reraise(exc, "drivers.save", driver_id=did)
        return replace(stored, concurrency_token=format_token(result.update_time))

    def available_near(self, point: GeoPoint, radius_km: float, limit: int) -> Sequence[Driver]:
        """Up to ``limit`` AVAILABLE drivers within ``radius_km`` of ``point``, nearest first, ties by id.

        Raises:
            InfrastructureError: Firestore failed, or the search would read more than ``max_cells`` cells.
        """
        if limit <= 0 or not radius_km > 0:
            self.last_query_cells = 0
            return []
        from google.cloud.firestore import FieldFilter

        collection = self.client.collection(self.collection_name(DRIVERS))
        found: dict[str, tuple[float, Driver]] = {}
        read: set[str] = set()
        searched = min(radius_km, self.cell_deg * _KM_PER_DEG)
        while True:
            cells = sorted(cells_covering(point, searched, self.cell_deg) - read)
            if len(read) + len(cells) > self.max_cells:
                from fooddelivery.domain.errors import InfrastructureError

                raise InfrastructureError(
                    f"a driver search of {radius_km:g} km would read over {self.max_cells} cells", reason="too_wide"
                )
            for start in range(0, len(cells), _IN_LIMIT):
                chunk = cells[start : start + _IN_LIMIT]
                query = collection.where(filter=FieldFilter(AVAILABLE_CELL, "in", chunk))
                try:
                    snaps = list(query.stream())
                except Exception as exc:
                    reraise(exc, "drivers.available_near")
                self._record(DRIVERS, reads=max(1, len(snaps)))
                for snap in snaps:
                    driver = driver_from_doc(snap.to_dict() or {}, format_token(snap.update_time))
                    if driver.status is DriverStatus.AVAILABLE:
                        found[driver.driver_id] = (point.distance_km(driver.location), driver)
            read.update(cells)
            within = sum(1 for dist, _ in found.values() if dist <= searched)
            if within >= limit or searched >= radius_km:
                break
            searched = min(radius_km, searched * 2)
        self.last_query_cells = len(read)
        ranked = sorted(
            (pair for pair in found.values() if pair[0] <= radius_km), key=lambda pair: (pair[0], pair[1].driver_id)
        )
        return [driver for _, driver in ranked[:limit]]
