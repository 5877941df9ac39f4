"""Restaurants on Firestore: compare-and-set writes, and the search as one ordered query.

``restaurants/{restaurantId}`` holds :func:`~fooddelivery_gcp.firestore.records.restaurant_doc`. A search is one
query ordered by ``ratingRank`` (``5 - rating`` as fixed-width text: ascending = rating descending) then
``restaurantId``, with ``cuisine ==`` when asked and ``ratingRank <= rank(minRating)`` for a minimum rating, so
no restaurant below the minimum is read. Indexes (``firestore.indexes.json``): ``(ratingRank, restaurantId)`` and
``(cuisine, ratingRank, restaurantId)``. ``near`` + ``radiusKm`` cannot be part of a rating-ordered query: matches
are filtered by haversine distance while the query pages through the ordering (it reads the restaurants it skips,
fine for a city's catalog).

Writes: ``add`` is a ``create`` (``ALREADY_EXISTS`` -> ``ConcurrencyConflict``); ``save`` is a ``set`` with the
``last_update_time`` precondition of the restaurant's ``concurrency_token`` (set when it was read), or, for a
restaurant without a token, a transaction comparing the stored ``version``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from fooddelivery.adapters.paging import bad_cursor, decode_cursor, encode_cursor
from fooddelivery.domain.catalog import Restaurant
from fooddelivery.domain.errors import ConcurrencyConflict, NotFound
from fooddelivery.ports.orders import Page
from fooddelivery.ports.restaurants import RestaurantQuery
from fooddelivery_gcp.firestore._support import (
    FirestoreRepository,
    doc_id,
    error_name,
    format_token,
    parse_token,
    reraise,
    run_transaction,
)
from fooddelivery_gcp.firestore.records import rank_key, restaurant_doc, restaurant_from_doc

if TYPE_CHECKING:
    from google.cloud.firestore import DocumentReference, Transaction

__all__ = ["FirestoreRestaurantRepository"]

RESTAURANTS: Final[str] = "restaurants"
#: Documents per query page while a distance filter skips restaurants.
_FILTERED_PAGE: Final[int] = 100
_TXN_ATTEMPTS: Final[int] = 5


class FirestoreRestaurantRepository(FirestoreRepository):
    """Restaurants in Firestore (implements ``RestaurantRepository``; see the module docstring).

    Args:
        client: a ``google.cloud.firestore.Client`` (or ``LazyFirestore``); built lazily when None.
        prefix: prepended to the collection name.
        meter: records billed document operations.
    """

    def _ref(self, restaurant_id: str) -> DocumentReference:
        return self.client.collection(self.collection_name(RESTAURANTS)).document(doc_id(restaurant_id))

    def add(self, restaurant: Restaurant) -> Restaurant:
        """Insert ``restaurant``; returns it at version 1 (its token the write's update time).

        Raises:
            ConcurrencyConflict: the id exists.
            InfrastructureError: Firestore failed.
        """
        stored = replace(restaurant, version=1, concurrency_token=None)
        try:
            result = self._ref(restaurant.restaurant_id).create(restaurant_doc(stored))
        except Exception as exc:
            if error_name(exc) == "AlreadyExists":
                raise ConcurrencyConflict(
                    f"restaurant {restaurant.restaurant_id} already exists", restaurant_id=restaurant.restaurant_id
                ) from exc
            reraise(exc, "restaurants.add", restaurant_id=restaurant.restaurant_id)
        finally:
            self._record(RESTAURANTS, writes=1)
        return replace(stored, concurrency_token=format_token(result.update_time))

    def get(self, restaurant_id: str) -> Restaurant:
        """The stored restaurant (its token = the document's update time).

        Raises:
            NotFound: no such restaurant.
            InfrastructureError: Firestore failed, or the document is damaged.
        """
        try:
            snap = self._ref(restaurant_id).get()
        except Exception as exc:
            reraise(exc, "restaurants.get", restaurant_id=restaurant_id)
        self._record(RESTAURANTS, reads=1)
        if not snap.exists:
            raise NotFound(f"restaurant {restaurant_id} not found", restaurant_id=restaurant_id)
        return restaurant_from_doc(snap.to_dict() or {}, format_token(snap.update_time))

    def save(self, restaurant: Restaurant) -> Restaurant:
        """Replace if the stored restaurant is still the one ``restaurant`` was read as; returns it with the version
        bumped (and a new token).

        Raises:
            NotFound: no such restaurant.
            ConcurrencyConflict: the stored restaurant changed since (nothing written).
            InfrastructureError: Firestore failed.
        """
        rid = restaurant.restaurant_id
        stored = replace(restaurant, version=restaurant.version + 1, concurrency_token=None)
        doc = restaurant_doc(stored)
        ref = self._ref(rid)
        if restaurant.concurrency_token is None:

            def write(transaction: Transaction) -> None:
                snap = ref.get(transaction=transaction)
                self._record(RESTAURANTS, reads=1)
                if not snap.exists:
                    raise NotFound(f"restaurant {rid} not found", restaurant_id=rid)
                if (snap.to_dict() or {}).get("version") != restaurant.version:
                    raise ConcurrencyConflict(f"restaurant {rid} changed since it was read", restaurant_id=rid)
                transaction.set(ref, doc)

            run_transaction(self.client, write, _TXN_ATTEMPTS, "restaurants.save", restaurant_id=rid)
            self._record(RESTAURANTS, writes=1)
            return stored
        option = self.client.write_option(last_update_time=parse_token(restaurant.concurrency_token))
        try:
            result = ref.update(doc, option=option)
        except Exception as exc:
            self._record(RESTAURANTS, writes=1)
            if error_name(exc) == "NotFound":
                raise NotFound(f"restaurant {rid} not found", restaurant_id=rid) from exc
            if error_name(exc) == "FailedPrecondition":
                self.get(rid)  # NotFound if it is gone
                raise ConcurrencyConflict(f"restaurant {rid} changed since it was read", restaurant_id=rid) from exc
            reraise(exc, "restaurants.save", restaurant_id=rid)
        self._record(RESTAURANTS, writes=1)
        return replace(stored, concurrency_token=format_token(result.update_time))

    def search(self, query: RestaurantQuery) -> Page[Restaurant]:
        """Up to ``query.limit`` matching restaurants, rating descending then id ascending.

        Raises:
            ValidationError: a malformed cursor (field ``cursor``).
            InfrastructureError: Firestore failed.
        """
        from google.cloud.firestore import FieldFilter

        base: Any = self.client.collection(self.collection_name(RESTAURANTS))
        if query.cuisine is not None:
            base = base.where(filter=FieldFilter("cuisine", "==", query.cuisine))
        if query.min_rating is not None:
            base = base.where(filter=FieldFilter("ratingRank", "<=", rank_key(query.min_rating)))
        base = base.order_by("ratingRank").order_by("restaurantId")
        start: dict[str, str] | None = None
        if query.cursor is not None:
            pos = decode_cursor(query.cursor, "rs", ("rank", "id"))
            rank = pos["rank"]
            if len(rank) != 20 or not rank.replace(".", "", 1).isdigit():
                raise bad_cursor()
            start = {"ratingRank": rank, "restaurantId": pos["id"]}
        near, radius = query.near, query.radius_km
        page_size = _FILTERED_PAGE if near is not None else query.limit + 1
        matches: list[tuple[str, Restaurant]] = []
        while len(matches) <= query.limit:
            page = base.start_after(start) if start is not None else base
            try:
                snaps = list(page.limit(page_size).stream())
            except Exception as exc:
                reraise(exc, "restaurants.search")
            self._record(RESTAURANTS, reads=max(1, len(snaps)))
            for snap in snaps:
                data = snap.to_dict() or {}
                restaurant = restaurant_from_doc(data, format_token(snap.update_time))
                start = {"ratingRank": data["ratingRank"], "restaurantId": restaurant.restaurant_id}
                if near is not None and radius is not None and near.distance_km(restaurant.location) > radius:
                    continue
                matches.append((str(data["ratingRank"]), restaurant))
                if len(matches) > query.limit:
                    break
            if len(snaps) < page_size:
                break
        next_cursor = None
        if len(matches) > query.limit:
            rank, last = matches[query.limit - 1]
            next_cursor = encode_cursor({"k": "rs", "rank": rank, "id": last.restaurant_id})
        return Page([r for _, r in matches[: query.limit]], next_cursor)
