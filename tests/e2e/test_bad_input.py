"""Client mistakes: each gets a clear 4xx problem naming what is wrong, and nothing is stored or published.

Every case runs against a world holding one waiting order (so the PUT routes have something to refuse
changing) and compares the world's footprint (orders and their versions, outbox, bus, notifications,
location stream, sagas, payment calls, drivers) before and after.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ._world import REFERENCE_PAYLOAD, World, assert_problem

_REF: dict[str, Any] = json.loads(REFERENCE_PAYLOAD)


def _order(**overrides: Any) -> bytes:
    return json.dumps({**_REF, **overrides}).encode()


def _item(**overrides: Any) -> bytes:
    return _order(items=[{"name": "Pizza", "price": 15.99, "quantity": 1, **overrides}])


JSON = {"Content-Type": "application/json"}

#: (id, method, path, body, extra headers, status, code, field named in errors or None)
# fmt: off
CASES: list[tuple[str, str, str, bytes | None, dict[str, str], int, str, str | None]] = [
    # -- the body as a whole
    ("body null", "POST", "/orders", b"null", {}, 422, "validation_error", "body"),
    ("body empty", "POST", "/orders", b"", {}, 400, "empty_body", "body"),
    ("body only whitespace", "POST", "/orders", b"  \n ", {}, 400, "empty_body", "body"),
    ("body not JSON", "POST", "/orders", b"restaurantId=rest-1", {}, 400, "malformed_json", "body"),
    ("body truncated JSON", "POST", "/orders", REFERENCE_PAYLOAD[:-20], {}, 400, "malformed_json", "body"),
    ("body a JSON array", "POST", "/orders", b"[1, 2]", {}, 422, "validation_error", "body"),
    ("body a JSON string", "POST", "/orders", b'"order"', {}, 422, "validation_error", "body"),
    ("body a JSON number", "POST", "/orders", b"42", {}, 422, "validation_error", "body"),
    ("body with NaN", "POST", "/orders", _order().replace(b"15.99", b"NaN"), {}, 400, "malformed_json", "body"),
    ("body with Infinity", "POST", "/orders", _order().replace(b"15.99", b"Infinity"), {}, 400, "malformed_json",
     "body"),
    ("body with a duplicate key", "POST", "/orders", b'{"restaurantId": "rest-1", "restaurantId": "rest-2"}', {},
     400, "malformed_json", "body"),
    ("body nested too deeply", "POST", "/orders", b"[" * 100_000 + b"]" * 100_000, {}, 400, "malformed_json",
     "body"),
    ("body with a 5000-digit integer", "POST", "/orders",
     _item().replace(b'"quantity": 1', b'"quantity": ' + b"9" * 5000), {}, 400, "malformed_json", "body"),
    ("body not UTF-8", "POST", "/orders", b'{"restaurantId": "\xff\xfe"}', {}, 400, "malformed_json", "body"),
    ("body with a byte-order mark", "POST", "/orders", b"\xef\xbb\xbf" + REFERENCE_PAYLOAD, {}, 400,
     "malformed_json", "body"),
    ("body over 256 KB", "POST", "/orders", _order(deliveryAddress="x" * 270_000), {}, 413, "payload_too_large",
     "body"),
    # -- media type
    ("content type text/plain", "POST", "/orders", REFERENCE_PAYLOAD, {"Content-Type": "text/plain"}, 415,
     "unsupported_media_type", "Content-Type"),
    ("content type form", "POST", "/orders", REFERENCE_PAYLOAD,
     {"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", "Content-Type"),
    ("content type missing", "POST", "/orders", REFERENCE_PAYLOAD, {"Content-Type": ""}, 415,
     "unsupported_media_type", "Content-Type"),
    ("charset latin-1", "POST", "/orders", REFERENCE_PAYLOAD, {"Content-Type": "application/json; charset=latin-1"},
     415, "unsupported_media_type", "Content-Type"),
    ("gzip encoding", "POST", "/orders", REFERENCE_PAYLOAD, {"Content-Encoding": "gzip"}, 415,
     "unsupported_media_type", "Content-Encoding"),
    # -- fields of POST /orders
    ("unknown field", "POST", "/orders", _order(coupon="FREE"), {}, 422, "validation_error", "coupon"),
    ("snake_case field", "POST", "/orders", _order(payment_method="card"), {}, 422, "validation_error",
     "payment_method"),
    ("restaurantId missing", "POST", "/orders", json.dumps({k: v for k, v in _REF.items() if k != "restaurantId"})
     .encode(), {}, 422, "validation_error", "restaurantId"),
    ("restaurantId with a slash", "POST", "/orders", _order(restaurantId="rest/1"), {}, 422, "validation_error",
     "restaurantId"),
    ("restaurantId a number", "POST", "/orders", _order(restaurantId=1), {}, 422, "validation_error",
     "restaurantId"),
    ("no items", "POST", "/orders", _order(items=[]), {}, 422, "validation_error", "items"),
    ("51 items", "POST", "/orders", _order(items=[{"name": "Soda", "quantity": 1}] * 51), {}, 422,
     "validation_error", "items"),
    ("quantity zero", "POST", "/orders", _item(quantity=0), {}, 422, "validation_error", "items.0.quantity"),
    ("quantity 100", "POST", "/orders", _item(quantity=100), {}, 422, "validation_error", "items.0.quantity"),
    ("quantity a fraction", "POST", "/orders", _item(quantity=1.5), {}, 422, "validation_error", "items.0.quantity"),
    ("quantity 1.5E0", "POST", "/orders", _item().replace(b'"quantity": 1', b'"quantity": 1.5E0'), {}, 422,
     "validation_error", "items.0.quantity"),
    ("quantity a string", "POST", "/orders", _item(quantity="1"), {}, 422, "validation_error", "items.0.quantity"),
    ("quantity a boolean", "POST", "/orders", _item(quantity=True), {}, 422, "validation_error",
     "items.0.quantity"),
    ("price not a number", "POST", "/orders", _item(price="cheap"), {}, 422, "validation_error", "items.0.price"),
    ("price NaN as a string", "POST", "/orders", _item(price="NaN"), {}, 422, "validation_error", "items.0.price"),
    ("item naming nothing", "POST", "/orders", _order(items=[{"quantity": 1}]), {}, 422, "validation_error",
     "items.0"),
    ("item with an unknown field", "POST", "/orders", _item(size="XL"), {}, 422, "validation_error",
     "items.0.size"),
    ("delivery address empty", "POST", "/orders", _order(deliveryAddress=""), {}, 422, "validation_error",
     "deliveryAddress.text"),
    ("delivery address a number", "POST", "/orders", _order(deliveryAddress=12), {}, 422, "validation_error",
     "deliveryAddress"),
    ("latitude above 90", "POST", "/orders", _order(deliveryAddress={"text": "x", "lat": 90.5, "lon": 0}), {},
     422, "validation_error", "deliveryAddress.lat"),
    ("longitude below -180", "POST", "/orders", _order(deliveryAddress={"text": "x", "lat": 0, "lon": -180.01}),
     {}, 422, "validation_error", "deliveryAddress.lon"),
    ("latitude 1e999", "POST", "/orders", _order(deliveryAddress={"text": "x", "lat": 0, "lon": 0})
     .replace(b'"lat": 0', b'"lat": 1e999'), {}, 422, "validation_error", "deliveryAddress.lat"),
    ("latitude without longitude", "POST", "/orders", _order(deliveryAddress={"text": "x", "lat": 10}), {}, 422,
     "validation_error", "deliveryAddress"),
    ("payment method empty", "POST", "/orders", _order(paymentMethod=""), {}, 422, "validation_error",
     "paymentMethod"),
    # well-formed, but more decimals than the restaurant's currency (USD) has: a conflict with the restaurant
    ("price above any menu price", "POST", "/orders", _item().replace(b"15.99", b"1e400"), {}, 422,
     "validation_error", "items.0.price"),
    ("price zero", "POST", "/orders", _item().replace(b"15.99", b"0"), {}, 422, "validation_error", "items.0.price"),
    ("price below any currency's cent", "POST", "/orders", _item().replace(b"15.99", b"1e-400"), {}, 422,
     "validation_error", "items.0.price"),
    ("tip with a tenth of a cent", "POST", "/orders", _order(tip="1.001"), {}, 409, "catalog_mismatch", "tip"),
    ("tip with a tenth of a mill", "POST", "/orders", _order(tip="1.0001"), {}, 422, "validation_error", "tip"),
    ("tip over 500", "POST", "/orders", _order(tip="500.01"), {}, 422, "validation_error", "tip"),
    ("tip with an exponent", "POST", "/orders", _order(tip="1E2"), {}, 422, "validation_error", "tip"),
    ("negative tip", "POST", "/orders", _order(tip=-1), {}, 422, "validation_error", "tip"),
    ("unknown promo code", "POST", "/orders", _order(promoCode="FREE"), {}, 409, "catalog_mismatch", "promoCode"),
    ("userId of another customer", "POST", "/orders", _order(userId="user-2"), {}, 403, "not_allowed", None),
    ("idempotency key with a control character", "POST", "/orders", REFERENCE_PAYLOAD,
     {"Idempotency-Key": "k\x01"}, 422, "validation_error", "Idempotency-Key"),
    # -- path parameters
    ("order id with an encoded slash", "GET", "/orders/ord%2F1", None, {}, 422, "validation_error", "orderId"),
    ("order id with a control character", "GET", "/orders/ord%001", None, {}, 422, "validation_error", "orderId"),
    ("order id of 129 characters", "GET", "/orders/" + "o" * 129, None, {}, 422, "validation_error", "orderId"),
    ("order id not UTF-8", "GET", "/orders/%FF", None, {}, 404, "no_route", None),
    ("order id missing", "GET", "/orders/", None, {}, 404, "no_route", None),
    ("order id missing before track", "GET", "/deliveries//track", None, {}, 404, "no_route", None),
    ("restaurant id with a newline", "GET", "/restaurants/rest%0A1", None, {}, 422, "validation_error",
     "restaurantId"),
    # -- PUT /orders/{orderId}
    ("status that does not exist", "PUT", "/orders/{id}", b'{"status": "REJECTED"}', {}, 422, "validation_error",
     "status"),
    ("status in lower case", "PUT", "/orders/{id}", b'{"status": "confirmed"}', {}, 422, "validation_error",
     "status"),
    ("status null", "PUT", "/orders/{id}", b'{"status": null}', {}, 422, "validation_error", "status"),
    ("status missing", "PUT", "/orders/{id}", b'{"reason": "x"}', {}, 422, "validation_error", "status"),
    ("status with an unknown field", "PUT", "/orders/{id}", b'{"status": "CANCELLED", "by": "me"}', {}, 422,
     "validation_error", "by"),
    ("reason empty", "PUT", "/orders/{id}", b'{"status": "CANCELLED", "reason": ""}', {}, 422, "validation_error",
     "reason"),
    ("status body empty", "PUT", "/orders/{id}", b"", {}, 400, "empty_body", "body"),
    # -- deliveries
    ("assign without orderId", "POST", "/deliveries/assign", b"{}", {}, 422, "validation_error", "orderId"),
    ("assign with an empty orderId", "POST", "/deliveries/assign", b'{"orderId": ""}', {}, 422, "validation_error",
     "orderId"),
    ("assign with orderId a list", "POST", "/deliveries/assign", b'{"orderId": ["a"]}', {}, 422,
     "validation_error", "orderId"),
    ("location latitude 91", "PUT", "/deliveries/{id}/location", b'{"lat": 91, "lon": 0}', {}, 422,
     "validation_error", "lat"),
    ("location longitude -181", "PUT", "/deliveries/{id}/location", b'{"lat": 0, "lon": -181}', {}, 422,
     "validation_error", "lon"),
    ("location as strings", "PUT", "/deliveries/{id}/location", b'{"lat": "40.7", "lon": "-74"}', {}, 422,
     "validation_error", "lat"),
    ("location without lon", "PUT", "/deliveries/{id}/location", b'{"lat": 40.7}', {}, 422, "validation_error",
     "lon"),
    ("location latitude true", "PUT", "/deliveries/{id}/location", b'{"lat": true, "lon": 0}', {}, 422,
     "validation_error", "lat"),
    # -- restaurant search body
    ("search limit 1000", "POST", "/restaurants/search", b'{"limit": 1000}', {}, 422, "validation_error", "limit"),
    ("search near without lon", "POST", "/restaurants/search", b'{"near": {"lat": 1}, "radiusKm": 1}', {}, 422,
     "validation_error", "near.lon"),
    ("search near without radius", "POST", "/restaurants/search", b'{"near": {"lat": 1, "lon": 1}}', {}, 422,
     "validation_error", "radiusKm"),
    ("search radius zero", "POST", "/restaurants/search", b'{"near": {"lat": 1, "lon": 1}, "radiusKm": 0}', {}, 422,
     "validation_error", "radiusKm"),
    ("search minRating 6", "POST", "/restaurants/search", b'{"minRating": 6}', {}, 422, "validation_error",
     "minRating"),
    ("search unknown field", "POST", "/restaurants/search", b'{"sort": "name"}', {}, 422, "validation_error", "sort"),
]
# fmt: on

#: (id, query, field) for GET /restaurants, each a 422.
QUERY_CASES = [
    ("limit zero", "limit=0", "limit"),
    ("limit 101", "limit=101", "limit"),
    ("limit not a number", "limit=ten", "limit"),
    ("limit given twice", "limit=1&limit=2", "limit"),
    ("minRating above 5", "minRating=5.5", "minRating"),
    ("minRating NaN", "minRating=NaN", "minRating"),
    ("near out of range", "near=91,0&radiusKm=1", "near"),
    ("near not a pair", "near=40.7&radiusKm=1", "near"),
    ("near without radius", "near=40.7,-74", "radiusKm"),
    ("radius above 100", "near=40.7,-74&radiusKm=101", "radiusKm"),
    ("radius infinite", "near=40.7,-74&radiusKm=Infinity", "radiusKm"),
    ("cursor not base64url", "cursor=%%%%", "cursor"),
    ("radius without near", "radiusKm=5", "near"),
    ("minRating with a sign", "minRating=%2B4", "minRating"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "code", "field"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_bad_input_gets_a_clear_4xx_and_leaves_no_trace(
    world: World,
    waiting_order: str,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str],
    status: int,
    code: str,
    field: str | None,
) -> None:
    before = world.footprint()
    orders_before = len(world.boot.orders)
    persona = "driver" if path.startswith("/deliveries") else "customer"  # a role that may call the route

    response = world.call(
        method, path.replace("{id}", waiting_order), as_=persona, body=body, headers={**JSON, **headers}
    )

    assert_problem(response, status, code, field)
    assert world.footprint() == before
    assert len(world.boot.orders) == orders_before


@pytest.mark.parametrize(("query", "field"), [pytest.param(*case[1:], id=case[0]) for case in QUERY_CASES])
def test_bad_listing_parameters_are_422_naming_the_parameter(world: World, query: str, field: str) -> None:
    assert_problem(world.call("GET", "/restaurants", query=query), 422, "validation_error", field)


def test_a_cursor_of_the_right_form_that_no_listing_issued_is_a_404(world: World) -> None:
    response = world.call("GET", "/restaurants", query="cursor=bm90LWEtY3Vyc29y")

    assert_problem(response, 404, "unknown_cursor", "cursor")


def test_a_quantity_written_with_a_zero_fraction_is_an_integer_as_json_schema_counts_it(world: World) -> None:
    response = world.call("POST", "/orders", body=_item().replace(b'"quantity": 1', b'"quantity": 1.0'))

    assert response.status == 201, response.body
    assert response.json()["items"][0]["quantity"] == 1


def test_a_validation_problem_names_every_invalid_field_at_once(world: World) -> None:
    body = _order(restaurantId="", items=[{"name": "Pizza", "quantity": 0}], paymentMethod="", extra=1)

    problem = assert_problem(world.call("POST", "/orders", body=body), 422, "validation_error")

    assert {(e["field"], e["code"]) for e in problem["errors"]} == {
        ("restaurantId", "too_short"),
        ("items.0.quantity", "out_of_range"),
        ("paymentMethod", "too_short"),
        ("extra", "unknown_field"),
    }


def test_the_problem_never_echoes_the_rejected_input(world: World) -> None:
    secret = "4111111111111111"

    problem = assert_problem(world.call("POST", "/orders", body=_order(cardNumber=secret)), 422, "validation_error")

    assert secret not in json.dumps(problem)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Content-Type": "text/plain"}, "not 'text/plain'"),
        ({"Content-Type": ""}, "not a request without a Content-Type"),
        ({"Content-Type": "  "}, "not a request without a Content-Type"),
    ],
)
def test_the_415_detail_says_what_was_sent_or_that_nothing_was(
    world: World, headers: dict[str, str], expected: str
) -> None:
    response = world.call("POST", "/orders", body=REFERENCE_PAYLOAD, headers=headers)

    problem = assert_problem(response, 415, "unsupported_media_type", "Content-Type")
    assert problem["detail"] == (
        f"the body must be JSON sent as 'Content-Type: application/json' (UTF-8), {expected}"
    )
