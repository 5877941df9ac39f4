"""The API Gateway translation, on the core with in-memory adapters: both payload formats (from the SAM samples),
base64 and missing bodies, null parameter maps, cookies, stage prefixes, the authorizer's claims, and the shape of
what goes back to API Gateway. (Against DynamoDB and the rest of the stack: ``e2e/``.)"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from aws_stack import sample_event
from gateway import ADMIN, CUSTOMER, REFERENCE_PAYLOAD, RESTAURANT, body_of, http_api_event, rest_event, seed

from fooddelivery.adapters.memory import SequentialIdGenerator
from fooddelivery.bootstrap import Bootstrapped, Settings, bootstrap
from fooddelivery.http import ClaimMapping, GatewayClaimsAuthenticator, HttpApi, HttpRequest
from fooddelivery_aws.entrypoints.http import ApiGatewayAdapter, request_from_event


@pytest.fixture
def boot() -> Bootstrapped:
    app = bootstrap(Settings(), ids=SequentialIdGenerator())
    seed(app.restaurants, app.drivers)
    return app


@pytest.fixture
def gateway(boot: Bootstrapped) -> ApiGatewayAdapter:
    authenticator = GatewayClaimsAuthenticator(ClaimMapping.cognito())
    return ApiGatewayAdapter(lambda base: HttpApi(boot.service, authenticator, base_path=base))


def test_the_reference_payload_as_a_rest_event_with_a_base64_body_creates_the_order(
    gateway: ApiGatewayAdapter, boot: Bootstrapped
) -> None:
    response = gateway.handle(rest_event("POST", "/orders", body=REFERENCE_PAYLOAD, claims=CUSTOMER))

    assert response["statusCode"] == 201, response["body"]
    order = body_of(response)
    assert response["isBase64Encoded"] is False
    assert response["headers"]["Content-Type"] == "application/json"
    assert response["headers"]["Location"] == f"/prod/orders/{order['orderId']}"
    assert response["headers"]["X-Request-Id"] == "rest-req-1"  # API Gateway's request id
    assert response["multiValueHeaders"] == {}
    assert order["customerId"] == "user-1"
    assert order["pricing"]["subtotal"] == "21.97"
    assert boot.orders.get(order["orderId"]).customer_id == "user-1"


def test_the_rest_sample_as_generated_is_refused_for_its_unknown_query_parameter(gateway: ApiGatewayAdapter) -> None:
    event = sample_event("apigw-rest-v1")  # POST /orders, body {"userId": "user-1"} in base64, ?foo=bar
    event["requestContext"]["authorizer"] = {"claims": dict(CUSTOMER)}
    event["headers"]["Content-Type"] = "application/json"
    response = gateway.handle(event)
    assert response["statusCode"] == 422
    assert [e["field"] for e in body_of(response)["errors"]] == ["foo"]


def test_the_get_sample_reads_its_path(gateway: ApiGatewayAdapter) -> None:
    event = sample_event("apigw-rest-v1-get")  # GET /orders/abc
    event["requestContext"]["authorizer"] = {"claims": dict(CUSTOMER)}
    event["queryStringParameters"] = event["multiValueQueryStringParameters"] = None
    response = gateway.handle(event)
    assert response["statusCode"] == 404
    assert body_of(response)["instance"] == "/orders/abc"


def test_null_headers_query_parameters_path_parameters_and_body_are_read_as_empty(gateway: ApiGatewayAdapter) -> None:
    event = rest_event("GET", "/health")
    event.update(
        headers=None,
        multiValueHeaders=None,
        queryStringParameters=None,
        multiValueQueryStringParameters=None,
        pathParameters=None,
        stageVariables=None,
        body=None,
        isBase64Encoded=False,
    )
    response = gateway.handle(event)
    assert response["statusCode"] == 200
    assert body_of(response)["status"] == "ok"


def test_a_missing_body_is_an_empty_body(gateway: ApiGatewayAdapter, boot: Bootstrapped) -> None:
    event = rest_event("POST", "/orders", claims=CUSTOMER, headers={"Content-Type": "application/json"})
    del event["body"]
    response = gateway.handle(event)
    assert response["statusCode"] == 400
    assert body_of(response)["code"] == "empty_body"
    assert len(boot.orders) == 0


def test_a_body_flagged_base64_that_is_not_is_a_400(gateway: ApiGatewayAdapter) -> None:
    event = rest_event("POST", "/orders", body=REFERENCE_PAYLOAD, claims=CUSTOMER, base64_body=False)
    event["isBase64Encoded"] = True
    response = gateway.handle(event)
    assert response["statusCode"] == 400
    assert body_of(response)["code"] == "bad_event"
    assert response["headers"]["Content-Type"] == "application/problem+json"


def test_a_plain_text_body_is_taken_as_sent(gateway: ApiGatewayAdapter) -> None:
    response = gateway.handle(rest_event("POST", "/orders", body=REFERENCE_PAYLOAD, claims=CUSTOMER, base64_body=False))
    assert response["statusCode"] == 201


def test_multi_value_query_parameters_keep_every_value(gateway: ApiGatewayAdapter) -> None:
    event = rest_event("GET", "/restaurants", claims=CUSTOMER, query={"cuisine": ["pizza"], "limit": ["1", "2"]})
    (request, version, base) = request_from_event(event)
    assert (version, base) == ("1.0", "/prod")
    assert request.query == {"cuisine": ("pizza",), "limit": ("1", "2")}
    assert gateway.handle(event)["statusCode"] == 422  # limit given twice


def test_without_verified_claims_the_call_is_401_with_a_bearer_challenge(gateway: ApiGatewayAdapter) -> None:
    response = gateway.handle(rest_event("POST", "/orders", body=REFERENCE_PAYLOAD))
    assert response["statusCode"] == 401
    assert response["headers"]["WWW-Authenticate"].startswith("Bearer")


def test_claims_sent_by_the_client_in_headers_are_never_read(gateway: ApiGatewayAdapter) -> None:
    headers = {"X-Claims": json.dumps(CUSTOMER), "Authorization": "Bearer forged"}
    response = gateway.handle(rest_event("POST", "/orders", body=REFERENCE_PAYLOAD, headers=headers))
    assert response["statusCode"] == 401


def test_cognito_groups_rendered_as_a_list_pick_the_strongest_role(gateway: ApiGatewayAdapter) -> None:
    placed = body_of(gateway.handle(rest_event("POST", "/orders", body=REFERENCE_PAYLOAD, claims=CUSTOMER)))
    # "[admin restaurant]" without a restaurant id: as a restaurant it would be refused; as an admin it sees the order
    response = gateway.handle(rest_event("GET", f"/orders/{placed['orderId']}", claims=ADMIN))
    assert response["statusCode"] == 200


def test_an_http_api_event_with_jwt_claims_a_stage_prefix_and_cookies(
    gateway: ApiGatewayAdapter, boot: Bootstrapped
) -> None:
    event = http_api_event(
        "POST",
        "/orders",
        body=REFERENCE_PAYLOAD,
        claims=CUSTOMER,
        stage="prod",
        base64_body=True,
        cookies=["a=1", "b=2"],
    )
    request, version, base = request_from_event(event)
    assert (request.path, version, base) == ("/orders", "2.0", "/prod")
    assert request.header("cookie") == "a=1; b=2"
    assert request.claims == CUSTOMER

    response = gateway.handle(event)

    assert response["statusCode"] == 201, response["body"]
    assert "multiValueHeaders" not in response
    assert response["headers"]["Location"].startswith("/prod/orders/")
    assert len(boot.orders) == 1


def test_an_http_api_event_on_the_default_stage_keeps_its_path_and_reads_the_raw_query(
    gateway: ApiGatewayAdapter,
) -> None:
    event = http_api_event("GET", "/restaurants", claims=CUSTOMER, raw_query="cuisine=pizza&limit=5")
    request, _, base = request_from_event(event)
    assert (request.path, base) == ("/restaurants", "")
    assert request.query == {"cuisine": ("pizza",), "limit": ("5",)}
    response = gateway.handle(event)
    assert response["statusCode"] == 200
    assert [r["restaurantId"] for r in body_of(response)["items"]] == ["rest-1"]


def test_the_http_api_sample_as_generated_reaches_the_router(gateway: ApiGatewayAdapter) -> None:
    response = gateway.handle(sample_event("apigw-http-v2"))  # POST /path/to/resource
    assert response["statusCode"] == 404


def test_the_restaurant_reads_its_order_through_an_http_api_event(gateway: ApiGatewayAdapter) -> None:
    placed = body_of(gateway.handle(rest_event("POST", "/orders", body=REFERENCE_PAYLOAD, claims=CUSTOMER)))
    response = gateway.handle(http_api_event("GET", f"/orders/{placed['orderId']}", claims=RESTAURANT))
    assert response["statusCode"] == 200
    assert body_of(response)["restaurantId"] == "rest-1"


@pytest.mark.parametrize(
    "event",
    [{}, {"version": "2.0"}, {"httpMethod": "GET"}, {"Records": []}, sample_event("apigw-authorizer")],
    ids=["empty", "v2 without method or path", "v1 without path", "an SQS-like event", "an authorizer event"],
)
def test_an_event_that_is_not_an_api_gateway_proxy_event_is_a_400(gateway: ApiGatewayAdapter, event: Any) -> None:
    response = gateway.handle(event)
    assert response["statusCode"] == 400
    assert body_of(response)["code"] == "bad_event"


def test_a_body_that_is_not_utf8_goes_back_base64_encoded() -> None:
    class Binary:
        def handle(self, request: HttpRequest) -> Any:
            from fooddelivery.http import HttpResponse

            return HttpResponse(200, {"Content-Type": "application/octet-stream"}, b"\xff\x00")

    response = ApiGatewayAdapter(lambda base: Binary()).handle(rest_event("GET", "/health"))  # type: ignore[arg-type,return-value]
    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == b"\xff\x00"
