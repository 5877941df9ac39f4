"""Order.place: prices come from the menu, every invalid field is named, one OrderPlaced event."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from fooddelivery.domain import (
    DeliveryAddress,
    EventType,
    LineRequest,
    Money,
    Order,
    OrderStatus,
    PaymentStatus,
    PriceChanged,
    ValidationError,
)
from fooddelivery.domain.catalog import MAX_MENU_PRICE
from fooddelivery.domain.order import MAX_LINES, MAX_QUANTITY

from ._factories import (
    NOW,
    PARIS,
    REFERENCE_LINES,
    field_codes,
    field_names,
    menu_item,
    place,
    restaurant,
)


def _refused(**kwargs: object) -> ValidationError:
    """Place an order that must be refused; return the error (no order may come back)."""
    with pytest.raises(ValidationError) as info:
        place(**kwargs)  # type: ignore[arg-type]
    return info.value


# -- the happy path
def test_a_placed_order_is_pending_with_menu_prices_and_one_order_placed_event() -> None:
    order = place(order_id="ord-42", tip="2.00")
    assert (order.order_id, order.customer_id, order.restaurant_id) == (
        "ord-42",
        "cust-1",
        "rest-1",
    )
    assert (order.status, order.payment_status, order.driver_id) == (
        OrderStatus.PENDING,
        PaymentStatus.PENDING,
        None,
    )
    assert (order.created_at, order.updated_at, order.status_times) == (NOW, NOW, {"PENDING": NOW})
    assert order.version == 1
    [event] = order.pending_events
    assert (event.type, event.order_id, event.order_version, event.occurred_at) == (
        EventType.ORDER_PLACED,
        "ord-42",
        1,
        NOW,
    )
    assert event.payload == {
        "customerId": "cust-1",
        "restaurantId": "rest-1",
        "total": "29.98",  # 21.97 + 1.92 + 2.99 + 1.10 + 2.00
        "currency": "USD",
        "lineCount": 2,
    }


def test_the_event_id_is_the_one_given() -> None:
    order = Order.place(
        order_id="ord-1",
        event_id="evt-placed",
        customer_id="cust-1",
        restaurant=restaurant(),
        lines=REFERENCE_LINES,
        delivery_address=DeliveryAddress("1 Main St"),
        payment_method="tok",
        now=NOW,
    )
    assert [e.event_id for e in order.take_events()] == ["evt-placed"]
    assert order.pending_events == []


@pytest.mark.parametrize("quantity", [1, MAX_QUANTITY])
def test_quantities_from_1_to_99_are_accepted(quantity: int) -> None:
    order = place(lines=[LineRequest(quantity, item_id="soda")])
    assert order.lines[0].quantity == quantity
    assert order.lines[0].line_total == Money(299 * quantity, "USD")


def test_lines_are_found_by_id_or_by_name_ignoring_case() -> None:
    order = place(
        lines=[
            LineRequest(1, name="pIZZA"),
            LineRequest(2, name="SODA"),
            LineRequest(1, item_id="soda"),
        ]
    )
    assert [(line.item_id, line.name, line.quantity) for line in order.lines] == [
        ("pizza", "Pizza", 1),
        ("soda", "Soda", 2),
        ("soda", "Soda", 1),
    ]
    assert str(order.pricing.subtotal) == "24.96"


def test_an_item_id_takes_precedence_over_a_name() -> None:
    order = place(lines=[LineRequest(1, item_id="soda", name="Pizza")])
    assert order.lines[0].item_id == "soda"


@pytest.mark.parametrize(
    "sent", ["15.99", "15.990", " 15.99 ", Decimal("15.99"), Decimal("15.9900")]
)
def test_a_client_price_equal_to_the_menu_price_is_accepted(sent: object) -> None:
    order = place(lines=[LineRequest(1, item_id="pizza", unit_price=sent)])
    assert order.lines[0].unit_price == Money.of("15.99", "USD")


def test_unicode_names_and_addresses_round_trip_unchanged() -> None:
    menu = (
        menu_item("creme", "Crème brûlée 🍮", "7.50"),
        menu_item("sushi", "寿司 盛り合わせ", "22.00"),
    )
    rest = restaurant(name="Café Ünïcødé — 東京", menu=menu)
    address = DeliveryAddress("Straße 5, 10115 Berlin / 東京都千代田区1-1 🏠", PARIS)
    order = place(
        rest=rest,
        lines=[LineRequest(1, name="CRÈME BRÛLÉE 🍮"), LineRequest(2, name="寿司 盛り合わせ")],
        address=address,
    )
    assert [line.name for line in order.lines] == ["Crème brûlée 🍮", "寿司 盛り合わせ"]
    assert order.delivery_address.text == "Straße 5, 10115 Berlin / 東京都千代田区1-1 🏠"
    assert order.delivery_address == address
    assert rest.name == "Café Ünïcødé — 東京"


def test_exactly_fifty_lines_are_accepted() -> None:
    order = place(lines=[LineRequest(1, item_id="soda")] * MAX_LINES)
    assert len(order.lines) == MAX_LINES
    assert order.pending_events[0].payload["lineCount"] == MAX_LINES


# -- bad quantities
@pytest.mark.parametrize(
    ("quantity", "code"),
    [
        (0, "out_of_range"),
        (-1, "out_of_range"),
        (MAX_QUANTITY + 1, "out_of_range"),
        (10**12, "out_of_range"),
        (1.5, "type"),
        (2.0, "type"),
        ("2", "type"),
        (True, "type"),
        (False, "type"),
        (None, "type"),
        (Decimal(2), "type"),
    ],
)
def test_a_bad_quantity_is_refused_naming_its_line(quantity: object, code: str) -> None:
    error = _refused(lines=[REFERENCE_LINES[0], LineRequest(quantity, item_id="soda")])
    assert type(error) is ValidationError
    assert field_codes(error) == {"lines.1.quantity": code}


# -- bad client prices
@pytest.mark.parametrize(
    ("sent", "code"),
    [
        ("NaN", "not_finite"),
        ("Infinity", "not_finite"),
        ("-Infinity", "not_finite"),
        (Decimal("NaN"), "not_finite"),
        (15.99, "type"),
        (True, "type"),
        ("fifteen", "type"),
        ([15.99], "type"),
    ],
)
def test_a_client_price_that_is_not_a_finite_decimal_is_refused(sent: object, code: str) -> None:
    error = _refused(lines=[LineRequest(1, item_id="pizza", unit_price=sent)])
    assert type(error) is ValidationError
    assert field_codes(error) == {"lines.0.unit_price": code}


@pytest.mark.parametrize("sent", ["-15.99", "0", "-0.00", "10000.01", "1e30", "1e400", -1])
def test_a_client_price_no_menu_price_can_be_is_a_validation_error_not_a_change(sent: object) -> None:
    # every menu price is above 0 and at most MAX_MENU_PRICE: re-reading the menu can never make this one right
    error = _refused(lines=[LineRequest(1, item_id="pizza", unit_price=sent)])
    assert type(error) is ValidationError
    assert field_codes(error) == {"lines.0.unit_price": "out_of_range"}
    assert str(error).endswith(f"(lines.0.unit_price: must be above 0 and at most {MAX_MENU_PRICE})")


@pytest.mark.parametrize("sent", ["1e-400", "0.0001", "15.9901", "9999.9999"])
def test_a_client_price_with_more_decimals_than_any_currency_has_is_a_validation_error_not_a_change(
    sent: str,
) -> None:
    # no currency has more than 3 decimals (ISO 4217), so no menu price is 1E-400: re-reading the menu cannot help
    error = _refused(lines=[LineRequest(1, item_id="pizza", unit_price=sent)])
    assert type(error) is ValidationError
    assert field_codes(error) == {"lines.0.unit_price": "precision"}
    assert str(error).endswith("(lines.0.unit_price: must have at most 3 decimal places)")


@pytest.mark.parametrize("sent", ["15.98", "15.991", 16, "10000", "0.01", "15.9800", "15.980"])
def test_a_client_price_other_than_the_menu_price_is_price_changed(sent: object) -> None:
    error = _refused(lines=[LineRequest(1, item_id="pizza", unit_price=sent)])
    assert isinstance(error, PriceChanged)
    assert isinstance(error, ValidationError)
    assert field_codes(error) == {"lines.0.unit_price": "price_changed"}


def test_price_changed_names_only_the_lines_whose_price_changed() -> None:
    lines = [
        LineRequest(1, item_id="pizza", unit_price="15.99"),
        LineRequest(2, item_id="soda", unit_price="2.49"),
        LineRequest(1, name="Pizza", unit_price="14.99"),
    ]
    error = _refused(lines=lines)
    assert isinstance(error, PriceChanged)
    assert field_names(error) == {"lines.1.unit_price", "lines.2.unit_price"}
    assert "2.99" in next(f.message for f in error.fields if f.field == "lines.1.unit_price")


def test_other_errors_win_over_a_price_change_and_are_reported_together() -> None:
    lines = [LineRequest(0, item_id="pizza"), LineRequest(1, item_id="soda", unit_price="2.49")]
    error = _refused(lines=lines)
    assert type(error) is ValidationError
    assert field_codes(error) == {
        "lines.0.quantity": "out_of_range",
        "lines.1.unit_price": "price_changed",
    }


# -- bad items
@pytest.mark.parametrize(
    "line",
    [
        LineRequest(1, item_id="burger"),
        LineRequest(1, item_id="PIZZA"),
        LineRequest(1, name="Burger"),
    ],
)
def test_an_unknown_item_is_refused_naming_its_line(line: LineRequest) -> None:
    error = _refused(lines=[REFERENCE_LINES[0], line])
    assert field_codes(error) == {"lines.1": "unknown_item"}


def test_a_line_naming_no_item_is_refused() -> None:
    assert field_codes(_refused(lines=[LineRequest(1)])) == {"lines.0": "required"}


def test_an_unavailable_item_is_refused() -> None:
    menu = (
        menu_item("pizza", "Pizza", "15.99"),
        menu_item("soda", "Soda", "2.99", available=False),
    )
    error = _refused(rest=restaurant(menu=menu))
    assert field_codes(error) == {"lines.1": "unavailable"}


@pytest.mark.parametrize("lines", [[], ()])
def test_an_empty_cart_is_refused(lines: list[LineRequest]) -> None:
    assert field_codes(_refused(lines=lines)) == {"lines": "required"}


def test_more_than_fifty_lines_are_refused_without_checking_each() -> None:
    error = _refused(lines=[LineRequest(0, item_id="nope")] * (MAX_LINES + 1))
    assert field_codes(error) == {"lines": "too_many"}


# -- bad order-level fields
def test_a_restaurant_not_accepting_orders_is_refused() -> None:
    error = _refused(rest=restaurant(accepting_orders=False))
    assert field_codes(error) == {"restaurant_id": "not_accepting_orders"}


@pytest.mark.parametrize("payment_method", ["", None, 1234, "t" * 129])
def test_a_missing_or_malformed_payment_method_is_refused(payment_method: object) -> None:
    assert field_codes(_refused(payment_method=payment_method)) == {"payment_method": "required"}


@pytest.mark.parametrize(
    ("kwargs", "field"), [({"order_id": "a/b"}, "order_id"), ({"customer_id": ""}, "customer_id")]
)
def test_bad_ids_are_refused(kwargs: dict[str, str], field: str) -> None:
    assert field_names(_refused(**kwargs)) == {field}


@pytest.mark.parametrize(
    "now", [datetime(2025, 1, 1), datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=-5)))]
)
def test_the_placement_time_must_be_utc(now: datetime) -> None:
    assert field_names(_refused(now=now)) == {"now"}


def test_every_invalid_field_is_named_at_once() -> None:
    lines = [
        LineRequest(0, item_id="pizza"),
        LineRequest(1, item_id="burger"),
        LineRequest("x", name="soda", unit_price="NaN"),
    ]
    error = _refused(
        lines=lines, payment_method="", tip="-1.005", rest=restaurant(accepting_orders=False)
    )
    assert field_codes(error) == {
        "payment_method": "required",
        "restaurant_id": "not_accepting_orders",
        "lines.0.quantity": "out_of_range",
        "lines.1": "unknown_item",
        "lines.2.quantity": "type",
        "lines.2.unit_price": "not_finite",
        "tip": "precision",
    }
