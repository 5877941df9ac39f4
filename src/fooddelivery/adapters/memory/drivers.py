"""Drivers in memory: compare-and-set reservations and a grid index for "available near a point"."""

from __future__ import annotations

import heapq
import math
import threading
from array import array
from bisect import bisect_left, bisect_right, insort
from collections.abc import Sequence

from fooddelivery.adapters.counters import OperationCounters, meter_of
from fooddelivery.adapters.sizes import driver_size
from fooddelivery.domain.catalog import Driver, DriverStatus
from fooddelivery.domain.errors import ConcurrencyConflict, NotFound, ValidationError
from fooddelivery.domain.geo import EARTH_RADIUS_KM, GeoPoint
from fooddelivery.metering.operations import store

__all__ = ["InMemoryDriverRepository"]

_READ = store("drivers", "read")
_READ_MISS = store("drivers", "read_miss")
_QUERY = store("drivers", "query")
_QUERY_ITEM = store("drivers", "query_item")
_WRITE = store("drivers", "write")
#: The indexed status, bound once (every write indexes and unindexes: on Python 3.11 reading a member through its
#: enum class takes ``EnumType``'s slow attribute hook, see ``fooddelivery.domain.order``).
_AVAILABLE = DriverStatus.AVAILABLE
#: Bytes of a typical stored driver (an AVAILABLE driver of the simulation), for a query that found none.
_TYPICAL_DRIVER_BYTES = 160

_Cell = tuple[int, int]
#: A cell's AVAILABLE drivers: the drivers, and what the haversine needs of each (latitude in radians, its cosine,
#: longitude in degrees), computed once per write instead of once per query, at the same positions in three arrays of
#: doubles. Contiguous: a search reads the latitudes of a cell's drivers from one buffer, where a tuple and three
#: float objects per driver, scattered over a large heap, cost a cache miss each (at a million orders' fleet, about
#: 550 ns a driver against 120 read from an array, measured on this machine).
_CellData = tuple[list[Driver], "array[float]", "array[float]", "array[float]"]
#: Extra degrees around every search box, against floating-point noise at cell edges (about 1 cm).
_EPS_DEG = 1e-7
_TWO_R = 2 * EARTH_RADIUS_KM
#: Smallest length of a degree of latitude, km (at the equator; WGS84 meridian arc).
_KM_PER_DEG_LAT_MIN = 110.574
#: Beyond this latitude (pole within the search) the growing-box search is used instead of best-first.
_BEST_FIRST_MAX_LAT = 80.0
#: A driver found by a search: (distance km, driver id, driver).
_Found = tuple[float, str, "Driver"]


