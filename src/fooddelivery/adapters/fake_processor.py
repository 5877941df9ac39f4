"""The rules of the fake card processor, shared by ``FakePaymentGateway`` (in memory) and
``SqlitePaymentGateway`` (persisted), so both fakes behave identically call for call.

Stateless: each gateway keeps its own ledger (dicts, or tables) and asks these functions what a call does. Token
names follow Stripe's documented test tokens and PaymentMethods (docs.stripe.com/testing); idempotency follows
Stripe's idempotent requests (docs.stripe.com/api/idempotent_requests): keys share one namespace across
operations, a repeated key with the same parameters returns the first result, with other parameters it is
refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from fooddelivery.domain.errors import (
    FieldError,
    IdempotencyKeyReused,
    PaymentDeclined,
    PaymentRetryableError,
    ValidationError,
)
from fooddelivery.domain.money import Money
from fooddelivery.ports.payments import Charge, Refund

__all__ = [
    "ALWAYS_TRANSIENT_TOKEN",
    "DECLINE_TOKENS",
    "SUCCESS_TOKENS",
    "Declined",
    "Params",
    "Result",
    "charge_id_of",
    "check_capture",
    "check_currency",
    "check_positive",
    "check_refund",
    "decline_of",
    "injected_failure",
    "refund_id_of",
    "replay",
    "transient_failure",
]

#: Tokens whose authorization succeeds ("card" is what the reference request payload sends).
SUCCESS_TOKENS: Final[frozenset[str]] = frozenset({"tok_visa", "tok_mastercard", "pm_card_visa", "card"})
#: Tokens whose authorization is declined, with the decline code reported.
DECLINE_TOKENS: Final[dict[str, str]] = {
    "tok_chargeDeclined": "card_declined",
    "tok_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "pm_card_chargeDeclined": "card_declined",
}
#: Every authorization with this token fails transiently (so none ever succeeds).
ALWAYS_TRANSIENT_TOKEN: Final[str] = "tok_processingError"
#: ``tok_processingError_N``: the first N authorization attempts of each idempotency key fail transiently.
_TRANSIENT_N: Final[re.Pattern[str]] = re.compile(r"tok_processingError_(\d{1,6})")

#: The parameters a key is bound to: ``(operation, card token or charge id, amount)``.
Params = tuple[str, str, Money]


@dataclass(frozen=True, slots=True)
class Declined:
    """A stored decline, replayed as a new ``PaymentDeclined`` for a repeated key.

    Attributes:
        detail: the message.
        code: the decline code (``"card_declined"``, ``"insufficient_funds"``, ``"unknown_payment_method"``).
    """

    detail: str
    code: str

    def error(self) -> PaymentDeclined:
        """A fresh exception for this decline (never re-raise one instance: tracebacks pile up)."""
        return PaymentDeclined(self.detail, decline_code=self.code)


#: What a key's first call produced.
Result = Charge | Refund | Declined


def charge_id_of(n: int) -> str:
    """The deterministic id of the ``n``-th charge: ``ch_00000001``..."""
    return f"ch_{n:08d}"


def refund_id_of(n: int) -> str:
    """The deterministic id of the ``n``-th refund: ``re_00000001``..."""
    return f"re_{n:08d}"


def injected_failure(operation: str, key: str) -> PaymentRetryableError:
    """The error of a failure injected with ``fail_next``."""
    return PaymentRetryableError(f"{operation}: processor unavailable (injected failure)", idempotency_key=key)


def replay(key: str, stored: tuple[Params, Result] | None, params: Params) -> Charge | Refund | None:
    """The first result of ``key`` when its call is repeated with the same ``params``; None for a new key.

    Raises:
        IdempotencyKeyReused: the key was used for another operation or other parameters.
        PaymentDeclined: the first call was declined (replayed).
    """
    if stored is None:
        return None
    first_params, result = stored
    if first_params != params:
        raise IdempotencyKeyReused(
            f"idempotency key {key!r} was used for {first_params[0]} with other parameters", idempotency_key=key
        )
    if isinstance(result, Declined):
        raise result.error()
    return result


def transient_failure(token: str, operation: str, key: str, failed_before: int) -> PaymentRetryableError | None:
    """The transient error this attempt fails with, or None when it goes through.

    Args:
        token: the card token.
        operation: ``"authorize"``.
        key: the idempotency key.
        failed_before: how many attempts of ``(operation, key)`` failed transiently so far. The caller adds one
            when an error is returned and forgets the count when None is.
    """
    if token == ALWAYS_TRANSIENT_TOKEN:
        return PaymentRetryableError(f"{operation}: processing error", idempotency_key=key)
    match = _TRANSIENT_N.fullmatch(token)
    if match is None:
        return None
    failures = int(match.group(1))
    attempt = failed_before + 1
    if attempt <= failures:
        return PaymentRetryableError(
            f"{operation}: processing error (attempt {attempt} of {failures} failing)", idempotency_key=key
        )
    return None


def decline_of(token: str) -> Declined | None:
    """How an authorization with ``token`` is declined, or None when it succeeds.

    Success tokens and ``tok_processingError_N`` succeed; decline tokens are declined with their code; anything
    else is declined as an unknown payment method.
    """
    if token in SUCCESS_TOKENS or _TRANSIENT_N.fullmatch(token) is not None:
        return None
    code = DECLINE_TOKENS.get(token)
    if code is not None:
        return Declined("the card was declined", code)
    return Declined("unknown payment method", "unknown_payment_method")


def check_positive(amount: Money) -> None:
    """Require a positive amount.

    Raises:
        ValidationError: field ``amount``.
    """
    if amount.minor <= 0:
        raise ValidationError.single("amount", "must be positive", "out_of_range")


def check_currency(amount: Money, expected: str) -> None:
    """Require ``amount`` in the charge's currency.

    Raises:
        ValidationError: field ``currency``.
    """
    if amount.currency != expected:
        raise ValidationError(
            f"amount is in {amount.currency}, the charge in {expected}",
            [FieldError("currency", f"expected {expected}", "currency_mismatch")],
        )


def check_capture(charge_id: str, amount: Money, authorized: Money, captured: Money | None) -> None:
    """Require a capture of ``amount`` to be allowed: same currency, positive, first capture, at most authorized.

    Raises:
        ValidationError: the rule broken (fields ``currency``, ``amount`` or ``chargeId``).
    """
    check_currency(amount, authorized.currency)
    check_positive(amount)
    if captured is not None:
        raise ValidationError.single("chargeId", f"charge {charge_id} is already captured", "captured")
    if amount > authorized:
        raise ValidationError.single("amount", f"{amount} is more than the authorized {authorized}", "over_capture")


def check_refund(charge_id: str, amount: Money, authorized: Money, captured: Money | None, refunded: Money) -> None:
    """Require a refund of ``amount`` to be allowed: same currency, positive, captured, within what is left.

    Raises:
        ValidationError: the rule broken (fields ``currency``, ``amount`` or ``chargeId``).
    """
    check_currency(amount, authorized.currency)
    check_positive(amount)
    if captured is None:
        raise ValidationError.single("chargeId", f"charge {charge_id} was never captured", "not_captured")
    refundable = captured - refunded
    if amount > refundable:
        raise ValidationError.single("amount", f"{amount} is more than the refundable {refundable}", "over_refund")
