"""The order saga: the reference design's Step Functions workflow as domain logic, defined once as data.

::

    ValidateOrder -> ProcessPayment -> Parallel(NotifyRestaurant, AssignDriver, NotifyCustomer)
        -> WaitForRestaurantConfirmation --RestaurantConfirmed--> ConfirmOrder -> OrderConfirmed (succeed)
                                          --RestaurantRejected / 300 s timeout--> AlertOperations
                                          --OrderCancelled--> CompensateCancelled -> OrderCancelled (fail)
        AlertOperations -> Compensate (release driver, refund once) -> FailOrder -> OrderFailed (fail)

Payment: authorize + capture of the total with stable idempotency keys; ``PaymentRetryableError`` retried as
the reference does (5 s, backoff x2, 3 retries); a decline fails the order with nothing to refund. Driver
assignment retries ``NoDriverAvailable`` (30 s, x2, 3 retries) before failing the order with a refund.

Every action is idempotent on the order id: payment calls by idempotency key, notifications by notification id,
driver reservation by a checkpoint of the reserved driver, order updates by checking the order's state first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from fooddelivery.application.saga.definition import (
    Catch,
    Compensate,
    Fail,
    Parallel,
    Retry,
    SagaDefinition,
    State,
    Succeed,
    Task,
    WaitForEvent,
)
from fooddelivery.application.saga.runner import Action, StepContext
from fooddelivery.domain.actors import Actor, Role
from fooddelivery.domain.assignment import AssignmentPolicy
from fooddelivery.domain.catalog import DriverStatus
from fooddelivery.domain.errors import (
    ConcurrencyConflict,
    InvalidTransition,
    NoDriverAvailable,
    NotFound,
)
from fooddelivery.domain.order import Order, OrderStatus, PaymentStatus
from fooddelivery.ports.clock import Clock
from fooddelivery.ports.drivers import DriverRepository
from fooddelivery.ports.ids import IdGenerator
from fooddelivery.ports.notifications import Notification, NotificationKind, Notifier
from fooddelivery.ports.orders import OrderRepository
from fooddelivery.ports.payments import PaymentGateway
from fooddelivery.ports.restaurants import RestaurantRepository

__all__ = [
    "CONFIRMATION_TIMEOUT_S",
    "ORDER_SAGA",
    "RESTAURANT_CONFIRMED",
    "RESTAURANT_REJECTED",
    "OrderSagaSteps",
    "build_order_saga",
    "settle_driver_claim",
]

#: Each status's and notification kind's text (a dict lookup: an enum member's ``.value`` is a descriptor call).
_STATUS_TEXT: Final[dict[OrderStatus, str]] = {status: status.value for status in OrderStatus}
_KIND_TEXT: Final[dict[NotificationKind, str]] = {kind: kind.value for kind in NotificationKind}
#: Members the steps read on every order (notifications, payment, confirmation, the driver's release), bound once
#: (on Python 3.11 reading a member through its enum class takes ``EnumType``'s slow attribute hook: see
#: ``fooddelivery.domain.order``).
_TO_RESTAURANT: Final = NotificationKind.RESTAURANT
_TO_CUSTOMER: Final = NotificationKind.CUSTOMER
_PENDING: Final = OrderStatus.PENDING
_CONFIRMED: Final = OrderStatus.CONFIRMED
_CAPTURED: Final = PaymentStatus.CAPTURED
_ASSIGNED: Final = DriverStatus.ASSIGNED
_RESTAURANT: Final = Role.RESTAURANT
_CUSTOMER: Final = Role.CUSTOMER

#: Event names the saga waits for.
RESTAURANT_CONFIRMED: Final[str] = "RestaurantConfirmed"
RESTAURANT_REJECTED: Final[str] = "RestaurantRejected"
ORDER_CANCELLED: Final[str] = "OrderCancelled"
#: How long a restaurant has to confirm (s), as in the reference workflow's 300 s wait.
CONFIRMATION_TIMEOUT_S: Final[float] = 300.0

_PAYMENT_RETRY = Retry(("PaymentRetryableError",), interval_seconds=5, backoff_rate=2.0, max_attempts=3)
_INFRA_RETRY = Retry(("InfrastructureError",), interval_seconds=2, backoff_rate=2.0, max_attempts=3)
_DRIVER_RETRY = Retry(("NoDriverAvailable",), interval_seconds=30, backoff_rate=2.0, max_attempts=3)


def build_order_saga(confirmation_timeout_s: float = CONFIRMATION_TIMEOUT_S) -> SagaDefinition:
    """The order saga's definition (see the module docstring), with a configurable confirmation timeout."""
    states: list[State] = [
        Task(
            "ValidateOrder",
            action="validate_order",
            next="ProcessPayment",
            retry=(_INFRA_RETRY,),
            catch=(Catch(("ValidationError", "InvalidTransition"), "Compensate", "validation_failed"),),
            description="Re-check the stored order and its restaurant before taking money.",
        ),
        Task(
            "ProcessPayment",
            action="capture_payment",
            next="ParallelProcessing",
            retry=(_PAYMENT_RETRY, _INFRA_RETRY),
            catch=(
                Catch(("PaymentDeclined",), "Compensate", "payment_declined"),
                Catch(("PaymentRetryableError",), "Compensate", "payment_unavailable"),
            ),
            compensation="refund_payment",
            description="Authorize and capture the order total with stable idempotency keys.",
        ),
        Parallel(
            "ParallelProcessing",
            branches=(
                Task("NotifyRestaurant", action="notify_restaurant", retry=(_INFRA_RETRY,)),
                Task(
                    "AssignDriver",
                    action="assign_driver",
                    retry=(_DRIVER_RETRY, _INFRA_RETRY),
                    compensation="release_driver",
                ),
                Task("NotifyCustomer", action="notify_customer", retry=(_INFRA_RETRY,)),
            ),
            next="WaitForRestaurantConfirmation",
            catch=(
                Catch(("NoDriverAvailable",), "Compensate", "no_driver"),
                Catch(("States.ALL",), "Compensate", "processing_failed"),
            ),
        ),
        WaitForEvent(
            "WaitForRestaurantConfirmation",
            events={
                RESTAURANT_CONFIRMED: "ConfirmOrder",
                RESTAURANT_REJECTED: "AlertOperations",
                ORDER_CANCELLED: "CompensateCancelled",
            },
            timeout_seconds=confirmation_timeout_s,
            on_timeout="AlertOperations",
            timeout_outcome="restaurant_timeout",
            event_outcomes={RESTAURANT_REJECTED: "restaurant_rejected", ORDER_CANCELLED: "cancelled"},
        ),
        Task("ConfirmOrder", action="confirm_order", next="OrderConfirmed", retry=(_INFRA_RETRY,)),
        Succeed("OrderConfirmed"),
        Task(
            "AlertOperations",
            action="alert_operations",
            next="Compensate",
            retry=(_INFRA_RETRY,),
            description="Tell operations the restaurant did not confirm (the reference's SNS alert).",
        ),
        Compensate("Compensate", next="FailOrder", retry=(_PAYMENT_RETRY, _INFRA_RETRY)),
        Task("FailOrder", action="fail_order", next="OrderFailed", retry=(_INFRA_RETRY,)),
        Fail("OrderFailed", error="OrderProcessingFailed", cause="Order could not be processed successfully"),
        Compensate("CompensateCancelled", next="OrderCancelled", retry=(_PAYMENT_RETRY, _INFRA_RETRY)),
        Fail("OrderCancelled", error="OrderCancelled", cause="The order was cancelled"),
    ]
    return SagaDefinition(
        name="order",
        version=1,
        start="ValidateOrder",
        states={s.name: s for s in states},
        cancel_route="CompensateCancelled",
        cancel_event=ORDER_CANCELLED,
    )


