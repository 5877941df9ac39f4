"""Restaurants in memory, with the cuisine + rating ordering of the cloud stores' index."""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right, insort
from dataclasses import replace
from decimal import Decimal, InvalidOperation

from fooddelivery.adapters.counters import OperationCounters, meter_of
from fooddelivery.adapters.paging import bad_cursor, decode_cursor, encode_cursor
from fooddelivery.adapters.sizes import restaurant_size
from fooddelivery.domain.catalog import Restaurant
from fooddelivery.domain.errors import ConcurrencyConflict, NotFound
from fooddelivery.metering.operations import store
from fooddelivery.ports.orders import Page
from fooddelivery.ports.restaurants import RestaurantQuery

__all__ = ["InMemoryRestaurantRepository"]

#: Sort key of the listing: (-rating, restaurant_id) ascending == rating descending, then id
#: ascending.
_Key = tuple[Decimal, str]


def _key(restaurant: Restaurant) -> _Key:
    return (-restaurant.rating, restaurant.restaurant_id)


def _remove(index: list[_Key], key: _Key) -> None:
    i = bisect_left(index, key)
    if i < len(index) and index[i] == key:
        del index[i]


def _cursor_key(cursor: str) -> _Key:
    pos = decode_cursor(cursor, "rs", ("r", "id"))
    try:
        rating = Decimal(pos["r"])
    except InvalidOperation:
        raise bad_cursor() from None
    if not rating.is_finite() or not Decimal(0) <= rating <= Decimal(5):
        raise bad_cursor()  # also keeps ``-rating`` inside the decimal context (1E+999999999 would overflow)
    return (-rating, pos["id"])


_READ = store("restaurants", "read")
_READ_MISS = store("restaurants", "read_miss")
_QUERY = store("restaurants", "query")
_QUERY_ITEM = store("restaurants", "query_item")
_WRITE = store("restaurants", "write")


