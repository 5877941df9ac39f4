"""Money edge cases that used to cost far more than their size: a zero with a huge exponent.

``"0E+9999999"`` is a valid decimal of ten characters (the HTTP layer accepts decimals of up to 40) whose value
is zero. ``Money.of`` used to build ``10 ** 10000001`` before multiplying it by that zero: about 8 s of CPU for
this one, and hours for the ``"0E+999999999"`` a client can send as a tip.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fooddelivery.domain import Money
from tests.e2e._world import build_world

#: Well under a second once fixed (microseconds); several seconds when ``10 ** exponent`` is computed.
BUDGET_S = 1.0


@pytest.mark.parametrize("amount", ["0E+9999999", "-0E+9999999", Decimal("0E+9999999")])
def test_a_zero_with_a_huge_exponent_is_zero_money_at_once(amount: object) -> None:
    started = time.perf_counter()

    money = Money.of(amount, "USD")

    assert time.perf_counter() - started < BUDGET_S
    assert money == Money(0, "USD")
    assert str(money) == "0.00"


@given(exponent=st.integers(min_value=-(10**6), max_value=10**6), negative=st.booleans())
def test_every_written_form_of_zero_is_zero_money(exponent: int, negative: bool) -> None:
    zero = Decimal((1 if negative else 0, (0,), exponent))

    assert Money.of(zero, "JPY") == Money(0, "JPY")
    assert Money.of(zero, "KWD") == Money(0, "KWD")


def test_a_tip_written_as_zero_with_a_huge_exponent_places_the_order_without_a_tip_at_once() -> None:
    world = build_world()
    body = (  # a JSON number; as a string, an exponent is refused (the documented decimal-string pattern)
        b'{"restaurantId": "rest-1", "items": [{"name": "Pizza", "quantity": 1}], "deliveryAddress": "123 Main St",'
        b' "paymentMethod": "card", "tip": 0E+9999999}'
    )
    started = time.perf_counter()

    response = world.call("POST", "/orders", body=body)

    assert time.perf_counter() - started < BUDGET_S
    assert response.status == 201, response.body
    assert response.json()["pricing"]["tip"] == "0.00"