#: Longest list of found drivers :meth:`InMemoryDriverRepository.available_near` sorts whole (in C) for its ``limit``
#: nearest; a longer one goes through ``heapq.nsmallest`` (the same answer).
_SORT_FOUND_MAX = 256
#: Margin (km) of the latitude cut of the best-first search over the haversine's rounding (about 1e-11 km here).
_CUT_MARGIN_KM = 1e-6
#: Margin (radians, about 6 mm) by which a row of cells must lie beyond the latitude cut for the best-first search to
#: pass over its drivers without looking at each: far above the rounding of a row's edge and of a driver's latitude
#: (about 1e-16 rad), so a driver of such a row always fails the per-driver cut too.
_LAT_GAP_MARGIN_RAD = 1e-9
#: ``math.radians(x)`` is ``x * (pi / 180)`` in CPython (``degToRad`` in Modules/mathmodule.c): the same product,
#: bit for bit, without a function call per driver.
_DEG_TO_RAD = math.pi / 180.0
#: Rows per strip of the occupied-cells index (a search bisects one sorted list per strip in reach): a power of
#: two, so a cell's code splits into column and row with a shift and a mask (no call per cell).
_STRIP_BITS = 2
_STRIP = 1 << _STRIP_BITS
_STRIP_MASK = _STRIP - 1
#: ``_KEYS[a][b] == math.hypot(a, b)`` for ``0 <= a, b < 64``: the keys of :meth:`InMemoryDriverRepository.
#: _occupied_within` looked up instead of computed (no call per cell); the same floats as the call.
_KEY_SPAN = 64
_KEYS: tuple[tuple[float, ...], ...] = tuple(
    tuple(math.hypot(a, b) for b in range(_KEY_SPAN)) for a in range(_KEY_SPAN)
)
#: A search expected to stop within this many cells (its predecessor did) walks the offsets of :data:`_WALK_TABLE`
#: first (cheap where most cells are occupied), and lists occupied cells band by band beyond them.
_WALK_KEYS = 4.0
_WALK_SPAN = int(_WALK_KEYS) + 1
#: Cell offsets ``(key, d_row, d_col, None)`` with ``key <= _WALK_KEYS``, sorted: ``key = hypot(max(0, |d_row| - 1),
#: max(0, |d_col| - 1))``, the distance in cells between the nearest edges of the two cells (None: the column is
#: computed, and the cell may be empty; :meth:`InMemoryDriverRepository._occupied_within` gives occupied ones).
_WALK_TABLE: tuple[tuple[float, int, int, None], ...] = tuple(
    sorted(
        (key, dr, dc, None)
        for dr in range(-_WALK_SPAN, _WALK_SPAN + 1)
        for dc in range(-_WALK_SPAN, _WALK_SPAN + 1)
        if (key := math.hypot(max(0, abs(dr) - 1), max(0, abs(dc) - 1))) <= _WALK_KEYS
    )
)


