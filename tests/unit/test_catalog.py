"""Restaurants, menus, delivery addresses and actors validate themselves."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from fooddelivery.domain import (
    Actor,
    DeliveryAddress,
    MenuItem,
    Money,
    Restaurant,
    Role,
    ValidationError,
)
from fooddelivery.domain.catalog import MAX_ID_LENGTH, check_id, check_utc

from ._factories import NOW, PARIS, field_codes, field_names, menu_item, restaurant

BAD_IDS = [
    pytest.param("", id="empty"),
    pytest.param("a/b", id="slash"),
    pytest.param("a\nb", id="newline"),
    pytest.param("a\x00b", id="nul"),
    pytest.param("tab\there", id="tab"),
    pytest.param("a\u2028b", id="line-separator"),
    pytest.param("a\x9fb", id="c1-control"),
    pytest.param("a\ud800b", id="lone-high-surrogate"),
    pytest.param("\udfff", id="lone-low-surrogate"),
    pytest.param("x" * (MAX_ID_LENGTH + 1), id="129-chars"),
    pytest.param(None, id="none"),
    pytest.param(42, id="int"),
]


# -- ids
@pytest.mark.parametrize(
    "value", ["r-1", "x" * MAX_ID_LENGTH, "café-東京-😀", "with space", "a:b@c", "\ue000\ud7ff\U0010fffd"]
)
def test_printable_ids_up_to_128_characters_are_accepted(value: str) -> None:
    assert check_id(value, "id") == value


@pytest.mark.parametrize("value", BAD_IDS)
def test_ids_that_are_empty_too_long_or_contain_slash_or_control_characters_are_refused(
    value: object,
) -> None:
    with pytest.raises(ValidationError) as info:
        check_id(value, "restaurantId")
    assert field_names(info.value) == {"restaurantId"}


@pytest.mark.parametrize("value", BAD_IDS)
def test_every_entity_checks_its_id(value: object) -> None:
    with pytest.raises(ValidationError) as info:
        MenuItem(value, "Pizza", Money.of("1.00", "USD"))  # type: ignore[arg-type]
    assert field_names(info.value) == {"item_id"}
    with pytest.raises(ValidationError) as info:
        restaurant(restaurant_id=value)  # type: ignore[arg-type]
    assert field_names(info.value) == {"restaurant_id"}


def test_times_must_be_utc() -> None:
    assert check_utc(NOW, "at") == NOW
    with pytest.raises(ValidationError) as info:
        check_utc(datetime(2025, 1, 1), "at")  # naive on purpose
    assert field_codes(info.value) == {"at": "timezone"}
    with pytest.raises(ValidationError):
        check_utc(datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=1))), "at")
    assert check_utc(
        datetime(2025, 1, 1, tzinfo=timezone(timedelta(0))), "at"
    ).utcoffset() == timedelta(0)


# -- menu items
@pytest.mark.parametrize(
    ("price", "ok"),
    [("0.01", True), ("10000.00", True), ("0.00", False), ("-1.00", False), ("10000.01", False)],
)
def test_menu_prices_are_positive_and_at_most_10000(price: str, ok: bool) -> None:
    if ok:
        assert menu_item(price=price).price == Money.of(price, "USD")
    else:
        with pytest.raises(ValidationError) as info:
            menu_item(price=price)
        assert field_codes(info.value) == {"price": "out_of_range"}


def test_the_price_ceiling_is_in_the_items_own_currency() -> None:
    assert menu_item(price="10000", currency="JPY").price == Money(10_000, "JPY")
    with pytest.raises(ValidationError):
        menu_item(price="10001", currency="JPY")


@pytest.mark.parametrize(
    ("name", "ok"), [("P", True), ("x" * 200, True), ("", False), ("x" * 201, False)]
)
def test_menu_item_names_have_1_to_200_characters(name: str, ok: bool) -> None:
    if ok:
        assert menu_item(name=name).name == name
    else:
        with pytest.raises(ValidationError) as info:
            menu_item(name=name)
        assert field_codes(info.value) == {"name": "length"}


# -- restaurants
def _restaurant(**changes: object) -> Restaurant:
    return replace(restaurant(), **changes)


@pytest.mark.parametrize("rating", [Decimal(0), Decimal(5), Decimal("4.5"), Decimal("0.0")])
def test_ratings_from_0_to_5_are_accepted(rating: Decimal) -> None:
    assert _restaurant(rating=rating).rating == rating


@pytest.mark.parametrize(
    "rating",
    [
        Decimal("-0.1"),
        Decimal("5.1"),
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        4.5,
        4,
        "4.5",
    ],
)
def test_ratings_outside_0_to_5_or_not_decimal_are_refused(rating: object) -> None:
    with pytest.raises(ValidationError) as info:
        _restaurant(rating=rating)
    assert field_codes(info.value) == {"rating": "out_of_range"}


@pytest.mark.parametrize("tax_rate", [Decimal(0), Decimal("0.5"), Decimal("0.0875")])
def test_tax_rates_from_0_to_half_are_accepted(tax_rate: Decimal) -> None:
    assert _restaurant(tax_rate=tax_rate).tax_rate == tax_rate


@pytest.mark.parametrize(
    "tax_rate",
    [Decimal("-0.01"), Decimal("0.51"), Decimal(1), Decimal("NaN"), Decimal("-Infinity"), 0.1],
)
def test_tax_rates_outside_0_to_half_or_not_decimal_are_refused(tax_rate: object) -> None:
    with pytest.raises(ValidationError) as info:
        _restaurant(tax_rate=tax_rate)
    assert field_codes(info.value) == {"tax_rate": "out_of_range"}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"avg_prep_minutes": 0}, {"avg_prep_minutes": "out_of_range"}),
        ({"avg_prep_minutes": 241}, {"avg_prep_minutes": "out_of_range"}),
        ({"cuisine": "Pizza"}, {"cuisine": "invalid"}),
        ({"cuisine": ""}, {"cuisine": "invalid"}),
        ({"name": ""}, {"name": "length"}),
        ({"name": "x" * 201}, {"name": "length"}),
        (
            {"name": "", "rating": Decimal(6), "tax_rate": Decimal(1)},
            {"name": "length", "rating": "out_of_range", "tax_rate": "out_of_range"},
        ),
    ],
)
def test_restaurant_errors_name_every_invalid_field(
    changes: dict[str, object], expected: dict[str, str]
) -> None:
    with pytest.raises(ValidationError) as info:
        _restaurant(**changes)
    assert field_codes(info.value) == expected


def test_menu_item_names_must_be_unique_ignoring_case() -> None:
    menu = (menu_item("a", "Crème Brûlée"), menu_item("b", "CRÈME BRÛLÉE"))
    with pytest.raises(ValidationError) as info:
        restaurant(menu=menu)
    assert field_codes(info.value) == {"menu.1.name": "duplicate"}


def test_menu_item_ids_must_be_unique() -> None:
    menu = (menu_item("a", "Pizza"), menu_item("a", "Soda"))
    with pytest.raises(ValidationError) as info:
        restaurant(menu=menu)
    assert field_codes(info.value) == {"menu.1.item_id": "duplicate"}


def test_every_menu_price_must_be_in_the_restaurants_currency() -> None:
    menu = (menu_item("a", "Pizza", "9.00", "EUR"), menu_item("b", "Soda", "2.00", "USD"))
    with pytest.raises(ValidationError) as info:
        restaurant(menu=menu, currency="USD")
    assert field_codes(info.value) == {"menu.0.price": "currency_mismatch"}


def test_menu_items_are_found_by_id_and_by_name_ignoring_case() -> None:
    menu = (menu_item("a", "Straße Salad"), menu_item("b", "Soda"))
    r = restaurant(menu=menu)
    assert r.item_by_id("b") is menu[1]
    assert r.item_by_id("B") is None
    assert r.item_by_name("STRASSE SALAD") is menu[0]  # casefold: ß == ss
    assert r.item_by_name("soda") is menu[1]
    assert r.item_by_name("sod") is None


def test_an_empty_menu_is_a_valid_restaurant() -> None:
    assert restaurant(menu=()).menu == ()


# -- addresses
@pytest.mark.parametrize(
    "text", ["1 Main St", "東京都千代田区千代田1-1", "x" * 500, "Straße 5, 10115 Berlin 🏠"]
)
def test_addresses_keep_any_unicode_text_unchanged(text: str) -> None:
    assert DeliveryAddress(text, PARIS).text == text


@pytest.mark.parametrize("text", ["", "   ", "\n", "x" * 501, None])
def test_blank_or_overlong_addresses_are_refused(text: object) -> None:
    with pytest.raises(ValidationError) as info:
        DeliveryAddress(text)  # type: ignore[arg-type]
    assert field_codes(info.value) == {"delivery_address.text": "length"}


# -- actors
def test_actor_shorthands_bind_their_identity() -> None:
    assert Actor.customer("c-1") == Actor(Role.CUSTOMER, "c-1")
    assert Actor.restaurant("r-1") == Actor(Role.RESTAURANT, "owner-r-1", restaurant_id="r-1")
    assert Actor.driver("d-1") == Actor(Role.DRIVER, "d-1", driver_id="d-1")
    assert Actor.admin().role is Role.ADMIN
    assert Actor.system().subject == "saga"


@pytest.mark.parametrize(
    ("role", "subject", "binding", "field"),
    [
        (Role.CUSTOMER, "", {}, "subject"),
        (Role.RESTAURANT, "u-1", {}, "restaurant_id"),
        (Role.RESTAURANT, "u-1", {"restaurant_id": ""}, "restaurant_id"),
        (Role.DRIVER, "u-1", {}, "driver_id"),
        (Role.DRIVER, "u-1", {"restaurant_id": "r-1"}, "driver_id"),
    ],
)
def test_actors_need_a_subject_and_their_binding(
    role: Role, subject: str, binding: dict[str, str], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        Actor(role, subject, **binding)
    assert field_names(info.value) == {field}


def test_a_str_subclass_id_is_checked_like_a_str() -> None:
    class Tagged(str):
        pass

    assert check_id(Tagged("r-1"), "id") == "r-1"
    with pytest.raises(ValidationError) as info:
        check_id(Tagged("a/b"), "restaurantId")
    assert field_codes(info.value) == {"restaurantId": "invalid"}
    with pytest.raises(ValidationError) as info:
        check_id(Tagged("x" * (MAX_ID_LENGTH + 1)), "restaurantId")
    assert field_codes(info.value) == {"restaurantId": "too_long"}
