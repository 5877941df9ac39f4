"""Order storage, with the transactional outbox and idempotent placement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar, runtime_checkable

from fooddelivery.domain.order import Order, OrderStatus

__all__ = ["IdempotencyRecord", "OrderRepository", "Page"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing.

    Attributes:
        items: the results in the listing's order.
        next_cursor: an opaque string to pass back for the next page, or None at the end.
    """

    items: Sequence[T]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """What a placement's idempotency key is bound to.

    Attributes:
        scope: whose key it is (the customer id): keys of different customers never collide.
        key: the client's ``Idempotency-Key``.
        fingerprint: a digest of the request body (hex); the same key with another fingerprint is refused.
        order_id: the order the first request created.
    """

    scope: str
    key: str
    fingerprint: str
    order_id: str


@runtime_checkable
class OrderRepository(Protocol):
    """Orders, keyed by ``order_id`` (the partition key everywhere).

    Every write stores the order's pending events in the outbox **in the same transaction** (and clears them
    from the aggregate), so no order is stored without its events and no event exists without its order.
    """

    def add(self, order: Order, idempotency: IdempotencyRecord | None = None) -> None:
        """Insert a new order with its events, and bind the idempotency key if given, atomically.

        Raises:
            ConcurrencyConflict: an order with this id exists.
            DuplicateRequest: the key is bound with the same fingerprint (``resource_id`` = the first order).
            IdempotencyKeyReused: the key is bound with another fingerprint.
            InfrastructureError: the store failed; nothing was written.
        """
        ...

    def get(self, order_id: str) -> Order:
        """The stored order (its ``persisted_version`` set).

        Raises:
            NotFound: no such order.
        """
        ...

    def save(self, order: Order) -> None:
        """Write ``order`` and its pending events if the stored version is still ``order.persisted_version``.

        Raises:
            ConcurrencyConflict: someone else wrote first (nothing written).
            NotFound: the order was never added.
        """
        ...

    def find_idempotent(self, scope: str, key: str) -> IdempotencyRecord | None:
        """The binding of ``key`` in ``scope``, or None."""
        ...

    def list_by_customer(self, customer_id: str, limit: int = 20, cursor: str | None = None) -> Page[Order]:
        """The customer's orders, newest first (the UserOrdersIndex: customer id + created at).

        Raises:
            ValidationError: a malformed cursor (field ``cursor``) or limit outside 1..100.
        """
        ...

    def list_by_restaurant(
        self, restaurant_id: str, status: OrderStatus | None = None, limit: int = 20, cursor: str | None = None
    ) -> Page[Order]:
        """The restaurant's orders, optionally of one status (the RestaurantOrdersIndex), oldest first.

        Raises:
            ValidationError: a malformed cursor or a limit outside 1..100.
        """
        ...
