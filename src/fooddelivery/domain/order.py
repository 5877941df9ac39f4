"""The Order aggregate: lines priced from the menu, the lifecycle with its actor rules, and its events.

Lifecycle (``TRANSITIONS`` is the table; everything not in it raises :class:`InvalidTransition`)::

    PENDING -> CONFIRMED -> PREPARING -> READY_FOR_PICKUP -> PICKED_UP -> DELIVERED
       |           |            |
       +-> CANCELLED (customer while PENDING/CONFIRMED; restaurant/admin until picked up)
       +-> FAILED   (system: declined payment, no driver, restaurant timeout or rejection)

Actor rules: a customer acts only on their own orders, a restaurant only on orders placed with it, a driver only
on the order assigned to them. An actor unrelated to the order gets :class:`NotFound` (the order's existence is
not revealed); a related actor whose role may not make the change gets :class:`NotAllowed`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from fooddelivery.domain.actors import Actor, Role
from fooddelivery.domain.catalog import DeliveryAddress, Restaurant, check_id, check_utc
from fooddelivery.domain.errors import (
    InvalidTransition,
    NotAllowed,
    NotFound,
    ValidationError,
)
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.domain.money import Money
from fooddelivery.domain.placement import MAX_LINES, MAX_QUANTITY, LineItem, LineRequest, parse_request, price
from fooddelivery.domain.pricing import PriceBreakdown, PricingPolicy, PromoCode

# (defined in their own module, so that what needs only them -- the HTTP route table, the ports -- does not import
# the order aggregate with its pricing and events; they are this module's names as before)
from fooddelivery.domain.status import (
    IDEMPOTENCY_KEY_PATTERN,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    OrderStatus,
    PaymentStatus,
)

__all__ = [
    "IDEMPOTENCY_KEY_PATTERN",
    "MAX_IDEMPOTENCY_KEY_LENGTH",
    "MAX_LINES",
    "MAX_QUANTITY",
    "ORDER_ID_PREFIX",
    "TRANSITIONS",
    "LineItem",
    "LineRequest",
    "Order",
    "OrderStatus",
    "PaymentStatus",
    "check_idempotency_key",
    "order_id_for_key",
]

#: Every order id starts with it.
ORDER_ID_PREFIX: Final[str] = "ord"
_IDEMPOTENCY_KEY: Final[re.Pattern[str]] = re.compile(IDEMPOTENCY_KEY_PATTERN)


def check_idempotency_key(key: object) -> str:
    """Require a client idempotency key matching :data:`IDEMPOTENCY_KEY_PATTERN` (no lone surrogate either).

    Raises:
        ValidationError: field ``idempotency_key`` (the HTTP layer names it ``Idempotency-Key``).
    """
    valid = isinstance(key, str) and _IDEMPOTENCY_KEY.match(key) is not None
    if valid:
        assert isinstance(key, str)
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            valid = False
    if not valid:
        raise ValidationError.single(
            "idempotency_key", "must be 1..255 characters without control characters", "invalid"
        )
    return str(key)


def order_id_for_key(customer_id: str, idempotency_key: str) -> str:
    """The id of the order a customer places with an idempotency key: derived, so the same (customer, key) always
    names the same order -- ``"ord-"`` + the first 32 hex digits of SHA-256 over both.

    Why: the order, its outbox records and its idempotency binding then share one partition key (the order id),
    so placement is one single-partition atomic write on any store (a DynamoDB transaction, a Cosmos DB
    transactional batch on the order's partition, a Firestore transaction), and a store can find the binding of
    (customer, key) by reading that one partition. Different customers' equal keys give different ids. The id is
    not a secret (visibility is checked on every read), and stays opaque to callers.
    """
    digest = hashlib.sha256(f"{customer_id}\x1f{idempotency_key}".encode()).hexdigest()
    return f"{ORDER_ID_PREFIX}-{digest[:32]}"


_S = OrderStatus
_R = Role
#: Legal transitions and the roles that may make each. ``SYSTEM`` is the saga.
TRANSITIONS: Final[dict[tuple[OrderStatus, OrderStatus], frozenset[Role]]] = {
    (_S.PENDING, _S.CONFIRMED): frozenset({_R.SYSTEM, _R.ADMIN}),
    (_S.PENDING, _S.CANCELLED): frozenset({_R.CUSTOMER, _R.RESTAURANT, _R.ADMIN, _R.SYSTEM}),
    (_S.PENDING, _S.FAILED): frozenset({_R.SYSTEM, _R.ADMIN}),
    (_S.CONFIRMED, _S.PREPARING): frozenset({_R.RESTAURANT, _R.ADMIN}),
    (_S.CONFIRMED, _S.CANCELLED): frozenset({_R.CUSTOMER, _R.RESTAURANT, _R.ADMIN, _R.SYSTEM}),
    (_S.PREPARING, _S.READY_FOR_PICKUP): frozenset({_R.RESTAURANT, _R.ADMIN}),
    (_S.PREPARING, _S.CANCELLED): frozenset({_R.RESTAURANT, _R.ADMIN}),
    (_S.READY_FOR_PICKUP, _S.PICKED_UP): frozenset({_R.DRIVER, _R.ADMIN}),
    (_S.READY_FOR_PICKUP, _S.CANCELLED): frozenset({_R.RESTAURANT, _R.ADMIN}),
    (_S.PICKED_UP, _S.DELIVERED): frozenset({_R.DRIVER, _R.ADMIN}),
}
_ROLES_FOR_TARGET: Final[dict[OrderStatus, frozenset[Role]]] = {}
for (_from, _to), _roles in TRANSITIONS.items():
    _ROLES_FOR_TARGET[_to] = _ROLES_FOR_TARGET.get(_to, frozenset()) | _roles
#: :data:`_ROLES_FOR_TARGET` with every status (none may set an order back to PENDING).
_TARGET_ROLES: Final[dict[OrderStatus, frozenset[Role]]] = {
    status: _ROLES_FOR_TARGET.get(status, frozenset()) for status in OrderStatus
}
#: Each status's and role's value (a dict lookup: reading ``.value`` of an enum member is a descriptor call).
_STATUS_VALUE: Final[dict[OrderStatus, str]] = {status: status.value for status in OrderStatus}
_ROLE_VALUE: Final[dict[Role, str]] = {role: role.value for role in Role}
#: Members read on every transition and notification, bound once: on Python 3.11 ``Role.ADMIN`` is no plain class
#: attribute read (``EnumType`` defines ``__getattr__``, so every read of a member through its class takes the slow
#: attribute hook, ~45 ns against ~5 for a module global; 3.12 dropped it). The same objects: ``is`` tests are
#: unchanged.
_ADMIN: Final = Role.ADMIN
_SYSTEM: Final = Role.SYSTEM
_CUSTOMER: Final = Role.CUSTOMER
_RESTAURANT: Final = Role.RESTAURANT
_STOPPED: Final[tuple[OrderStatus, OrderStatus]] = (OrderStatus.CANCELLED, OrderStatus.FAILED)
_RESTAURANT_NOTIFIED: Final = EventType.RESTAURANT_NOTIFIED
_CUSTOMER_NOTIFIED: Final = EventType.CUSTOMER_NOTIFIED
_PENDING: Final = OrderStatus.PENDING
_PENDING_VALUE: Final = OrderStatus.PENDING.value
_PAYMENT_PENDING: Final = PaymentStatus.PENDING
_PAYMENT_CAPTURED: Final = PaymentStatus.CAPTURED
_ORDER_PLACED: Final = EventType.ORDER_PLACED
_PAYMENT_CAPTURED_EVENT: Final = EventType.PAYMENT_CAPTURED
_DRIVER_ASSIGNED: Final = EventType.DRIVER_ASSIGNED
#: The event a transition to each status records.
_TRANSITION_EVENT: Final[dict[OrderStatus, EventType]] = {
    s: {OrderStatus.CANCELLED: EventType.ORDER_CANCELLED, OrderStatus.FAILED: EventType.ORDER_FAILED}.get(
        s, EventType.ORDER_STATUS_CHANGED
    )
    for s in OrderStatus
}


@dataclass(slots=True, eq=False)
class Order:
    """The order aggregate. Mutate it only through its methods; each records an event and bumps ``version``.

    Attributes:
        order_id: opaque id.
        customer_id: who ordered.
        restaurant_id: who cooks.
        lines: priced lines.
        delivery_address: where it goes.
        payment_method: an opaque payment token (card token); never a card number.
        pricing: the full breakdown.
        status: lifecycle state.
        payment_status: where the money is.
        driver_id: the assigned driver, or None.
        driver_claim: the driver a manual assignment is reserving for this order, recorded before its reservation
            (:meth:`claim_driver`) so that a process dying between the two writes leaves a trace that whoever
            touches the order next settles; None when no manual assignment is in flight.
        created_at: placement time (UTC).
        updated_at: last change (UTC).
        status_times: when each status was entered (UTC).
        failure_reason: why it FAILED or was CANCELLED, or None.
        charge_id: the captured charge's id, or None.
        notified: ids of the notifications recorded (so recording is idempotent).
        version: bumped by every change; stores compare-and-set on the version they loaded.
        persisted_version: the version last read from or written to a store (not part of the state).
        concurrency_token: an opaque token a store sets when it reads or writes the order (an etag, an update time)
            and compares on the next write; None for stores that compare ``persisted_version``. Not part of the
            state.
    """

    order_id: str
    customer_id: str
    restaurant_id: str
    lines: tuple[LineItem, ...]
    delivery_address: DeliveryAddress
    payment_method: str
    pricing: PriceBreakdown
    status: OrderStatus
    payment_status: PaymentStatus
    created_at: datetime
    updated_at: datetime
    driver_id: str | None = None
    driver_claim: str | None = None
    status_times: dict[str, datetime] = field(default_factory=dict)
    failure_reason: str | None = None
    charge_id: str | None = None
    notified: tuple[str, ...] = ()
    version: int = 0
    persisted_version: int = field(default=0, compare=False)
    concurrency_token: str | None = field(default=None, compare=False, repr=False)
    pending_events: list[DomainEvent] = field(default_factory=list, compare=False, repr=False)

    # -- creation -----------------------------------------------------------------------------------------
    @classmethod
    def place(
        cls,
        *,
        order_id: str,
        event_id: str,
        customer_id: str,
        restaurant: Restaurant,
        lines: Sequence[LineRequest],
        delivery_address: DeliveryAddress,
        payment_method: str,
        now: datetime,
        policy: PricingPolicy | None = None,
        tip: object = None,
        promo: PromoCode | None = None,
    ) -> Order:
        """Validate a request against the restaurant's menu, price it, and record ``OrderPlaced``.

        Args:
            order_id: the new order's id.
            event_id: the id of its ``OrderPlaced`` event.
            customer_id: the customer placing it.
            restaurant: the restaurant as stored now (its menu is the only source of prices).
            lines: what the customer asks for, 1..50 lines.
            delivery_address: where it goes.
            payment_method: an opaque card token.
            now: placement time (UTC).
            policy: platform fees; defaults to :class:`PricingPolicy` in the restaurant's currency.
            tip: decimal string/``Decimal``/``int`` in the restaurant's currency, or None for no tip.
            promo: a resolved promo code, or None.

        The request is checked by :func:`~fooddelivery.domain.placement.parse_request` and priced by
        :func:`~fooddelivery.domain.placement.price`; this records the result.

        Raises:
            ValidationError: naming every invalid field (``lines.N.quantity``, ``lines.N.unit_price``...): the
                request can never succeed as sent.
            CatalogMismatch: well-formed, but not for this restaurant as it is now (an item not on its menu or not
                available, the restaurant not accepting orders, a tip finer than its currency, a promo code that
                does not apply); the fields of changed prices are named too.
            PriceChanged: only client-sent unit prices differ from the menu (fields name each line).
        """
        check_id(order_id, "order_id")
        check_id(customer_id, "customer_id")
        check_utc(now, "now")
        parsed = parse_request(restaurant, lines, payment_method, tip)
        pricing = price(parsed, restaurant, delivery_address, now, policy, promo)
        order = cls(
            order_id=order_id,
            customer_id=customer_id,
            restaurant_id=restaurant.restaurant_id,
            lines=parsed.lines,
            delivery_address=delivery_address,
            payment_method=payment_method,
            pricing=pricing,
            status=_PENDING,
            payment_status=_PAYMENT_PENDING,
            created_at=now,
            updated_at=now,
            status_times={_PENDING_VALUE: now},
        )
        order._record(
            event_id,
            _ORDER_PLACED,
            now,
            {
                "customerId": customer_id,
                "restaurantId": restaurant.restaurant_id,
                "total": str(pricing.total),
                "currency": restaurant.currency,
                "lineCount": len(parsed.lines),
            },
        )
        return order

    # -- queries ------------------------------------------------------------------------------------------
    def is_visible_to(self, actor: Actor) -> bool:
        """Whether ``actor`` may see this order: its customer, its restaurant, its driver, admin or system."""
        role = actor.role
        if role is Role.ADMIN or role is Role.SYSTEM:
            return True
        if role is Role.CUSTOMER:
            return actor.subject == self.customer_id
        if role is Role.RESTAURANT:
            return actor.restaurant_id == self.restaurant_id
        return actor.driver_id is not None and actor.driver_id == self.driver_id

    def ensure_visible_to(self, actor: Actor) -> None:
        """Raise :class:`NotFound` unless ``actor`` may see the order (so its existence is not revealed)."""
        role = actor.role  # is_visible_to, written out (every change and read of an order checks it)
        if role is _ADMIN or role is _SYSTEM:
            return
        if role is _CUSTOMER:
            visible = actor.subject == self.customer_id
        elif role is _RESTAURANT:
            visible = actor.restaurant_id == self.restaurant_id
        else:
            visible = actor.driver_id is not None and actor.driver_id == self.driver_id
        if not visible:
            raise NotFound(f"order {self.order_id} not found", order_id=self.order_id)

    # -- lifecycle ----------------------------------------------------------------------------------------
    def ensure_may_set(self, to: OrderStatus, actor: Actor) -> None:
        """Raise unless ``actor`` may see the order and its role may set an order to ``to`` from some status (the
        checks :meth:`transition` makes before the lifecycle's): what a repeat of a change already made must pass
        to be answered as a success without changing anything.

        Raises:
            NotFound: the actor is unrelated to the order.
            NotAllowed: the actor's role may never set ``to``.
        """
        self.ensure_visible_to(actor)
        if actor.role not in _TARGET_ROLES[to]:
            raise NotAllowed(f"a {actor.role.value} may not set an order to {to.value}", order_id=self.order_id)

    def transition(
        self, to: OrderStatus, actor: Actor, now: datetime, event_id: str, reason: str | None = None
    ) -> None:
        """Move to ``to`` if the table allows it for ``actor``; records ``OrderStatusChanged``.

        CANCELLED records ``OrderCancelled`` and FAILED ``OrderFailed`` instead.

        Raises:
            NotFound: the actor is unrelated to the order.
            NotAllowed: the actor's role may never make this change.
            InvalidTransition: the change is not legal from the current status.
        """
        role = actor.role
        if role is not _ADMIN and role is not _SYSTEM:  # self.ensure_visible_to(actor), written out
            if role is _CUSTOMER:
                visible = actor.subject == self.customer_id
            elif role is _RESTAURANT:
                visible = actor.restaurant_id == self.restaurant_id
            else:
                visible = actor.driver_id is not None and actor.driver_id == self.driver_id
            if not visible:
                raise NotFound(f"order {self.order_id} not found", order_id=self.order_id)
        if role not in _TARGET_ROLES[to]:
            raise NotAllowed(f"a {role.value} may not set an order to {to.value}", order_id=self.order_id)
        previous = self.status
        key = (previous, to)
        if key not in TRANSITIONS or role not in TRANSITIONS[key]:  # (no dict.get call on the way through)
            roles = TRANSITIONS.get(key)
            raise InvalidTransition(
                f"order {self.order_id} cannot go from {previous.value} to {to.value}"
                + ("" if roles is None else f" as a {role.value}"),
                order_id=self.order_id,
                current=previous.value,
                requested=to.value,
            )
        self.status = to
        value = _STATUS_VALUE[to]
        self.status_times[value] = now
        if to in _STOPPED:
            self.failure_reason = reason
        payload: dict[str, Any] = {"from": _STATUS_VALUE[previous], "to": value, "by": _ROLE_VALUE[role]}
        if reason is not None:
            payload["reason"] = reason
        # self._record(event_id, _TRANSITION_EVENT[to], now, payload), written out
        self.version += 1
        self.updated_at = now
        self.pending_events.append(
            DomainEvent(event_id, _TRANSITION_EVENT[to], now, self.order_id, self.version, payload)
        )

    def cancel(self, actor: Actor, now: datetime, event_id: str, reason: str) -> None:
        """Cancel (see :meth:`transition` for the errors)."""
        self.transition(OrderStatus.CANCELLED, actor, now, event_id, reason)

    def fail(self, now: datetime, event_id: str, reason: str) -> None:
        """Mark FAILED by the system, with a machine-readable ``reason`` such as ``"payment_declined"``."""
        self.transition(OrderStatus.FAILED, Actor.system(), now, event_id, reason)

    # -- payment ------------------------------------------------------------------------------------------
    def record_payment_captured(self, charge_id: str, now: datetime, event_id: str) -> None:
        """Record the capture of ``pricing.total``.

        Raises:
            InvalidTransition: payment is not PENDING.
        """
        if self.payment_status is not _PAYMENT_PENDING:
            raise InvalidTransition(f"payment of {self.order_id} is {self.payment_status.value}")
        self.payment_status = _PAYMENT_CAPTURED
        self.charge_id = charge_id
        self._record(
            event_id,
            _PAYMENT_CAPTURED_EVENT,
            now,
            {"chargeId": charge_id, "amount": str(self.pricing.total), "currency": self.pricing.total.currency},
        )

    def record_payment_failed(self, declined: bool, now: datetime) -> None:
        """Record a declined (``declined=True``) or exhausted-retry payment; nothing was charged.

        Recorded together with :meth:`fail` (whose ``OrderFailed`` event carries the reason), so it records no
        event of its own.

        Raises:
            InvalidTransition: the payment is not PENDING.
        """
        if self.payment_status is not PaymentStatus.PENDING:
            raise InvalidTransition(f"payment of {self.order_id} is {self.payment_status.value}")
        self.payment_status = PaymentStatus.DECLINED if declined else PaymentStatus.FAILED
        self.updated_at = now

    def record_refund(self, refund_id: str, amount: Money, now: datetime, event_id: str) -> None:
        """Record a refund of ``amount``.

        Raises:
            InvalidTransition: nothing was captured, or it was already refunded.
        """
        if self.payment_status is not PaymentStatus.CAPTURED:
            raise InvalidTransition(f"payment of {self.order_id} is {self.payment_status.value}, not CAPTURED")
        self.payment_status = PaymentStatus.REFUNDED
        self._record(
            event_id,
            EventType.PAYMENT_REFUNDED,
            now,
            {"refundId": refund_id, "amount": str(amount), "currency": amount.currency},
        )

    # -- driver -------------------------------------------------------------------------------------------
    def assign_driver(self, driver_id: str, now: datetime, event_id: str) -> None:
        """Record the reserved driver.

        Raises:
            InvalidTransition: a driver is already assigned, or the order is finished.
        """
        if self.driver_id is not None:
            raise InvalidTransition(f"order {self.order_id} already has driver {self.driver_id}")
        if self.status.is_terminal:
            raise InvalidTransition(f"order {self.order_id} is {self.status.value}")
        self.driver_id = driver_id
        self.driver_claim = None
        self._record(event_id, _DRIVER_ASSIGNED, now, {"driverId": driver_id})

    def claim_driver(self, driver_id: str, now: datetime) -> None:
        """Record that a manual assignment is about to reserve ``driver_id`` for this order (the intent, stored
        before the reservation; :meth:`assign_driver` or :meth:`drop_driver_claim` ends it). No event: nothing
        happened yet that anyone outside needs to hear of; the version is bumped, so two concurrent claims of one
        order compare-and-set against each other.

        Raises:
            InvalidTransition: a driver is already assigned, the order is picked up or finished, or another
                driver's assignment is in flight.
        """
        if self.driver_id is not None:
            raise InvalidTransition(f"order {self.order_id} already has driver {self.driver_id}")
        if self.status.is_terminal or self.status is OrderStatus.PICKED_UP:
            raise InvalidTransition(f"order {self.order_id} is {self.status.value}")
        if self.driver_claim is not None and self.driver_claim != driver_id:
            raise InvalidTransition(f"order {self.order_id}: the assignment of driver {self.driver_claim} is in flight")
        self.driver_claim = driver_id
        self.version += 1
        self.updated_at = now

    def drop_driver_claim(self, now: datetime) -> None:
        """Forget an unfinished manual assignment (its driver was given back, or never reserved); allowed on a
        finished order. A no-op without a claim."""
        if self.driver_claim is None:
            return
        self.driver_claim = None
        self.version += 1
        self.updated_at = now

    def release_driver(self, now: datetime, event_id: str, reason: str) -> str:
        """Unassign the driver (compensation); returns the released driver's id.

        Raises:
            InvalidTransition: no driver is assigned.
        """
        if self.driver_id is None:
            raise InvalidTransition(f"order {self.order_id} has no driver")
        driver_id = self.driver_id
        self.driver_id = None
        self._record(event_id, EventType.DRIVER_RELEASED, now, {"driverId": driver_id, "reason": reason})
        return driver_id

    # -- notifications ------------------------------------------------------------------------------------
    def record_notified(self, who: Role, now: datetime, event_id: str, notification_id: str) -> bool:
        """Record that the restaurant or the customer was told; returns False (and records nothing) when this
        notification was already recorded.
        """
        if notification_id in self.notified:
            return False
        self.notified = (*self.notified, notification_id)
        etype = _RESTAURANT_NOTIFIED if who is _RESTAURANT else _CUSTOMER_NOTIFIED
        # self._record(event_id, etype, now, {...}), written out
        self.version += 1
        self.updated_at = now
        self.pending_events.append(
            DomainEvent(event_id, etype, now, self.order_id, self.version, {"notificationId": notification_id})
        )
        return True

    # -- plumbing -----------------------------------------------------------------------------------------
    def _record(self, event_id: str, etype: EventType, now: datetime, payload: dict[str, Any]) -> None:
        self.version += 1
        self.updated_at = now
        self.pending_events.append(DomainEvent(event_id, etype, now, self.order_id, self.version, payload))

    def take_events(self) -> list[DomainEvent]:
        """Remove and return the events recorded since the last store write."""
        events, self.pending_events = self.pending_events, []
        return events

    def snapshot(self) -> Order:
        """An independent copy without pending events (what a store keeps).

        Every field but ``status_times`` holds immutable values, so one level of copying is enough. (Written
        out field by field: it is the hottest path of the in-memory stores.)
        """
        c: Order = _new_order(Order)
        c.order_id = self.order_id
        c.customer_id = self.customer_id
        c.restaurant_id = self.restaurant_id
        c.lines = self.lines
        c.delivery_address = self.delivery_address
        c.payment_method = self.payment_method
        c.pricing = self.pricing
        c.status = self.status
        c.payment_status = self.payment_status
        c.created_at = self.created_at
        c.updated_at = self.updated_at
        c.driver_id = self.driver_id
        c.driver_claim = self.driver_claim
        c.failure_reason = self.failure_reason
        c.charge_id = self.charge_id
        c.notified = self.notified
        c.version = self.version
        c.persisted_version = self.persisted_version
        c.concurrency_token = self.concurrency_token
        c.status_times = {**self.status_times}  # (unpacked, not dict(...): half the instructions, and no call)
        c.pending_events = []
        return c

    def same_state(self, other: Order) -> bool:
        """True when every stored field equals ``other``'s (ignores pending events and persisted version)."""
        return all(
            getattr(self, f) == getattr(other, f)
            for f in (
                "order_id", "customer_id", "restaurant_id", "lines", "delivery_address", "payment_method",
                "pricing", "status", "payment_status", "created_at", "updated_at", "driver_id",
                "driver_claim", "status_times", "failure_reason", "charge_id", "notified", "version",
            )
        )


_new_order = object.__new__
_SNAPSHOT_FIELDS: Final[frozenset[str]] = frozenset(
    ("order_id", "customer_id", "restaurant_id", "lines", "delivery_address", "payment_method", "pricing",
     "status", "payment_status", "created_at", "updated_at", "driver_id", "driver_claim", "failure_reason",
     "charge_id", "notified", "version", "persisted_version", "concurrency_token", "status_times", "pending_events")
)
if set(Order.__dataclass_fields__) != _SNAPSHOT_FIELDS:  # pragma: no cover - guards snapshot() upkeep
    raise RuntimeError("Order.snapshot() must copy every field")
