"""Geohash cells as a regular grid, and the cells that cover a circle.

A geohash of precision ``p`` interleaves ``ceil(5p/2)`` longitude bits with ``floor(5p/2)`` latitude bits
(longitude first) and writes the result in the geohash base-32 alphabet (G. Niemeyer, geohash.org; the encoding
is described in Wikipedia's "Geohash" article). So the cells of one precision form a regular grid of
``360 / 2**lon_bits`` x ``180 / 2**lat_bits`` degrees: precision 5 is 0.0439 x 0.0439 degrees, about 4.9 km
north-south (less east-west away from the equator). That grid lets a search enumerate the cells of a bounding
box directly, as integer rows and columns, and name each cell by its geohash.

Edges: latitude 90 belongs to the top row; longitude 180 is the same meridian as -180 and belongs to column 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

from fooddelivery.domain.geo import EARTH_RADIUS_KM, GeoPoint

__all__ = ["GeoGrid"]

_BASE32: Final[str] = "0123456789bcdefghjkmnpqrstuvwxyz"
#: Extra degrees around every bounding box, against floating-point noise at cell edges (about 1 cm).
_EPS_DEG: Final[float] = 1e-7


@dataclass(frozen=True, slots=True)
class GeoGrid:
    """The grid of geohash cells of one precision.

    Attributes:
        precision: geohash length, 1..12.

    Raises:
        ValueError: a precision outside 1..12.
    """

    precision: int
    lat_bits: int = field(init=False)
    lon_bits: int = field(init=False)
    rows: int = field(init=False)
    cols: int = field(init=False)
    cell_lat_deg: float = field(init=False)
    cell_lon_deg: float = field(init=False)

    def __post_init__(self) -> None:
        if not 1 <= self.precision <= 12:
            raise ValueError("geohash precision must be 1..12")
        bits = 5 * self.precision
        lon_bits, lat_bits = (bits + 1) // 2, bits // 2
        object.__setattr__(self, "lon_bits", lon_bits)
        object.__setattr__(self, "lat_bits", lat_bits)
        object.__setattr__(self, "rows", 1 << lat_bits)
        object.__setattr__(self, "cols", 1 << lon_bits)
        object.__setattr__(self, "cell_lat_deg", 180.0 / (1 << lat_bits))
        object.__setattr__(self, "cell_lon_deg", 360.0 / (1 << lon_bits))

    @property
    def cell_km(self) -> float:
        """North-south size of a cell in km (east-west is this times ``cos(latitude)`` or more)."""
        return math.radians(self.cell_lat_deg) * EARTH_RADIUS_KM

    def _row(self, lat: float) -> int:
        return min(self.rows - 1, max(0, math.floor((lat + 90.0) / self.cell_lat_deg)))

    def _col(self, lon: float) -> int:
        return math.floor((lon + 180.0) / self.cell_lon_deg) % self.cols

    def cell_of(self, point: GeoPoint) -> tuple[int, int]:
        """``(row, column)`` of the cell holding ``point``."""
        return self._row(point.lat), self._col(point.lon)

    def name(self, row: int, col: int) -> str:
        """The geohash of cell ``(row, col)``."""
        value = 0
        for i in range(5 * self.precision):
            # Even bits come from the longitude (column), odd ones from the latitude (row), most significant first.
            bit = (col >> (self.lon_bits - 1 - i // 2)) & 1 if i % 2 == 0 else (row >> (self.lat_bits - 1 - i // 2)) & 1
            value = (value << 1) | bit
        return "".join(_BASE32[(value >> (5 * (self.precision - 1 - k))) & 31] for k in range(self.precision))

    def encode(self, point: GeoPoint) -> str:
        """The geohash of the cell holding ``point``."""
        return self.name(*self.cell_of(point))

    def covering(self, point: GeoPoint, radius_km: float) -> tuple[range, list[int] | None]:
        """Rows and columns of the cells that cover the circle of ``radius_km`` around ``point``.

        The circle's bounding box spans ``lat +- d`` and ``lon +- asin(sin d / cos lat)`` for an angular radius
        ``d`` (J. P. Matuschek, "Finding Points Within a Distance of a Latitude/Longitude Using Bounding
        Coordinates"); near a pole, or for a circle wider than the parallel, it spans every longitude.

        Returns:
            ``(rows, columns)``; ``columns`` is None when every column is needed.
        """
        d = radius_km / EARTH_RADIUS_KM
        d_deg = math.degrees(d)
        lat_lo = max(-90.0, point.lat - d_deg - _EPS_DEG)
        lat_hi = min(90.0, point.lat + d_deg + _EPS_DEG)
        rows = range(self._row(lat_lo), self._row(lat_hi) + 1)
        cos_lat = math.cos(math.radians(point.lat))
        if lat_lo <= -90.0 or lat_hi >= 90.0 or d >= math.pi / 2 or math.sin(d) >= cos_lat:
            return rows, None
        d_lon = math.degrees(math.asin(math.sin(d) / cos_lat)) + _EPS_DEG
        lo = math.floor((point.lon - d_lon + 180.0) / self.cell_lon_deg)
        hi = math.floor((point.lon + d_lon + 180.0) / self.cell_lon_deg)
        if hi - lo + 1 >= self.cols:
            return rows, None
        return rows, [c % self.cols for c in range(lo, hi + 1)]
