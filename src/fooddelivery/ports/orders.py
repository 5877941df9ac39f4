"""Order storage, with the transactional outbox and idempotent placement.

Its annotations name the order aggregate, imported here, so ``typing.get_type_hints`` resolves every method of the
port. ``Page`` lives in :mod:`fooddelivery.ports.paging` (re-exported here): what pages restaurants (the HTTP API's
``GET /health`` path included) imports it from there without loading the order aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from fooddelivery.domain.errors import DuplicateRequest, IdempotencyKeyReused
from fooddelivery.domain.order import Order
from fooddelivery.domain.status import OrderStatus
from fooddelivery.ports.paging import Page

__all__ = ["IdempotencyRecord", "OrderRepository", "Page"]


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

    def refused_by(self, bound: IdempotencyRecord) -> DuplicateRequest | IdempotencyKeyReused:
        """The error a store's ``add`` raises for a placement bound by this record when its key is already bound
        as ``bound`` (the stored record of the same scope and key).

        Returns:
            ``DuplicateRequest`` with ``resource_id`` = ``bound.order_id`` when the fingerprints match (the same
            request again), else ``IdempotencyKeyReused`` with the ``scope`` and ``key`` in its context. Raise it
            (``raise record.refused_by(bound) from cause``).
        """
        if bound.fingerprint == self.fingerprint:
            return DuplicateRequest(
                f"idempotency key {self.key!r} already created order {bound.order_id}", resource_id=bound.order_id
            )
        return IdempotencyKeyReused(
            f"idempotency key {self.key!r} was used with a different request", scope=self.scope, key=self.key
        )


@runtime_checkable
class OrderRepository(Protocol):
    """Orders, keyed by ``order_id``: the partition key of everything an order write touches.

    Every write stores the order's pending events in the outbox **in the same atomic write** (and clears them from
    the aggregate), so no order is stored without its events and no event exists without its order. Everything
    one write touches -- the order, its outbox records and, at placement, the idempotency binding -- belongs to the
    order's partition: an order placed with an idempotency key gets the id
    :func:`~fooddelivery.domain.order.order_id_for_key` derives from (customer, key), so the binding can live in
    that partition too. A store therefore needs no more than a **single-partition atomic write** (a DynamoDB or
    SQLite transaction, a Cosmos DB transactional batch, a Firestore transaction).

    Optimistic concurrency: a write succeeds only if the stored order is still the one the caller read. A store
    compares ``Order.persisted_version`` (a version attribute) or the opaque ``Order.concurrency_token`` it set
    when it read the order (an etag, an update time); either way a lost race is a ``ConcurrencyConflict``.
    """

    def add(self, order: Order, idempotency: IdempotencyRecord | None = None) -> None:
        """Insert a new order with its events, and bind the idempotency key if given, atomically.

        Raises:
            ConcurrencyConflict: an order with this id exists (for a keyed placement: the same key, placed before
                or concurrently).
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
        """Write ``order`` and its pending events if the stored order is still the one ``order`` was read as (its
        ``persisted_version``, or the store's ``concurrency_token``); sets both anew.

        Raises:
            ConcurrencyConflict: someone else wrote first (nothing written).
            NotFound: the order was never added.
        """
        ...

    def find_idempotent(self, scope: str, key: str) -> IdempotencyRecord | None:
        """The binding of ``key`` in ``scope``, or None.

        The binding lives in the partition of the order it names, ``order_id_for_key(scope, key)``: a store may
        answer with one point read there.
        """
        ...

    def list_by_customer(self, customer_id: str, limit: int = 20, cursor: str | None = None) -> Page[Order]:
        """The customer's orders, newest first (by creation time, then id).

        Raises:
            ValidationError: a malformed cursor (field ``cursor``) or limit outside 1..100.
        """
        ...

    def list_by_restaurant(
        self,
        restaurant_id: str,
        status: OrderStatus | None = None,
        limit: int = 20,
        cursor: str | None = None,
        *,
        newest_first: bool = False,
    ) -> Page[Order]:
        """The restaurant's orders, optionally of one status, oldest first (by creation time, then id), or newest
        first with ``newest_first`` (what a restaurant looking for orders to confirm wants).

        A cursor belongs to one listing: its restaurant, status and direction.

        Raises:
            ValidationError: a malformed cursor (or one of another listing) or a limit outside 1..100.
        """
        ...
