"""Orders through the HTTP API: placement (the reference payload, idempotency), reading, the lifecycle by
PUT /orders/{orderId}, rejection, cancellation, and the saga driven by the virtual clock.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from fooddelivery.domain import EventType, OrderStatus, PaymentStatus

from ._world import REFERENCE_PAYLOAD, World, assert_problem


def _payload(**overrides: object) -> dict[str, object]:
    doc: dict[str, object] = json.loads(REFERENCE_PAYLOAD)
    doc.update(overrides)
    return doc


# -- placing ------------------------------------------------------------------------------------------------
def test_the_reference_payload_places_an_order_with_an_exact_subtotal_of_21_97(world: World) -> None:
    response = world.call("POST", "/orders", body=REFERENCE_PAYLOAD)

    assert response.status == 201
    assert response.header("Content-Type") == "application/json"
    body = response.json()
    order_id = body["orderId"]
    assert response.header("Location") == f"/orders/{order_id}"
    assert body["customerId"] == "user-1"
    assert body["restaurantId"] == "rest-1"
    assert body["pricing"]["subtotal"] == "21.97"
    assert body["pricing"]["tax"] == "1.95"  # 21.97 x 8.875 % = 1.9498... -> 1.95 (half-up)
    assert body["pricing"]["deliveryFee"] == "2.99"  # no coordinates: the flat fee
    assert body["pricing"]["serviceFee"] == "1.10"  # 5 % of 21.97 = 1.0985 -> 1.10
    assert body["pricing"]["total"] == "28.01"
    assert [(i["name"], i["unitPrice"], i["quantity"], i["lineTotal"]) for i in body["items"]] == [
        ("Pizza", "15.99", 1, "15.99"),
        ("Soda", "2.99", 2, "5.98"),
    ]
    assert body["deliveryAddress"] == {"text": "123 Main St", "lat": None, "lon": None}
    assert datetime.fromisoformat(body["createdAt"]).utcoffset() is not None
    assert body["createdAt"] == "2025-03-14T12:00:00+00:00"
    # The saga ran in process: paid, driver assigned, waiting for the restaurant.
    assert body["status"] == "PENDING"
    assert body["paymentStatus"] == "CAPTURED"
    assert body["driverId"] == "drv-near"
    assert world.order(order_id).pricing.subtotal.minor == 2197


def test_json_numbers_for_prices_are_read_through_their_text_and_never_through_float(world: World) -> None:
    # 0.1 + 0.2 style: as floats 15.99 * 3 = 47.97000000000001; as decimals exactly 47.97.
    payload = (
        b'{"restaurantId": "rest-1", "items": [{"name": "Pizza", "price": 15.990, "quantity": 3}], '
        b'"deliveryAddress": "1 Elm St", "paymentMethod": "card"}'
    )

    response = world.call("POST", "/orders", body=payload)

    assert response.status == 201
    assert response.json()["pricing"]["subtotal"] == "47.97"


def test_items_may_name_menu_items_by_id_and_prices_may_be_decimal_strings(world: World) -> None:
    payload = _payload(items=[{"itemId": "pizza", "price": "15.99", "quantity": 2}, {"itemId": "soda", "quantity": 1}])

    response = world.call("POST", "/orders", json_body=payload)

    assert response.status == 201
    assert response.json()["pricing"]["subtotal"] == "34.97"


def test_an_address_with_coordinates_prices_delivery_by_distance(world: World) -> None:
    payload = _payload(deliveryAddress={"text": "5th Avenue", "lat": 40.7578, "lon": -74.0060})

    response = world.call("POST", "/orders", json_body=payload)

    assert response.status == 201
    body = response.json()
    assert body["deliveryAddress"] == {"text": "5th Avenue", "lat": 40.7578, "lon": -74.006}
    assert body["pricing"]["distanceKm"] == "5.004"
    assert body["pricing"]["deliveryFee"] == "4.49"  # 1.99 + round_half_up(0.50 x 5.004 km = 2.502) = 4.49


def test_an_address_outside_the_delivery_area_is_422_naming_the_address_and_stores_nothing(world: World) -> None:
    before = world.footprint()
    los_angeles = {"text": "200 N Spring St, Los Angeles", "lat": 34.0537, "lon": -118.2428}
    headers = {"Idempotency-Key": "k-far"}

    response = world.call("POST", "/orders", json_body=_payload(deliveryAddress=los_angeles), headers=headers)

    body = assert_problem(response, 422, "validation_error", "deliveryAddress")
    assert body["title"] == "Invalid request"
    assert len(body["errors"]) == 1
    error = body["errors"][0]
    assert error["code"] == "out_of_delivery_area"
    assert error["message"].startswith("is 393") and error["message"].endswith("outside its delivery area of 15 km")
    assert body["detail"] == f"deliveryAddress: {error['message']}"
    assert world.footprint() == before
    document = world.call("GET", "/openapi.json").json()
    assert "`out_of_delivery_area` on `deliveryAddress`" in document["paths"]["/orders"]["post"]["description"]
    # nothing bound to the key: the same key with an address in the area places the order
    near = {"text": "5th Avenue", "lat": 40.7578, "lon": -74.0060}
    placed = world.call("POST", "/orders", json_body=_payload(deliveryAddress=near), headers=headers)
    assert placed.status == 201, placed.body


def test_a_user_id_that_is_not_the_caller_is_refused_with_403(world: World) -> None:
    before = world.footprint()

    response = world.call("POST", "/orders", json_body=_payload(userId="user-2"))

    assert_problem(response, 403, "not_allowed")
    assert world.footprint() == before


def test_a_client_price_that_differs_from_the_menu_is_409_price_changed(world: World) -> None:
    before = world.footprint()
    payload = _payload(items=[{"name": "Pizza", "price": 14.99, "quantity": 1}])

    body = assert_problem(world.call("POST", "/orders", json_body=payload), 409, "price_changed", "items.0.price")

    assert "15.99" in body["errors"][0]["message"]
    assert world.footprint() == before


def test_an_unknown_restaurant_is_404(world: World) -> None:
    assert_problem(world.call("POST", "/orders", json_body=_payload(restaurantId="rest-404")), 404, "not_found")


def test_an_unknown_menu_item_is_a_409_conflict_with_the_menu_naming_the_line(world: World) -> None:
    payload = _payload(items=[{"name": "Calzone", "quantity": 1}])

    # well-formed (the document allows any name), but not on this restaurant's menu as it is now
    body = assert_problem(world.call("POST", "/orders", json_body=payload), 409, "catalog_mismatch", "items.0")

    assert body["errors"][0]["code"] == "unknown_item"


# -- listing ------------------------------------------------------------------------------------------------
def _listed(world: World, as_: str, query: str = "") -> list[str]:
    response = world.call("GET", "/orders", as_=as_, query=query)
    assert response.status == 200, response.body
    return [o["orderId"] for o in response.json()["items"]]


def test_each_role_lists_the_orders_it_may_see_newest_first(world: World) -> None:
    first = world.place()
    world.clock.advance(60)
    second = world.place()
    world.clock.advance(60)
    theirs = world.place(REFERENCE_PAYLOAD.replace(b'"user-1"', b'"user-2"'), as_="other_customer")

    assert _listed(world, "customer") == [second, first]
    assert _listed(world, "other_customer") == [theirs]
    assert _listed(world, "restaurant") == [theirs, second, first]
    assert _listed(world, "restaurant", "status=PENDING&customerId=user-1") == [second, first]
    assert _listed(world, "other_restaurant") == []
    assert _listed(world, "admin", "customerId=user-2") == [theirs]
    assert _listed(world, "admin", "restaurantId=rest-1&limit=1") == [theirs]
    assert _listed(world, "customer", "status=CONFIRMED") == []


def test_a_restaurant_pages_through_its_waiting_orders(world: World) -> None:
    placed = []
    for _ in range(3):
        placed.append(world.place())
        world.clock.advance(1)
    confirmed = world.call("PUT", f"/orders/{placed[0]}", as_="restaurant", json_body={"status": "CONFIRMED"})
    assert confirmed.status == 200, confirmed.body

    page = world.call("GET", "/orders", as_="restaurant", query="status=PENDING&limit=1").json()
    rest = world.call(
        "GET", "/orders", as_="restaurant", query=f"status=PENDING&limit=1&cursor={page['nextCursor']}"
    ).json()

    assert [o["orderId"] for o in page["items"]] == [placed[2]]
    assert [o["orderId"] for o in rest["items"]] == [placed[1]]
    assert rest["nextCursor"] is None
    other_filters = world.call(
        "GET", "/orders", as_="restaurant", query=f"status=CONFIRMED&cursor={page['nextCursor']}"
    )
    assert_problem(other_filters, 404, "unknown_cursor", "cursor")


@pytest.mark.parametrize(
    ("as_", "query", "status", "code", "field"),
    [
        ("customer", "customerId=user-2", 403, "not_allowed", None),
        ("restaurant", "restaurantId=rest-2", 403, "not_allowed", None),
        ("driver", "", 403, "not_allowed", None),
        ("admin", "", 422, "validation_error", "customerId"),
        ("customer", "status=LOST", 422, "validation_error", "status"),
        ("customer", "limit=0", 422, "validation_error", "limit"),
        ("customer", "cursor=not%20base64", 422, "validation_error", "cursor"),
        ("customer", "cursor=bm90LWEtY3Vyc29y", 404, "unknown_cursor", "cursor"),
    ],
)
def test_a_listing_nobody_may_see_or_cannot_read_is_refused(
    world: World, as_: str, query: str, status: int, code: str, field: str | None
) -> None:
    world.place()

    assert_problem(world.call("GET", "/orders", as_=as_, query=query), status, code, field)


# -- idempotency --------------------------------------------------------------------------------------------
def test_the_same_idempotency_key_and_body_return_the_first_order_with_200(world: World) -> None:
    first = world.call("POST", "/orders", body=REFERENCE_PAYLOAD, headers={"Idempotency-Key": "k-1"})
    after_first = world.footprint()
    # The same content, formatted differently, is the same request.
    again = json.dumps(json.loads(REFERENCE_PAYLOAD), indent=2).encode()

    second = world.call("POST", "/orders", body=again, headers={"Idempotency-Key": "k-1"})

    assert first.status == 201
    assert second.status == 200
    assert second.json()["orderId"] == first.json()["orderId"]
    assert second.header("Location") == first.header("Location")
    assert world.footprint() == after_first
    assert len(world.boot.orders) == 1


def test_the_same_idempotency_key_with_another_body_is_422_and_stores_nothing(world: World) -> None:
    world.call("POST", "/orders", body=REFERENCE_PAYLOAD, headers={"Idempotency-Key": "k-1"})
    before = world.footprint()
    other = _payload(items=[{"name": "Pizza", "price": 15.99, "quantity": 2}])

    response = world.call("POST", "/orders", json_body=other, headers={"Idempotency-Key": "k-1"})

    assert_problem(response, 422, "idempotency_key_reused")
    assert world.footprint() == before


def test_idempotency_keys_of_different_customers_never_collide(world: World) -> None:
    mine = world.call("POST", "/orders", json_body=_payload(userId=None), headers={"Idempotency-Key": "k-1"})
    theirs = world.call(
        "POST", "/orders", json_body=_payload(userId=None), headers={"Idempotency-Key": "k-1"}, as_="other_customer"
    )

    assert (mine.status, theirs.status) == (201, 201)
    assert mine.json()["orderId"] != theirs.json()["orderId"]
    assert theirs.json()["customerId"] == "user-2"


def test_an_idempotency_key_over_255_characters_is_422_naming_the_header(world: World) -> None:
    before = world.footprint()

    response = world.call("POST", "/orders", body=REFERENCE_PAYLOAD, headers={"Idempotency-Key": "k" * 256})

    assert_problem(response, 422, "validation_error", "Idempotency-Key")
    assert world.footprint() == before


# -- reading ------------------------------------------------------------------------------------------------
def test_the_customer_reads_their_order_with_every_field(world: World, waiting_order: str) -> None:
    response = world.call("GET", f"/orders/{waiting_order}")

    assert response.status == 200
    body = response.json()
    assert body["orderId"] == waiting_order
    assert body["status"] == "PENDING"
    assert body["statusTimes"] == {"PENDING": "2025-03-14T12:00:00+00:00"}
    assert body["version"] == world.order(waiting_order).version
    assert body["failureReason"] is None


def test_another_customer_gets_404_so_the_order_is_not_revealed(world: World, waiting_order: str) -> None:
    mine = world.call("GET", f"/orders/{waiting_order}", as_="other_customer")
    missing = world.call("GET", "/orders/ord-none", as_="other_customer")

    body = assert_problem(mine, 404, "not_found")
    assert_problem(missing, 404, "not_found")
    assert body["title"] == missing.json()["title"]


# -- the lifecycle ------------------------------------------------------------------------------------------
def test_the_whole_lifecycle_runs_through_put_orders_by_the_allowed_actors(world: World, waiting_order: str) -> None:
    path = f"/orders/{waiting_order}"

    confirmed = world.call("PUT", path, json_body={"status": "CONFIRMED"}, as_="restaurant")
    assert (confirmed.status, confirmed.json()["status"]) == (200, "CONFIRMED")
    assert confirmed.header("Signal-Outcome") == "ACCEPTED"
    world.clock.advance(600)
    steps = [
        ("restaurant", "PREPARING"),
        ("restaurant", "READY_FOR_PICKUP"),
        ("driver", "PICKED_UP"),
        ("driver", "DELIVERED"),
    ]
    for persona, status in steps:
        response = world.call("PUT", path, json_body={"status": status}, as_=persona)
        assert (response.status, response.json()["status"]) == (200, status)

    order = world.order(waiting_order)
    assert order.status is OrderStatus.DELIVERED
    assert set(order.status_times) == {
        "PENDING",
        "CONFIRMED",
        "PREPARING",
        "READY_FOR_PICKUP",
        "PICKED_UP",
        "DELIVERED",
    }
    assert world.driver("drv-near").status.value == "AVAILABLE"  # freed after delivery


def test_a_transition_the_lifecycle_forbids_is_409_and_changes_nothing(world: World, waiting_order: str) -> None:
    before = world.footprint()

    response = world.call("PUT", f"/orders/{waiting_order}", json_body={"status": "PICKED_UP"}, as_="driver")

    body = assert_problem(response, 409, "invalid_transition")
    assert "PENDING" in body["detail"]
    assert world.footprint() == before


def test_a_status_the_role_may_never_set_is_403(world: World, waiting_order: str) -> None:
    response = world.call("PUT", f"/orders/{waiting_order}", json_body={"status": "PREPARING"}, as_="customer")

    assert_problem(response, 403, "not_allowed")


def test_a_repeated_confirmation_changes_nothing_and_says_duplicate(world: World, waiting_order: str) -> None:
    path = f"/orders/{waiting_order}"
    world.call("PUT", path, json_body={"status": "CONFIRMED"}, as_="restaurant")
    before = world.footprint()

    again = world.call("PUT", path, json_body={"status": "CONFIRMED"}, as_="restaurant")

    assert again.status == 200
    assert again.header("Signal-Outcome") == "DUPLICATE"
    assert again.json()["status"] == "CONFIRMED"
    assert world.footprint() == before


@pytest.mark.parametrize(
    ("persona", "status", "before"),
    [
        ("restaurant", "PREPARING", []),
        ("restaurant", "READY_FOR_PICKUP", [("restaurant", "PREPARING")]),
        ("driver", "PICKED_UP", [("restaurant", "PREPARING"), ("restaurant", "READY_FOR_PICKUP")]),
        (
            "driver",
            "DELIVERED",
            [("restaurant", "PREPARING"), ("restaurant", "READY_FOR_PICKUP"), ("driver", "PICKED_UP")],
        ),
    ],
)
def test_a_repeated_status_change_answers_200_and_changes_nothing(
    world: World, waiting_order: str, persona: str, status: str, before: list[tuple[str, str]]
) -> None:
    path = f"/orders/{waiting_order}"
    world.call("PUT", path, json_body={"status": "CONFIRMED"}, as_="restaurant")
    for who, step in [*before, (persona, status)]:
        assert world.call("PUT", path, json_body={"status": step}, as_=who).status == 200
    version = world.order(waiting_order).version
    footprint = world.footprint()

    again = world.call("PUT", path, json_body={"status": status}, as_=persona)

    assert (again.status, again.json()["status"]) == (200, status)
    assert world.order(waiting_order).version == version
    assert world.footprint() == footprint


def test_a_repeated_status_change_still_checks_who_asks(world: World, waiting_order: str) -> None:
    path = f"/orders/{waiting_order}"
    world.call("PUT", path, json_body={"status": "CONFIRMED"}, as_="restaurant")
    assert world.call("PUT", path, json_body={"status": "PREPARING"}, as_="restaurant").status == 200
    footprint = world.footprint()

    customer = world.call("PUT", path, json_body={"status": "PREPARING"}, as_="customer")
    stranger = world.call("PUT", path, json_body={"status": "PREPARING"}, as_="other_restaurant")
    back_to_pending = world.call("PUT", path, json_body={"status": "PENDING"}, as_="admin")

    assert_problem(customer, 403, "not_allowed")
    assert_problem(stranger, 404, "not_found")
    assert_problem(back_to_pending, 403, "not_allowed")  # nobody may set PENDING
    assert world.footprint() == footprint


def test_a_repeated_cancellation_answers_200_and_refunds_once(world: World, waiting_order: str) -> None:
    path = f"/orders/{waiting_order}"
    first = world.call("PUT", path, json_body={"status": "CANCELLED", "reason": "changed my mind"})
    assert first.status == 200
    footprint = world.footprint()

    again = world.call("PUT", path, json_body={"status": "CANCELLED", "reason": "changed my mind"})
    by_restaurant = world.call("PUT", path, json_body={"status": "CANCELLED"}, as_="restaurant")
    failed_instead = world.call("PUT", path, json_body={"status": "FAILED"}, as_="admin")

    assert (again.status, again.json()["status"], again.json()["failureReason"]) == (
        200,
        "CANCELLED",
        "changed my mind",
    )
    assert by_restaurant.status == 200
    assert_problem(failed_instead, 409, "invalid_transition")
    assert len(world.boot.payments.refunds) == 1
    assert world.footprint() == footprint


def test_a_confirmation_after_the_300_s_timeout_is_409_late_event(world: World, waiting_order: str) -> None:
    assert world.advance(301) == 1  # the confirmation timeout fires; the saga compensates

    response = world.call("PUT", f"/orders/{waiting_order}", json_body={"status": "CONFIRMED"}, as_="restaurant")

    assert_problem(response, 409, "late_event")
    order = world.order(waiting_order)
    assert (order.status, order.failure_reason) == (OrderStatus.FAILED, "restaurant_timeout")
    assert order.payment_status is PaymentStatus.REFUNDED


def test_a_confirmation_while_payment_is_retried_is_409_invalid_transition(world: World) -> None:
    order_id = world.place(json.dumps(_payload(paymentMethod="tok_processingError_1")).encode())

    response = world.call("PUT", f"/orders/{order_id}", json_body={"status": "CONFIRMED"}, as_="restaurant")

    assert_problem(response, 409, "invalid_transition")
    world.advance(5)  # the payment retry succeeds; the saga now waits for the restaurant
    retried = world.call("PUT", f"/orders/{order_id}", json_body={"status": "CONFIRMED"}, as_="restaurant")
    assert (retried.status, retried.json()["status"]) == (200, "CONFIRMED")


def test_the_customer_cancels_a_waiting_order_and_the_saga_refunds_once(world: World, waiting_order: str) -> None:
    response = world.call(
        "PUT", f"/orders/{waiting_order}", json_body={"status": "CANCELLED", "reason": "changed my mind"}
    )

    assert (response.status, response.json()["status"]) == (200, "CANCELLED")
    order = world.order(waiting_order)
    assert order.failure_reason == "changed my mind"
    assert order.payment_status is PaymentStatus.REFUNDED
    assert len(world.boot.payments.refunds) == 1
    assert world.driver("drv-near").status.value == "AVAILABLE"


def test_the_restaurant_rejects_an_order_by_post_reject(world: World, waiting_order: str) -> None:
    response = world.call(
        "POST", f"/orders/{waiting_order}/reject", json_body={"reason": "out of dough"}, as_="restaurant"
    )

    assert response.status == 200
    assert response.header("Signal-Outcome") == "ACCEPTED"
    assert response.json()["status"] == "FAILED"
    assert response.json()["failureReason"] == "restaurant_rejected"
    types = [e.type for e in world.boot.publisher.of_order(waiting_order)]
    assert EventType.PAYMENT_REFUNDED in types
    assert EventType.ORDER_FAILED in types


def test_a_rejection_body_may_be_empty_json(world: World, waiting_order: str) -> None:
    response = world.call("POST", f"/orders/{waiting_order}/reject", json_body={}, as_="restaurant")

    assert (response.status, response.json()["status"]) == (200, "FAILED")


def test_an_admin_confirmation_goes_through_the_saga_so_the_timeout_changes_nothing_later(
    world: World, waiting_order: str
) -> None:
    response = world.call("PUT", f"/orders/{waiting_order}", json_body={"status": "CONFIRMED"}, as_="admin")

    assert (response.status, response.header("Signal-Outcome")) == (200, "ACCEPTED")
    assert world.advance(301) == 0  # the confirmation timer was cancelled with the wait
    order = world.order(waiting_order)
    assert (order.status, order.payment_status) == (OrderStatus.CONFIRMED, PaymentStatus.CAPTURED)