class InMemoryDriverRepository:
    """Drivers keyed by id, AVAILABLE ones in a spatial grid (implements ``DriverRepository``).

    The grid has square cells of ``cell_degrees`` x ``cell_degrees`` keyed by ``(floor(lat / cell),
    floor(lon / cell))`` (longitude wrapped at the antimeridian). Only AVAILABLE drivers are
    indexed; ``save`` moves a driver between cells, or in/out of the index, as it moves or changes
    status; the occupied cells are also kept sorted by column in strips of rows, so a search can skip
    the empty ones. ``available_near`` visits cells nearest first (:meth:`_nearest_first`: a lower bound
    of their distance, ties by offset) and stops once ``limit`` drivers are known nearer than any
    unvisited cell could hold, so its cost follows the drivers near the point, never the whole fleet.
    Near a pole it looks instead at the cells of a bounding box around a growing search circle
    (``cell_km``, then one cell wider per step, up to ``radius_km``; each step scans only the cells the
    box gained; once the box holds more cells than are occupied, a step walks the occupied cells and the
    circle doubles) and stops as soon as ``limit`` drivers lie inside the circle searched so far. The box of
    a circle of angular radius ``d`` around latitude ``lat`` spans ``lat +- d`` and ``lon +- asin(sin d
    / cos lat)`` (J. P. Matuschek, "Finding Points Within a Distance of a Latitude/Longitude Using
    Bounding Coordinates"); near a pole it spans every longitude.

    Distances are the domain's haversine (``fooddelivery.domain.geo.haversine_km``), evaluated with
    each indexed driver's radians and cosine precomputed; the operations are the same, so results
    (and distance ties) are bit-for-bit those of ``rank_candidates``.

    ``Driver`` is a frozen dataclass, so stored values cannot be changed by callers. Thread-safe.

    Counted operations (with ``counters``): ``drivers.reads`` per ``get``, ``drivers.writes`` per
    ``add``/``save`` (successful or not), ``drivers.queries`` per ``available_near``. Metered:
    ``store.drivers.write`` per stored write, ``store.drivers.read`` (or ``read_miss``) per ``get``, one
    ``store.drivers.query`` per ``available_near`` sized as the drivers it examined.

    Args:
        cell_degrees: grid cell size in degrees (0 < c <= 10, and ``360 / c`` an integer). The
            default 0.002 deg (about 220 m of latitude) keeps a query near 100 examined drivers even
            in a city with 70,000 drivers within 9 km (measured: 122 us per query, against 578 us with
            0.005 deg cells; 30-70 us for fleets of 300-5,000), so the simulation's dinner peak stays
            cheap; use larger cells for sparse country-wide fleets. (Measured again with the strips index,
            2026-12: 80 us for 70,000 drivers within 9 km, 21 us for 5,000, 25 us for 300; 56 us in a
            20,000-order simulation (~5,000 drivers in ~2,800 cells over 10 cities: a search examines ~20
            drivers, and walking every cell up to them took ~500 cells and 87 us); 70 us in a 50,000-order one,
            as before: its denser fleet leaves the haversines of the drivers examined as the main cost.)
        counters: optional shared operation counters.

    Raises:
        ValueError: a cell size outside the range or not dividing 360.
    """

    def __init__(self, *, cell_degrees: float = 0.002, counters: OperationCounters | None = None) -> None:
        if not 0 < cell_degrees <= 10:
            raise ValueError("cell_degrees must be in (0, 10]")
        lon_cells = 360 / cell_degrees
        if abs(lon_cells - round(lon_cells)) > 1e-6:
            raise ValueError("360 / cell_degrees must be an integer")
        self._cell = cell_degrees
        self._lon_cells = round(lon_cells)
        self._half_lon_cells = self._lon_cells // 2
        self._cell_km = cell_degrees * math.pi / 180 * EARTH_RADIUS_KM
        self._lock = threading.Lock()
        self._counters = counters
        self._meter = meter_of(counters)
        self._drivers: dict[str, Driver] = {}
        #: each cell's AVAILABLE drivers (:data:`_CellData`; a query walks them without a call per cell)
        self._cells: dict[_Cell, _CellData] = {}
        #: where each indexed driver's entry is: (its cell, its position in the cell's list)
        self._where: dict[str, tuple[_Cell, int]] = {}
        #: The occupied cells of each strip of :data:`_STRIP` rows (``row // _STRIP``), sorted by column then row,
        #: each as one int ``column * _STRIP + row % _STRIP``: what a nearest-first search walks.
        self._strips: dict[int, list[int]] = {}
        self._last_examined = 0
        self._reach_hint = 0.0  # where the last nearest-first search stopped (in cells)

    # -- index -------------------------------------------------------------------------------------
    def _wrap(self, iy: int) -> int:
        half = self._half_lon_cells
        return (iy + half) % self._lon_cells - half

    def _cell_of(self, point: GeoPoint) -> _Cell:
        c = self._cell
        return (math.floor(point.lat / c), self._wrap(math.floor(point.lon / c)))

    def _index(self, driver: Driver) -> None:
        if driver.status is _AVAILABLE:
            loc = driver.location
            lat_rad = math.radians(loc.lat)
            cell = self._cell_of(loc)
            cells = self._cells
            if cell in cells:
                members, lats, cosines, lons = cells[cell]
            else:
                members, lats, cosines, lons = cells[cell] = ([], array("d"), array("d"), array("d"))
                insort(self._strips.setdefault(cell[0] // _STRIP, []), cell[1] * _STRIP + cell[0] % _STRIP)
            self._where[driver.driver_id] = (cell, len(members))
            members.append(driver)
            lats.append(lat_rad)
            cosines.append(math.cos(lat_rad))
            lons.append(loc.lon)

    def _unindex(self, driver: Driver) -> None:
        """Drop ``driver``'s entry from its cell (a no-op when it is not indexed): the cell's last entry takes its
        place, so removal costs the same however many drivers share the cell. (The order of a cell's entries does
        not change a query's answer, see :meth:`_nearest_first`.)"""
        if driver.status is _AVAILABLE:
            where = self._where.pop(driver.driver_id, None)
            if where is None:
                return
            cell, slot = where
            members, lats, cosines, lons = self._cells[cell]
            last, last_lat, last_cos, last_lon = members.pop(), lats.pop(), cosines.pop(), lons.pop()
            if slot < len(members):
                members[slot], lats[slot], cosines[slot], lons[slot] = last, last_lat, last_cos, last_lon
                self._where[last.driver_id] = (cell, slot)
            elif not members:
                del self._cells[cell]
                strip = self._strips[cell[0] // _STRIP]
                del strip[bisect_left(strip, cell[1] * _STRIP + cell[0] % _STRIP)]
                if not strip:
                    del self._strips[cell[0] // _STRIP]

    def _box(self, point: GeoPoint, radius_km: float) -> tuple[range, tuple[int, int] | None]:
        """Cell rows and the first and last column covering the circle, unwrapped (``first`` may lie below ``-lon_cells
        / 2`` and ``last`` at or above it: the columns are ``first..last`` wrapped); None = every column. Costs the
        same however many columns the box spans."""
        c = self._cell
        d = radius_km / EARTH_RADIUS_KM
        d_deg = math.degrees(d)
        lat_lo = max(-90.0, point.lat - d_deg - _EPS_DEG)
        lat_hi = min(90.0, point.lat + d_deg + _EPS_DEG)
        rows = range(math.floor(lat_lo / c), math.floor(lat_hi / c) + 1)
        cos_lat = math.cos(math.radians(point.lat))
        if lat_lo <= -90.0 or lat_hi >= 90.0 or d >= math.pi / 2 or math.sin(d) >= cos_lat:
            return rows, None
        d_lon = math.degrees(math.asin(math.sin(d) / cos_lat)) + _EPS_DEG
        lo = math.floor((point.lon - d_lon) / c)
        hi = math.floor((point.lon + d_lon) / c)
        if hi - lo + 1 >= self._lon_cells:
            return rows, None
        return rows, (lo, hi)

    def _growing_box(self, point: GeoPoint, radius_km: float, limit: int) -> tuple[list[_Found], int]:
        """Search near a pole: the cells of a bounding box around a growing circle (call with the lock held).

        Returns every driver found within ``radius_km`` (with its distance) and how many were examined.
        """
        lon = point.lon
        p1 = math.radians(point.lat)
        cos1 = math.cos(p1)
        sin, asin, sqrt, radians = math.sin, math.asin, math.sqrt, math.radians
        found: list[tuple[float, str, Driver]] = []
        seen: set[_Cell] = set()
        examined = 0
        search_km = min(radius_km, self._cell_km)
        previous: tuple[int, int, int, int] | None = None  # the last box scanned cell by cell
        cells = self._cells
        lon_cells = self._lon_cells
        while True:
            rows, cols = self._box(point, search_km)
            sparse = cols is None or len(rows) * (cols[1] - cols[0] + 1) > len(cells)
            if cols is None:
                todo = [cell for cell in cells if cell not in seen and cell[0] in rows]
                previous = None
            elif sparse:
                # A box with more cells than are occupied: walk the occupied ones instead.
                first, width = cols[0], cols[1] - cols[0]
                todo = [
                    cell
                    for cell in cells
                    if cell not in seen and cell[0] in rows and (cell[1] - first) % lon_cells <= width
                ]
                previous = None
            else:
                box = (rows.start, rows.stop - 1, *cols)
                todo = self._new_cells(box, previous, seen)
                previous = box
            for cell in todo:
                seen.add(cell)
                data = cells.get(cell)
                if data is None:
                    continue
                members, lats, cosines, lons = data
                examined += len(members)
                for p2, cos2, lon2, driver in zip(lats, cosines, lons, members, strict=True):
                    # haversine_km(point.lat, point.lon, lat2, lon2), operation for operation
                    a = sin((p2 - p1) / 2) ** 2 + cos1 * cos2 * sin(radians(lon2 - lon) / 2) ** 2
                    dist = _TWO_R * asin(min(1.0, sqrt(a)))
                    if dist <= radius_km:
                        found.append((dist, driver.driver_id, driver))
            if search_km >= radius_km:
                break
            if sum(1 for entry in found if entry[0] <= search_km) >= limit:
                # Every driver within search_km is known and `limit` of them qualify.
                break
            # Grow one cell at a time: when the nearest drivers are busy, a dense city can have thousands
            # of available ones a few km out, and a doubling circle would examine them all. Each step
            # scans only the cells the box gained, so the steps cost little. Once the box holds more cells
            # than are occupied, a step walks every occupied cell, so the circle doubles instead (a step per
            # cell took ~1,400 steps for 300 km at 79 deg N with 0.002 deg cells).
            search_km = min(radius_km, 2 * search_km if sparse else search_km + self._cell_km)
        return found, examined

    def _occupied_within(self, cx: int, cy: int, lo: float, hi: float) -> list[tuple[float, int, int, int]]:
        """Occupied cells ``(key, d_row, d_col, column)`` around the cell ``(cx, cy)`` with ``lo < key <= hi``, sorted
        (by key, then offset): ``key = hypot(max(0, |d_row| - 1), max(0, |d_col| - 1))`` is the distance in cells
        between the nearest edges of the two cells, ``d_col`` the column offset wrapped to ``[-lon_cells / 2,
        lon_cells / 2)``, ``column`` the cell's (wrapped) column. Found by bisecting the sorted occupied cells of each
        strip of rows in reach (:attr:`_strips`) on the columns in reach, so the empty cells between them cost nothing.
        """
        span = int(hi) + 1  # no cell more rows or columns away has a key within `hi`
        strips = self._strips
        half, lon_cells = self._half_lon_cells, self._lon_cells
        hypot, keys = math.hypot, _KEYS
        out: list[tuple[float, int, int, int]] = []
        s_lo, s_hi = (cx - span) // _STRIP, (cx + span) // _STRIP
        if s_hi - s_lo >= len(strips):
            candidates = [(k, codes) for k, codes in strips.items() if s_lo <= k <= s_hi]
        else:
            candidates = [(k, codes) for k in range(s_lo, s_hi + 1) if (codes := strips.get(k)) is not None]
        whole = 2 * span + 1 >= lon_cells
        # codes of the first and last column in reach (a code is column * _STRIP + row % _STRIP)
        first = ((cy - span + half) % lon_cells - half) * _STRIP
        last = ((cy + span + half) % lon_cells - half) * _STRIP + _STRIP - 1
        for k, codes in candidates:
            if whole:
                window: Sequence[int] = codes
            elif first <= last:
                window = codes[bisect_left(codes, first) : bisect_right(codes, last)]
            else:  # the window crosses the antimeridian
                window = codes[bisect_left(codes, first) :] + codes[: bisect_right(codes, last)]
            base = k * _STRIP - cx
            # one comprehension per strip, not a call (list.append) per cell; `for x in (value,)` is an assignment
            out += [
                (key, dr, dc, iy)
                for code in window
                for iy in (code >> _STRIP_BITS,)
                for dr in (base + (code & _STRIP_MASK),)
                for dc in ((iy - cy + half) % lon_cells - half,)
                for ar in (dr - 1 if dr > 1 else (-dr - 1 if dr < -1 else 0),)  # max(0, |dr| - 1)
                for ac in (dc - 1 if dc > 1 else (-dc - 1 if dc < -1 else 0),)
                if ar <= hi  # key >= max(ar, ac)
                and ac <= hi
                and lo < (key := keys[ar][ac] if ar < _KEY_SPAN and ac < _KEY_SPAN else hypot(ar, ac)) <= hi
            ]
        out.sort()
        return out

    def _nearest_first(self, point: GeoPoint, radius_km: float, limit: int) -> tuple[list[_Found], int]:
        """Nearest-first search over grid cells (call with the lock held).

        Cells are visited in order of a lower bound of their distance to ``point``: ``key`` (the distance in cells
        between the nearest edges of the point's cell and the other cell, ``hypot(max(0, |dr| - 1), max(0, |dc| -
        1))``, ties by offset) times the smallest km per cell over the search band (an equirectangular bound scaled
        by 0.999, so never above the haversine distance at these scales). The search stops once ``limit`` drivers
        are known and the next cell's bound exceeds the farthest of them, or the bound exceeds ``radius_km``; so its
        cost follows the cells between the point and its nearest drivers, however dense the city around them.
        The offsets near the point are walked one by one where the fleet is dense, then only the occupied cells are
        listed (:meth:`_occupied_within`), a band of keys at a time, so empty cells cost little however sparse it is.

        Returns the drivers examined within ``radius_km`` that could be among the ``limit`` nearest (with their
        distances: every driver within the limit-th smallest distance known when it was examined, so the ``limit``
        smallest of them are the answer) and how many were examined.

        Neither depends on the order of the drivers within a cell: after each cell, the heap holds the ``limit``
        smallest distances of every driver examined so far (whatever their order), and that alone decides the next
        cell, the cut and the stop.
        """
        c = self._cell
        cells = self._cells
        cx, cy = math.floor(point.lat / c), math.floor(point.lon / c)
        band = min(89.9, abs(point.lat) + math.degrees(radius_km / EARTH_RADIUS_KM) + c)
        km_row = _KM_PER_DEG_LAT_MIN * c * 0.999
        km_col = _KM_PER_DEG_LAT_MIN * math.cos(math.radians(band)) * c * 0.999
        ring_km = min(km_row, km_col)
        reach = radius_km / ring_km  # offsets with a larger key lie wholly outside the circle
        lon, lat = point.lon, point.lat
        p1 = math.radians(lat)
        cos1 = math.cos(p1)
        sin, asin, sqrt, deg_to_rad = math.sin, math.asin, math.sqrt, _DEG_TO_RAD
        heappush, heappushpop = heapq.heappush, heapq.heappushpop
        found: list[_Found] = []
        nearest: list[float] = []  # max-heap (negated) of the `limit` smallest distances found
        held = 0  # len(nearest)
        inf = math.inf
        cut = inf  # latitude difference (radians) beyond which a driver cannot rank (once `limit` are known)
        examined = 0
        # stop at the first cell whose bound passes `stop` (in cells): the radius, then the limit-th distance
        stop = reach
        # The cells come in phases: the offset table near the point when the last search stopped within it (a dense
        # fleet: most of those cells are occupied), then the occupied cells a band of keys at a time, each band twice
        # as wide (the first as wide as the last search needed). `hi`: every occupied cell with a key up to `hi` is in
        # this phase or an earlier one. Only the cost depends on the phases, never the cells or their order.
        half, lon_cells = self._half_lon_cells, self._lon_cells
        targets: Sequence[tuple[float, int, int, int | None]]
        hint = self._reach_hint
        wraps = False
        if hint <= _WALK_KEYS:
            targets, hi = _WALK_TABLE, _WALK_KEYS
            wraps = not (-half <= cy - _WALK_SPAN and cy + _WALK_SPAN < half)
        else:
            hi = hint if hint < reach else reach
            targets = self._occupied_within(cx, cy, -1.0, hi)
        while True:
            for key, dr, dc, column in targets:
                if key > stop:
                    break
                if column is None:  # an offset of the walk table
                    iy = cy + dc
                    if wraps:
                        iy = (iy + half) % lon_cells - half
                    cell = (cx + dr, iy)
                    if cell not in cells:
                        continue
                    members, lats, cosines, lons = cells[cell]
                else:
                    members, lats, cosines, lons = cells[(cx + dr, column)]
                # every driver of a visited cell counts as examined: here, or after the loop below (k + 1 of them)
                if dr and cut < inf:  # (a cut is known once `limit` drivers are)
                    # the cell's row lies wholly farther in latitude than the cut: each of its drivers would be
                    # passed over by the cut below, so the cell is passed over at once. `gap`: degrees between the
                    # point and the row's nearer edge; the margin covers the rounding of both sides.
                    gap = (cx + dr) * c - lat if dr > 0 else lat - (cx + dr + 1) * c
                    if gap * deg_to_rad - _LAT_GAP_MARGIN_RAD > cut:
                        examined += len(members)
                        continue
                k = -1  # the driver's position in the cell
                for p2 in lats:
                    k += 1
                    dp = p2 - p1
                    if (dp if dp >= 0.0 else -dp) > cut:
                        # farther in latitude alone than the limit-th nearest known: the great-circle distance is
                        # at least R * |dlat|, so it cannot rank (cut keeps a 1 mm margin over rounding)
                        continue
                    # haversine_km(point.lat, point.lon, lat2, lon2), operation for operation (radians inlined,
                    # min(1.0, root) written out: the same floating-point results)
                    root = sqrt(sin(dp / 2) ** 2 + cos1 * cosines[k] * sin((lons[k] - lon) * deg_to_rad / 2) ** 2)
                    dist = _TWO_R * asin(root if root < 1.0 else 1.0)
                    if dist <= radius_km:
                        driver = members[k]
                        if held < limit:
                            heappush(nearest, -dist)
                            held += 1
                        elif dist < -nearest[0]:
                            heappushpop(nearest, -dist)
                        else:
                            if dist == -nearest[0]:
                                found.append((dist, driver.driver_id, driver))  # a tie: the id may rank it in
                            continue
                        found.append((dist, driver.driver_id, driver))
                        if held == limit:
                            bound = -nearest[0] / ring_km
                            stop = bound if bound < reach else reach
                            cut = (-nearest[0] + _CUT_MARGIN_KM) / EARTH_RADIUS_KM
                examined += k + 1  # the loop walked every driver of the cell (no break): len(members), no call
            else:
                if hi >= stop:
                    break  # every occupied cell with a key up to `stop` has been visited
                lo, hi = hi, (2 * hi if 2 * hi < reach else reach)
                targets = self._occupied_within(cx, cy, lo, hi)
                continue
            break
        self._reach_hint = stop
        return found, examined

    def _new_cells(
        self, box: tuple[int, int, int, int], previous: tuple[int, int, int, int] | None, seen: set[_Cell]
    ) -> list[_Cell]:
        """Cells of ``box`` (row_lo, row_hi, col_lo, col_hi; columns unwrapped) outside ``previous``, the
        smaller box scanned before, so a growing search enumerates each cell once."""
        r_lo, r_hi, c_lo, c_hi = box
        wrap = self._wrap
        if previous is None:
            return [
                cell
                for ix in range(r_lo, r_hi + 1)
                for iy in range(c_lo, c_hi + 1)
                if (cell := (ix, wrap(iy))) not in seen
            ]
        pr_lo, pr_hi, pc_lo, pc_hi = previous
        out: list[_Cell] = []
        for ix in range(r_lo, r_hi + 1):
            if pr_lo <= ix <= pr_hi:
                cols = [*range(c_lo, min(c_hi, pc_lo - 1) + 1), *range(max(c_lo, pc_hi + 1), c_hi + 1)]
            else:
                cols = list(range(c_lo, c_hi + 1))
            out.extend(cell for iy in cols if (cell := (ix, wrap(iy))) not in seen)
        return out

    # -- DriverRepository --------------------------------------------------------------------------
    def add(self, driver: Driver) -> Driver:
        """Insert ``driver``; returns the stored driver at version 1.

        Raises:
            ConcurrencyConflict: the id exists.
        """
        if self._counters is not None:
            self._counters.local.counts["drivers.writes"] += 1
        with self._lock:
            if driver.driver_id in self._drivers:
                raise ConcurrencyConflict(f"driver {driver.driver_id} already exists", driver_id=driver.driver_id)
            stored = driver.evolve(version=1)
            self._drivers[stored.driver_id] = stored
            self._index(stored)
        if self._meter is not None:
            self._meter.record(_WRITE, size=driver_size(stored))
        return stored

    def get(self, driver_id: str) -> Driver:
        """The stored driver.

        Raises:
            NotFound: no such driver.
        """
        if self._counters is not None:
            self._counters.local.counts["drivers.reads"] += 1
        # No lock: a stored driver is immutable and one dict read is atomic (a subscript: no call on the way through).
        try:
            stored = self._drivers[driver_id]
        except KeyError:
            if self._meter is not None:
                self._meter.record(_READ_MISS)
            raise NotFound(f"driver {driver_id} not found", driver_id=driver_id) from None
        if self._meter is not None:
            self._meter.local.sized[_READ, driver_size(stored)] += 1  # meter.record, without the call
        return stored

    def save(self, driver: Driver) -> Driver:
        """Compare-and-set on ``driver.version``; returns the stored driver at version + 1.

        Raises:
            NotFound: no such driver.
            ConcurrencyConflict: the stored version differs (nothing written).
        """
        if self._counters is not None:
            self._counters.local.counts["drivers.writes"] += 1
        with self._lock:
            current = self._drivers.get(driver.driver_id)
            if current is None:
                raise NotFound(f"driver {driver.driver_id} not found", driver_id=driver.driver_id)
            if current.version != driver.version:
                raise ConcurrencyConflict(
                    f"driver {driver.driver_id} is at version {current.version}, not {driver.version}",
                    driver_id=driver.driver_id,
                )
            stored = driver.evolve(version=driver.version + 1)
            self._unindex(current)
            self._drivers[stored.driver_id] = stored
            self._index(stored)
        if self._meter is not None:
            self._meter.local.sized[_WRITE, driver_size(stored)] += 1  # meter.record, without the call
        return stored

    def available_near(self, point: GeoPoint, radius_km: float, limit: int) -> Sequence[Driver]:
        """Up to ``limit`` AVAILABLE drivers within ``radius_km`` km (haversine) of ``point``.

        Nearest first; equal distances ordered by ``driver_id``.

        Raises:
            ValidationError: a negative or non-finite ``radius_km`` (field ``radius_km``), or a
                ``limit`` below 1 (field ``limit``).
        """
        if not math.isfinite(radius_km) or radius_km < 0:
            raise ValidationError.single("radius_km", "must be a finite number >= 0", "out_of_range")
        if type(limit) is not int or limit < 1:
            raise ValidationError.single("limit", "must be an integer >= 1", "out_of_range")
        if self._counters is not None:
            self._counters.local.counts["drivers.queries"] += 1
        with self._lock:
            if abs(point.lat) + math.degrees(radius_km / EARTH_RADIUS_KM) < _BEST_FIRST_MAX_LAT:
                found, examined = self._nearest_first(point, radius_km, limit)
            else:
                found, examined = self._growing_box(point, radius_km, limit)
            self._last_examined = examined
        # (distance, driver_id) pairs are unique, so the Driver itself is never compared. heapq.nsmallest is
        # sorted(found)[:limit] (its documented equivalent): a short list is sorted in place, in C, where nsmallest
        # walks it in Python (about 110 bytecodes a query in the saga benchmark); a long one keeps nsmallest's
        # O(n log limit).
        if len(found) <= _SORT_FOUND_MAX:
            found.sort()
            nearest = [entry[2] for entry in found[:limit]]
        else:
            nearest = [entry[2] for entry in heapq.nsmallest(limit, found)]
        if self._meter is not None:
            # A cell-indexed store reads every candidate it computes a distance for; they are sized alike, so
            # the query is metered as `examined` items of the nearest one's size (a typical driver's without one).
            each = driver_size(nearest[0]) if nearest else _TYPICAL_DRIVER_BYTES
            local = self._meter.local  # meter.record(...) twice, without the calls
            local.sized[_QUERY, examined * each] += 1
            local.unsized[_QUERY_ITEM] += examined
        return nearest

    # -- inspection --------------------------------------------------------------------------------
    def __len__(self) -> int:
        """How many drivers are stored."""
        return len(self._drivers)

    def all_drivers(self) -> list[Driver]:
        """Every stored driver, by id (a full scan: for tests and reports, not for the hot path)."""
        with self._lock:
            return [self._drivers[k] for k in sorted(self._drivers)]

    @property
    def last_query_examined(self) -> int:
        """How many indexed drivers the last ``available_near`` looked at (every driver of the cells it visited,
        whether or not a latitude bound spared it the full distance)."""
        return self._last_examined

    @property
    def available_count(self) -> int:
        """How many drivers are AVAILABLE (the size of the spatial index)."""
        with self._lock:
            return sum(len(data[0]) for data in self._cells.values())