#: The order saga with the reference's 300 s confirmation timeout.
ORDER_SAGA: Final[SagaDefinition] = build_order_saga()


@dataclass(slots=True)
class OrderSagaSteps:
    """The order saga's actions over the ports. Each is idempotent on the order id (the saga id).

    Args:
        orders: order store (with its outbox).
        restaurants: restaurant store.
        drivers: driver store.
        payments: card processor.
        notifier: notification channel.
        clock: time.
        ids: id source (event ids).
        assignment: driver search radius and candidates.
    """

    orders: OrderRepository
    restaurants: RestaurantRepository
    drivers: DriverRepository
    payments: PaymentGateway
    notifier: Notifier
    clock: Clock
    ids: IdGenerator
    assignment: AssignmentPolicy

    def actions(self) -> dict[str, Action]:
        """Action key -> callable, as the definition names them."""
        return {
            "validate_order": self.validate_order,
            "capture_payment": self.capture_payment,
            "refund_payment": self.refund_payment,
            "notify_restaurant": self.notify_restaurant,
            "assign_driver": self.assign_driver,
            "release_driver": self.release_driver,
            "notify_customer": self.notify_customer,
            "confirm_order": self.confirm_order,
            "alert_operations": self.alert_operations,
            "fail_order": self.fail_order,
        }

    # -- helpers --------------------------------------------------------------------------------------------
    def _order(self, ctx: StepContext) -> Order:
        """The order the step works on: the runner's unit of work's, or (an activity of a workflow engine) a read."""
        order: Order | None = ctx.order
        return order if order is not None else self.orders.get(ctx.saga_id)

    def _apply(self, ctx: StepContext, order: Order, change: Callable[[Order], bool]) -> Order:
        """Apply ``change`` (returns whether it changed anything) to ``order``: in the runner's unit of work it stays
        there (the runner commits it with the saga's state); otherwise it is saved at once (re-read and retried on
        a version conflict)."""
        if ctx.order is not None:
            change(order)
            return order
        return self._update(order.order_id, change, order)

    def _update(self, order_id: str, change: Callable[[Order], bool], loaded: Order | None = None) -> Order:
        """Apply ``change`` (returns whether it changed anything) to ``loaded`` (or a fresh read) and save;
        on a version conflict, re-read and retry."""
        for _ in range(5):
            order = loaded if loaded is not None else self.orders.get(order_id)
            loaded = None
            if not change(order):
                return order
            try:
                self.orders.save(order)
            except ConcurrencyConflict:
                continue
            return order
        raise ConcurrencyConflict(f"order {order_id}: too many concurrent writers")

    # -- steps ----------------------------------------------------------------------------------------------
    def validate_order(self, ctx: StepContext) -> Mapping[str, Any] | None:
        """Re-read the order: it must exist and be PENDING with its payment PENDING.

        Raises:
            InvalidTransition: it is no longer PENDING (e.g. cancelled before processing).
        """
        order = ctx.order if ctx.order is not None else self._order(ctx)  # (no call in the runner's unit of work)
        if order.status is not _PENDING:
            raise InvalidTransition(f"order {order.order_id} is {order.status.value}, not PENDING")
        return {"total": str(order.pricing.total), "currency": order.pricing.total.currency}

    def capture_payment(self, ctx: StepContext) -> Mapping[str, Any] | None:
        """Authorize then capture the total, each with a stable idempotency key; record ``PaymentCaptured``.

        Raises:
            PaymentDeclined: do not retry; nothing was charged.
            PaymentRetryableError: retried by the saga with the same keys.
        """
        order = ctx.order if ctx.order is not None else self._order(ctx)
        if order.payment_status is _CAPTURED:
            return {"chargeId": order.charge_id}
        total = order.pricing.total
        auth = self.payments.authorize(order.payment_method, total, f"{order.order_id}:authorize")
        charge = self.payments.capture(auth.charge_id, total, f"{order.order_id}:capture")
        now = self.clock.now()

        def record(o: Order) -> bool:
            if o.payment_status is _CAPTURED:
                return False
            o.record_payment_captured(charge.charge_id, now, self.ids.new_id("evt"))
            return True

        if ctx.order is not None:  # self._apply(ctx, order, record), written out
            record(order)
        else:
            self._update(order.order_id, record, order)
        return {"chargeId": charge.charge_id}

    def refund_payment(self, ctx: StepContext) -> Mapping[str, Any] | None:
        """Compensation: refund the captured total once (idempotency key ``<order>:refund``)."""
        order = self._order(ctx)
        if order.payment_status is not _CAPTURED or order.charge_id is None:
            return None
        refund = self.payments.refund(order.charge_id, order.pricing.total, f"{order.order_id}:refund")
        now = self.clock.now()

        def record(o: Order) -> bool:
            if o.payment_status is not _CAPTURED:
                return False
            o.record_refund(refund.refund_id, refund.amount, now, self.ids.new_id("evt"))
            return True

        self._apply(ctx, order, record)
        return {"refundId": refund.refund_id}

    def _notify(self, ctx: StepContext, kind: NotificationKind, template: str, order: Order | None = None) -> None:
        if order is None:
            order = ctx.order if ctx.order is not None else self._order(ctx)
        to_restaurant = kind is _TO_RESTAURANT
        recipient = order.restaurant_id if to_restaurant else order.customer_id
        notification_id = f"{order.order_id}:{_KIND_TEXT[kind]}:{template}"
        self.notifier.send(
            Notification(
                notification_id=notification_id,
                kind=kind,
                recipient_id=recipient,
                order_id=order.order_id,
                template=template,
                data={"total": str(order.pricing.total), "status": _STATUS_TEXT[order.status]},
            )
        )
        who = _RESTAURANT if to_restaurant else _CUSTOMER
        now = self.clock.now()
        if ctx.order is not None:  # self._apply(...), written out: in the runner's unit of work, changed in place
            order.record_notified(who, now, self.ids.new_id("evt"), notification_id)
        else:
            self._update(
                order.order_id, lambda o: o.record_notified(who, now, self.ids.new_id("evt"), notification_id), order
            )

    def notify_restaurant(self, ctx: StepContext) -> Mapping[str, Any] | None:
        """Send the restaurant the new order; record ``RestaurantNotified``."""
        self._notify(ctx, _TO_RESTAURANT, "new_order")
        return None

    def notify_customer(self, ctx: StepContext) -> Mapping[str, Any] | None:
        """Tell the customer the order was received and paid; record ``CustomerNotified``."""
        self._notify(ctx, _TO_CUSTOMER, "order_received")
        return None

    def assign_driver(self, ctx: StepContext) -> Mapping[str, Any] | None:
        """Reserve the nearest AVAILABLE driver (compare-and-set) and record ``DriverAssigned``.

        A driver this step reserved earlier (``reservedDriver``, checkpointed before its reservation) is used again
        if it still holds the order, and given back if the order got another driver meanwhile (a driver's claim).
        A manual assignment the order records as in flight (its process may have died) is settled first
        (:func:`settle_driver_claim`): its driver is recorded if it holds the order.

        Raises:
            NoDriverAvailable: no candidate within the radius could be reserved.
        """
        order = ctx.order if ctx.order is not None else self._order(ctx)
        if order.driver_claim is not None:
            now = self.clock.now()
            order = self._apply(ctx, order, lambda o: settle_driver_claim(self.drivers, o, now, self.ids))
        reserved = ctx.data.get("reservedDriver")
        if order.driver_id is not None:
            if reserved is not None and reserved != order.driver_id:
                release_driver_hold(self.drivers, reserved, order.order_id)  # ours, not needed: give it back
            return {"driverId": order.driver_id}
        driver_id = reserved
        if driver_id is not None:
            held = self.drivers.get(driver_id)
            if held.current_order_id != order.order_id:
                driver_id = None
        if driver_id is None:
            restaurant = self.restaurants.get(order.restaurant_id)
            # Checkpoint each candidate *before* reserving it: after a crash between the reservation and
            # any later write, the resumed step finds the driver holding this order instead of leaking it.
            driver_id = reserve_nearest_driver(
                self.drivers,
                order.order_id,
                restaurant.location,
                self.assignment,
                self.clock,
                before_reserve=lambda candidate: ctx.checkpoint(reservedDriver=candidate),
            )
        now = self.clock.now()
        chosen = driver_id

        def record(o: Order) -> bool:
            if o.driver_id == chosen:
                return False
            if o.driver_claim is not None and o.driver_id is None and o.driver_claim != chosen:
                # a manual assignment claimed the order since this step read it (an activity re-reading after a
                # conflict): its driver may hold the order already; undo it, since this step has its own driver
                settle_driver_claim(self.drivers, o, now, self.ids, adopt=False)
            o.assign_driver(chosen, now, self.ids.new_id("evt"))
            return True

        try:
            self._apply(ctx, order, record)
        except InvalidTransition:
            # Someone (a driver's claim) assigned another driver meanwhile: give ours back.
            release_driver_hold(self.drivers, chosen, order.order_id)
            current = self.orders.get(order.order_id)
            if current.driver_id is None:
                raise
            return {"driverId": current.driver_id}
        return {"driverId": chosen}

    def release_driver(self, ctx: StepContext) -> Mapping[str, Any] | None:
        """Compensation: make the reserved driver AVAILABLE again and record ``DriverReleased`` (a manual
        assignment in flight is undone too)."""
        order = self._order(ctx)
        if order.driver_claim is not None:
            now = self.clock.now()
            order = self._apply(ctx, order, lambda o: settle_driver_claim(self.drivers, o, now, self.ids, adopt=False))
        driver_id = order.driver_id or ctx.data.get("reservedDriver")
        if driver_id is not None:
            release_driver_hold(self.drivers, driver_id, order.order_id)
        if order.driver_id is not None:
            now = self.clock.now()
            reason = ctx.outcome or "compensation"

            def record(o: Order) -> bool:
                if o.driver_id is None:
                    return False
                o.release_driver(now, self.ids.new_id("evt"), reason)
                return True

            self._apply(ctx, order, record)
        return None

    def confirm_order(self, ctx: StepContext) -> Mapping[str, Any] | None:
        """The restaurant confirmed: the order becomes CONFIRMED; the customer is told."""
        now = self.clock.now()

        def confirm(o: Order) -> bool:
            if o.status is not _PENDING:
                return False
            o.transition(_CONFIRMED, Actor.system(), now, self.ids.new_id("evt"))
            return True

        if ctx.order is not None:  # in the runner's unit of work: changed there, committed with the saga
            self._apply(ctx, ctx.order, confirm)
            self._notify(ctx, _TO_CUSTOMER, "order_confirmed", ctx.order)
        else:
            self._update(ctx.saga_id, confirm)
            self._notify(ctx, _TO_CUSTOMER, "order_confirmed")
        return {"confirmedAt": now.isoformat()}

    def alert_operations(self, ctx: StepContext) -> Mapping[str, Any] | None:
        """Alert operations that the restaurant did not confirm (timeout or rejection)."""
        order = self._order(ctx)
        reason = ctx.outcome or "unknown"
        self.notifier.send(
            Notification(
                notification_id=f"{order.order_id}:alert:{reason}",
                kind=NotificationKind.OPERATIONS_ALERT,
                recipient_id="operations",
                order_id=order.order_id,
                template="restaurant_did_not_confirm",
                data={"reason": reason, "restaurantId": order.restaurant_id},
            )
        )
        return None

    def fail_order(self, ctx: StepContext) -> Mapping[str, Any] | None:
        """Mark the order FAILED with the saga's outcome (unless it already ended); tell the customer.

        A driver the order still has is released too: compensation only undoes the saga's own reservation, and a
        driver may have claimed the order (``assign_driver``) while the saga was giving up. The hold is released
        before the order is written (a crash in between finds the order still naming its driver, and releasing
        twice is a no-op). A claim landing after that release changes the order, so the write that fails it loses
        its compare-and-set and the step runs again on the order as claimed (in the runner's unit of work), or the
        hold is released again after the write (an activity writing the order itself).
        """
        reason = ctx.outcome or "processing_failed"
        now = self.clock.now()
        current = self._order(ctx)
        if current.driver_claim is not None:  # a manual assignment in flight: undone
            current = self._apply(
                ctx, current, lambda o: settle_driver_claim(self.drivers, o, now, self.ids, adopt=False)
            )
        if current.driver_id is not None and current.status is not OrderStatus.DELIVERED:
            # also when the order was stopped already (cancelled before this saga started: nothing else frees the
            # driver a manual assignment gave it); a no-op when the driver no longer holds it
            release_driver_hold(self.drivers, current.driver_id, current.order_id)
        released: list[str] = []

        def fail(o: Order) -> bool:
            if o.status.is_terminal:
                return False
            if o.driver_claim is not None:  # claimed since the read above (an activity re-reading): undone
                settle_driver_claim(self.drivers, o, now, self.ids, adopt=False)
            if reason in ("payment_declined", "payment_unavailable") and o.payment_status is PaymentStatus.PENDING:
                o.record_payment_failed(reason == "payment_declined", now)
            if o.driver_id is not None:
                released.append(o.driver_id)
                o.release_driver(now, self.ids.new_id("evt"), reason)
            o.fail(now, self.ids.new_id("evt"), reason)
            return True

        order = self._apply(ctx, current, fail)
        if ctx.order is None:
            for driver_id in dict.fromkeys(released):
                release_driver_hold(self.drivers, driver_id, order.order_id)
        if order.status is OrderStatus.FAILED:
            self._notify(ctx, NotificationKind.CUSTOMER, "order_failed", order)
        return None


