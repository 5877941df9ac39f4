"""Restaurant storage and search."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, runtime_checkable

from fooddelivery.domain.catalog import Restaurant
from fooddelivery.domain.errors import ValidationError
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.ports.paging import Page

__all__ = ["RestaurantQuery", "RestaurantRepository"]


@dataclass(frozen=True, slots=True)
class RestaurantQuery:
    """Filters of a restaurant listing.

    Attributes:
        cuisine: exact cuisine (lower case), or None for all.
        min_rating: only restaurants rated at least this (0..5), or None.
        near: centre of a radius filter, or None.
        radius_km: radius around ``near`` (0 < r <= 100), required with ``near``.
        limit: page size, 1..100.
        cursor: opaque cursor from the previous page.

    Results are sorted by rating, highest first, then by ``restaurant_id``.

    Raises:
        ValidationError: a bad limit, rating or radius.
    """

    cuisine: str | None = None
    min_rating: Decimal | None = None
    near: GeoPoint | None = None
    radius_km: float | None = None
    limit: int = 20
    cursor: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= 100:
            raise ValidationError.single("limit", "must be 1..100", "out_of_range")
        if self.min_rating is not None and not Decimal(0) <= self.min_rating <= Decimal(5):
            raise ValidationError.single("min_rating", "must be 0..5", "out_of_range")
        if (self.near is None) != (self.radius_km is None):
            raise ValidationError.single("radius_km", "a point and a radius go together", "required")
        if self.radius_km is not None and not 0 < self.radius_km <= 100:
            raise ValidationError.single("radius_km", "must be in (0, 100]", "out_of_range")


@runtime_checkable
class RestaurantRepository(Protocol):
    """Restaurants keyed by ``restaurant_id``."""

    def add(self, restaurant: Restaurant) -> Restaurant:
        """Insert; returns the stored restaurant (version 1).

        Raises:
            ConcurrencyConflict: the id exists.
        """
        ...

    def save(self, restaurant: Restaurant) -> Restaurant:
        """Replace if the stored restaurant is still the one ``restaurant`` was read as (its ``version``, or the
        store's ``concurrency_token``); returns it with the version bumped.

        Raises:
            ConcurrencyConflict: the stored version differs.
            NotFound: no such restaurant.
        """
        ...

    def get(self, restaurant_id: str) -> Restaurant:
        """The stored restaurant.

        Raises:
            NotFound: no such restaurant.
        """
        ...

    def search(self, query: RestaurantQuery) -> Page[Restaurant]:
        """Restaurants matching ``query``, rating descending then id ascending.

        Raises:
            ValidationError: a malformed cursor (field ``cursor``).
        """
        ...
