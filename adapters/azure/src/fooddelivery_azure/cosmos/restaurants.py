"""Restaurants on Cosmos DB: point reads, etag-conditional replaces, and search by index.

Container ``restaurants``, partition key ``/restaurantId`` (see :mod:`fooddelivery_azure.cosmos.containers`).

Search is one cross-partition query per page: filters on ``cuisine`` (equality), ``rankKey`` (``5 - rating`` as
text, so ``rankKey <= rankKey(minRating)`` is ``rating >= minRating``) and, with ``near``, ``ST_DISTANCE`` on the
spatial index of ``location``; ordered by ``rankKey, restaurantId`` (the composite index), so rating descending then
id ascending, with keyset pagination. ``ST_DISTANCE`` measures on the WGS-84 ellipsoid while the core measures on a
sphere (haversine): the query uses a 1 % wider radius and every candidate is checked with the core's distance, so
the answer is exactly the core's.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from fooddelivery.domain.catalog import Restaurant
from fooddelivery.domain.errors import ConcurrencyConflict, NotFound
from fooddelivery.ports.orders import Page
from fooddelivery.ports.restaurants import RestaurantQuery
from fooddelivery_azure.cosmos._support import (
    CosmosCalls,
    bad_cursor,
    decode_cursor,
    decode_document,
    doc_id,
    encode_cursor,
    status_of,
)
from fooddelivery_azure.cosmos.records import (
    TYPE_RESTAURANT,
    geojson,
    rank_key,
    restaurant_from_doc,
    restaurant_to_doc,
)
from fooddelivery_azure.metering import ChargeSink, RequestChargeRecorder

if TYPE_CHECKING:
    from azure.cosmos import ContainerProxy

__all__ = ["CosmosRestaurantRepository"]

#: Documents read per query round of a search (a page of ``limit`` may need several when the distance check drops
#: candidates).
_BATCH: Final[int] = 100
#: How much wider the ``ST_DISTANCE`` filter is than the requested radius (ellipsoid vs sphere: < 0.6 %).
_RADIUS_MARGIN: Final[float] = 1.01


class CosmosRestaurantRepository:
    """Restaurants in Cosmos DB (``RestaurantRepository``; see the module docstring).

    Args:
        container: the ``restaurants`` container.
        charges: where each call's request charge goes.
    """

    def __init__(self, container: ContainerProxy, *, charges: ChargeSink | None = None) -> None:
        self.charges: ChargeSink = charges if charges is not None else RequestChargeRecorder()
        self._calls = CosmosCalls(container, self.charges)

    def add(self, restaurant: Restaurant) -> Restaurant:
        """Insert; returns the stored restaurant at version 1 with its etag as ``concurrency_token``.

        Raises:
            ConcurrencyConflict: the id exists.
            InfrastructureError: the store failed.
        """
        stored = replace(restaurant, version=1)
        try:
            created = self._calls.create("restaurants.add", restaurant_to_doc(stored))
        except Exception as exc:
            if status_of(exc) == 409:
                raise ConcurrencyConflict(
                    f"restaurant {restaurant.restaurant_id} already exists", restaurant_id=restaurant.restaurant_id
                ) from exc
            raise
        return replace(stored, concurrency_token=created.get("_etag"))

    def get(self, restaurant_id: str) -> Restaurant:
        """The stored restaurant (a point read), ``concurrency_token`` = its etag.

        Raises:
            NotFound: no such restaurant.
            InfrastructureError: the store failed.
        """
        doc = self._calls.read("restaurants.get", doc_id(restaurant_id), restaurant_id)
        if doc is None or doc.get("type") != TYPE_RESTAURANT:
            raise NotFound(f"restaurant {restaurant_id} not found", restaurant_id=restaurant_id)
        return decode_document(restaurant_from_doc, doc, "restaurant")

    def save(self, restaurant: Restaurant) -> Restaurant:
        """Replace if the stored restaurant is still the one read (its etag; without a token, its version);
        returns it at version + 1 with the new etag.

        Raises:
            NotFound: no such restaurant.
            ConcurrencyConflict: it changed since it was read (nothing written).
            InfrastructureError: the store failed.
        """
        rid = restaurant.restaurant_id
        etag = restaurant.concurrency_token
        if etag is None:
            current = self.get(rid)
            if current.version != restaurant.version:
                raise ConcurrencyConflict(
                    f"restaurant {rid} is at version {current.version}, not {restaurant.version}", restaurant_id=rid
                )
            etag = current.concurrency_token
        stored = replace(restaurant, version=restaurant.version + 1)
        doc = restaurant_to_doc(stored)
        try:
            written = self._calls.replace("restaurants.save", doc["id"], doc, etag)
        except Exception as exc:
            if status_of(exc) == 404:
                raise NotFound(f"restaurant {rid} not found", restaurant_id=rid) from exc
            if status_of(exc) == 412:
                raise ConcurrencyConflict(f"restaurant {rid} changed since it was read", restaurant_id=rid) from exc
            raise
        return replace(stored, concurrency_token=written.get("_etag"))

    def search(self, query: RestaurantQuery) -> Page[Restaurant]:
        """Up to ``query.limit`` matching restaurants, rating descending then id ascending (see the module
        docstring).

        Raises:
            ValidationError: a malformed cursor (field ``cursor``).
            InfrastructureError: the store failed.
        """
        after: tuple[str, str] | None = None
        if query.cursor is not None:
            position = decode_cursor(query.cursor, "rs", ("r", "id"))
            try:
                after = (rank_key(Decimal(position["r"])), position["id"])
            except ArithmeticError:
                raise bad_cursor() from None
        where = ["c.type = 'restaurant'"]
        params: dict[str, Any] = {}
        if query.cuisine is not None:
            where.append("c.cuisine = @cuisine")
            params["@cuisine"] = query.cuisine
        if query.min_rating is not None:
            where.append("c.rankKey <= @minRank")
            params["@minRank"] = rank_key(query.min_rating)
        near, radius = query.near, query.radius_km
        if near is not None and radius is not None:
            where.append("ST_DISTANCE(c.location, @near) <= @meters")
            params["@near"] = geojson(near)
            params["@meters"] = radius * 1000.0 * _RADIUS_MARGIN
        items: list[Restaurant] = []
        more = False
        while not more:
            clauses = list(where)
            round_params = dict(params)
            if after is not None:
                clauses.append("(c.rankKey > @afterRank OR (c.rankKey = @afterRank AND c.restaurantId > @afterId))")
                round_params.update({"@afterRank": after[0], "@afterId": after[1]})
            sql = (
                f"SELECT TOP {_BATCH} * FROM c WHERE {' AND '.join(clauses)} "
                "ORDER BY c.rankKey ASC, c.restaurantId ASC"
            )
            docs = list(self._calls.query("restaurants.search", sql, round_params, page_size=_BATCH))
            for doc in docs:
                restaurant = decode_document(restaurant_from_doc, doc, "restaurant")
                after = (rank_key(restaurant.rating), restaurant.restaurant_id)
                if near is not None and radius is not None and near.distance_km(restaurant.location) > radius:
                    continue
                if query.min_rating is not None and restaurant.rating < query.min_rating:
                    continue  # equal rank keys beyond 18 decimal places
                if len(items) == query.limit:
                    more = True
                    break
                items.append(restaurant)
            if len(docs) < _BATCH:
                break
        next_cursor = None
        if more:
            last = items[-1]
            next_cursor = encode_cursor({"k": "rs", "r": str(last.rating), "id": last.restaurant_id})
        return Page(items, next_cursor)
