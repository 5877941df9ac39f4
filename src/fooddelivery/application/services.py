"""Use cases. Authorization happens here: every method takes the acting :class:`Actor`.

The aggregates own their rules (transitions, actor relations); these functions load, call, save, and hand
committed events to the outbox relay, which in-process also feeds the saga.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from fooddelivery.application.order_saga import (
    ORDER_CANCELLED,
    RESTAURANT_CONFIRMED,
    RESTAURANT_REJECTED,
    OrderSagaSteps,
    release_driver_hold,
    reserve_nearest_driver,
)
from fooddelivery.application.relay import OutboxRelay
from fooddelivery.application.saga.runner import SagaRunner
from fooddelivery.domain.actors import Actor, Role
from fooddelivery.domain.assignment import AssignmentPolicy
from fooddelivery.domain.catalog import DeliveryAddress, Driver, DriverStatus, Restaurant, check_id
from fooddelivery.domain.errors import (
    ConcurrencyConflict,
    DuplicateRequest,
    IdempotencyKeyReused,
    InfrastructureError,
    InvalidTransition,
    LateEvent,
    NotAllowed,
    NotFound,
    ValidationError,
)
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.order import LineRequest, Order, OrderStatus
from fooddelivery.domain.pricing import PricingPolicy, PromoCode
from fooddelivery.domain.tracking import EtaPolicy, estimate_eta
from fooddelivery.ports.clock import Clock
from fooddelivery.ports.drivers import DriverRepository
from fooddelivery.ports.ids import IdGenerator
from fooddelivery.ports.location import LocationStream
from fooddelivery.ports.orders import IdempotencyRecord, OrderRepository, Page
from fooddelivery.ports.restaurants import RestaurantQuery, RestaurantRepository
from fooddelivery.ports.saga_engine import SagaEngine, SignalOutcome
from fooddelivery.ports.saga_store import SagaStateStore, SagaStatus
from fooddelivery.ports.scheduler import ScheduledMessage

__all__ = ["FoodDeliveryService", "PlaceOrder", "PlaceOrderResult", "Tracking"]

log = logging.getLogger(__name__)

_DELIVERED = OrderStatus.DELIVERED.value


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    """The command to place an order (the customer is the acting actor).

    Attributes:
        restaurant_id: where to order.
        lines: what to order (see :class:`LineRequest`).
        delivery_address: where to deliver.
        payment_method: an opaque card token.
        tip: decimal string/``Decimal``/``int`` in the restaurant's currency, or None.
        promo_code: a promo code, or None.
        customer_id: optional; when given it must equal the acting customer's id.
    """

    restaurant_id: str
    lines: Sequence[LineRequest]
    delivery_address: DeliveryAddress
    payment_method: str
    tip: object = None
    promo_code: str | None = None
    customer_id: str | None = None

    def fingerprint(self) -> str:
        """A digest of the request's content, for idempotency (hex SHA-256 of a canonical JSON form).

        Equal content written differently has one fingerprint: decimals by value (``15.99``, ``"15.990"`` and
        ``1599e-2``; a tip of ``2`` and ``"2.00"``; no tip and a zero tip), promo codes in upper case (they match
        case-insensitively).
        """
        loc = self.delivery_address.location
        tip = _canonical_decimal(self.tip)
        doc = {
            "r": self.restaurant_id,
            "l": [[li.item_id, li.name, repr(li.quantity), _canonical_decimal(li.unit_price)] for li in self.lines],
            "a": [self.delivery_address.text, [loc.lat, loc.lon] if loc else None],
            "p": self.payment_method,
            "t": "None" if tip == "0" else tip,  # no tip is a zero tip ("None": the form keys were stored with)
            "c": self.promo_code.upper() if isinstance(self.promo_code, str) else self.promo_code,
        }
        raw = json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(raw).hexdigest()


def _canonical_decimal(value: object) -> str:
    """One text per decimal value, for fingerprints: ``"15.99"`` for ``15.99``, ``"15.990"`` and ``1599e-2``;
    ``"2"`` for ``2`` and ``"2.00"``; ``"0"`` for every zero. Exact (no context rounding) and short: exponents
    beyond 40 are written ``<digits>E<exponent>`` instead of spelled out. Anything that is not a finite decimal
    keeps ``str()`` (so ``None`` stays ``"None"``, the form of fingerprints stored before this one).
    """
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        return str(value)
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        return str(value)
    if not number.is_finite():
        return str(value)
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite
    coefficient = "".join(map(str, digits)).lstrip("0")
    significant = coefficient.rstrip("0")
    if not significant:
        return "0"
    exponent += len(coefficient) - len(significant)
    minus = "-" if sign else ""
    if not -40 <= exponent <= 40:
        return f"{minus}{significant}E{exponent}"
    if exponent >= 0:
        return minus + significant + "0" * exponent
    whole, fraction = significant[:exponent], significant[exponent:].rjust(-exponent, "0")
    return f"{minus}{whole or '0'}.{fraction}"


@dataclass(frozen=True, slots=True)
class PlaceOrderResult:
    """The outcome of placing an order.

    Attributes:
        order: the order.
        created: False when an earlier request with the same idempotency key created it.
    """

    order: Order
    created: bool


@dataclass(frozen=True, slots=True)
class Tracking:
    """Where a delivery is.

    Attributes:
        order_id: the order.
        status: its status.
        driver_id: the assigned driver, or None.
        driver_location: the driver's last position, or None.
        driver_last_seen: when it was reported, or None.
        eta: expected arrival at the door (UTC), or None when unknown.
        minutes_remaining: ``eta - now`` in whole minutes (rounded up), or None.
    """

    order_id: str
    status: OrderStatus
    driver_id: str | None
    driver_location: GeoPoint | None
    driver_last_seen: datetime | None
    eta: datetime | None
    minutes_remaining: int | None


@dataclass
class FoodDeliveryService:
    """Every use case, over the ports. Built by :func:`fooddelivery.bootstrap.bootstrap`.

    Attributes:
        orders, restaurants, drivers, sagas, location: the stores and streams.
        runner: the in-process order saga runner (timers are delivered to it).
        steps: the order saga's actions (shared with manual driver assignment).
        relay: outbox -> bus -> in-process consumers.
        clock, ids: time and identifiers.
        pricing: platform fees.
        promotions: promo codes by upper-case code.
        eta: tracking assumptions.
        assignment: driver search policy.
        saga_engine: another :class:`SagaEngine` to start and signal sagas with (default: ``runner``).
        dead_letters: events whose in-process handling failed, with the error (never silently dropped;
            :meth:`resume_sagas` retries them).
    """

    orders: OrderRepository
    restaurants: RestaurantRepository
    drivers: DriverRepository
    sagas: SagaStateStore
    location: LocationStream
    runner: SagaRunner
    steps: OrderSagaSteps
    relay: OutboxRelay
    clock: Clock
    ids: IdGenerator
    pricing: PricingPolicy | None = None
    promotions: Mapping[str, PromoCode] = field(default_factory=dict)
    eta: EtaPolicy = field(default_factory=EtaPolicy)
    assignment: AssignmentPolicy = field(default_factory=AssignmentPolicy)
    dead_letters: list[tuple[DomainEvent, Exception]] = field(default_factory=list)
    saga_engine: SagaEngine | None = None

    @property
    def engine(self) -> SagaEngine:
        """Where order sagas run: ``saga_engine`` when one was given (queues, Step Functions...), else the
        in-process :attr:`runner`."""
        return self.saga_engine if self.saga_engine is not None else self.runner

    # -- events -------------------------------------------------------------------------------------------
    def handle_events(self, events: Sequence[DomainEvent]) -> None:
        """In-process consumer of published events: ``OrderPlaced`` starts the order saga; ``OrderCancelled``
        (and ``OrderFailed`` by an admin) tells it (normally :meth:`cancel_order` already did, and this is a
        DUPLICATE; after a crash between saving the stopped order and signalling, this delivery of the committed
        event is what compensates); a DELIVERED status change frees the order's driver if it still holds the
        order (normally :meth:`change_status` already did; after a crash between the two writes, this does).

        Failures are kept in :attr:`dead_letters` with the event (as a queue's dead-letter queue would) and
        logged; the saga stays resumable.
        """
        for event in events:
            if event.type is EventType.ORDER_PLACED:
                try:
                    self.engine.start(event.order_id, {"orderId": event.order_id})
                except Exception as exc:
                    log.exception("saga start failed for order %s", event.order_id)
                    self.dead_letters.append((event, exc))
            elif event.type is EventType.ORDER_CANCELLED or (
                event.type is EventType.ORDER_FAILED and event.payload.get("by") == Role.ADMIN.value
            ):
                detail: dict[str, Any] = {k: str(event.payload[k]) for k in ("by", "reason") if k in event.payload}
                try:
                    self.engine.signal(event.order_id, ORDER_CANCELLED, detail)
                except (NotFound, LateEvent):
                    continue  # no saga yet (it will find the order cancelled) or it has ended already
                except Exception as exc:
                    log.exception("saga cancellation failed for order %s", event.order_id)
                    self.dead_letters.append((event, exc))
            elif event.type is EventType.ORDER_STATUS_CHANGED and event.payload.get("to") == _DELIVERED:
                try:
                    self._free_driver_of_delivered(event.order_id)
                except Exception as exc:
                    log.exception("freeing the driver of delivered order %s failed", event.order_id)
                    self.dead_letters.append((event, exc))

    def pump(self) -> int:
        """Publish committed events and run their in-process consumers; returns the number published.

        Raises:
            InfrastructureError: the bus refused a batch (those events stay in the outbox).
        """
        return self.relay.flush()

    def _after_commit(self) -> None:
        """Publish what a use case just committed. A bus failure here does not fail the request: the change
        is committed and its events wait in the outbox for the next flush (at-least-once delivery); it is
        logged, never dropped.
        """
        try:
            self.relay.flush()
        except InfrastructureError:
            log.warning("event bus unavailable; committed events stay in the outbox", exc_info=True)

    def deliver_timer(self, message: ScheduledMessage) -> None:
        """Handle one due scheduler message (saga retry or timeout), then publish what it committed."""
        self.runner.deliver(message)
        self.pump()

    def resume_sagas(self) -> int:
        """Retry the dead-lettered saga events (starts, cancellations); returns how many were retried."""
        letters, self.dead_letters = self.dead_letters, []
        for event, _ in letters:
            self.handle_events([event])
        self.pump()
        return len(letters)

    # -- orders -------------------------------------------------------------------------------------------
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
        check_id(command.restaurant_id, "restaurantId")
        fingerprint = command.fingerprint()
        if idempotency_key is not None:
            if not idempotency_key or len(idempotency_key) > 255 or not idempotency_key.isprintable():
                raise ValidationError.single("Idempotency-Key", "must be 1..255 printable characters", "invalid")
            bound = self.orders.find_idempotent(actor.subject, idempotency_key)
            if bound is not None:
                return self._replay(bound, fingerprint)
        restaurant = self.restaurants.get(command.restaurant_id)
        promo = None
        if command.promo_code is not None:
            promo = self.promotions.get(command.promo_code.upper())
            if promo is None:
                raise ValidationError.single("promoCode", "unknown promo code", "unknown")
        order = Order.place(
            order_id=self.ids.new_id("ord"),
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
        self._after_commit()
        return PlaceOrderResult(self.orders.get(order.order_id), created=True)

    def _replay(self, bound: IdempotencyRecord, fingerprint: str) -> PlaceOrderResult:
        if bound.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used with a different request body", order_id=bound.order_id
            )
        return PlaceOrderResult(self.orders.get(bound.order_id), created=False)

    def get_order(self, actor: Actor, order_id: str) -> Order:
        """The order, for its customer, its restaurant, its assigned driver, or an admin.

        Raises:
            NotFound: no such order, or the actor may not see it.
        """
        check_id(order_id, "orderId")
        order = self.orders.get(order_id)
        order.ensure_visible_to(actor)
        return order

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
        check_id(order_id, "orderId")
        order = self.orders.get(order_id)
        now = self.clock.now()
        order.transition(status, actor, now, self.ids.new_id("evt"), reason)
        self.orders.save(order)
        if status is OrderStatus.DELIVERED and order.driver_id:
            self._free_driver_after_delivery(order, now)
        self._after_commit()
        return self.orders.get(order_id)

    def _free_driver_after_delivery(self, order: Order, now: datetime) -> None:
        assert order.driver_id is not None
        release_driver_hold(self.drivers, order.driver_id, order.order_id)

    def _free_driver_of_delivered(self, order_id: str) -> None:
        """Release the driver of a DELIVERED order if it still holds it (idempotent)."""
        order = self.orders.get(order_id)
        if order.status is OrderStatus.DELIVERED and order.driver_id is not None:
            release_driver_hold(self.drivers, order.driver_id, order_id)

    def confirm_order(self, actor: Actor, order_id: str) -> SignalOutcome:
        """The restaurant confirms: the waiting saga completes and the order becomes CONFIRMED.

        Returns:
            ACCEPTED, or DUPLICATE for a repeated confirmation (nothing changes).

        Raises:
            NotFound: not this restaurant's order.
            NotAllowed: the actor is not the order's restaurant (or admin).
            LateEvent: the confirmation window is over (timed out, rejected, cancelled); nothing changes.
            InvalidTransition: the order is not yet awaiting confirmation (payment still in progress).
        """
        return self._restaurant_signal(actor, order_id, RESTAURANT_CONFIRMED, None)

    def reject_order(self, actor: Actor, order_id: str, reason: str) -> SignalOutcome:
        """The restaurant rejects: alert, refund once, release the driver, order FAILED.

        Raises: as :meth:`confirm_order`.
        """
        return self._restaurant_signal(actor, order_id, RESTAURANT_REJECTED, reason)

    def _restaurant_signal(self, actor: Actor, order_id: str, event: str, reason: str | None) -> SignalOutcome:
        order = self.get_order(actor, order_id)
        if actor.role not in (Role.RESTAURANT, Role.ADMIN):
            raise NotAllowed(f"a {actor.role.value} may not confirm or reject orders")
        detail = {"by": actor.subject, **({"reason": reason} if reason else {})}
        try:
            outcome = self.engine.signal(order.order_id, event, detail)
        except NotFound:
            raise InvalidTransition(f"order {order_id} is not yet awaiting confirmation") from None
        self._after_commit()
        return outcome

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
        saga_status = self.engine.status(order_id)
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
                self.engine.signal(order_id, ORDER_CANCELLED, detail)
        self._after_commit()
        return self.orders.get(order_id)

    # -- restaurants --------------------------------------------------------------------------------------
    def list_restaurants(self, actor: Actor, query: RestaurantQuery) -> Page[Restaurant]:
        """Restaurants matching ``query`` (rating descending); any authenticated actor."""
        return self.restaurants.search(query)

    def search_restaurants(self, actor: Actor, query: RestaurantQuery) -> Page[Restaurant]:
        """Same as :meth:`list_restaurants` (the reference's ``POST /restaurants/search``)."""
        return self.restaurants.search(query)

    def get_restaurant(self, actor: Actor, restaurant_id: str) -> Restaurant:
        """One restaurant with its menu.

        Raises:
            NotFound: no such restaurant.
        """
        check_id(restaurant_id, "restaurantId")
        return self.restaurants.get(restaurant_id)

    # -- deliveries ---------------------------------------------------------------------------------------
    def assign_driver(self, actor: Actor, order_id: str) -> Order:
        """Assign a driver to an order without one.

        A driver actor claims the order for themselves (they must be AVAILABLE); the order's restaurant or an
        admin gets the nearest AVAILABLE driver. Both reserve by compare-and-set, so of two concurrent claims
        exactly one wins.

        Raises:
            NotFound: no such order / driver, or not visible.
            NotAllowed: a customer.
            InvalidTransition: the order already has a driver or is finished.
            ConcurrencyConflict: the driver was taken concurrently.
            NoDriverAvailable: no driver nearby.
        """
        check_id(order_id, "orderId")
        order = self.orders.get(order_id)
        if actor.role is Role.CUSTOMER:
            order.ensure_visible_to(actor)
            raise NotAllowed("customers do not assign drivers")
        if actor.role is Role.RESTAURANT:
            order.ensure_visible_to(actor)
        if order.driver_id is not None:
            raise InvalidTransition(f"order {order_id} already has a driver")
        if order.status.is_terminal or order.status is OrderStatus.PICKED_UP:
            raise InvalidTransition(f"order {order_id} is {order.status.value}")
        if actor.role is Role.DRIVER:
            assert actor.driver_id is not None
            driver = self.drivers.get(actor.driver_id)
            if driver.status is not DriverStatus.AVAILABLE:
                raise InvalidTransition(f"driver {driver.driver_id} is {driver.status.value}")
            self.drivers.save(driver.reserve(order_id))
            driver_id = driver.driver_id
        else:
            restaurant = self.restaurants.get(order.restaurant_id)
            driver_id = reserve_nearest_driver(
                self.drivers, order_id, restaurant.location, self.assignment, self.clock
            )
        order.assign_driver(driver_id, self.clock.now(), self.ids.new_id("evt"))
        try:
            self.orders.save(order)
        except Exception:
            # not recorded on the order (a lost race, or the store failed): give the driver back, else nothing
            # ever would; a failure to do so is logged and the store's error is what the caller sees
            try:
                release_driver_hold(self.drivers, driver_id, order_id)
            except Exception:
                log.exception("driver %s stays reserved for order %s", driver_id, order_id)
            raise
        self._after_commit()
        return self.orders.get(order_id)

    def report_location(self, actor: Actor, order_id: str, point: GeoPoint) -> DomainEvent:
        """The assigned driver reports a position: the driver moves and ``DeliveryLocationUpdated`` is
        appended to the location stream (partition = driver id).

        Raises:
            NotFound: no such order, or the actor is not related to it.
            NotAllowed: the actor is not the assigned driver.
            InvalidTransition: the order is finished.
        """
        order = self.get_order(actor, order_id)
        if actor.role is not Role.DRIVER or actor.driver_id != order.driver_id:
            raise NotAllowed("only the assigned driver reports locations")
        if order.status.is_terminal:
            raise InvalidTransition(f"order {order_id} is {order.status.value}")
        now = self.clock.now()
        assert actor.driver_id is not None
        for _ in range(5):
            driver = self.drivers.get(actor.driver_id)
            try:
                self.drivers.save(driver.moved(point, now))
                break
            except ConcurrencyConflict:
                continue
        else:
            raise ConcurrencyConflict(f"driver {actor.driver_id}: too many concurrent writers")
        event = DomainEvent(
            self.ids.new_id("evt"),
            EventType.DELIVERY_LOCATION_UPDATED,
            now,
            order_id,
            order.version,
            {"driverId": actor.driver_id, "lat": repr(point.lat), "lon": repr(point.lon)},
        )
        self.location.append(event, actor.driver_id)
        return event

    def track_delivery(self, actor: Actor, order_id: str) -> Tracking:
        """Status, driver position and ETA of an order (same visibility as :meth:`get_order`)."""
        order = self.get_order(actor, order_id)
        restaurant = self.restaurants.get(order.restaurant_id)
        driver: Driver | None = None
        if order.driver_id is not None:
            try:
                driver = self.drivers.get(order.driver_id)
            except NotFound:
                driver = None
        now = self.clock.now()
        ready_at = None
        confirmed = order.status_times.get(OrderStatus.CONFIRMED.value)
        if order.status_times.get(OrderStatus.READY_FOR_PICKUP.value) is not None:
            ready_at = now
        elif confirmed is not None:
            ready_at = confirmed + timedelta(minutes=restaurant.avg_prep_minutes)
        else:
            ready_at = now + timedelta(minutes=restaurant.avg_prep_minutes)
        eta = estimate_eta(
            status=order.status,
            now=now,
            driver_at=driver.location if driver else None,
            restaurant_at=restaurant.location,
            destination=order.delivery_address.location,
            ready_at=ready_at,
            policy=self.eta,
        )
        minutes = None
        if eta is not None:
            seconds = max(0.0, (eta - now).total_seconds())
            minutes = math.ceil(Decimal(repr(seconds)) / 60)  # Decimal's // truncates: it cannot round up
        return Tracking(
            order_id=order.order_id,
            status=order.status,
            driver_id=order.driver_id,
            driver_location=driver.location if driver else None,
            driver_last_seen=driver.last_seen if driver else None,
            eta=eta,
            minutes_remaining=minutes,
        )

