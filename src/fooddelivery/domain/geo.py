"""Geographic points and great-circle distance."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from fooddelivery.domain._frozen import fast_frozen_init
from fooddelivery.domain.errors import FieldError, ValidationError

__all__ = ["EARTH_RADIUS_KM", "GeoPoint", "haversine_km"]

#: Mean Earth radius in km (IUGG mean radius R1 = 6371.0088 km; 6371.0 is the customary rounding).
EARTH_RADIUS_KM: Final[float] = 6371.0088


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class GeoPoint:
    """A WGS84 position in decimal degrees.

    Attributes:
        lat: latitude, -90..90.
        lon: longitude, -180..180.

    Raises:
        ValidationError: a coordinate out of range, not finite, or not a number.
    """

    lat: float
    lon: float

    def __post_init__(self) -> None:
        errors: list[FieldError] = []
        for name, value, bound in (("lat", self.lat, 90.0), ("lon", self.lon, 180.0)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                errors.append(FieldError(name, "must be a number", "type"))
            elif not math.isfinite(value) or not -bound <= value <= bound:
                errors.append(FieldError(name, f"must be between -{bound:g} and {bound:g}", "out_of_range"))
        if errors:
            raise ValidationError("invalid coordinates", errors)

    def distance_km(self, other: GeoPoint) -> float:
        """Great-circle distance to ``other`` in km (haversine)."""
        return haversine_km(self.lat, self.lon, other.lat, other.lon)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two WGS84 points given in degrees (haversine formula).

    Accurate to about 0.5 % (the Earth is not a sphere), which is ample for fees and ETAs.
    """
    # math.radians(x) is x * (pi / 180) in CPython (degToRad in Modules/mathmodule.c): the same floats, fewer calls;
    # the in-memory driver index computes exactly these operations too
    p1, p2 = lat1 * _DEG_TO_RAD, lat2 * _DEG_TO_RAD
    dp = p2 - p1
    dl = (lon2 - lon1) * _DEG_TO_RAD
    root = math.sqrt(math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * math.asin(root if root < 1.0 else 1.0)


_DEG_TO_RAD: Final[float] = math.pi / 180.0
