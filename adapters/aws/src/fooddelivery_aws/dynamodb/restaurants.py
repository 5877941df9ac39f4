"""Restaurants on DynamoDB: compare-and-set writes, and search through the rating indexes.

A search is one Query of ``CuisineRatingIndex`` (with a cuisine) or ``RatingIndex`` (without), ascending on
``ratingRank`` = rating descending, then restaurant id ascending. A minimum rating is part of the key condition
(``ratingRank < "<5 - min>$"``), so no restaurant below it is read. ``near`` + ``radius_km`` cannot be a key
condition of a rating-ordered index: matches are filtered here by haversine distance while the Query walks the
index, which reads the restaurants it skips (fine for a city's catalog; a country-wide catalog would want a
region in the partition key, an index change to make with the HTTP layer's search semantics).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

from fooddelivery.domain.catalog import Restaurant
from fooddelivery.ports.orders import Page
from fooddelivery.ports.restaurants import RestaurantQuery
from fooddelivery_aws.dynamodb._support import (
    TableRepository,
    bad_cursor,
    decode_cursor,
    decode_item,
    encode_cursor,
    error_code,
    get_required,
    put_new,
    put_versioned,
    reraise,
)
from fooddelivery_aws.dynamodb.attributes import get_str
from fooddelivery_aws.dynamodb.records import (
    LISTING_ALL,
    rating_bound,
    restaurant_from_item,
    restaurant_to_item,
)

__all__ = ["DynamoDBRestaurantRepository"]

_BY_CUISINE: Final = "CuisineRatingIndex"
_BY_RATING: Final = "RatingIndex"
#: Query page size while a distance filter skips items (each page is one request).
_FILTERED_PAGE: Final[int] = 100


class DynamoDBRestaurantRepository(TableRepository):
    """Restaurants keyed by ``restaurantId`` in DynamoDB (implements ``RestaurantRepository``).

    Table layout: :data:`fooddelivery_aws.dynamodb.tables.RESTAURANTS`.

    Counted operations (with ``counters``): ``restaurants.reads`` per ``get``/``search`` call,
    ``restaurants.writes`` per ``add``/``save`` call (successful or not).

    Args:
        table_name: the restaurants table.
        client: a ``boto3`` DynamoDB client; built lazily on first use when None.
        counters: optional operation counters.
        region_name: region of a lazily built client.
        endpoint_url: endpoint of a lazily built client.
    """

    def add(self, restaurant: Restaurant) -> Restaurant:
        """Insert ``restaurant``; returns the stored value, at version 1.

        Raises:
            ConcurrencyConflict: the id exists.
            InfrastructureError: the store failed.
        """
        self._count("restaurants.writes")
        stored = replace(restaurant, version=1)
        put_new(
            self._client.get(),
            self._table,
            restaurant_to_item(stored),
            "restaurantId",
            f"restaurant {restaurant.restaurant_id}",
            "restaurants.add",
            restaurant_id=restaurant.restaurant_id,
        )
        return stored

    def save(self, restaurant: Restaurant) -> Restaurant:
        """Replace if the stored version equals ``restaurant.version``; returns it with the version bumped.

        Raises:
            NotFound: no such restaurant.
            ConcurrencyConflict: the stored version differs (nothing written).
            InfrastructureError: the store failed.
        """
        self._count("restaurants.writes")
        stored = replace(restaurant, version=restaurant.version + 1)
        put_versioned(
            self._client.get(),
            self._table,
            restaurant_to_item(stored),
            "restaurantId",
            restaurant.version,
            f"restaurant {restaurant.restaurant_id}",
            "restaurants.save",
            restaurant_id=restaurant.restaurant_id,
        )
        return stored

    def get(self, restaurant_id: str) -> Restaurant:
        """The stored restaurant (strongly consistent read).

        Raises:
            NotFound: no such restaurant.
            InfrastructureError: the store failed, or the item is unreadable.
        """
        self._count("restaurants.reads")
        item = get_required(
            self._client.get(),
            self._table,
            {"restaurantId": {"S": restaurant_id}},
            "restaurants.get",
            f"restaurant {restaurant_id}",
            restaurant_id=restaurant_id,
        )
        return _restaurant(item)

    def search(self, query: RestaurantQuery) -> Page[Restaurant]:
        """Up to ``query.limit`` matching restaurants, rating descending then id ascending.

        Raises:
            ValidationError: a malformed cursor (field ``cursor``).
            InfrastructureError: the store failed.
        """
        self._count("restaurants.reads")
        if query.cuisine is None:
            index, hash_attr, hash_value = _BY_RATING, "listing", LISTING_ALL
        else:
            index, hash_attr, hash_value = _BY_CUISINE, "cuisineType", query.cuisine
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": "#h = :h",
            "ExpressionAttributeNames": {"#h": hash_attr},
            "ExpressionAttributeValues": {":h": {"S": hash_value}},
            "ScanIndexForward": True,
        }
        if query.min_rating is not None:
            kwargs["KeyConditionExpression"] += " AND ratingRank < :bound"
            kwargs["ExpressionAttributeValues"][":bound"] = {"S": rating_bound(query.min_rating)}
        if query.cursor is not None:
            pos = decode_cursor(query.cursor, "rs", ("rank", "id"), allow_empty=False)
            if not pos["rank"].endswith("#" + pos["id"]):
                raise bad_cursor()
            kwargs["ExclusiveStartKey"] = {
                hash_attr: {"S": hash_value},
                "ratingRank": {"S": pos["rank"]},
                "restaurantId": {"S": pos["id"]},
            }
        near, radius = query.near, query.radius_km
        matches: list[tuple[str, Restaurant]] = []
        client = self._client.get()
        while len(matches) <= query.limit:
            kwargs["Limit"] = _FILTERED_PAGE if near is not None else query.limit + 1 - len(matches)
            try:
                response = client.query(**kwargs)
            except Exception as exc:
                if error_code(exc) == "ValidationException" and query.cursor is not None:
                    raise bad_cursor() from exc  # a start key outside this query's range
                reraise(exc, "restaurants.search")
            for item in response.get("Items", []):
                restaurant = _restaurant(item)
                if near is not None and radius is not None and near.distance_km(restaurant.location) > radius:
                    continue
                matches.append((get_str(item, "ratingRank"), restaurant))
                if len(matches) > query.limit:
                    break
            last = response.get("LastEvaluatedKey")
            if not last:
                break
            kwargs["ExclusiveStartKey"] = last
        next_cursor = None
        if len(matches) > query.limit:
            rank, last_restaurant = matches[query.limit - 1]
            next_cursor = encode_cursor({"k": "rs", "rank": rank, "id": last_restaurant.restaurant_id})
        return Page([r for _, r in matches[: query.limit]], next_cursor)


def _restaurant(item: dict[str, Any]) -> Restaurant:
    return decode_item(restaurant_from_item, item, "restaurant")
