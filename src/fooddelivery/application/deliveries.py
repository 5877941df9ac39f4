"""Deliveries: assign a driver by hand, report a driver's position, track a delivery."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from fooddelivery.application._base import UseCaseBase, log, use_case
from fooddelivery.application.commands import Tracking
from fooddelivery.application.order_saga import release_driver_hold, settle_driver_claim
from fooddelivery.domain.actors import Actor, Role
from fooddelivery.domain.catalog import Driver, DriverStatus, check_id
from fooddelivery.domain.errors import (
    ConcurrencyConflict,
    FoodDeliveryError,
    InvalidTransition,
    NoDriverAvailable,
    NotAllowed,
    NotFound,
)
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.order import Order, OrderStatus
from fooddelivery.domain.tracking import estimate_eta

__all__ = ["DeliveryUseCases"]


class DeliveryUseCases(UseCaseBase):
    """Drivers and deliveries."""

    @use_case
    def assign_driver(self, actor: Actor, order_id: str) -> Order:
        """Assign a driver to an order without one.

        A driver actor claims the order for themselves (they must be AVAILABLE); the order's restaurant or an
        admin gets the nearest AVAILABLE driver. Both reserve by compare-and-set, so of two concurrent claims
        exactly one wins.

        Three writes, each recoverable: the driver is first written on the order as a claim (the intent), then
        reserved, then recorded on the order. A process dying after the claim leaves it on the order, and
        whoever touches the order next settles it (:func:`settle_driver_claim`: the saga's ``AssignDriver`` step
        or retry, its compensation or ``FailOrder``, or this call sent again, which then returns the order with the
        claimed driver), so a driver is never held by an order that does not name it.

        Raises:
            NotFound: no such order / driver, or not visible.
            NotAllowed: a customer.
            InvalidTransition: the order already has a driver or is finished.
            ConcurrencyConflict: the driver, or the order, was changed concurrently.
            NoDriverAvailable: no driver nearby.
        """
        check_id(order_id, "order_id")
        order = self.orders.get(order_id)
        if actor.role is Role.CUSTOMER:
            order.ensure_visible_to(actor)
            raise NotAllowed("customers do not assign drivers")
        if actor.role is Role.RESTAURANT:
            order.ensure_visible_to(actor)
        if order.driver_claim is not None:
            # an assignment of this order did not finish (its process died, or it is this one sent again)
            order = self._settle_claim(order_id)  # publishes what it committed, whatever this call answers
            if order.driver_id is not None and (actor.role is not Role.DRIVER or order.driver_id == actor.driver_id):
                return self.orders.get(order_id)
        if order.driver_id is not None:
            raise InvalidTransition(f"order {order_id} already has a driver")
        if order.status.is_terminal or order.status is OrderStatus.PICKED_UP:
            raise InvalidTransition(f"order {order_id} is {order.status.value}")
        if actor.role is Role.DRIVER:
            assert actor.driver_id is not None
            driver = self.drivers.get(actor.driver_id)
            if driver.status is not DriverStatus.AVAILABLE:
                raise InvalidTransition(f"driver {driver.driver_id} is {driver.status.value}")
            candidates: Sequence[Driver] = (driver,)
        else:
            restaurant = self.restaurants.get(order.restaurant_id)
            policy = self.assignment
            candidates = self.drivers.available_near(restaurant.location, policy.radius_km, policy.max_candidates)
        for candidate in candidates:  # nearest first; a lost race moves on to the next
            order = self._reserve_for(order, candidate)
            if order.driver_id is not None:
                self._after_commit()
                return self.orders.get(order_id)
        if actor.role is Role.DRIVER:
            raise ConcurrencyConflict(f"driver {actor.driver_id} was taken concurrently", driver_id=actor.driver_id)
        raise NoDriverAvailable(
            f"no available driver within {self.assignment.radius_km:g} km for order {order_id}", order_id=order_id
        )

    def _reserve_for(self, order: Order, driver: Driver) -> Order:
        """Claim ``driver`` on ``order``, reserve it (compare-and-set on the version read), record it; returns the
        order as stored after (without a driver: the driver was taken, and the claim is settled).

        A typed error after the claim is settled at once; anything else (the process dying) leaves the claim on
        the order for the next settlement.

        Raises:
            ConcurrencyConflict: the order changed since it was read (nothing reserved).
            InvalidTransition: the order can no longer take a driver (nothing reserved).
        """
        order_id, driver_id = order.order_id, driver.driver_id
        order.claim_driver(driver_id, self.clock.now())
        self.orders.save(order)  # the intent, before the reservation
        try:
            self.drivers.save(driver.reserve(order_id))
        except ConcurrencyConflict:
            return self._settle_claim(order_id)  # taken meanwhile (or free again: then it is ours after all)
        except FoodDeliveryError:  # OFFLINE, or the store failed (the reservation may have landed)
            stored = self._settle_after_failure(order_id, driver_id)
            if stored is not None and stored.driver_id == driver_id:
                return stored  # it had landed: the settlement recorded it, as below
            raise
        order.assign_driver(driver_id, self.clock.now(), self.ids.new_id("evt"))
        try:
            self.orders.save(order)
        except FoodDeliveryError:
            # not recorded (the order changed: a settlement by the saga, a stop; or the store failed): settle on a
            # fresh read, which records the driver if the order can still take it and gives it back otherwise
            stored = self._settle_after_failure(order_id, driver_id)
            if stored is not None and stored.driver_id == driver_id:
                return stored
            raise
        return order

    def _settle_claim(self, order_id: str) -> Order:
        """Settle the order's unfinished manual assignment (:func:`settle_driver_claim`) and store the result;
        returns the order as stored. What the settlement committed (a ``DriverAssigned`` event when it recorded the
        claimed driver) is published at once: the caller may go on to refuse the request, and each caller publishes
        what it committed.

        Raises:
            ConcurrencyConflict: the order kept changing under five attempts.
        """
        for _ in range(5):
            # the order as stored: not the copy this call kept of the claim it wrote, which another process (the
            # saga settling, failing or stopping the order) may have moved on since
            self.orders.forget(order_id)
            order = self.orders.get(order_id)
            claim = order.driver_claim
            if not settle_driver_claim(self.drivers, order, self.clock.now(), self.ids):
                return order
            try:
                self.orders.save(order)
            except ConcurrencyConflict:
                # someone else settled the claim meanwhile (the saga failing the order, say): a reservation this
                # settlement made of the claimed driver would then be held for a claim that no longer exists
                self.orders.forget(order_id)
                stored = self.orders.get(order_id)
                if claim is not None and claim not in (stored.driver_claim, stored.driver_id):
                    release_driver_hold(self.drivers, claim, order_id)
                continue
            self._after_commit()
            return order
        raise ConcurrencyConflict(f"order {order_id}: too many concurrent writers")

    def _settle_after_failure(self, order_id: str, driver_id: str) -> Order | None:
        """Settle the claim of ``driver_id`` after a failed write; None if that fails too (the claim stays on the
        order for the next settlement, which the saga makes; the caller raises the first error).
        """
        try:
            return self._settle_claim(order_id)
        except Exception:
            log.exception("driver %s: assignment to order %s left for the saga to settle", driver_id, order_id)
            return None

    @use_case
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

    @use_case
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
