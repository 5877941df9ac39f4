"""Contract of ``PaymentGateway``: every card processor adapter must pass it.

Subclass :class:`PaymentGatewayContract` in a ``Test*`` class, provide the ``gateway`` fixture and
implement :meth:`PaymentGatewayContract.net_captured` (what the processor reports as captured minus
refunded for a charge). The tokens are the processor's test tokens (Stripe's documented ones by
default); override ``success_tokens`` / ``decline_tokens`` for a processor with other names.
"""

from __future__ import annotations

from typing import ClassVar

import pytest

from fooddelivery.domain.errors import (
    IdempotencyKeyReused,
    NotFound,
    PaymentDeclined,
    ValidationError,
)
from fooddelivery.domain.money import Money
from fooddelivery.ports.payments import Charge, PaymentGateway

__all__ = ["PaymentGatewayContract"]


def usd(amount: str) -> Money:
    """``amount`` (a decimal string) in US dollars."""
    return Money.of(amount, "USD")


class PaymentGatewayContract:
    """Behaviour every ``PaymentGateway`` must show (fixture ``gateway``: a fresh account)."""

    success_tokens: ClassVar[tuple[str, ...]] = ("tok_visa", "tok_mastercard", "pm_card_visa")
    decline_tokens: ClassVar[tuple[str, ...]] = (
        "tok_chargeDeclined",
        "tok_chargeDeclinedInsufficientFunds",
        "pm_card_chargeDeclined",
    )

    @pytest.fixture
    def gateway(self) -> PaymentGateway:
        """The PaymentGateway under test, fresh for each test (subclasses override this fixture)."""
        raise NotImplementedError("a subclass provides the gateway under test")

    def net_captured(self, gateway: PaymentGateway, charge_id: str) -> Money:
        """Captured minus refunded on ``charge_id``, as the processor reports it."""
        raise NotImplementedError("a subclass says how the processor's balance is read")

    def _captured(self, gateway: PaymentGateway, amount: str = "21.97", key: str = "order-1") -> Charge:
        auth = gateway.authorize("tok_visa", usd(amount), f"{key}:authorize")
        return gateway.capture(auth.charge_id, usd(amount), f"{key}:capture")

    # -- authorize ---------------------------------------------------------------------------------
    def test_each_success_token_authorizes_the_amount_without_capturing(self, gateway: PaymentGateway) -> None:
        charges = [gateway.authorize(token, usd("21.97"), f"auth-{token}") for token in self.success_tokens]
        assert [c.amount for c in charges] == [usd("21.97")] * len(self.success_tokens)
        assert all(c.captured is False for c in charges)
        assert len({c.charge_id for c in charges}) == len(self.success_tokens)
        assert all(self.net_captured(gateway, c.charge_id) == usd("0") for c in charges)

    def test_each_decline_token_raises_payment_declined(self, gateway: PaymentGateway) -> None:
        for token in self.decline_tokens:
            with pytest.raises(PaymentDeclined):
                gateway.authorize(token, usd("21.97"), f"auth-{token}")

    def test_an_unknown_token_is_declined(self, gateway: PaymentGateway) -> None:
        with pytest.raises(PaymentDeclined):
            gateway.authorize("tok_made_up_by_a_client", usd("5.00"), "auth-unknown")

    def test_a_repeated_authorization_key_returns_the_first_charge(self, gateway: PaymentGateway) -> None:
        first = gateway.authorize("tok_visa", usd("21.97"), "ord-1:authorize")
        again = gateway.authorize("tok_visa", usd("21.97"), "ord-1:authorize")
        assert again == first

    def test_an_authorization_key_reused_with_another_amount_is_refused(self, gateway: PaymentGateway) -> None:
        gateway.authorize("tok_visa", usd("21.97"), "ord-1:authorize")
        with pytest.raises(IdempotencyKeyReused):
            gateway.authorize("tok_visa", usd("99.00"), "ord-1:authorize")

    def test_an_authorization_key_reused_with_another_card_is_refused(self, gateway: PaymentGateway) -> None:
        gateway.authorize("tok_visa", usd("21.97"), "ord-1:authorize")
        with pytest.raises(IdempotencyKeyReused):
            gateway.authorize("tok_mastercard", usd("21.97"), "ord-1:authorize")

    # -- capture -----------------------------------------------------------------------------------
    def test_capture_takes_the_authorized_amount(self, gateway: PaymentGateway) -> None:
        auth = gateway.authorize("tok_visa", usd("21.97"), "ord-1:authorize")
        charge = gateway.capture(auth.charge_id, usd("21.97"), "ord-1:capture")
        assert charge == Charge(auth.charge_id, usd("21.97"), captured=True)
        assert self.net_captured(gateway, auth.charge_id) == usd("21.97")

    def test_capture_may_take_less_than_authorized(self, gateway: PaymentGateway) -> None:
        auth = gateway.authorize("tok_visa", usd("21.97"), "ord-1:authorize")
        charge = gateway.capture(auth.charge_id, usd("20.00"), "ord-1:capture")
        assert charge.amount == usd("20.00")
        assert self.net_captured(gateway, auth.charge_id) == usd("20.00")

    def test_a_repeated_capture_key_returns_the_first_capture_without_taking_money_twice(
        self, gateway: PaymentGateway
    ) -> None:
        auth = gateway.authorize("tok_visa", usd("21.97"), "ord-1:authorize")
        first = gateway.capture(auth.charge_id, usd("21.97"), "ord-1:capture")
        again = gateway.capture(auth.charge_id, usd("21.97"), "ord-1:capture")
        assert again == first
        assert self.net_captured(gateway, auth.charge_id) == usd("21.97")

    def test_a_second_capture_under_another_key_is_refused(self, gateway: PaymentGateway) -> None:
        auth = gateway.authorize("tok_visa", usd("21.97"), "ord-1:authorize")
        gateway.capture(auth.charge_id, usd("10.00"), "ord-1:capture")
        with pytest.raises(ValidationError):
            gateway.capture(auth.charge_id, usd("10.00"), "ord-1:capture-again")
        assert self.net_captured(gateway, auth.charge_id) == usd("10.00")

    def test_capturing_more_than_authorized_is_refused(self, gateway: PaymentGateway) -> None:
        auth = gateway.authorize("tok_visa", usd("21.97"), "ord-1:authorize")
        with pytest.raises(ValidationError):
            gateway.capture(auth.charge_id, usd("21.98"), "ord-1:capture")
        assert self.net_captured(gateway, auth.charge_id) == usd("0")

    def test_capturing_an_unknown_charge_raises_not_found(self, gateway: PaymentGateway) -> None:
        with pytest.raises(NotFound):
            gateway.capture("ch_missing", usd("1.00"), "ord-1:capture")

    # -- refund ------------------------------------------------------------------------------------
    def test_a_full_refund_returns_the_captured_amount(self, gateway: PaymentGateway) -> None:
        charge = self._captured(gateway)
        refund = gateway.refund(charge.charge_id, usd("21.97"), "ord-1:refund")
        assert refund.charge_id == charge.charge_id
        assert refund.amount == usd("21.97")
        assert self.net_captured(gateway, charge.charge_id) == usd("0")

    def test_partial_refunds_may_add_up_to_the_captured_amount_and_no_further(self, gateway: PaymentGateway) -> None:
        charge = self._captured(gateway)
        first = gateway.refund(charge.charge_id, usd("10.00"), "ord-1:refund-1")
        second = gateway.refund(charge.charge_id, usd("11.97"), "ord-1:refund-2")
        assert first.refund_id != second.refund_id
        with pytest.raises(ValidationError):
            gateway.refund(charge.charge_id, usd("0.01"), "ord-1:refund-3")
        assert self.net_captured(gateway, charge.charge_id) == usd("0")

    def test_refunding_more_than_captured_minus_refunded_is_refused(self, gateway: PaymentGateway) -> None:
        charge = self._captured(gateway)
        gateway.refund(charge.charge_id, usd("5.00"), "ord-1:refund-1")
        with pytest.raises(ValidationError):
            gateway.refund(charge.charge_id, usd("16.98"), "ord-1:refund-2")
        assert self.net_captured(gateway, charge.charge_id) == usd("16.97")

    def test_a_repeated_refund_key_returns_the_first_refund_without_returning_money_twice(
        self, gateway: PaymentGateway
    ) -> None:
        charge = self._captured(gateway)
        first = gateway.refund(charge.charge_id, usd("5.00"), "ord-1:refund")
        again = gateway.refund(charge.charge_id, usd("5.00"), "ord-1:refund")
        assert again == first
        assert self.net_captured(gateway, charge.charge_id) == usd("16.97")

    def test_a_refund_key_reused_with_another_amount_is_refused(self, gateway: PaymentGateway) -> None:
        charge = self._captured(gateway)
        gateway.refund(charge.charge_id, usd("5.00"), "ord-1:refund")
        with pytest.raises(IdempotencyKeyReused):
            gateway.refund(charge.charge_id, usd("6.00"), "ord-1:refund")

    def test_refunding_a_charge_that_was_never_captured_is_refused(self, gateway: PaymentGateway) -> None:
        auth = gateway.authorize("tok_visa", usd("21.97"), "ord-1:authorize")
        with pytest.raises(ValidationError):
            gateway.refund(auth.charge_id, usd("1.00"), "ord-1:refund")

    def test_refunding_an_unknown_charge_raises_not_found(self, gateway: PaymentGateway) -> None:
        with pytest.raises(NotFound):
            gateway.refund("ch_missing", usd("1.00"), "ord-1:refund")

    def test_amounts_in_another_currency_than_the_charge_are_refused(self, gateway: PaymentGateway) -> None:
        auth = gateway.authorize("tok_visa", usd("21.97"), "ord-1:authorize")
        with pytest.raises(ValidationError):
            gateway.capture(auth.charge_id, Money.of("21.97", "EUR"), "ord-1:capture")
