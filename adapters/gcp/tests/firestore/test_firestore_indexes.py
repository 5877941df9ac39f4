"""Every query the Firestore repositories run is served by a declared index (the emulator never enforces
indexes, real Firestore refuses a query without one), and ``deploy/gcp/firestore.indexes.json`` is the file
generated from the declarations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fooddelivery.domain.order import OrderStatus
from fooddelivery.ports.restaurants import RestaurantQuery
from fooddelivery.testing.builders import DOWNTOWN, T0, make_driver, make_order, make_restaurant
from fooddelivery_gcp.firestore import (
    FirestoreDriverRepository,
    FirestoreOrderRepository,
    FirestoreRestaurantRepository,
)
from fooddelivery_gcp.firestore.indexes import COMPOSITE_INDEXES, indexes_json, required_index

INDEX_FILE = Path(__file__).resolve().parents[4] / "deploy" / "gcp" / "firestore.indexes.json"


def test_the_deployed_index_file_is_the_generated_one() -> None:
    assert INDEX_FILE.read_text() == indexes_json(), "regenerate deploy/gcp/firestore.indexes.json"


@pytest.fixture
def queries(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every structured query streamed while the test runs (the real client, recorded on the way)."""
    from google.cloud.firestore_v1.query import Query

    seen: list[Any] = []
    original = Query.stream

    def stream(self: Query, *args: Any, **kwargs: Any) -> Any:
        seen.append(self._to_protobuf())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Query, "stream", stream)
    yield seen


def _shape(proto: Any, prefix: str) -> tuple[str, tuple[tuple[str, str], ...] | None]:
    """(logical collection, the composite index the query needs or None)."""
    collection = proto.from_[0].collection_id.removeprefix(prefix)
    equalities: list[str] = []
    filters = [proto.where] if proto.where else []
    while filters:
        f = filters.pop()
        if "composite_filter" in f:
            filters.extend(f.composite_filter.filters)
        elif "field_filter" in f and f.field_filter.op.name == "EQUAL":
            equalities.append(f.field_filter.field.field_path)
    orders = [
        (o.field.field_path, "ASCENDING" if o.direction.name == "ASCENDING" else "DESCENDING") for o in proto.order_by
    ]
    return collection, required_index(collection, equalities, orders)


def test_every_repository_query_is_served_by_a_declared_index(
    firestore_client: Any, prefix: str, queries: list[Any]
) -> None:
    orders = FirestoreOrderRepository(firestore_client, prefix=prefix)
    restaurants = FirestoreRestaurantRepository(firestore_client, prefix=prefix)
    drivers = FirestoreDriverRepository(firestore_client, prefix=prefix)
    restaurant = restaurants.add(make_restaurant(cuisine="pizza", rating=Decimal("4.5")))
    for i in range(3):
        orders.add(make_order(restaurant, customer_id="cus-idx", now=T0 + timedelta(minutes=i)))
    drivers.add(make_driver())
    first = orders.list_by_customer("cus-idx", limit=1)
    orders.list_by_customer("cus-idx", limit=1, cursor=first.next_cursor)
    page = orders.list_by_restaurant(restaurant.restaurant_id, limit=1)
    orders.list_by_restaurant(restaurant.restaurant_id, limit=1, cursor=page.next_cursor)
    orders.list_by_restaurant(restaurant.restaurant_id, status=OrderStatus.PENDING, limit=1)
    newest = orders.list_by_restaurant(restaurant.restaurant_id, limit=1, newest_first=True)
    orders.list_by_restaurant(restaurant.restaurant_id, limit=1, cursor=newest.next_cursor, newest_first=True)
    orders.list_by_restaurant(restaurant.restaurant_id, status=OrderStatus.PENDING, limit=1, newest_first=True)
    orders.pending(10)
    orders.pending(10, older_than=T0 + timedelta(days=36500))
    restaurants.search(RestaurantQuery())
    restaurants.search(RestaurantQuery(cuisine="pizza", min_rating=Decimal("4"), near=DOWNTOWN, radius_km=5))
    drivers.available_near(DOWNTOWN, 8.0, 5)

    declared = {(i.collection, i.fields) for i in COMPOSITE_INDEXES}
    needed = {_shape(q, prefix) for q in queries}
    assert len(queries) >= 15
    missing = {(c, fields) for c, fields in needed if fields is not None and (c, fields) not in declared}
    assert missing == set()
    unused = declared - {(c, f) for c, f in needed if f is not None}
    assert unused == set(), "an index no query uses"
