"""The DynamoDB restaurant repository beyond the port contract: the rating indexes and exact stored numbers."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from fooddelivery.adapters.memory import OperationCounters
from fooddelivery.domain.errors import ConcurrencyConflict
from fooddelivery.ports.restaurants import RestaurantQuery
from fooddelivery.testing.builders import make_restaurant
from fooddelivery_aws.dynamodb import DynamoDBRestaurantRepository
from fooddelivery_aws.dynamodb.tables import RESTAURANTS, TableSpec

Tables = dict[TableSpec, str]


@pytest.fixture
def repo(moto_tables: Tables, moto_dynamodb: Any) -> DynamoDBRestaurantRepository:
    return DynamoDBRestaurantRepository(moto_tables[RESTAURANTS], client=moto_dynamodb)


def test_a_restaurant_moved_to_another_cuisine_is_listed_under_the_new_one_only(
    repo: DynamoDBRestaurantRepository,
) -> None:
    stored = repo.add(make_restaurant(cuisine="pizza"))
    repo.save(replace(stored, cuisine="sushi"))
    assert list(repo.search(RestaurantQuery(cuisine="pizza")).items) == []
    assert [r.restaurant_id for r in repo.search(RestaurantQuery(cuisine="sushi")).items] == [stored.restaurant_id]


def test_ratings_and_tax_rates_are_stored_as_exact_decimal_text_and_prices_in_minor_units(
    repo: DynamoDBRestaurantRepository, moto_dynamodb: Any, moto_tables: Tables
) -> None:
    restaurant = repo.add(make_restaurant(restaurant_id="rst-exact", rating=Decimal("4.75")))
    raw = moto_dynamodb.get_item(TableName=moto_tables[RESTAURANTS], Key={"restaurantId": {"S": "rst-exact"}})["Item"]
    assert raw["rating"] == {"N": "4.75"}
    assert raw["taxRate"] == {"N": "0.08875"}
    assert raw["ratingRank"] == {"S": "0.25#rst-exact"}
    assert [m["M"]["priceMinor"]["N"] for m in raw["menu"]["L"]] == ["1250", "1800", "1425", "999", "450", "1675"]
    assert repo.get("rst-exact") == restaurant


def test_equal_ratings_page_by_id_across_page_boundaries(repo: DynamoDBRestaurantRepository) -> None:
    for i in (3, 1, 4, 0, 2):
        repo.add(make_restaurant(restaurant_id=f"rst-tie-{i}", rating=Decimal("4.5")))
    seen: list[str] = []
    query = RestaurantQuery(min_rating=Decimal("4.5"), limit=2)
    while True:
        page = repo.search(query)
        seen.extend(r.restaurant_id for r in page.items)
        if page.next_cursor is None:
            break
        query = replace(query, cursor=page.next_cursor)
    assert seen == [f"rst-tie-{i}" for i in range(5)]


def test_a_stale_save_names_the_restaurant_and_writes_and_reads_are_counted(
    moto_tables: Tables, moto_dynamodb: Any
) -> None:
    counters = OperationCounters()
    repo = DynamoDBRestaurantRepository(moto_tables[RESTAURANTS], client=moto_dynamodb, counters=counters)
    stored = repo.add(make_restaurant(restaurant_id="rst-stale"))
    repo.save(stored)
    with pytest.raises(ConcurrencyConflict) as caught:
        repo.save(stored)
    assert caught.value.context["restaurant_id"] == "rst-stale"
    repo.get("rst-stale")
    repo.search(RestaurantQuery())
    assert counters.snapshot() == {"restaurants.writes": 3, "restaurants.reads": 2}
