"""Taking and returning money."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from fooddelivery.domain._frozen import fast_frozen_init
from fooddelivery.domain.money import Money

__all__ = ["Charge", "PaymentGateway", "Refund"]


@fast_frozen_init
@dataclass(frozen=True, slots=True)
class Charge:
    """An authorization or a capture.

    Attributes:
        charge_id: the gateway's id.
        amount: authorized or captured amount.
        captured: False for an authorization only.
    """

    charge_id: str
    amount: Money
    captured: bool


@dataclass(frozen=True, slots=True)
class Refund:
    """A refund of (part of) a captured charge.

    Attributes:
        refund_id: the gateway's id.
        charge_id: what was refunded.
        amount: how much.
    """

    refund_id: str
    charge_id: str
    amount: Money


@runtime_checkable
class PaymentGateway(Protocol):
    """A card processor. Every call carries an idempotency key: a repeated key returns the first result and
    never moves money twice (Stripe-style semantics); the same key with different parameters is refused.
    """

    def authorize(self, payment_method: str, amount: Money, idempotency_key: str) -> Charge:
        """Hold ``amount`` on the card.

        Raises:
            PaymentDeclined: the issuer refused (do not retry).
            PaymentRetryableError: transient; retry with the same key.
            IdempotencyKeyReused: the key was used with other parameters.
        """
        ...

    def capture(self, charge_id: str, amount: Money, idempotency_key: str) -> Charge:
        """Capture (up to) the authorized ``amount`` of ``charge_id``.

        Raises:
            PaymentRetryableError: transient; retry with the same key.
            NotFound: unknown charge.
            ValidationError: more than authorized.
        """
        ...

    def refund(self, charge_id: str, amount: Money, idempotency_key: str) -> Refund:
        """Return ``amount`` of a captured charge.

        Raises:
            PaymentRetryableError: transient; retry with the same key.
            NotFound: unknown charge.
            ValidationError: more than captured and not yet refunded.
        """
        ...
