"""The one error table, the problem-details shape, request ids, routing errors, and the single generic 500.

Every status the API answers is reached here through a real request, except 402 and 502: payment happens
in the saga after ``POST /orders`` has answered, so no route can meet a payment error; the table still maps
them (checked directly).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

import fooddelivery.domain.errors as errors_module
from fooddelivery.adapters.memory import InMemoryRestaurantRepository
from fooddelivery.domain import Restaurant
from fooddelivery.domain.errors import (
    ConcurrencyConflict,
    CurrencyMismatch,
    DuplicateRequest,
    FieldError,
    FoodDeliveryError,
    IdempotencyKeyReused,
    InfrastructureError,
    InvalidTransition,
    LateEvent,
    NoDriverAvailable,
    NotAllowed,
    NotAuthenticated,
    NotFound,
    PaymentDeclined,
    PaymentError,
    PaymentRetryableError,
    PriceChanged,
    ValidationError,
)
from fooddelivery.http import HttpRequest, problem_response, status_for

from ._world import World, assert_problem, build_world


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ValidationError.single("x", "bad"), 422),
        (CurrencyMismatch("EUR and USD", [FieldError("currency", "expected USD")]), 422),
        (PriceChanged("re-read the menu", [FieldError("items.0.price", "is 15.99")]), 409),
        (NotAuthenticated("no token"), 401),
        (NotAllowed("no"), 403),
        (NotFound("gone"), 404),
        (InvalidTransition("PENDING -> DELIVERED"), 409),
        (LateEvent("timed out"), 409),
        (ConcurrencyConflict("version 3, not 2"), 409),
        (DuplicateRequest("seen", resource_id="ord-1"), 409),
        (IdempotencyKeyReused("other body"), 422),
        (NoDriverAvailable("none within 8 km"), 409),
        (PaymentDeclined("card declined"), 402),
        (PaymentRetryableError("processor down"), 503),
        (PaymentError("processor failed"), 502),
        (InfrastructureError("DynamoDB throttled"), 503),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_the_error_table_maps_each_error_class_to_one_status(error: FoodDeliveryError, status: int) -> None:
    response = problem_response(error, "req-1", "/orders")

    assert response.status == status
    body = response.json()
    assert (body["status"], body["code"], body["requestId"], body["instance"]) == (
        status,
        error.code,
        "req-1",
        "/orders",
    )
    assert body["type"] == f"urn:fooddelivery:problem:{error.code}"
    assert response.header("Content-Type") == "application/problem+json"


def test_no_error_class_of_the_core_falls_through_to_500() -> None:
    classes = [getattr(errors_module, name) for name in errors_module.__all__]
    core_errors = [c for c in classes if isinstance(c, type) and issubclass(c, FoodDeliveryError)]

    unmapped = [c.__name__ for c in core_errors if status_for(c.__new__(c)) == (500, "Internal server error")]

    assert unmapped == ["FoodDeliveryError"]  # only the abstract base


def test_validation_problems_list_each_field_with_message_and_code() -> None:
    error = ValidationError("bad", [FieldError("items.0.quantity", "must be 1..99", "out_of_range")])

    body = problem_response(error, "req-1").json()

    assert body["errors"] == [{"field": "items.0.quantity", "message": "must be 1..99", "code": "out_of_range"}]
    assert "instance" not in body


def test_dependency_failures_say_retry_later_without_naming_internals() -> None:
    response = problem_response(InfrastructureError("table orders-prod throttled in eu-west-1"), "req-1")

    assert response.header("Retry-After") == "1"
    assert "orders-prod" not in response.body.decode()


# -- through the API ------------------------------------------------------------------------------------------
def test_no_credentials_is_401_with_a_bearer_challenge(world: World) -> None:
    response = world.call("GET", "/restaurants", as_=None)

    assert_problem(response, 401, "not_authenticated")
    assert response.header("WWW-Authenticate") == 'Bearer realm="fooddelivery"'


def test_a_bad_token_is_401_with_an_invalid_token_challenge(world: World) -> None:
    response = world.call("GET", "/restaurants", as_=None, headers={"Authorization": "Bearer not.a.jwt"})

    assert_problem(response, 401, "not_authenticated")
    assert response.header("WWW-Authenticate") == 'Bearer realm="fooddelivery", error="invalid_token"'


def test_another_scheme_is_401_with_a_bare_bearer_challenge_and_no_error_code(world: World) -> None:
    # RFC 6750 section 3.1: a request with no bearer credentials (here HTTP Basic) gets no error code
    response = world.call("GET", "/restaurants", as_=None, headers={"Authorization": "Basic dXNlcjpwYXNz"})

    body = assert_problem(response, 401, "not_authenticated")
    assert body["detail"] == "the Authorization header must use the Bearer scheme"
    assert response.header("WWW-Authenticate") == 'Bearer realm="fooddelivery"'
    empty = world.call("GET", "/restaurants", as_=None, headers={"Authorization": "Bearer "})  # bearer, no token
    assert empty.header("WWW-Authenticate") == 'Bearer realm="fooddelivery", error="invalid_token"'


def test_an_oversized_body_is_413_naming_its_declared_size_not_where_reading_stopped(world: World) -> None:
    from fooddelivery.http.api import MAX_BODY_BYTES

    big = b"x" * (MAX_BODY_BYTES + 1)  # what the ASGI server hands over for a 2 MB body: the limit + 1 byte
    declared = world.call("POST", "/orders", body=big, headers={"Content-Length": "2000010"})
    body = assert_problem(declared, 413, "payload_too_large")
    assert body["detail"] == f"the body is 2000010 bytes; at most {MAX_BODY_BYTES} bytes are accepted"
    chunked = world.call("POST", "/orders", body=big)  # no Content-Length (chunked): the size is not known
    body = assert_problem(chunked, 413, "payload_too_large")
    assert body["detail"] == f"the body is larger; at most {MAX_BODY_BYTES} bytes are accepted"


def test_an_unknown_route_is_a_404_problem(world: World) -> None:
    body = assert_problem(world.call("GET", "/menus"), 404, "no_route")

    assert body["instance"] == "/menus"


def test_a_wrong_method_is_405_listing_the_allowed_ones(world: World) -> None:
    response = world.call("DELETE", "/orders/ord-1")

    assert_problem(response, 405, "method_not_allowed")
    assert response.header("Allow") == "GET, OPTIONS, PUT"


def test_a_literal_path_is_its_own_resource_and_not_a_parameter_value(world: World) -> None:
    response = world.call("PATCH", "/restaurants/search")

    assert response.status == 405
    assert response.header("Allow") == "OPTIONS, POST"
    assert world.call("OPTIONS", "/restaurants/rest-1", as_=None).header("Allow") == "GET, OPTIONS"


def test_options_answers_204_with_allow_and_needs_no_credentials(world: World) -> None:
    response = world.call("OPTIONS", "/orders", as_=None)

    assert response.status == 204
    assert response.header("Allow") == "GET, POST, OPTIONS"
    assert_problem(world.call("OPTIONS", "/nowhere", as_=None), 404, "no_route")


def test_health_needs_no_credentials(world: World) -> None:
    response = world.call("GET", "/health", as_=None)

    assert (response.status, response.json()) == (200, {"status": "ok", "checks": {}})


# -- request ids ----------------------------------------------------------------------------------------------
def test_a_valid_request_id_is_echoed(world: World) -> None:
    response = world.call("GET", "/health", headers={"X-Request-Id": "trace-42:abc_DEF.1"})

    assert response.header("X-Request-Id") == "trace-42:abc_DEF.1"


@pytest.mark.parametrize("given", ["", "has space", "x" * 129, "new\nline", "<script>"])
def test_an_invalid_request_id_is_replaced_by_a_generated_one(world: World, given: str) -> None:
    response = world.call("GET", "/health", headers={"X-Request-Id": given})

    generated = response.header("X-Request-Id")
    assert generated and generated != given
    assert len(generated) == 32
    assert int(generated, 16) >= 0


def test_every_response_carries_a_request_id_and_no_store(world: World) -> None:
    for response in (world.call("GET", "/health"), world.call("GET", "/menus"), world.call("GET", "/orders/x")):
        assert response.header("X-Request-Id")
        assert response.header("Cache-Control") == "no-store"


# -- 500 and 503 ----------------------------------------------------------------------------------------------
class FailingRestaurants(InMemoryRestaurantRepository):
    """An in-memory restaurant store whose ``get`` raises ``failure`` once it is set."""

    def __init__(self) -> None:
        super().__init__()
        self.failure: Exception | None = None

    def get(self, restaurant_id: str) -> Restaurant:
        if self.failure is not None:
            raise self.failure
        return super().get(restaurant_id)


@pytest.fixture
def failing() -> tuple[World, FailingRestaurants]:
    store = FailingRestaurants()
    return build_world(restaurants=store), store


def test_an_unexpected_exception_is_one_generic_500_logged_with_the_request_id(
    failing: tuple[World, FailingRestaurants], caplog: pytest.LogCaptureFixture
) -> None:
    world, store = failing
    store.failure = RuntimeError("secret internals: db password=hunter2")

    with caplog.at_level(logging.ERROR, logger="fooddelivery.http"):
        response = world.call("GET", "/restaurants/rest-1", headers={"X-Request-Id": "req-500"})

    body = assert_problem(response, 500, "internal_error")
    assert body["detail"] == "An unexpected error occurred. Quote request id req-500 when reporting it."
    assert "hunter2" not in response.body.decode()
    [record] = [r for r in caplog.records if r.name == "fooddelivery.http"]
    assert record.request_id == "req-500"  # type: ignore[attr-defined]
    assert record.exc_info is not None and "hunter2" in str(record.exc_info[1])


def test_a_failing_dependency_is_503_with_retry_after(failing: tuple[World, FailingRestaurants]) -> None:
    world, store = failing
    store.failure = InfrastructureError("restaurants table unavailable")

    response = world.call("GET", "/restaurants/rest-1")

    body = assert_problem(response, 503, "infrastructure_error")
    assert response.header("Retry-After") == "1"
    assert "table" not in body["detail"]


def test_a_request_the_api_cannot_parse_at_all_is_still_a_problem_not_a_crash(world: World) -> None:
    request = HttpRequest("POST", "orders-without-slash", body=b"\x00")

    response = world.api.handle(request)

    assert_problem(response, 404, "no_route")


@pytest.mark.parametrize(
    ("status", "make"),
    [
        (400, lambda w, o: w.call("POST", "/orders", body=b"{")),
        (401, lambda w, o: w.call("GET", f"/orders/{o}", as_=None)),
        (403, lambda w, o: w.call("POST", "/orders", body=b"{}", as_="driver")),
        (404, lambda w, o: w.call("GET", "/orders/ord-unknown")),
        (405, lambda w, o: w.call("PATCH", f"/orders/{o}")),
        (409, lambda w, o: w.call("PUT", f"/orders/{o}", json_body={"status": "DELIVERED"}, as_="driver")),
        (413, lambda w, o: w.call("POST", "/orders", body=b" " * (256 * 1024 + 1))),
        (415, lambda w, o: w.call("POST", "/orders", body=b"{}", headers={"Content-Type": "text/csv"})),
        (422, lambda w, o: w.call("POST", "/orders", body=b"{}")),
    ],
)
def test_every_client_error_status_is_reachable_through_the_api(world: World, status: int, make: Any) -> None:
    order_id = world.place()

    response = make(world, order_id)

    assert response.status == status
    assert response.header("Content-Type") == "application/problem+json"


def test_a_dependency_failing_every_request_is_logged_once_per_interval_not_per_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import time

    from fooddelivery.domain import InfrastructureError
    from fooddelivery.http.problems import _ThrottledLog, problem_response

    caplog.set_level(logging.WARNING, "fooddelivery.http")
    responses = [
        problem_response(InfrastructureError("commit: the disk is full", reason="disk_full"), f"r{i}")
        for i in range(30)
    ]
    assert {r.status for r in responses} == {503}
    assert len([r for r in caplog.records if "dependency failure" in r.getMessage()]) <= 1

    caplog.clear()
    throttle = _ThrottledLog(interval_s=0.2)
    error = InfrastructureError("commit: the disk is full", reason="disk_full")
    for _ in range(10):
        throttle.warn(503, error, "r")
    time.sleep(0.25)
    throttle.warn(503, error, "r")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "(9 more like it in the last " in lines[1]
