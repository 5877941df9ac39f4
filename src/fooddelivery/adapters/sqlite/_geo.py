"""Bounding boxes of search circles, for index range queries on latitude and longitude."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from fooddelivery.domain.geo import EARTH_RADIUS_KM, GeoPoint

__all__ = ["Box", "bounding_box"]

#: Extra degrees around every box, against floating-point noise at its edges (about 1 cm). A box is only a
#: prefilter: the exact haversine decides.
_EPS_DEG: Final[float] = 1e-7


@dataclass(frozen=True, slots=True)
class Box:
    """The degrees a circle on the sphere can reach.

    Attributes:
        lat_lo: southern edge (>= -90).
        lat_hi: northern edge (<= 90).
        lons: longitude intervals ``(west, east)`` (two when the circle crosses the antimeridian), or None when
            every longitude qualifies (the circle contains a pole or is very large).
    """

    lat_lo: float
    lat_hi: float
    lons: tuple[tuple[float, float], ...] | None


def bounding_box(point: GeoPoint, radius_km: float) -> Box:
    """The box of the circle of ``radius_km`` km around ``point``.

    A circle of angular radius ``d`` around latitude ``lat`` spans ``lat +- d`` and ``lon +- asin(sin d / cos
    lat)`` (J. P. Matuschek, "Finding Points Within a Distance of a Latitude/Longitude Using Bounding
    Coordinates"); near a pole it spans every longitude.
    """
    d = radius_km / EARTH_RADIUS_KM
    d_deg = math.degrees(d)
    lat_lo = max(-90.0, point.lat - d_deg - _EPS_DEG)
    lat_hi = min(90.0, point.lat + d_deg + _EPS_DEG)
    cos_lat = math.cos(math.radians(point.lat))
    if lat_lo <= -90.0 or lat_hi >= 90.0 or d >= math.pi / 2 or math.sin(d) >= cos_lat:
        return Box(lat_lo, lat_hi, None)
    d_lon = math.degrees(math.asin(math.sin(d) / cos_lat)) + _EPS_DEG
    west, east = point.lon - d_lon, point.lon + d_lon
    if east - west >= 360.0:
        return Box(lat_lo, lat_hi, None)
    if west < -180.0:
        return Box(lat_lo, lat_hi, ((west + 360.0, 180.0), (-180.0, east)))
    if east > 180.0:
        return Box(lat_lo, lat_hi, ((west, 180.0), (-180.0, east - 360.0)))
    return Box(lat_lo, lat_hi, ((west, east),))
