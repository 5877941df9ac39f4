"""The use cases, as one service. Authorization happens here: every method takes the acting :class:`Actor`.

The aggregates own their rules (transitions, actor relations); the use cases load, call, save, and publish what
they committed (:meth:`OutboxRelay.publish_own`), which in process also feeds the runtime. They are grouped by
capability, one module each:

- :mod:`~fooddelivery.application.ordering` -- place (idempotently), read, list, change status, cancel;
- :mod:`~fooddelivery.application.restaurant_actions` -- confirm, reject, list/search/read restaurants;
- :mod:`~fooddelivery.application.deliveries` -- assign a driver, report a position, track;
- this module -- the in-process event handling (:meth:`FoodDeliveryService.handle_events` hands every published
  event to :class:`~fooddelivery.application.runtime.OrderRuntime`), timers and the sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from fooddelivery.application._base import use_case
from fooddelivery.application.commands import PlaceOrder, PlaceOrderResult, Tracking
from fooddelivery.application.deliveries import DeliveryUseCases
from fooddelivery.application.messages import MalformedMessage
from fooddelivery.application.ordering import OrderingUseCases
from fooddelivery.application.runtime import REACTING_EVENT_TYPES, REACTION_GATES
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.domain.events import DomainEvent
from fooddelivery.observability.instrument import traced_use_cases
from fooddelivery.ports.scheduler import ScheduledMessage

__all__ = ["FoodDeliveryService", "PlaceOrder", "PlaceOrderResult", "Tracking"]

log = logging.getLogger(__name__)


# A span per use case (fooddelivery.observability). Not the background work (pump, deliver_timer, resume_saga[s]):
# a sweep or a timer has no trace of its own, so what it publishes and drives continues each order's trace.
@traced_use_cases(
    "assign_driver", "cancel_order", "change_status", "confirm_order", "get_order", "get_restaurant",
    "list_orders", "list_restaurants", "place_order", "reject_order", "report_location", "search_restaurants",
    "track_delivery",
)
@dataclass
class FoodDeliveryService(OrderingUseCases, DeliveryUseCases):
    """Every use case, over the ports. Built by :func:`fooddelivery.bootstrap.bootstrap`.

    Attributes:
        orders, restaurants, drivers, sagas, location: the stores and streams (``orders`` claims what it commits
            with the relay: :class:`~fooddelivery.application.relay.TrackedOrderRepository`).
        runner: the in-process order saga runner (timers are delivered to it).
        steps: the order saga's actions (shared with manual driver assignment).
        relay: publishes what each caller committed; its sweep publishes the rest.
        runtime: what every event, timer and signal does to the saga (the reaction table).
        clock, ids: time and identifiers.
        pricing: platform fees.
        promotions: promo codes by upper-case code.
        eta: tracking assumptions.
        assignment: driver search policy.
        dead_letters: events whose in-process handling failed, with the error (never silently dropped;
            :meth:`resume_sagas` retries them).
        malformed: events the runtime can never handle (it raised
            :class:`~fooddelivery.application.messages.MalformedMessage`), with the error: the in-process
            dead-letter queue. Logged once at ERROR, kept here for inspection, never retried (a retry could only fail
            again); the bus has the event itself, as it has every published one.
    """

    dead_letters: list[tuple[DomainEvent, Exception]] = field(default_factory=list)
    malformed: list[tuple[DomainEvent, MalformedMessage]] = field(default_factory=list)

    # -- events -------------------------------------------------------------------------------------------
    def handle_events(self, events: Sequence[DomainEvent]) -> list[str]:
        """The in-process consumer of published events: each goes to :meth:`OrderRuntime.on_event` (an event of a
        type the reaction table does not name, or without the payload value its type's rows require
        (``REACTION_GATES``), is skipped: the runtime would do nothing with it). Runs inside its
        call's scope, as a use case does (written out: the relay calls it for every batch it publishes).

        Returns:
            The ids of the events whose handling failed. The relay leaves them in the outbox, so the sweep (the
            worker's, or the next process's at start) delivers them again: a failure is never lost, even if the
            process dies. Each is also kept in :attr:`dead_letters` with its error, for :meth:`resume_sagas` and
            for inspection, and logged (an outage as one line, anything else with its traceback). An event the
            runtime can never handle (``MalformedMessage``) is not among them: it is dead-lettered into
            :attr:`malformed` and logged once, and leaves the outbox as handled (handing it again at every sweep,
            and appending it to the bus each time, could never succeed).
        """
        failed: list[str] = []
        runtime = self.runtime
        scope = self.orders._scope  # use_case's scope handling, written out
        scope.depth += 1
        try:
            for event in events:
                etype = event.type
                if etype not in REACTING_EVENT_TYPES:
                    continue
                if etype in REACTION_GATES:  # a status change to anything but DELIVERED: no reaction either
                    key, value = REACTION_GATES[etype]
                    if key not in event.payload or event.payload[key] != value:
                        continue
                try:
                    runtime.on_event(event)
                except InfrastructureError as exc:
                    log.warning(
                        "handling %s of order %s waits for a dependency: %s", event.type.value, event.order_id, exc
                    )
                    self.dead_letters.append((event, exc))
                    failed.append(event.event_id)
                except MalformedMessage as exc:
                    log.error(
                        "%s %s of order %s can never be handled, dead-lettered (FoodDeliveryService.malformed): %s",
                        event.type.value, event.event_id, event.order_id, exc,
                    )
                    self.malformed.append((event, exc))
                except Exception as exc:
                    log.exception("handling %s of order %s failed", event.type.value, event.order_id)
                    self.dead_letters.append((event, exc))
                    failed.append(event.event_id)
            return failed
        finally:
            scope.depth -= 1
            if scope.depth == 0:
                scope.orders, scope.sagas, scope.restaurants = {}, {}, {}  # scope.clear()

    @use_case
    def react(self, events: Sequence[DomainEvent]) -> list[str]:
        """Hand already-published ``events`` to the runtime (:meth:`handle_events`) and publish what it committed:
        for a consumer that runs the reactions outside the request that committed the events (``serve``'s saga
        queue).

        Returns:
            The ids of the events whose handling failed (kept in :attr:`dead_letters` for :meth:`resume_sagas`).

        Raises:
            InfrastructureError: publishing what the reactions committed failed (it stays in the outbox).
        """
        failed = self.handle_events(events)
        self.relay.publish_own()
        return failed

    @use_case
    def pump(self) -> int:
        """Sweep the outbox: publish every committed event no caller is publishing, and run the consumers;
        returns the number published.

        Raises:
            InfrastructureError: the bus refused a batch (those events stay in the outbox).
        """
        return self.relay.flush()

    @use_case
    def deliver_timer(self, message: ScheduledMessage) -> None:
        """Handle one due scheduler message (saga retry or timeout), then publish what it committed.

        Raises:
            FoodDeliveryError: the saga step failed in a way it does not route (deliver the timer again).
        """
        self.runtime.on_timer(message)
        self._after_commit()

    @use_case
    def resume_saga(self, saga_id: str) -> None:
        """Drive on a saga an interrupted process left RUNNING, then publish what it committed.

        Raises:
            MalformedMessage: no such saga.
            FoodDeliveryError: the step failed again (try later).
        """
        self.runtime.on_resume(saga_id)
        self._after_commit()

    @use_case
    def resume_sagas(self) -> int:
        """Deliver the dead-lettered events again (starts, cancellations...); returns how many were retried."""
        letters, self.dead_letters = self.dead_letters, []
        self.handle_events([event for event, _ in letters])
        self._after_commit()
        self.pump()
        return len(letters)
