"""Placing an order through the service: the happy path, idempotency, authorization and bad input."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from fooddelivery.application.envelope import from_json, to_json
from fooddelivery.domain import (
    Actor,
    CatalogMismatch,
    DeliveryAddress,
    DriverStatus,
    EventType,
    GeoPoint,
    IdempotencyKeyReused,
    LineRequest,
    Money,
    NotAllowed,
    NotFound,
    OrderStatus,
    PaymentStatus,
    PriceChanged,
    PricingPolicy,
    PromoCode,
    PromoKind,
    ValidationError,
)
from fooddelivery.ports.notifications import NotificationKind
from fooddelivery.ports.saga_store import SagaStatus

from ._world import (
    CUSTOMER,
    HOME,
    OTHER_CUSTOMER,
    PARIS,
    REST_ID,
    START,
    World,
    build_world,
    make_restaurant,
    north_of,
)

E = EventType


def fields(exc: pytest.ExceptionInfo[Exception]) -> dict[str, str]:
    """field -> code of every field the error names."""
    return {f.field: f.code for f in getattr(exc.value, "fields", [])}


# -- the happy path ------------------------------------------------------------------------------------------
def test_a_placed_order_is_paid_assigned_the_nearest_driver_and_waits_for_the_restaurant(app: World) -> None:
    result = app.place()

    order = result.order
    assert result.created is True
    assert order.order_id == "ord-00000001"
    assert order.status is OrderStatus.PENDING
    assert order.payment_status is PaymentStatus.CAPTURED
    assert order.driver_id == "drv-near"  # drv-off is nearer but offline, drv-out is outside the radius
    assert order.customer_id == CUSTOMER and order.restaurant_id == REST_ID
    assert order.created_at == START
    saga = app.saga(order.order_id)
    assert saga.status is SagaStatus.WAITING
    assert saga.current == "WaitForRestaurantConfirmation"
    assert app.pending_timers() == [(f"{order.order_id}:WaitForRestaurantConfirmation:timeout", 300.0)]
    assert app.driver("drv-near").status is DriverStatus.ASSIGNED
    assert app.driver("drv-near").current_order_id == order.order_id
    assert app.held_drivers() == {"drv-near": order.order_id}


def test_a_placed_order_is_priced_from_the_menu_and_exactly_that_total_is_captured_once(app: World) -> None:
    order = app.place().order

    assert [(li.item_id, li.name, li.quantity, str(li.line_total)) for li in order.lines] == [
        ("margherita", "Pizza Margherita", 2, "19.00"),
        ("creme", "Crème brûlée", 1, "6.20"),
    ]
    p = order.pricing
    assert p.subtotal == Money.of("25.20", "EUR")
    assert p.tax == Money.of("2.52", "EUR")  # 10 % of 25.20
    assert p.distance_km == "3.000"  # HOME is 3 km due south
    assert p.total == p.subtotal - p.discount + p.tax + p.delivery_fee + p.service_fee + p.tip
    assert [c.amount for c in app.payments.charges] == [p.total]
    assert app.payments.refunds == []
    assert order.charge_id == app.payments.charges[0].charge_id


def test_the_restaurant_and_the_customer_are_each_notified_once(app: World) -> None:
    order_id = app.place_id()

    assert app.templates(REST_ID) == ["new_order"]
    assert app.templates(CUSTOMER) == ["order_received"]
    restaurant_note = app.notifier.sent_to(REST_ID)[0]
    assert restaurant_note.kind is NotificationKind.RESTAURANT
    assert restaurant_note.order_id == order_id
    assert restaurant_note.data["total"] == str(app.order(order_id).pricing.total)
    assert app.alerts() == []


def test_placing_an_order_publishes_its_events_in_version_order(app: World) -> None:
    order_id = app.place_id()

    events = app.publisher.of_order(order_id)
    assert [e.type for e in events] == [
        E.ORDER_PLACED,
        E.PAYMENT_CAPTURED,
        E.RESTAURANT_NOTIFIED,
        E.DRIVER_ASSIGNED,
        E.CUSTOMER_NOTIFIED,
    ]
    assert [e.order_version for e in events] == [1, 2, 3, 4, 5]
    assert app.order(order_id).version == 5
    assert all(e.occurred_at == START for e in events)
    assert events[0].payload == {
        "customerId": CUSTOMER,
        "restaurantId": REST_ID,
        "total": str(app.order(order_id).pricing.total),
        "currency": "EUR",
        "lineCount": 2,
    }
    assert events[3].payload == {"driverId": "drv-near"}
    assert app.orders.outbox_size == 0
    assert app.publisher.duplicates == 0


def test_every_published_event_round_trips_through_the_cloudevents_envelope(app: World) -> None:
    order_id = app.place_id()
    app.advance(30)
    app.confirm(order_id)

    published = app.publisher.published
    assert len(published) == 7
    for event in published:
        raw = to_json(event)
        assert from_json(raw) == event
        assert from_json(raw.decode()) == event


def test_unicode_names_and_addresses_are_stored_and_returned_unchanged(app: World) -> None:
    address = DeliveryAddress("Ул. Пушкина, д. 10 — 東京都 🏠", HOME)
    order = app.place(
        lines=[LineRequest(1, name="ラーメン 🍜"), LineRequest(1, name="LIMONADE À L'ANCIENNE")], address=address
    ).order

    stored = app.order(order.order_id)
    assert [li.name for li in stored.lines] == ["ラーメン 🍜", "Limonade à l'ancienne"]
    assert stored.delivery_address == address
    assert app.service.get_restaurant(Actor.customer(CUSTOMER), REST_ID).name == "Trattoria Ünïcode 🍕"


def test_a_tip_and_a_promo_code_are_part_of_the_captured_total() -> None:
    world = build_world(promotions={"welcome10": PromoCode("WELCOME10", PromoKind.PERCENT, percent=Decimal(10))})
    order = world.place(tip="2.50", promo="Welcome10").order

    assert order.pricing.discount == Money.of("2.52", "EUR")
    assert order.pricing.tip == Money.of("2.50", "EUR")
    assert order.pricing.promo_code == "WELCOME10"
    assert world.payments.charges[0].amount == order.pricing.total


# -- idempotency ---------------------------------------------------------------------------------------------
def test_the_same_key_and_body_return_the_first_order_without_charging_or_publishing_again(app: World) -> None:
    first = app.place(key="key-1")
    before = app.observable()

    again = app.place(key="key-1")

    assert again.created is False
    assert again.order.order_id == first.order.order_id
    assert again.order.same_state(app.order(first.order.order_id))
    after = app.observable()
    assert after["writes"] == before["writes"]
    assert after["charges"] == before["charges"] and len(after["charges"]) == 1
    assert after["published"] == before["published"]
    assert after["payment_calls"] == before["payment_calls"]
    assert len(app.orders) == 1


def test_the_same_key_with_another_body_is_refused_and_nothing_is_stored(app: World) -> None:
    first = app.place(key="key-1")
    before = app.observable()

    with pytest.raises(IdempotencyKeyReused) as exc:
        app.place(key="key-1", tip="1.00")

    assert exc.value.context["order_id"] == first.order.order_id
    assert app.observable() == before
    assert len(app.orders) == 1


def test_two_customers_may_use_the_same_key_for_two_different_orders(app: World) -> None:
    a = app.place(CUSTOMER, key="shared")
    b = app.place(OTHER_CUSTOMER, key="shared")

    assert a.created and b.created
    assert a.order.order_id != b.order.order_id
    assert len(app.payments.charges) == 2


def test_without_a_key_the_same_body_places_a_second_order(app: World) -> None:
    a = app.place()
    b = app.place()

    assert a.order.order_id != b.order.order_id
    assert len(app.payments.charges) == 2


# -- who may place -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "actor",
    [Actor.restaurant(REST_ID), Actor.driver("drv-near"), Actor.admin(), Actor.system()],
    ids=["restaurant", "driver", "admin", "system"],
)
def test_only_customers_may_place_orders(app: World, actor: Actor) -> None:
    before = app.observable()

    with pytest.raises(NotAllowed):
        app.place(actor=actor)

    assert app.observable() == before


def test_a_customer_cannot_place_an_order_for_another_customer(app: World) -> None:
    before = app.observable()

    with pytest.raises(NotAllowed):
        app.place(CUSTOMER, customer_id=OTHER_CUSTOMER)

    assert app.observable() == before


def test_a_customer_may_name_themselves_as_the_customer(app: World) -> None:
    assert app.place(CUSTOMER, customer_id=CUSTOMER).order.customer_id == CUSTOMER


def test_an_unknown_restaurant_is_not_found_and_nothing_is_stored(app: World) -> None:
    before = app.observable()

    with pytest.raises(NotFound):
        app.place(restaurant_id="rest-nowhere")

    assert app.observable() == before


def test_an_unknown_promo_code_is_a_validation_error_naming_the_field(app: World) -> None:
    before = app.observable()

    with pytest.raises(ValidationError) as exc:
        app.place(promo="FREEFOOD")

    assert fields(exc) == {"promo_code": "unknown"}
    assert app.observable() == before


# -- bad input: a typed error naming the field, and nothing stored, published or charged ----------------------
BAD_INPUTS = {
    "zero quantity": (dict(lines=[LineRequest(0, item_id="margherita")]), {"lines.0.quantity": "out_of_range"}),
    "negative quantity": (dict(lines=[LineRequest(-2, item_id="margherita")]), {"lines.0.quantity": "out_of_range"}),
    "fractional quantity": (dict(lines=[LineRequest(1.5, item_id="margherita")]), {"lines.0.quantity": "type"}),
    "decimal quantity": (dict(lines=[LineRequest(Decimal(2), item_id="margherita")]), {"lines.0.quantity": "type"}),
    "text quantity": (dict(lines=[LineRequest("2", item_id="margherita")]), {"lines.0.quantity": "type"}),
    "boolean quantity": (dict(lines=[LineRequest(True, item_id="margherita")]), {"lines.0.quantity": "type"}),
    "huge quantity": (dict(lines=[LineRequest(10**12, item_id="margherita")]), {"lines.0.quantity": "out_of_range"}),
    "NaN price": (
        dict(lines=[LineRequest(1, item_id="margherita", unit_price=Decimal("NaN"))]),
        {"lines.0.unit_price": "not_finite"},
    ),
    "NaN price as text": (
        dict(lines=[LineRequest(1, item_id="margherita", unit_price="NaN")]),
        {"lines.0.unit_price": "not_finite"},
    ),
    "Infinity price": (
        dict(lines=[LineRequest(1, item_id="margherita", unit_price="Infinity")]),
        {"lines.0.unit_price": "not_finite"},
    ),
    "float price": (
        dict(lines=[LineRequest(1, item_id="margherita", unit_price=9.5)]),
        {"lines.0.unit_price": "type"},
    ),
    "unknown item": (dict(lines=[LineRequest(1, item_id="caviar")]), {"lines.0": "unknown_item"}),
    "unknown item name": (dict(lines=[LineRequest(1, name="Caviar")]), {"lines.0": "unknown_item"}),
    "unavailable item": (dict(lines=[LineRequest(1, item_id="truffle")]), {"lines.0": "unavailable"}),
    "line naming no item": (dict(lines=[LineRequest(1)]), {"lines.0": "required"}),
    "empty cart": (dict(lines=[]), {"lines": "required"}),
    "too many lines": (dict(lines=[LineRequest(1, item_id="limonade")] * 51), {"lines": "too_many"}),
    "negative tip": (dict(tip="-1.00"), {"tip": "out_of_range"}),
    "NaN tip": (dict(tip="NaN"), {"tip": "not_finite"}),
    "empty payment method": (dict(token=""), {"payment_method": "required"}),
    "second line bad as well": (
        dict(lines=[LineRequest(0, item_id="margherita"), LineRequest(1, item_id="caviar")]),
        {"lines.0.quantity": "out_of_range", "lines.1": "unknown_item"},
    ),
}


@pytest.mark.parametrize(("kwargs", "expected"), list(BAD_INPUTS.values()), ids=list(BAD_INPUTS))
def test_bad_input_is_a_validation_error_naming_each_field_and_nothing_is_stored_published_or_charged(
    app: World, kwargs: dict[str, object], expected: dict[str, str]
) -> None:
    before = app.observable()

    with pytest.raises(ValidationError) as exc:
        app.place(**kwargs)  # type: ignore[arg-type]

    # a well-formed request that only does not match the menu is a conflict (409), not an invalid request (422)
    catalog_only = set(expected.values()) <= {"unknown_item", "unavailable"}
    assert type(exc.value) is (CatalogMismatch if catalog_only else ValidationError)
    assert fields(exc) == expected
    assert app.observable() == before
    assert len(app.orders) == 0 and app.payments.calls == 0 and app.publisher.total == 0


PRICE_CHANGES = {
    "lower price": "9.49",
    "higher price": "9.51",
    "a menu's highest price": "10000",
}
#: prices no menu item can have (every one is above 0 and at most MAX_MENU_PRICE): never valid, whatever the menu
IMPOSSIBLE_PRICES = {"negative price": "-9.50", "zero": "0", "absurd price": "1e30", "over the highest": "10000.01"}


@pytest.mark.parametrize("sent", list(PRICE_CHANGES.values()), ids=list(PRICE_CHANGES))
def test_a_client_price_that_differs_from_the_menu_is_refused_as_price_changed(app: World, sent: str) -> None:
    before = app.observable()

    with pytest.raises(PriceChanged) as exc:
        app.place(lines=[LineRequest(1, item_id="creme"), LineRequest(1, item_id="margherita", unit_price=sent)])

    assert fields(exc) == {"lines.1.unit_price": "price_changed"}
    assert app.observable() == before


@pytest.mark.parametrize("sent", list(IMPOSSIBLE_PRICES.values()), ids=list(IMPOSSIBLE_PRICES))
def test_a_client_price_no_menu_can_have_is_a_validation_error(app: World, sent: str) -> None:
    before = app.observable()

    with pytest.raises(ValidationError) as exc:
        app.place(lines=[LineRequest(1, item_id="creme"), LineRequest(1, item_id="margherita", unit_price=sent)])

    assert type(exc.value) is ValidationError  # 422, not PriceChanged's 409: re-reading the menu cannot fix it
    assert fields(exc) == {"lines.1.unit_price": "out_of_range"}
    assert app.observable() == before


def test_the_menu_price_written_with_other_digits_is_the_same_price(app: World) -> None:
    order = app.place(lines=[LineRequest(1, item_id="margherita", unit_price="9.500")]).order

    assert order.lines[0].unit_price == Money.of("9.50", "EUR")


def test_a_restaurant_not_accepting_orders_refuses_them_naming_the_restaurant(app: World) -> None:
    app.restaurants.add(make_restaurant("rest-closed", accepting_orders=False, location=PARIS))
    before = app.observable()

    with pytest.raises(ValidationError) as exc:
        app.place(restaurant_id="rest-closed")

    assert fields(exc) == {"restaurant_id": "not_accepting_orders"}
    assert app.observable() == before


@pytest.mark.parametrize("key", ["", "k" * 256, "tab\there"], ids=["empty", "too long", "control character"])
def test_a_malformed_idempotency_key_is_refused_naming_the_header(app: World, key: str) -> None:
    before = app.observable()

    with pytest.raises(ValidationError) as exc:
        app.place(key=key)

    assert fields(exc) == {"idempotency_key": "invalid"}
    assert app.observable() == before


def test_a_malformed_restaurant_id_is_refused_naming_the_field(app: World) -> None:
    with pytest.raises(ValidationError) as exc:
        app.place(restaurant_id="")

    assert fields(exc) == {"restaurant_id": "required"}
    assert len(app.orders) == 0


# -- the delivery area -----------------------------------------------------------------------------------------
def test_an_address_outside_the_delivery_area_is_refused_with_nothing_stored_bound_published_or_charged(
    app: World,
) -> None:
    before = app.observable()
    new_york = DeliveryAddress("350 5th Ave, New York", GeoPoint(40.7484, -73.9857))  # 5,837 km from Paris

    with pytest.raises(ValidationError) as exc:
        app.place(key="key-far", address=new_york)

    assert type(exc.value) is ValidationError  # 422: no change of the menu or the promotions makes it deliverable
    assert fields(exc) == {"delivery_address": "out_of_delivery_area"}
    assert exc.value.context["max_delivery_km"] == "15"
    assert 5800 < float(exc.value.context["distance_km"]) < 5900
    assert app.observable() == before
    assert app.orders.find_idempotent(CUSTOMER, "key-far") is None
    # the key is still free: the same key with an address in the area places the order
    placed = app.place(key="key-far", address=DeliveryAddress("15 km south", north_of(PARIS, -15.0)))
    assert placed.created is True and placed.order.pricing.distance_km == "15.000"


def test_the_delivery_area_is_the_deployment_s_pricing_policy() -> None:
    narrow = build_world(pricing=dataclasses.replace(PricingPolicy.for_currency("EUR"), max_delivery_km=Decimal(2)))
    with pytest.raises(ValidationError) as exc:
        narrow.place()  # HOME is 3 km from the restaurant
    assert exc.value.context == {"distance_km": "3.000", "max_delivery_km": "2"}
