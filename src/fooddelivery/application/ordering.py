"""Ordering: place an order (idempotently), read and list orders, move them along their lifecycle, cancel."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
from collections.abc import Callable
from typing import Final

from fooddelivery.application._base import use_case
from fooddelivery.application.commands import PlaceOrder, PlaceOrderResult
from fooddelivery.application.order_saga import ORDER_CANCELLED
from fooddelivery.application.restaurant_actions import RestaurantUseCases
from fooddelivery.domain.actors import Actor, Role
from fooddelivery.domain.catalog import check_id
from fooddelivery.domain.errors import (
    CatalogMismatch,
    ConcurrencyConflict,
    DuplicateRequest,
    FieldError,
    IdempotencyKeyReused,
    InvalidTransition,
    LateEvent,
    NotAllowed,
    ValidationError,
)
from fooddelivery.domain.order import (
    ORDER_ID_PREFIX,
    Order,
    OrderStatus,
    check_idempotency_key,
    order_id_for_key,
)
from fooddelivery.ports.orders import IdempotencyRecord, Page
from fooddelivery.ports.saga_store import SagaStatus

__all__ = ["MAX_SCANNED", "SCAN_PAGE", "OrderingUseCases"]

#: Orders read per store call when a listing is filtered on what the store is not keyed on.
SCAN_PAGE: Final[int] = 100
#: Most stored orders one filtered :meth:`OrderingUseCases.list_orders` call reads.
MAX_SCANNED: Final[int] = 500

#: Where a listing resumes: the store's cursor (None: from the start) and how many of that store page were seen.
_Position = tuple[str | None, int]
#: The statuses :meth:`OrderingUseCases.change_status` routes to the saga and the role that places orders, bound
#: once (on Python 3.11 reading a member through its enum class takes ``EnumType``'s slow attribute hook: see
#: ``fooddelivery.domain.order``).
_CONFIRMED: Final = OrderStatus.CONFIRMED
_CANCELLED: Final = OrderStatus.CANCELLED
_FAILED: Final = OrderStatus.FAILED
_CUSTOMER: Final = Role.CUSTOMER


def _fingerprint(scope: str, status: OrderStatus | None, customer_id: str | None, restaurant_id: str | None) -> str:
    doc = [scope, status.value if status is not None else None, customer_id, restaurant_id]
    return hashlib.sha256(json.dumps(doc).encode()).hexdigest()[:16]


def _make_cursor(position: _Position, fingerprint: str) -> str:
    raw = json.dumps({"c": position[0], "n": position[1], "f": fingerprint}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _read_cursor(cursor: str, fingerprint: str) -> _Position:
    """The position of a cursor made by :func:`_make_cursor` for the same listing and filters.

    Raises:
        ValidationError: anything else (field ``cursor``).
    """
    bad = ValidationError.single("cursor", "is malformed or belongs to a listing with other filters", "invalid")
    try:
        doc = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        raise bad from None
    if not isinstance(doc, dict) or doc.get("f") != fingerprint:
        raise bad
    store, skip = doc.get("c"), doc.get("n")
    if not (store is None or isinstance(store, str)) or type(skip) is not int or not 0 <= skip < SCAN_PAGE:
        raise bad
    return store, skip


class OrderingUseCases(RestaurantUseCases):
    """The order use cases (a confirmation sent as a status change goes through the restaurant's use case)."""

    @use_case
    def place_order(
        self, actor: Actor, command: PlaceOrder, idempotency_key: str | None = None
    ) -> PlaceOrderResult:
        """Place an order for the acting customer, idempotently when a key is given.

        The same key and body return the first order (``created=False``); the same key with another body is
        refused. The order and its ``OrderPlaced`` event are stored together; the saga then starts from the
        event.

        Raises:
            NotAllowed: the actor is not a customer, or names another customer.
            ValidationError: invalid request (fields named); nothing stored.
            CatalogMismatch / PriceChanged: a request that does not match the restaurant's menu, currency or the
                promotions on offer now (fields named); nothing stored.
            NotFound: no such restaurant.
            IdempotencyKeyReused: the key was used with another body.
        """
        if actor.role is not _CUSTOMER:
            raise NotAllowed("only customers place orders")
        if command.customer_id is not None and command.customer_id != actor.subject:
            raise NotAllowed("customers place orders only for themselves")
        check_id(command.restaurant_id, "restaurant_id")
        fingerprint = ""  # only a keyed placement binds (and compares) the request's fingerprint
        if idempotency_key is not None:
            fingerprint = command.fingerprint()
            check_idempotency_key(idempotency_key)
            bound = self.orders.find_idempotent(actor.subject, idempotency_key)
            if bound is not None:
                return self._replay(bound, fingerprint)
        restaurant = self.restaurants.get(command.restaurant_id)
        promo = None
        if command.promo_code is not None:
            promo = self.promotions.get(command.promo_code.upper())
            if promo is None:  # promotions come and go: a conflict with what is on offer now, not a bad request
                unknown = FieldError("promo_code", "is unknown", "unknown")
                raise CatalogMismatch("promo_code: unknown promo code", [unknown])
        order = Order.place(
            # keyed: the id is derived from (customer, key), so order, outbox and binding share one partition
            order_id=self.ids.new_id(ORDER_ID_PREFIX)
            if idempotency_key is None
            else order_id_for_key(actor.subject, idempotency_key),
            event_id=self.ids.new_id("evt"),
            customer_id=actor.subject,
            restaurant=restaurant,
            lines=command.lines,
            delivery_address=command.delivery_address,
            payment_method=command.payment_method,
            now=self.clock.now(),
            policy=self.pricing,
            tip=command.tip,
            promo=promo,
        )
        record = (
            IdempotencyRecord(actor.subject, idempotency_key, fingerprint, order.order_id)
            if idempotency_key is not None
            else None
        )
        try:
            self.orders.add(order, record)
        except DuplicateRequest as dup:
            return PlaceOrderResult(self.orders.get(dup.resource_id), created=False)
        except ConcurrencyConflict:
            # the same key placed concurrently (its derived id is taken): answer as its replay
            bound = self.orders.find_idempotent(actor.subject, idempotency_key) if idempotency_key else None
            if bound is None:
                raise
            return self._replay(bound, fingerprint)
        self._after_commit()
        return PlaceOrderResult(self.orders.get(order.order_id), created=True)

    def _replay(self, bound: IdempotencyRecord, fingerprint: str) -> PlaceOrderResult:
        if bound.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used with a different request body", order_id=bound.order_id
            )
        return PlaceOrderResult(self.orders.get(bound.order_id), created=False)

    @use_case
    def list_orders(
        self,
        actor: Actor,
        *,
        status: OrderStatus | None = None,
        customer_id: str | None = None,
        restaurant_id: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> Page[Order]:
        """Orders the actor may see, newest first (by creation time, then id), one page at a time.

        - a customer: their own orders (``customer_id``, if given, must be theirs);
        - a restaurant: the orders placed with it (``restaurant_id``, if given, must be its own) -- with
          ``status=PENDING``, the orders waiting for its confirmation;
        - an admin: the orders of ``customer_id`` or of ``restaurant_id`` (one of them is required: there is no
          listing of every order).

        ``status`` (and a filter the listing is not keyed on: ``restaurant_id`` for a customer, ``customer_id`` for
        a restaurant) is applied by reading the listing and keeping what matches, at most :data:`MAX_SCANNED`
        stored orders per call: a page may then hold fewer than ``limit`` orders and still have a
        ``next_cursor``. ``cursor`` is the previous page's ``next_cursor`` *with the same filters*.

        Raises:
            NotAllowed: a driver (drivers see their delivery through tracking), or a filter naming someone else.
            ValidationError: an admin without ``customer_id`` or ``restaurant_id`` (field ``customer_id``); a limit
                outside 1..100; a cursor the store does not recognise (field ``cursor``).
        """
        if customer_id is not None:
            check_id(customer_id, "customer_id")
        if restaurant_id is not None:
            check_id(restaurant_id, "restaurant_id")
        if type(limit) is not int or not 1 <= limit <= 100:
            raise ValidationError.single("limit", "must be an integer 1..100", "out_of_range")
        read: Callable[[int, str | None], Page[Order]]
        keep: Callable[[Order], bool] | None = None
        if actor.role is Role.CUSTOMER:
            if customer_id is not None and customer_id != actor.subject:
                raise NotAllowed("customers list only their own orders")
            subject = actor.subject
            read = lambda n, c: self.orders.list_by_customer(subject, n, c)  # noqa: E731
            if status is not None or restaurant_id is not None:
                keep = lambda o: (status is None or o.status is status) and (  # noqa: E731
                    restaurant_id is None or o.restaurant_id == restaurant_id
                )
            scope = f"customer:{subject}"
        elif actor.role is Role.RESTAURANT and actor.restaurant_id:
            own = actor.restaurant_id
            if restaurant_id is not None and restaurant_id != own:
                raise NotAllowed("restaurants list only their own orders")
            read = lambda n, c: self.orders.list_by_restaurant(own, status, n, c, newest_first=True)  # noqa: E731
            if customer_id is not None:
                keep = lambda o: o.customer_id == customer_id  # noqa: E731
            scope = f"restaurant:{own}"
        elif actor.role is Role.ADMIN:
            if restaurant_id is not None:
                by_restaurant = restaurant_id
                read = lambda n, c: self.orders.list_by_restaurant(  # noqa: E731
                    by_restaurant, status, n, c, newest_first=True
                )
                if customer_id is not None:
                    keep = lambda o: o.customer_id == customer_id  # noqa: E731
            elif customer_id is not None:
                by_customer = customer_id
                read = lambda n, c: self.orders.list_by_customer(by_customer, n, c)  # noqa: E731
                if status is not None:
                    keep = lambda o: o.status is status  # noqa: E731
            else:
                raise ValidationError.single(
                    "customer_id", "an admin lists the orders of a customerId or of a restaurantId", "required"
                )
            scope = "admin"
        else:
            raise NotAllowed("only customers, restaurants and admins list orders")
        fingerprint = _fingerprint(scope, status, customer_id, restaurant_id)
        position = _read_cursor(cursor, fingerprint) if cursor is not None else (None, 0)
        items, after = self._scan(read, keep, limit, position)
        return Page(items, _make_cursor(after, fingerprint) if after is not None else None)

    @staticmethod
    def _scan(
        read: Callable[[int, str | None], Page[Order]],
        keep: Callable[[Order], bool] | None,
        limit: int,
        position: _Position,
    ) -> tuple[list[Order], _Position | None]:
        """One page of ``read``'s listing from ``position``, keeping what ``keep`` accepts (all when None); returns
        the page and where the next one starts (None at the end). See :meth:`list_orders`."""
        store_cursor, skip = position
        if keep is None:
            page = read(limit, store_cursor)
            return list(page.items), ((page.next_cursor, 0) if page.next_cursor is not None else None)
        kept: list[Order] = []
        scanned = 0
        while True:
            page = read(SCAN_PAGE, store_cursor)
            items = page.items
            for i in range(skip, len(items)):
                scanned += 1
                if keep(items[i]):
                    kept.append(items[i])
                    if len(kept) == limit:
                        if i + 1 < len(items):
                            return kept, (store_cursor, i + 1)
                        return kept, ((page.next_cursor, 0) if page.next_cursor is not None else None)
            if page.next_cursor is None:
                return kept, None
            store_cursor, skip = page.next_cursor, 0
            if scanned >= MAX_SCANNED:
                return kept, (store_cursor, 0)

    @use_case
    def change_status(
        self, actor: Actor, order_id: str, status: OrderStatus, reason: str | None = None
    ) -> Order:
        """Move an order along its lifecycle under the actor rules.

        CONFIRMED (by the restaurant or an admin) is the confirmation the saga waits for (:meth:`confirm_order`);
        CANCELLED is
        :meth:`cancel_order`; DELIVERED frees the driver (the runtime's reaction to the committed event). A repeat
        (the order has that status already: a retried request whose answer was lost) writes nothing and returns the
        order, once the actor passes the checks the change itself would make (NotFound, NotAllowed).

        Raises:
            NotFound, NotAllowed, InvalidTransition, LateEvent, ConcurrencyConflict: see the aggregate.
        """
        if status is _CONFIRMED:
            # confirmation is the saga's event, whoever sends it: moving the order behind the waiting saga's
            # back would leave its timeout to fail a confirmed order
            self.confirm_order(actor, order_id)
            return self.orders.get(order_id)
        if status is _CANCELLED:
            return self.cancel_order(actor, order_id, reason or f"cancelled by {actor.role.value}")
        if status is _FAILED:
            if actor.role is not Role.ADMIN:
                self.get_order(actor, order_id)
                raise NotAllowed("only the system fails orders")
            # like a cancellation, the saga must hear of it: it refunds and frees the driver now, and a late
            # confirmation can no longer make it "succeed" on a FAILED order
            return self._stop_order(actor, order_id, OrderStatus.FAILED, reason)
        check_id(order_id, "order_id")
        order = self.orders.get(order_id)
        if order.status is status:  # a repeat (a retried PUT): the change is made already; nothing to write
            order.ensure_may_set(status, actor)
            return order
        now = self.clock.now()
        order.transition(status, actor, now, self.ids.new_id("evt"), reason)
        self.orders.save(order)
        self._after_commit()  # DELIVERED: the runtime frees the driver (in process, before this returns)
        return self.orders.get(order_id)

    @use_case
    def cancel_order(self, actor: Actor, order_id: str, reason: str) -> Order:
        """Cancel under the lifecycle rules; the saga then refunds once and releases the driver. Cancelling a
        cancelled order again writes nothing and returns it (when the actor may cancel it at all).

        Raises:
            NotFound, NotAllowed, InvalidTransition: see the aggregate.
            InvalidTransition: the order is still being processed (payment in progress): retry shortly.
        """
        return self._stop_order(actor, order_id, OrderStatus.CANCELLED, reason)

    def _stop_order(self, actor: Actor, order_id: str, status: OrderStatus, reason: str | None) -> Order:
        """Move the order to CANCELLED or FAILED from outside the saga, then tell the saga (its cancel route
        refunds once and releases the driver). The committed ``OrderCancelled``/``OrderFailed`` event tells it
        again after a crash in between (:meth:`handle_events`)."""
        order = self._load_for_saga(actor, order_id)
        if order.status is status:  # a repeat: the order is cancelled (failed) already; the saga was told then
            order.ensure_may_set(status, actor)
            return order
        saga_status = self.runtime.status(order_id)
        if saga_status in (SagaStatus.RUNNING, SagaStatus.RETRY_WAIT):
            raise InvalidTransition(f"order {order_id} is being processed; retry shortly")
        order.transition(status, actor, self.clock.now(), self.ids.new_id("evt"), reason)
        self.orders.save(order)
        if saga_status in (SagaStatus.WAITING, SagaStatus.SUCCEEDED):
            detail = {"by": actor.subject, **({"reason": reason} if reason is not None else {})}
            # The change is committed whatever the saga says. LateEvent: it ended meanwhile (a rejection or the
            # timeout compensated). InvalidTransition: it is busy (confirming); the committed event tells it again
            # (handle_events keeps it as a dead letter until the saga takes it: resume_sagas).
            with contextlib.suppress(LateEvent, InvalidTransition):
                self.runtime.signal(order_id, ORDER_CANCELLED, detail)
        self._after_commit()
        return self.orders.get(order_id)