def reserve_nearest_driver(
    drivers: DriverRepository,
    order_id: str,
    pickup: Any,
    policy: AssignmentPolicy,
    clock: Clock,
    before_reserve: Callable[[str], None] | None = None,
) -> str:
    """Reserve the nearest AVAILABLE driver to ``pickup`` for ``order_id`` by compare-and-set.

    Tries up to ``policy.max_candidates`` drivers, nearest first (ties by id); a lost race moves on to the next.
    When every candidate of a full search (``max_candidates`` of them) was lost to a race, the search read
    drivers that concurrent orders had just reserved: it searches again, up to ``policy.searches`` times in all.
    ``before_reserve`` is called with each candidate's id just before its compare-and-set (the saga persists
    it there, so a crash right after the reservation cannot leak the driver).

    Returns:
        The reserved driver's id.

    Raises:
        NoDriverAvailable: none could be reserved.
    """
    for _ in range(max(1, policy.searches)):
        candidates = drivers.available_near(pickup, policy.radius_km, policy.max_candidates)
        for driver in candidates:
            if before_reserve is not None:
                before_reserve(driver.driver_id)
            try:
                drivers.save(driver.reserve(order_id))
            except ConcurrencyConflict:
                continue
            return driver.driver_id
        if len(candidates) < policy.max_candidates:
            break  # it saw every available driver in the radius: searching again finds no more
    raise NoDriverAvailable(
        f"no available driver within {policy.radius_km:g} km for order {order_id}", order_id=order_id
    )


