"""The order runtime: what every input does to an order's saga, once, for every place the saga runs.

``serve``'s worker, the in-process runtime (tests, the simulation, a library user) and every cloud consumer (the
SQS Lambda, the Service Bus function, the Pub/Sub function) hand their inputs to :class:`OrderRuntime`; a cloud
package only translates its provider's messages into these inputs (``fooddelivery.application.messages``) and
settles them (ack, retry, dead-letter) by the outcome or the error.

The reaction table (:data:`REACTION_TABLE` for events; the methods for the other inputs):

===============================================  =====================================================================
input                                            what happens
===============================================  =====================================================================
``OrderPlaced``                                  start the order's saga (idempotent: a known instance is resumed if
                                                 an interrupted process left it RUNNING, else left as it is)
``OrderCancelled``                               signal ``OrderCancelled`` to the saga (refund once, release the
                                                 driver); tell the restaurant if it was told of the order
``OrderFailed`` by an admin                      the same as a cancellation
``OrderFailed`` by the saga                      tell the restaurant if it was told of the order
``OrderStatusChanged`` to ``DELIVERED``          free the order's driver if it still holds the order
any other event                                  nothing (the runtime does not need it)
a due timer (:meth:`OrderRuntime.on_timer`)      deliver it to the saga; a stale one changes nothing, but an instance
                                                 found RUNNING on it (its delivery crashed mid-step) is resumed
a resume command (:meth:`~OrderRuntime.on_resume`)  drive on an instance left RUNNING
a restaurant's answer (:meth:`~OrderRuntime.signal`)  signal ``RestaurantConfirmed`` / ``RestaurantRejected``
===============================================  =====================================================================

Every reaction is idempotent on a business key (the order id for a saga start, the event name for a signal, the
timer id for a timer, the notification id for a notification, the driver's current order for a release), so the
at-least-once delivery of every queue is harmless: a second delivery has no second effect.

Errors: an input that can never be handled raises :class:`~fooddelivery.application.messages.MalformedMessage`
(dead-letter it); any other error means "not now" (the saga is busy, a store is down) and the input must be
delivered again (nack, abandon, ``batchItemFailures``; in process, ``FoodDeliveryService.dead_letters``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, Final

from fooddelivery.application.messages import EventInput, MalformedMessage, RuntimeInput, TimerInput
from fooddelivery.application.order_saga import ORDER_CANCELLED, release_driver_hold
from fooddelivery.application.saga.runner import SagaRunner
from fooddelivery.domain.actors import Role
from fooddelivery.domain.errors import LateEvent, NotFound
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.domain.order import OrderStatus
from fooddelivery.observability.instrument import _TRACE_API, _modules, event_span, timer_span
from fooddelivery.observability.logs import FIELDS as LOG_FIELDS
from fooddelivery.observability.tracing import _providers
from fooddelivery.ports.drivers import DriverRepository
from fooddelivery.ports.notifications import Notification, NotificationKind, Notifier
from fooddelivery.ports.orders import OrderRepository
from fooddelivery.ports.saga_engine import SagaEngine, SignalOutcome
from fooddelivery.ports.saga_store import SagaStatus
from fooddelivery.ports.scheduler import ScheduledMessage

__all__ = [
    "REACTING_EVENT_TYPES",
    "REACTION_GATES",
    "REACTION_TABLE",
    "OrderRuntime",
    "Outcome",
    "Reaction",
    "ReactionRule",
    "needs_runtime",
    "reactions_to",
    "restaurant_notification_id",
]

log = logging.getLogger(__name__)


class Reaction(StrEnum):
    """What the runtime does for an event."""

    START_SAGA = "start_saga"
    CANCEL_SAGA = "cancel_saga"
    FREE_DRIVER = "free_driver"
    NOTIFY_RESTAURANT = "notify_restaurant"


class Outcome(StrEnum):
    """What handling one input did (for logs, metrics and settlement; every outcome means "done")."""

    STARTED = "started"
    """The saga was started, or found started and driven on."""
    SIGNALLED = "signalled"
    """The saga took the signal."""
    DUPLICATE = "duplicate"
    """The saga had taken this signal before: nothing changed."""
    NO_EFFECT = "no_effect"
    """Nothing to do: no saga yet (it will see the order's state), the wait is over, or no reaction applies."""
    DRIVER_FREED = "driver_freed"
    """The driver of a delivered order was made AVAILABLE (or was already)."""
    NOTIFIED = "notified"
    """The restaurant was told its order stopped (a no-op when told before)."""
    TIMER_DELIVERED = "timer_delivered"
    """A due timer moved the saga on."""
    TIMER_STALE = "timer_stale"
    """A timer the saga no longer waits for (cancelled, superseded, delivered before): nothing changed."""
    RESUMED = "resumed"
    """An instance left RUNNING was driven on (or found not RUNNING: nothing to do)."""


def _always(event: DomainEvent) -> bool:
    return True


_ADMIN: Final[str] = Role.ADMIN.value
_DELIVERED: Final[str] = OrderStatus.DELIVERED.value
#: Members :meth:`OrderRuntime._react` reads on every event, bound once (on Python 3.11 reading a member through its
#: enum class takes ``EnumType``'s slow attribute hook: see ``fooddelivery.domain.order``).
_START_SAGA: Final = Reaction.START_SAGA
_CANCEL_SAGA: Final = Reaction.CANCEL_SAGA
_FREE_DRIVER: Final = Reaction.FREE_DRIVER
_STARTED: Final = Outcome.STARTED
_DRIVER_FREED: Final = Outcome.DRIVER_FREED
_DELIVERED_STATUS: Final = OrderStatus.DELIVERED


def _by_admin(event: DomainEvent) -> bool:
    return event.payload.get("by") == _ADMIN


def _not_by_admin(event: DomainEvent) -> bool:
    return not _by_admin(event)


@dataclass(frozen=True, slots=True)
class ReactionRule:
    """One row of the reaction table.

    Attributes:
        event_type: the event it applies to.
        when: a condition on the event (its payload).
        reactions: what happens, in order.
        description: the row in words.
        payload_is: ``(key, value)``: the row applies only when ``event.payload[key] == value`` (tested before
            ``when``, and by a consumer before it hands an event to the runtime: see :data:`REACTION_GATES`), or
            None.
    """

    event_type: EventType
    when: Callable[[DomainEvent], bool]
    reactions: tuple[Reaction, ...]
    description: str
    payload_is: tuple[str, str] | None = None

    def applies_to(self, event: DomainEvent) -> bool:
        """Whether this row applies to ``event`` (its type, its ``payload_is`` and its ``when``)."""
        if self.event_type is not event.type:
            return False
        gate = self.payload_is
        if gate is not None and (gate[0] not in event.payload or event.payload[gate[0]] != gate[1]):
            return False
        return self.when is _always or self.when(event)


#: The reaction table: the first row matching an event (type and condition) says what happens; no row, nothing.
REACTION_TABLE: Final[tuple[ReactionRule, ...]] = (
    ReactionRule(EventType.ORDER_PLACED, _always, (Reaction.START_SAGA,), "start the order's saga"),
    ReactionRule(
        EventType.ORDER_CANCELLED,
        _always,
        (Reaction.CANCEL_SAGA, Reaction.NOTIFY_RESTAURANT),
        "the saga compensates (refund once, release the driver); the restaurant is told",
    ),
    ReactionRule(
        EventType.ORDER_FAILED,
        _by_admin,
        (Reaction.CANCEL_SAGA, Reaction.NOTIFY_RESTAURANT),
        "an admin failed it: compensate like a cancellation; the restaurant is told",
    ),
    ReactionRule(
        EventType.ORDER_FAILED,
        _not_by_admin,
        (Reaction.NOTIFY_RESTAURANT,),
        "the saga failed it (it has compensated already): the restaurant is told",
    ),
    ReactionRule(
        EventType.ORDER_STATUS_CHANGED,
        _always,
        (Reaction.FREE_DRIVER,),
        "delivered: the driver is free again",
        payload_is=("to", _DELIVERED),
    ),
)


#: The event types some row of :data:`REACTION_TABLE` applies to: an event of any other type has no reaction, so a
#: consumer may skip :meth:`OrderRuntime.on_event` for it (it would return ``(NO_EFFECT,)`` and change nothing).
REACTING_EVENT_TYPES: Final[frozenset[EventType]] = frozenset(rule.event_type for rule in REACTION_TABLE)


def _gates(table: tuple[ReactionRule, ...]) -> dict[EventType, tuple[str, str]]:
    gates: dict[EventType, tuple[str, str]] = {}
    for etype in {rule.event_type for rule in table}:
        required = {rule.payload_is for rule in table if rule.event_type is etype}
        if len(required) == 1 and (gate := required.pop()) is not None:
            gates[etype] = gate
    return gates


#: ``{event type: (key, value)}`` for the types every row of which requires ``payload[key] == value``
#: (``payload_is``): an event of such a type without that value has no reaction either, so a consumer may skip
#: :meth:`OrderRuntime.on_event` for it (a status change to anything but ``DELIVERED``).
REACTION_GATES: Final[Mapping[EventType, tuple[str, str]]] = _gates(REACTION_TABLE)


def reactions_to(event: DomainEvent) -> tuple[Reaction, ...]:
    """What the runtime does for ``event`` (the first matching row of :data:`REACTION_TABLE`; none: ``()``)."""
    for rule in REACTION_TABLE:
        if rule.applies_to(event):
            return rule.reactions
    return ()


def needs_runtime(event: DomainEvent) -> bool:
    """Whether ``event`` must reach the runtime (what a relay routes to the runtime's queue)."""
    return bool(reactions_to(event))


def restaurant_notification_id(order_id: str, template: str) -> str:
    """The idempotency key of the restaurant's ``template`` notification about ``order_id`` (the saga's own
    ``new_order`` notification uses the same form)."""
    return f"{order_id}:{NotificationKind.RESTAURANT.value}:{template}"


_STOP_TEMPLATES: Final[Mapping[EventType, str]] = {
    EventType.ORDER_CANCELLED: "order_cancelled",
    EventType.ORDER_FAILED: "order_failed",
}


@dataclass
class OrderRuntime:
    """Turns runtime inputs into effects (see the module docstring for the table).

    Args:
        engine: where sagas are started and signalled (the in-process ``SagaRunner``, or a workflow engine such
            as Step Functions).
        orders: the order store (to read an order for a reaction; the runtime never writes orders itself).
        drivers: the driver store (to free a delivered order's driver).
        notifier: tells restaurants that an order stopped.
        runner: the saga runner that owns timers and interrupted instances, or None when the saga runs in a
            workflow engine that keeps its own time (then timers and resume commands are refused as malformed).
        stale_after: how long an instance must have been RUNNING without a write before a stale timer resumes
            it (a younger one is being driven right now, by another thread or process).
    """

    engine: SagaEngine
    orders: OrderRepository
    drivers: DriverRepository
    notifier: Notifier
    runner: SagaRunner | None = None
    stale_after: timedelta = timedelta(seconds=30)

    # -- any input ------------------------------------------------------------------------------------------
    def handle(self, item: RuntimeInput) -> tuple[Outcome, ...]:
        """Handle one decoded message (an event, a timer or a resume command).

        Raises:
            MalformedMessage: an input this runtime can never handle (dead-letter it).
            FoodDeliveryError: anything else: deliver it again later.
        """
        if isinstance(item, EventInput):
            return self.on_event(item.event)
        if isinstance(item, TimerInput):
            return (self.on_timer(item.message),)
        return (self.on_resume(item.saga_id),)

    # -- events ---------------------------------------------------------------------------------------------
    def on_event(self, event: DomainEvent) -> tuple[Outcome, ...]:
        """Apply the reactions of ``event`` in order; ``(NO_EFFECT,)`` when it has none.

        Raises:
            InvalidTransition: the saga is running a step and takes the cancellation once it is done: retry.
            InfrastructureError / ConcurrencyConflict: a store or the engine failed: retry.
        """
        reactions: tuple[Reaction, ...] = ()
        etype = event.type
        for rule in REACTION_TABLE:  # reactions_to(event), written out: every event in process passes here
            if rule.event_type is etype:  # rule.applies_to(event), likewise
                gate = rule.payload_is
                if gate is not None and (gate[0] not in event.payload or event.payload[gate[0]] != gate[1]):
                    continue
                when = rule.when
                if when is _always or when(event):
                    reactions = rule.reactions
                    break
        if not reactions:
            return (Outcome.NO_EFFECT,)
        if not LOG_FIELDS.on and _providers.tracer_provider is None and _TRACE_API not in _modules:
            # event_span(event)'s test, written out: no tracer and no log fields, so no span and nothing to bind
            if len(reactions) == 1:
                return (self._react(reactions[0], event),)
            return tuple([self._react(reaction, event) for reaction in reactions])
        # a span in the event's trace (its traceparent), whatever process or invocation handles it
        with event_span(event):
            if len(reactions) == 1:
                return (self._react(reactions[0], event),)
            return tuple([self._react(reaction, event) for reaction in reactions])

    def _react(self, reaction: Reaction, event: DomainEvent) -> Outcome:
        if reaction is _START_SAGA:
            self.engine.start(event.order_id, {"orderId": event.order_id})
            return _STARTED
        if reaction is _CANCEL_SAGA:
            detail: dict[str, Any] = {k: str(event.payload[k]) for k in ("by", "reason") if k in event.payload}
            try:
                outcome = self.engine.signal(event.order_id, ORDER_CANCELLED, detail)
            except (NotFound, LateEvent) as exc:
                # no saga yet (it will find the order stopped) or it has ended already
                log.info("%s for %s changes nothing in the saga: %s", event.type.value, event.order_id, exc)
                return Outcome.NO_EFFECT
            return Outcome.DUPLICATE if outcome is SignalOutcome.DUPLICATE else Outcome.SIGNALLED
        if reaction is _FREE_DRIVER:
            order = self.orders.get(event.order_id)
            if order.status is _DELIVERED_STATUS and order.driver_id is not None:
                release_driver_hold(self.drivers, order.driver_id, order.order_id)
                return _DRIVER_FREED
            return Outcome.NO_EFFECT
        return self._notify_restaurant(event)

    def _notify_restaurant(self, event: DomainEvent) -> Outcome:
        """Tell the restaurant its order stopped, if the saga had told it of the order."""
        order = self.orders.get(event.order_id)
        if restaurant_notification_id(order.order_id, "new_order") not in order.notified:
            return Outcome.NO_EFFECT  # it never heard of the order: nothing to take back
        template = _STOP_TEMPLATES[event.type]
        self.notifier.send(
            Notification(
                notification_id=restaurant_notification_id(order.order_id, template),
                kind=NotificationKind.RESTAURANT,
                recipient_id=order.restaurant_id,
                order_id=order.order_id,
                template=template,
                data={"status": order.status.value, "reason": order.failure_reason or ""},
            )
        )
        return Outcome.NOTIFIED

    # -- timers, resume, signals ----------------------------------------------------------------------------
    def _require_runner(self, what: str) -> SagaRunner:
        if self.runner is None:
            raise MalformedMessage.single(
                "messageType", f"{what} are not used when the saga runs in a workflow engine", "unsupported"
            )
        return self.runner

    def on_timer(self, message: ScheduledMessage) -> Outcome:
        """Deliver a due timer to the saga.

        A stale timer changes nothing, except that an instance found RUNNING on it, untouched for
        ``stale_after``, is resumed: the timer's earlier delivery crashed mid-step, and this redelivery is what
        finishes the job. (One written more recently is being driven by someone else right now.)

        Raises:
            MalformedMessage: no runner (a workflow engine keeps its own timers), or no ``sagaId`` in the body.
            FoodDeliveryError: the step failed in a way the saga does not route: deliver it again.
        """
        runner = self._require_runner("timers")
        saga_id = message.body.get("sagaId")
        if not isinstance(saga_id, str) or not saga_id:
            raise MalformedMessage.single("body.sagaId", "a saga timer names its saga", "required")
        with timer_span(message):
            return self._deliver_timer(runner, saga_id, message)

    def _deliver_timer(self, runner: SagaRunner, saga_id: str, message: ScheduledMessage) -> Outcome:
        try:
            delivered = runner.deliver(message)
        except NotFound:
            log.warning("timer %s names no saga instance %s; dropped", message.message_id, saga_id)
            return Outcome.TIMER_STALE
        if delivered is not None:
            return Outcome.TIMER_DELIVERED
        state = runner.store.get(saga_id)
        if state.status is SagaStatus.RUNNING and runner.clock.now() - state.updated_at >= self.stale_after:
            log.warning("saga %s found RUNNING on a stale timer %s; resuming", saga_id, message.message_id)
            runner.resume(saga_id)
            return Outcome.RESUMED
        return Outcome.TIMER_STALE

    def on_resume(self, saga_id: str) -> Outcome:
        """Drive on an instance left RUNNING (a no-op for one that is not).

        Raises:
            MalformedMessage: no runner, or no such instance.
            FoodDeliveryError: the step failed in a way the saga does not route: deliver it again.
        """
        runner = self._require_runner("resume commands")
        try:
            runner.resume(saga_id)
        except NotFound:
            raise MalformedMessage.single("sagaId", f"no saga instance {saga_id!r}", "unknown") from None
        return Outcome.RESUMED

    def signal(self, saga_id: str, event: str, detail: Mapping[str, Any] | None = None) -> SignalOutcome:
        """Deliver an external event (a restaurant's ``RestaurantConfirmed`` / ``RestaurantRejected``) to the
        saga through the engine.

        Raises:
            NotFound, LateEvent, InvalidTransition: see ``SagaEngine.signal``.
        """
        return self.engine.signal(saga_id, event, detail)

    def status(self, saga_id: str) -> SagaStatus | None:
        """The saga's status through the engine (None: never started)."""
        return self.engine.status(saga_id)
