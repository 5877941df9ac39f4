"""The statuses of an order and of its payment, and the rule of an ``Idempotency-Key``: the part of
:mod:`fooddelivery.domain.order` that the HTTP route table and the ports need without the order aggregate (importing
them does not import its pricing, placement and events: a cold start answering ``GET /health`` does not).

Every name here is also a name of :mod:`fooddelivery.domain.order` (and of :mod:`fooddelivery.domain`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = ["IDEMPOTENCY_KEY_PATTERN", "MAX_IDEMPOTENCY_KEY_LENGTH", "OrderStatus", "PaymentStatus"]

#: Longest ``Idempotency-Key`` accepted.
MAX_IDEMPOTENCY_KEY_LENGTH: Final[int] = 255
#: What an ``Idempotency-Key`` may hold, as a regular expression meaning the same in Python and ECMA-262 (the
#: OpenAPI document states it): 1..255 characters, none of them a control character (C0, DEL, C1).
IDEMPOTENCY_KEY_PATTERN: Final[str] = "^[^\\u0000-\\u001f\\u007f-\\u009f]{1,255}$"


class OrderStatus(StrEnum):
    """Where an order is in its lifecycle."""

    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    PREPARING = "PREPARING"
    READY_FOR_PICKUP = "READY_FOR_PICKUP"
    PICKED_UP = "PICKED_UP"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        """DELIVERED, CANCELLED and FAILED never change again."""
        return self in _TERMINAL


#: The statuses :attr:`OrderStatus.is_terminal` answers True for, bound once (on Python 3.11 reading a member through
#: its enum class takes ``EnumType``'s slow attribute hook: see ``fooddelivery.domain.order``).
_TERMINAL: Final[tuple[OrderStatus, ...]] = (OrderStatus.DELIVERED, OrderStatus.CANCELLED, OrderStatus.FAILED)


class PaymentStatus(StrEnum):
    """Where the order's money is."""

    PENDING = "PENDING"
    CAPTURED = "CAPTURED"
    DECLINED = "DECLINED"
    FAILED = "FAILED"
    REFUNDED = "REFUNDED"
