"""Listing, searching and reading restaurants."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fooddelivery.domain import Actor, NotFound, ValidationError
from fooddelivery.ports.restaurants import RestaurantQuery

from ._world import CUSTOMER, PARIS, REST_ID, World, make_restaurant, north_of

ANYONE = Actor.customer(CUSTOMER)


@pytest.fixture
def city(app: World) -> World:
    """Besides rest-1 (pizza 4.5, here) and rest-2 (japanese 4.5, 2 km north): more pizzerias and a thai place."""
    for restaurant_id, cuisine, rating, km in [
        ("rest-p3", "pizza", "4.8", 5.0),
        ("rest-p4", "pizza", "3.9", -1.0),
        ("rest-p5", "pizza", "4.5", 30.0),
        ("rest-t1", "thai", "4.2", 0.5),
    ]:
        app.restaurants.add(
            make_restaurant(restaurant_id, cuisine=cuisine, rating=rating, location=north_of(PARIS, km))
        )
    return app


def ids(page: object) -> list[str]:
    return [r.restaurant_id for r in page.items]  # type: ignore[attr-defined]


def test_a_cuisine_and_minimum_rating_search_is_sorted_by_rating_then_id(city: World) -> None:
    page = city.service.search_restaurants(ANYONE, RestaurantQuery(cuisine="pizza", min_rating=Decimal("4.0")))

    assert ids(page) == ["rest-p3", "rest-1", "rest-p5"]
    assert [str(r.rating) for r in page.items] == ["4.8", "4.5", "4.5"]
    assert page.next_cursor is None


def test_listing_everything_sorts_every_cuisine_by_rating(city: World) -> None:
    page = city.service.list_restaurants(ANYONE, RestaurantQuery())

    assert ids(page) == ["rest-p3", "rest-1", "rest-2", "rest-p5", "rest-t1", "rest-p4"]


def test_a_radius_search_keeps_restaurants_within_the_radius(city: World) -> None:
    page = city.service.search_restaurants(ANYONE, RestaurantQuery(near=PARIS, radius_km=2.5))

    assert ids(page) == ["rest-1", "rest-2", "rest-t1", "rest-p4"]


def test_cuisine_rating_and_radius_combine(city: World) -> None:
    query = RestaurantQuery(cuisine="pizza", min_rating=Decimal("4.5"), near=PARIS, radius_km=10)

    assert ids(city.service.search_restaurants(ANYONE, query)) == ["rest-p3", "rest-1"]


def test_results_come_page_by_page_with_a_cursor(city: World) -> None:
    seen = []
    cursor = None
    for _ in range(10):
        page = city.service.list_restaurants(ANYONE, RestaurantQuery(cuisine="pizza", limit=1, cursor=cursor))
        seen.extend(ids(page))
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == ["rest-p3", "rest-1", "rest-p5", "rest-p4"]


def test_a_cuisine_nobody_cooks_finds_nothing(city: World) -> None:
    page = city.service.search_restaurants(ANYONE, RestaurantQuery(cuisine="ethiopian"))

    assert page.items == [] and page.next_cursor is None


def test_a_restaurant_is_read_with_its_whole_unicode_menu(app: World) -> None:
    restaurant = app.service.get_restaurant(ANYONE, REST_ID)

    assert restaurant.name == "Trattoria Ünïcode 🍕"
    assert [(m.name, str(m.price), m.available) for m in restaurant.menu] == [
        ("Pizza Margherita", "9.50", True),
        ("Crème brûlée", "6.20", True),
        ("ラーメン 🍜", "12.00", True),
        ("Limonade à l'ancienne", "3.00", True),
        ("Tartufo nero", "45.00", False),
    ]


def test_an_unknown_restaurant_is_not_found(app: World) -> None:
    with pytest.raises(NotFound):
        app.service.get_restaurant(ANYONE, "rest-nowhere")


def test_a_malformed_restaurant_id_is_a_validation_error_naming_it(app: World) -> None:
    with pytest.raises(ValidationError) as exc:
        app.service.get_restaurant(ANYONE, "")

    assert [f.field for f in exc.value.fields] == ["restaurant_id"]


def test_a_cursor_that_was_not_issued_is_a_validation_error(app: World) -> None:
    with pytest.raises(ValidationError) as exc:
        app.service.list_restaurants(ANYONE, RestaurantQuery(cursor="not-a-cursor"))

    assert [f.field for f in exc.value.fields] == ["cursor"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"min_rating": Decimal("5.1")}, "min_rating"),
        ({"near": PARIS}, "radius_km"),
        ({"near": PARIS, "radius_km": 0}, "radius_km"),
        ({"near": PARIS, "radius_km": 500}, "radius_km"),
    ],
    ids=["limit 0", "limit 101", "rating above 5", "near without radius", "zero radius", "huge radius"],
)
def test_a_malformed_query_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        RestaurantQuery(**kwargs)  # type: ignore[arg-type]

    assert [f.field for f in exc.value.fields] == [field]