def settle_driver_claim(
    drivers: DriverRepository, order: Order, now: datetime, ids: IdGenerator, *, adopt: bool = True
) -> bool:
    """Finish or undo the manual assignment ``order`` records as in flight (its ``driver_claim``), if any.

    A manual assignment writes its claim on the order, then reserves the driver, then records the driver on the
    order; a process dying in between leaves the claim, and whoever touches the order next (the saga's
    ``AssignDriver`` retry or its failure, a stop, the same assignment sent again) settles it here:

    - the claimed driver holds the order: it is recorded on ``order`` if ``adopt`` and the order can still take a
      driver, else released;
    - the driver is AVAILABLE: the assignment may still be running, about to compare-and-set the driver version
      it read, so the driver is reserved here first (its write then fails) and settled as above;
    - the driver is held by another order, OFFLINE or gone: the assignment's reservation can no longer land, and
      the claim is dropped.

    Driver writes happen here; ``order`` is changed in memory only and the caller saves it (a failed save leaves
    the claim for the next settlement: every branch is idempotent).

    Args:
        drivers: the driver store.
        order: the order, changed in place.
        now: the time of the change (UTC).
        ids: event ids (``DriverAssigned``).
        adopt: False to never record the claimed driver (the order is being stopped or failed).

    Returns:
        Whether ``order`` changed (False: it had no claim).

    Raises:
        ConcurrencyConflict: the driver kept changing under five attempts.
    """
    claim = order.driver_claim
    if claim is None:
        return False
    order_id = order.order_id
    for _ in range(5):
        try:
            driver = drivers.get(claim)
        except NotFound:
            order.drop_driver_claim(now)
            return True
        if driver.status is DriverStatus.ASSIGNED and driver.current_order_id == order_id:
            if adopt and order.driver_id is None and not order.status.is_terminal:
                order.assign_driver(claim, now, ids.new_id("evt"))
            else:
                release_driver_hold(drivers, claim, order_id)
                order.drop_driver_claim(now)
            return True
        if driver.status is not DriverStatus.AVAILABLE:
            order.drop_driver_claim(now)
            return True
        with contextlib.suppress(ConcurrencyConflict):  # lost: read it again
            drivers.save(driver.reserve(order_id))  # fences off the assignment's own compare-and-set
    raise ConcurrencyConflict(f"driver {claim}: too many concurrent writers")


def release_driver_hold(drivers: DriverRepository, driver_id: str, order_id: str) -> None:
    """Make ``driver_id`` AVAILABLE if it still holds ``order_id`` (compare-and-set, retried on conflict)."""
    for _ in range(5):
        try:
            driver = drivers.get(driver_id)
        except NotFound:
            return
        if driver.status is not _ASSIGNED or driver.current_order_id != order_id:
            return
        try:
            drivers.save(driver.release(order_id))
        except ConcurrencyConflict:
            continue
        return
    raise ConcurrencyConflict(f"driver {driver_id}: too many concurrent writers")