class InMemoryRestaurantRepository:
    """Restaurants by id, searchable by cuisine, rating and distance (a ``RestaurantRepository``).

    Thread-safe.

    ``Restaurant`` is a frozen dataclass whose menu is a tuple of frozen items, so the stored value
    cannot be changed by callers. Listings walk a sorted index (all restaurants, or one cuisine)
    from the cursor's position, so a page costs the entries it skips over, not a sort of everything.

    Counted operations (with ``counters``): ``restaurants.reads`` per ``get``/``search`` call,
    ``restaurants.writes`` per ``add``/``save`` call. Metered: ``store.restaurants.write`` per stored
    write, ``store.restaurants.read`` (or ``read_miss``) per ``get``, ``store.restaurants.query`` per
    ``search`` (sized: the items returned).

    Args:
        counters: optional shared operation counters.
    """

    def __init__(self, *, counters: OperationCounters | None = None) -> None:
        self._lock = threading.Lock()
        self._counters = counters
        self._meter = meter_of(counters)
        self._restaurants: dict[str, Restaurant] = {}
        self._all: list[_Key] = []
        self._by_cuisine: dict[str, list[_Key]] = {}

    def add(self, restaurant: Restaurant) -> Restaurant:
        """Insert ``restaurant``; returns the stored value, at version 1.

        Raises:
            ConcurrencyConflict: the id exists.
        """
        if self._counters is not None:
            self._counters.local.counts["restaurants.writes"] += 1
        with self._lock:
            if restaurant.restaurant_id in self._restaurants:
                raise ConcurrencyConflict(
                    f"restaurant {restaurant.restaurant_id} already exists",
                    restaurant_id=restaurant.restaurant_id,
                )
            stored = replace(restaurant, version=1)
            self._restaurants[stored.restaurant_id] = stored
            key = _key(stored)
            insort(self._all, key)
            insort(self._by_cuisine.setdefault(stored.cuisine, []), key)
        if self._meter is not None:
            self._meter.record(_WRITE, size=restaurant_size(stored))
        return stored

    def save(self, restaurant: Restaurant) -> Restaurant:
        """Replace if the stored version equals ``restaurant.version``; returns it bumped.

        Raises:
            NotFound: no such restaurant.
            ConcurrencyConflict: the stored version differs (nothing written).
        """
        if self._counters is not None:
            self._counters.local.counts["restaurants.writes"] += 1
        with self._lock:
            current = self._restaurants.get(restaurant.restaurant_id)
            if current is None:
                raise NotFound(
                    f"restaurant {restaurant.restaurant_id} not found",
                    restaurant_id=restaurant.restaurant_id,
                )
            if current.version != restaurant.version:
                raise ConcurrencyConflict(
                    f"restaurant {restaurant.restaurant_id} is at version {current.version}, not {restaurant.version}",
                    restaurant_id=restaurant.restaurant_id,
                )
            stored = replace(restaurant, version=restaurant.version + 1)
            old_key, new_key = _key(current), _key(stored)
            if old_key != new_key or current.cuisine != stored.cuisine:
                _remove(self._all, old_key)
                insort(self._all, new_key)
                _remove(self._by_cuisine[current.cuisine], old_key)
                insort(self._by_cuisine.setdefault(stored.cuisine, []), new_key)
            self._restaurants[stored.restaurant_id] = stored
        if self._meter is not None:
            self._meter.record(_WRITE, size=restaurant_size(stored))
        return stored

    def get(self, restaurant_id: str) -> Restaurant:
        """The stored restaurant.

        Raises:
            NotFound: no such restaurant.
        """
        if self._counters is not None:
            self._counters.local.counts["restaurants.reads"] += 1
        # No lock: a stored restaurant is immutable and one dict read is atomic (a subscript: no call on the way
        # through).
        try:
            stored = self._restaurants[restaurant_id]
        except KeyError:
            if self._meter is not None:
                self._meter.record(_READ_MISS)
            raise NotFound(f"restaurant {restaurant_id} not found", restaurant_id=restaurant_id) from None
        if self._meter is not None:
            self._meter.local.sized[_READ, restaurant_size(stored)] += 1  # meter.record, without the call
        return stored

    def search(self, query: RestaurantQuery) -> Page[Restaurant]:
        """Up to ``query.limit`` matching restaurants, rating descending then id ascending.

        ``near`` + ``radius_km`` keep restaurants whose haversine distance is at most ``radius_km``
        km.

        Raises:
            ValidationError: a malformed cursor (field ``cursor``).
        """
        if self._counters is not None:
            self._counters.local.counts["restaurants.reads"] += 1
        after = _cursor_key(query.cursor) if query.cursor is not None else None
        min_rating = query.min_rating
        near, radius = query.near, query.radius_km
        items: list[Restaurant] = []
        more = False
        with self._lock:
            index = self._all if query.cuisine is None else self._by_cuisine.get(query.cuisine, [])
            start = bisect_right(index, after) if after is not None else 0
            restaurants = self._restaurants
            for i in range(start, len(index)):
                neg_rating, restaurant_id = index[i]
                if min_rating is not None and -neg_rating < min_rating:
                    break  # sorted by rating: nothing further can qualify
                restaurant = restaurants[restaurant_id]
                if near is not None and radius is not None and near.distance_km(restaurant.location) > radius:
                    continue
                if len(items) == query.limit:
                    more = True
                    break
                items.append(restaurant)
        next_cursor = None
        if more:
            last = items[-1]
            next_cursor = encode_cursor({"k": "rs", "r": str(last.rating), "id": last.restaurant_id})
        if self._meter is not None:
            self._meter.record(_QUERY, size=sum(restaurant_size(r) for r in items))
            self._meter.record(_QUERY_ITEM, len(items))
        return Page(items, next_cursor)

    def __len__(self) -> int:
        """How many restaurants are stored."""
        return len(self._restaurants)
