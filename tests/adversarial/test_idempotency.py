"""One Idempotency-Key, one request: the same content written differently is the same request.

``PlaceOrder.fingerprint`` used ``str()`` of the client's decimals, so ``15.99`` and ``15.990`` (one menu price,
one order) or a tip of ``"2"`` and ``"2.00"`` (one tip) were "another body" and the retry was refused with 422
``idempotency_key_reused``; so was a promo code typed in another case, though codes match case-insensitively.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from fooddelivery.domain import LineRequest, Money
from fooddelivery.domain.pricing import PromoCode, PromoKind
from tests.e2e._world import REFERENCE_PAYLOAD, World, build_world
from tests.service._world import DEFAULT_LINES
from tests.service._world import build_world as build_service_world

_REF: dict[str, Any] = json.loads(REFERENCE_PAYLOAD)


@pytest.fixture
def world() -> World:
    return build_world()


def _send(world: World, body: bytes, key: str = "k-1") -> tuple[int, str]:
    response = world.call("POST", "/orders", body=body, headers={"Idempotency-Key": key})
    assert response.status in (200, 201), response.body
    return response.status, str(response.json()["orderId"])


#: (first body, the same request written differently)
SAME_REQUEST = {
    "price with a trailing zero": (
        REFERENCE_PAYLOAD,
        REFERENCE_PAYLOAD.replace(b'"price": 15.99', b'"price": 15.990'),
    ),
    "price as a string with trailing zeros": (
        REFERENCE_PAYLOAD,
        REFERENCE_PAYLOAD.replace(b'"price": 2.99', b'"price": "2.9900"'),
    ),
    "price in exponent notation": (
        REFERENCE_PAYLOAD,
        REFERENCE_PAYLOAD.replace(b'"price": 15.99', b'"price": 1599e-2'),
    ),
    "tip as an integer and with cents": (
        json.dumps({**_REF, "tip": 2}).encode(),
        json.dumps({**_REF, "tip": "2.00"}).encode(),
    ),
    "no tip and a zero tip": (
        REFERENCE_PAYLOAD,
        json.dumps({**_REF, "tip": "0.00"}).encode(),
    ),
}


@pytest.mark.parametrize(("first", "again"), list(SAME_REQUEST.values()), ids=list(SAME_REQUEST))
def test_the_same_request_written_differently_with_one_key_returns_the_first_order(
    world: World, first: bytes, again: bytes
) -> None:
    created = _send(world, first)
    after_first = world.footprint()

    replayed = _send(world, again)

    assert created[0] == 201
    assert replayed == (200, created[1])
    assert world.footprint() == after_first
    assert len(world.boot.orders) == 1


def test_a_really_different_price_with_the_same_key_is_still_refused(world: World) -> None:
    _send(world, REFERENCE_PAYLOAD)
    before = world.footprint()
    other = REFERENCE_PAYLOAD.replace(b'"price": 15.99', b'"price": 15.991')

    response = world.call("POST", "/orders", body=other, headers={"Idempotency-Key": "k-1"})

    assert response.status == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert world.footprint() == before


def test_a_really_different_tip_with_the_same_key_is_still_refused(world: World) -> None:
    _send(world, json.dumps({**_REF, "tip": "2.00"}).encode())

    response = world.call("POST", "/orders", json_body={**_REF, "tip": "2.01"}, headers={"Idempotency-Key": "k-1"})

    assert response.status == 422
    assert response.json()["code"] == "idempotency_key_reused"


def test_a_promo_code_retyped_in_another_case_with_the_same_key_returns_the_first_order() -> None:
    promo = PromoCode("WELCOME10", PromoKind.PERCENT, percent=Decimal(10))
    app = build_service_world(promotions={"WELCOME10": promo})
    first = app.place(key="k-1", promo="WELCOME10")

    again = app.place(key="k-1", promo="welcome10")

    assert first.created and not again.created
    assert again.order.order_id == first.order.order_id
    assert again.order.pricing.discount == Money.of("2.52", "EUR")
    assert len(app.orders) == 1


def test_a_menu_price_sent_as_a_decimal_or_as_its_string_is_one_request_for_the_service() -> None:
    app = build_service_world()
    as_text = [LineRequest(2, item_id="margherita", unit_price="9.50"), DEFAULT_LINES[1]]
    as_decimal = [LineRequest(2, item_id="margherita", unit_price=Decimal("9.5")), DEFAULT_LINES[1]]
    first = app.place(key="k-1", lines=as_text)

    again = app.place(key="k-1", lines=as_decimal)

    assert again.order.order_id == first.order.order_id and not again.created
