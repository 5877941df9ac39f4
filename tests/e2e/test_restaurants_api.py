"""Restaurants through the HTTP API: the listing with its filters and cursor pagination, one restaurant with
its menu, and the search with a JSON body.

The catalogue (see ``_world.py``), rating descending then id: rest-2 sushi 4.8 (2 km east), rest-1 pizza 4.6
(downtown), rest-5 pizza 4.6 (1 km east), rest-3 pizza 4.1 (3 km north), rest-4 pizza 3.9 (60 km north).
"""

from __future__ import annotations

from typing import Any

import pytest

from ._world import World, assert_problem

DOWNTOWN_QUERY = "near=40.7128,-74.0060"


def _ids(body: dict[str, Any]) -> list[str]:
    return [r["restaurantId"] for r in body["items"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["rest-2", "rest-1", "rest-5", "rest-3", "rest-4"]),
        ("cuisine=Pizza", ["rest-1", "rest-5", "rest-3", "rest-4"]),
        ("minRating=4.5", ["rest-2", "rest-1", "rest-5"]),
        (f"{DOWNTOWN_QUERY}&radiusKm=5", ["rest-2", "rest-1", "rest-5", "rest-3"]),
        (f"cuisine=pizza&minRating=4&{DOWNTOWN_QUERY}&radiusKm=1.5", ["rest-1", "rest-5"]),
        ("cuisine=thai", []),
    ],
)
def test_the_listing_filters_by_cuisine_rating_and_radius_best_rated_first(
    world: World, query: str, expected: list[str]
) -> None:
    response = world.call("GET", "/restaurants", query=query)

    assert response.status == 200
    assert _ids(response.json()) == expected
    assert response.json()["nextCursor"] is None


def test_a_listing_entry_carries_rating_and_tax_as_decimal_strings_without_the_menu(world: World) -> None:
    entry = world.call("GET", "/restaurants", query="cuisine=sushi").json()["items"][0]

    assert entry == {
        "restaurantId": "rest-2",
        "name": "Sora",
        "cuisine": "sushi",
        "rating": "4.8",
        "location": entry["location"],
        "currency": "USD",
        "taxRate": "0.08875",
        "avgPrepMinutes": 25,
        "acceptingOrders": True,
    }
    assert entry["location"]["lat"] == pytest.approx(40.7128)


def test_pages_follow_the_opaque_cursor_until_the_end(world: World) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = world.call("GET", "/restaurants", query=query).json()
        seen += _ids(body)
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            break

    assert pages == 3
    assert seen == ["rest-2", "rest-1", "rest-5", "rest-3", "rest-4"]


def test_a_cursor_used_with_other_filters_is_404_no_such_page(world: World) -> None:
    cursor = world.call("GET", "/restaurants", query="limit=1").json()["nextCursor"]

    response = world.call("GET", "/restaurants", query=f"limit=1&cuisine=pizza&cursor={cursor}")

    assert_problem(response, 404, "unknown_cursor", "cursor")


def test_a_search_cursor_continues_the_same_listing_by_get(world: World) -> None:
    first = world.call("POST", "/restaurants/search", json_body={"cuisine": "pizza", "limit": 2}).json()

    rest = world.call("GET", "/restaurants", query=f"cuisine=pizza&limit=2&cursor={first['nextCursor']}")

    assert _ids(first) == ["rest-1", "rest-5"]
    assert _ids(rest.json()) == ["rest-3", "rest-4"]


def test_one_restaurant_comes_with_its_menu_and_prices_as_strings(world: World) -> None:
    response = world.call("GET", "/restaurants/rest-1", as_="other_driver")

    assert response.status == 200
    body = response.json()
    assert body["restaurantId"] == "rest-1"
    assert [(i["itemId"], i["name"], i["price"], i["available"]) for i in body["menu"]] == [
        ("pizza", "Pizza", "15.99", True),
        ("soda", "Soda", "2.99", True),
        ("tiramisu", "Tiramisu", "6.50", True),
    ]


def test_an_unknown_restaurant_is_404(world: World) -> None:
    assert_problem(world.call("GET", "/restaurants/rest-999"), 404, "not_found")


def test_get_restaurants_search_is_the_search_resource_which_only_takes_post(world: World) -> None:
    response = world.call("GET", "/restaurants/search")

    assert_problem(response, 405, "method_not_allowed")
    assert response.header("Allow") == "OPTIONS, POST"


def test_an_undeclared_query_parameter_is_422_naming_it(world: World) -> None:
    assert_problem(world.call("GET", "/restaurants", query="cuisine=pizza&sort=name"), 422, "validation_error", "sort")
    assert_problem(world.call("GET", "/restaurants/rest-1", query="expand=menu"), 422, "validation_error", "expand")


def test_the_search_takes_its_filters_as_json_with_numbers_or_strings(world: World) -> None:
    body = {
        "cuisine": "PIZZA",
        "minRating": 4.5,
        "near": {"lat": 40.7128, "lon": -74.006},
        "radiusKm": 2,
        "limit": 10,
    }

    response = world.call("POST", "/restaurants/search", json_body=body)

    assert response.status == 200
    assert _ids(response.json()) == ["rest-1", "rest-5"]
    as_text = world.call("POST", "/restaurants/search", json_body={**body, "minRating": "4.5"})
    assert _ids(as_text.json()) == ["rest-1", "rest-5"]


def test_an_empty_search_lists_everything(world: World) -> None:
    response = world.call("POST", "/restaurants/search", json_body={})

    assert _ids(response.json()) == ["rest-2", "rest-1", "rest-5", "rest-3", "rest-4"]
