"""Deliveries: assign a driver by hand, report a driver's position, track a delivery."""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

from fooddelivery.application._base import UseCaseBase, log, use_case
from fooddelivery.application.commands import Tracking
from fooddelivery.application.order_saga import release_driver_hold, reserve_nearest_driver
from fooddelivery.domain.actors import Actor, Role
from fooddelivery.domain.catalog import Driver, DriverStatus, check_id
from fooddelivery.domain.errors import ConcurrencyConflict, InvalidTransition, NotAllowed, NotFound
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

        Raises:
            NotFound: no such order / driver, or not visible.
            NotAllowed: a customer.
            InvalidTransition: the order already has a driver or is finished.
            ConcurrencyConflict: the driver was taken concurrently.
            NoDriverAvailable: no driver nearby.
        """
        check_id(order_id, "order_id")
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
