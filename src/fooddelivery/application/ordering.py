"""Ordering: place an order (idempotently), read and list orders, move them along their lifecycle, cancel."""

from __future__ import annotations

import contextlib

from fooddelivery.application.commands import PlaceOrder, PlaceOrderResult
from fooddelivery.application.order_saga import ORDER_CANCELLED, release_driver_hold
from fooddelivery.application.restaurant_actions import RestaurantUseCases
from fooddelivery.domain.actors import Actor, Role
from fooddelivery.domain.catalog import check_id
from fooddelivery.domain.errors import (
    ConcurrencyConflict,
    DuplicateRequest,
    IdempotencyKeyReused,
    InvalidTransition,
    LateEvent,
    NotAllowed,
    ValidationError,
)
from fooddelivery.domain.order import ORDER_ID_PREFIX, Order, OrderStatus, order_id_for_key
from fooddelivery.ports.orders import IdempotencyRecord, Page
from fooddelivery.ports.saga_store import SagaStatus

__all__ = ["OrderingUseCases"]


class OrderingUseCases(RestaurantUseCases):
    """The order use cases (a confirmation sent as a status change goes through the restaurant's use case)."""

    def place_order(
        self, actor: Actor, command: PlaceOrder, idempotency_key: str | None = None
    ) -> PlaceOrderResult:
        """Place an order for the acting customer, idempotently when a key is given.

        The same key and body return the first order (``created=False``); the same key with another body is
        refused. The order and its ``OrderPlaced`` event are stored together; the saga then starts from the
        event.

        Raises:
            NotAllowed: the actor is not a customer, or names another customer.
            ValidationError / PriceChanged: invalid request (fields named); nothing stored.
            NotFound: no such restaurant.
            IdempotencyKeyReused: the key was used with another body.
        """
        if actor.role is not Role.CUSTOMER:
            raise NotAllowed("only customers place orders")
        if command.customer_id is not None and command.customer_id != actor.subject:
            raise NotAllowed("customers place orders only for themselves")
        check_id(command.restaurant_id, "restaurant_id")
        fingerprint = command.fingerprint()
        if idempotency_key is not None:
            if not idempotency_key or len(idempotency_key) > 255 or not idempotency_key.isprintable():
                raise ValidationError.single("idempotency_key", "must be 1..255 printable characters", "invalid")
            bound = self.orders.find_idempotent(actor.subject, idempotency_key)
            if bound is not None:
                return self._replay(bound, fingerprint)
        restaurant = self.restaurants.get(command.restaurant_id)
        promo = None
        if command.promo_code is not None:
            promo = self.promotions.get(command.promo_code.upper())
            if promo is None:
                raise ValidationError.single("promo_code", "unknown promo code", "unknown")
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

    def list_orders(self, actor: Actor, limit: int = 20, cursor: str | None = None) -> Page[Order]:
        """A customer's own orders (newest first) or a restaurant's orders (oldest first).

        Raises:
            NotAllowed: drivers and admins list through other means.
        """
        if actor.role is Role.CUSTOMER:
            return self.orders.list_by_customer(actor.subject, limit, cursor)
        if actor.role is Role.RESTAURANT and actor.restaurant_id:
            return self.orders.list_by_restaurant(actor.restaurant_id, None, limit, cursor)
        raise NotAllowed("only customers and restaurants list orders")

    def change_status(
        self, actor: Actor, order_id: str, status: OrderStatus, reason: str | None = None
    ) -> Order:
        """Move an order along its lifecycle under the actor rules.

        CONFIRMED (by the restaurant or an admin) is the confirmation the saga waits for (:meth:`confirm_order`);
        CANCELLED is
        :meth:`cancel_order`; DELIVERED frees the driver.

        Raises:
            NotFound, NotAllowed, InvalidTransition, LateEvent, ConcurrencyConflict: see the aggregate.
        """
        if status is OrderStatus.CONFIRMED:
            # confirmation is the saga's event, whoever sends it: moving the order behind the waiting saga's
            # back would leave its timeout to fail a confirmed order
            self.confirm_order(actor, order_id)
            return self.orders.get(order_id)
        if status is OrderStatus.CANCELLED:
            return self.cancel_order(actor, order_id, reason or f"cancelled by {actor.role.value}")
        if status is OrderStatus.FAILED:
            if actor.role is not Role.ADMIN:
                self.get_order(actor, order_id)
                raise NotAllowed("only the system fails orders")
            # like a cancellation, the saga must hear of it: it refunds and frees the driver now, and a late
            # confirmation can no longer make it "succeed" on a FAILED order
            return self._stop_order(actor, order_id, OrderStatus.FAILED, reason)
        check_id(order_id, "order_id")
        order = self.orders.get(order_id)
        now = self.clock.now()
        order.transition(status, actor, now, self.ids.new_id("evt"), reason)
        self.orders.save(order)
        if status is OrderStatus.DELIVERED and order.driver_id:
            self._free_driver_after_delivery(order)
        self._after_commit()
        return self.orders.get(order_id)

    def _free_driver_after_delivery(self, order: Order) -> None:
        assert order.driver_id is not None
        release_driver_hold(self.drivers, order.driver_id, order.order_id)

    def cancel_order(self, actor: Actor, order_id: str, reason: str) -> Order:
        """Cancel under the lifecycle rules; the saga then refunds once and releases the driver.

        Raises:
            NotFound, NotAllowed, InvalidTransition: see the aggregate.
            InvalidTransition: the order is still being processed (payment in progress): retry shortly.
        """
        return self._stop_order(actor, order_id, OrderStatus.CANCELLED, reason)

    def _stop_order(self, actor: Actor, order_id: str, status: OrderStatus, reason: str | None) -> Order:
        """Move the order to CANCELLED or FAILED from outside the saga, then tell the saga (its cancel route
        refunds once and releases the driver). The committed ``OrderCancelled``/``OrderFailed`` event tells it
        again after a crash in between (:meth:`handle_events`)."""
        order = self.get_order(actor, order_id)
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
