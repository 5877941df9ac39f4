"""Restaurants in SQLite: compare-and-set saves and the cuisine + rating listing with keyset pagination."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Final

from fooddelivery.adapters.counters import OperationCounters
from fooddelivery.adapters.paging import bad_cursor, decode_cursor, encode_cursor
from fooddelivery.adapters.sqlite._geo import bounding_box
from fooddelivery.adapters.sqlite._support import insert_new, read_row, update_versioned
from fooddelivery.adapters.sqlite.database import SqliteDatabase
from fooddelivery.adapters.sqlite.records import rank_key, restaurant_from_row, restaurant_record
from fooddelivery.domain.catalog import Restaurant
from fooddelivery.domain.geo import haversine_km
from fooddelivery.ports.orders import Page
from fooddelivery.ports.restaurants import RestaurantQuery

__all__ = ["SqliteRestaurantRepository"]

#: Rows read per round trip while a filtered listing looks for a page's worth of matches.
_BATCH: Final[int] = 64


def _cursor_position(cursor: str) -> tuple[str, str]:
    """The (rank key, restaurant id) after which a cursor's page starts.

    Raises:
        ValidationError: a malformed cursor (field ``cursor``).
    """
    pos = decode_cursor(cursor, "rs", ("r", "id"))
    try:
        rating = Decimal(pos["r"])
    except InvalidOperation:
        raise bad_cursor() from None
    if not rating.is_finite() or not Decimal(0) <= rating <= Decimal(5):
        raise bad_cursor()
    return rank_key(rating), pos["id"]


class SqliteRestaurantRepository:
    """Restaurants by id, searchable by cuisine, rating and distance (implements ``RestaurantRepository``).

    Listings walk the index ``(cuisine, rank_key, restaurant_id)`` (or ``(rank_key, restaurant_id)`` for every
    cuisine), where ``rank_key`` is ``5 - rating`` as fixed-width text, so ascending index order is rating
    descending then id ascending; a cursor resumes with ``(rank_key, restaurant_id) > (?, ?)``. ``min_rating`` is
    a range on the same key. ``near`` + ``radius_km`` add a latitude/longitude bounding box to the query and keep
    restaurants whose haversine distance is at most ``radius_km`` (the in-memory store's rule). Cursors have the
    in-memory store's shape (``{"k": "rs", "r": rating, "id": id}``).

    Counted operations (with ``counters``): ``restaurants.reads`` per ``get``/``search`` call,
    ``restaurants.writes`` per ``add``/``save`` call.

    Args:
        db: the database (shared with the other SQLite adapters).
        counters: optional shared operation counters.
    """

    def __init__(self, db: SqliteDatabase, *, counters: OperationCounters | None = None) -> None:
        self._db = db
        self._counters = counters

    def add(self, restaurant: Restaurant) -> Restaurant:
        """Insert ``restaurant``; returns the stored value, at version 1.

        Raises:
            ConcurrencyConflict: the id exists.
            InfrastructureError: the database failed.
        """
        if self._counters is not None:
            self._counters.add("restaurants.writes")
        loc = restaurant.location
        row = (
            restaurant.restaurant_id,
            restaurant.cuisine,
            rank_key(restaurant.rating),
            loc.lat,
            loc.lon,
            1,
            restaurant_record(restaurant),
        )
        with self._db.write() as conn:
            insert_new(
                conn,
                "INSERT INTO restaurants (restaurant_id, cuisine, rank_key, lat, lon, version, record)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                row,
                f"restaurant {restaurant.restaurant_id}",
                restaurant_id=restaurant.restaurant_id,
            )
        return replace(restaurant, version=1)

    def save(self, restaurant: Restaurant) -> Restaurant:
        """Replace if the stored version equals ``restaurant.version``; returns it bumped.

        Raises:
            NotFound: no such restaurant.
            ConcurrencyConflict: the stored version differs (nothing written).
            InfrastructureError: the database failed.
        """
        if self._counters is not None:
            self._counters.add("restaurants.writes")
        rid = restaurant.restaurant_id
        loc = restaurant.location
        with self._db.write() as conn:
            update_versioned(
                conn,
                "restaurants",
                "cuisine = ?, rank_key = ?, lat = ?, lon = ?, version = ?, record = ?",
                (
                    restaurant.cuisine,
                    rank_key(restaurant.rating),
                    loc.lat,
                    loc.lon,
                    restaurant.version + 1,
                    restaurant_record(restaurant),
                ),
                "restaurant_id",
                rid,
                restaurant.version,
                f"restaurant {rid}",
                restaurant_id=rid,
            )
        return replace(restaurant, version=restaurant.version + 1)

    def get(self, restaurant_id: str) -> Restaurant:
        """The stored restaurant.

        Raises:
            NotFound: no such restaurant.
            InfrastructureError: the database failed.
        """
        if self._counters is not None:
            self._counters.add("restaurants.reads")
        row = read_row(
            self._db,
            "SELECT version, record FROM restaurants WHERE restaurant_id = ?",
            (restaurant_id,),
            f"restaurant {restaurant_id}",
            restaurant_id=restaurant_id,
        )
        return restaurant_from_row(restaurant_id, row[0], row[1])

    def search(self, query: RestaurantQuery) -> Page[Restaurant]:
        """Up to ``query.limit`` matching restaurants, rating descending then id ascending.

        Raises:
            ValidationError: a malformed cursor (field ``cursor``).
            InfrastructureError: the database failed.
        """
        if self._counters is not None:
            self._counters.add("restaurants.reads")
        after = _cursor_position(query.cursor) if query.cursor is not None else None
        where: list[str] = []
        params: list[object] = []
        if query.cuisine is not None:
            where.append("cuisine = ?")
            params.append(query.cuisine)
        if query.min_rating is not None:
            where.append("rank_key <= ?")
            params.append(rank_key(query.min_rating))
        near, radius = query.near, query.radius_km
        if near is not None and radius is not None:
            box = bounding_box(near, radius)
            where.append("lat BETWEEN ? AND ?")
            params.extend((box.lat_lo, box.lat_hi))
            if box.lons is not None:
                where.append("(" + " OR ".join("lon BETWEEN ? AND ?" for _ in box.lons) + ")")
                for west, east in box.lons:
                    params.extend((west, east))
        base = "SELECT restaurant_id, rank_key, lat, lon, version, record FROM restaurants"
        min_rating = query.min_rating
        items: list[Restaurant] = []
        more = False
        with self._db.snapshot() as conn:
            while not more:
                clauses = [*where, "(rank_key, restaurant_id) > (?, ?)"] if after is not None else list(where)
                sql = base + (" WHERE " + " AND ".join(clauses) if clauses else "")
                sql += " ORDER BY rank_key, restaurant_id LIMIT ?"
                rows = conn.execute(sql, [*params, *(after or ()), _BATCH]).fetchall()
                for rid, key, lat, lon, version, record in rows:
                    after = (key, rid)
                    if near is not None and radius is not None and haversine_km(near.lat, near.lon, lat, lon) > radius:
                        continue
                    restaurant = restaurant_from_row(rid, version, record)
                    if min_rating is not None and restaurant.rating < min_rating:
                        continue  # equal rank keys beyond 18 decimal places
                    if len(items) == query.limit:
                        more = True
                        break
                    items.append(restaurant)
                if len(rows) < _BATCH:
                    break
        next_cursor = None
        if more:
            last = items[-1]
            next_cursor = encode_cursor({"k": "rs", "r": str(last.rating), "id": last.restaurant_id})
        return Page(items, next_cursor)

    def __len__(self) -> int:
        """How many restaurants are stored."""
        with self._db.read() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM restaurants").fetchone()[0])
