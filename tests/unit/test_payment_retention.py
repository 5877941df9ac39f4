"""``FakePaymentGateway.release``: what a long simulation drops once an order is folded into its report."""

from __future__ import annotations

import pytest

from fooddelivery.adapters.memory import FakePaymentGateway
from fooddelivery.domain.errors import IdempotencyKeyReused, PaymentDeclined, PaymentRetryableError
from fooddelivery.domain.money import Money

USD10 = Money.of("10.00", "USD")
USD12 = Money.of("12.00", "USD")


def test_a_declined_authorization_is_forgotten_without_a_charge() -> None:
    payments = FakePaymentGateway()
    with pytest.raises(PaymentDeclined):
        payments.authorize("tok_chargeDeclined", USD10, "ord-1:authorize")
    with pytest.raises(IdempotencyKeyReused):  # the key remembers its first parameters
        payments.authorize("tok_visa", USD12, "ord-1:authorize")
    payments.release(None, ("ord-1:authorize", "ord-1:capture", "ord-1:refund"))
    charge = payments.authorize("tok_visa", USD12, "ord-1:authorize")  # forgotten: runs again
    assert charge.amount == USD12


def test_a_transient_failure_count_is_forgotten() -> None:
    payments = FakePaymentGateway()
    token = "tok_processingError_2"  # fails twice, then succeeds
    with pytest.raises(PaymentRetryableError):
        payments.authorize(token, USD10, "ord-2:authorize")
    payments.release(None, ("ord-2:authorize",))
    for _ in range(2):  # counted from zero again: two more failures (one, had the count been kept)
        with pytest.raises(PaymentRetryableError):
            payments.authorize(token, USD10, "ord-2:authorize")
    assert payments.authorize(token, USD10, "ord-2:authorize").amount == USD10


def test_a_settled_charge_is_forgotten_with_its_keys() -> None:
    payments = FakePaymentGateway()
    charge = payments.authorize("tok_visa", USD10, "ord-3:authorize")
    payments.capture(charge.charge_id, USD10, "ord-3:capture")
    payments.refund(charge.charge_id, USD10, "ord-3:refund")
    assert payments.refunded_charges() == {charge.charge_id}
    payments.release(charge.charge_id, ("ord-3:authorize", "ord-3:capture", "ord-3:refund"))
    assert payments.refunded_charges() == set()
    assert payments.refunds_of(charge.charge_id) == []
    assert payments.refunded_total("USD") == USD10  # the books keep the totals
