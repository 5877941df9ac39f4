"""The composition root's building half: :func:`bootstrap` and what it returns, :class:`Bootstrapped`.

Import both from :mod:`fooddelivery.bootstrap`, which loads this module on first use: a process that only reads
:class:`~fooddelivery.bootstrap.Settings` or holds a :class:`~fooddelivery.bootstrap.ProcessApp` (a cloud
entrypoint answering ``GET /health`` on its cold start) never loads it. This module imports every name its
annotations use, so ``typing.get_type_hints`` resolves :class:`Bootstrapped` and :func:`bootstrap`. The in-memory
adapters are the exception: :func:`bootstrap` imports them only for the ports that were not injected (a cloud
entrypoint injects them all).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from fooddelivery.adapters.counters import OperationCounters, meter_of
from fooddelivery.adapters.system import SystemClock, UuidIdGenerator
from fooddelivery.application.order_saga import OrderSagaSteps, build_order_saga
from fooddelivery.application.relay import OutboxRelay, publication_for
from fooddelivery.application.runtime import OrderRuntime
from fooddelivery.application.saga.runner import SagaRunner
from fooddelivery.application.services import FoodDeliveryService
from fooddelivery.application.unit_of_work import OrderSession, ScopedRestaurants, unit_of_work_for
from fooddelivery.bootstrap import Settings
from fooddelivery.domain.assignment import AssignmentPolicy
from fooddelivery.domain.pricing import PricingPolicy, PromoCode
from fooddelivery.domain.tracking import EtaPolicy
from fooddelivery.observability import instrument
from fooddelivery.observability.metrics import watch_dead_letters
from fooddelivery.observability.tracing import trace_data
from fooddelivery.ports import (
    Clock,
    DriverRepository,
    EventPublisher,
    IdGenerator,
    LocationStream,
    Notifier,
    OrderRepository,
    Outbox,
    PaymentGateway,
    RestaurantRepository,
    SagaEngine,
    SagaStateStore,
    ScheduledMessage,
    Scheduler,
)
from fooddelivery.ports.unit_of_work import OrderUnitOfWork

__all__ = ["Bootstrapped", "bootstrap"]


@runtime_checkable
class _PollingScheduler(Protocol):
    """A scheduler whose due messages this process takes and delivers itself (in memory, SQLite)."""

    def schedule(self, message: ScheduledMessage) -> None: ...

    def pop_due(self, now: datetime) -> list[ScheduledMessage]: ...


@runtime_checkable
class _LeasingScheduler(_PollingScheduler, Protocol):
    """A polling scheduler that leases due messages until acknowledged (at-least-once across crashes: SQLite)."""

    def claim_due(self, now: datetime) -> list[ScheduledMessage]: ...

    def ack(self, message_ids: Sequence[str]) -> int: ...

    def release(self, message_ids: Sequence[str]) -> None: ...


@dataclass
class Bootstrapped:
    """What :func:`bootstrap` built: the service plus every adapter, for entrypoints and tests.

    Attributes:
        service: the use cases.
        runner: the order saga runner.
        counters: operation counters shared by the in-memory adapters (None when all were injected).
        adapters: every port's adapter by port name (``"orders"``, ``"publisher"``, ``"payments"``...);
            ``"publication"`` is the outbox's publication to the bus in one write (``PublishingOutbox``), or None.
    """

    service: FoodDeliveryService
    runner: SagaRunner
    counters: OperationCounters | None
    adapters: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["adapters"][name]
        except KeyError:
            raise AttributeError(name) from None

    def run_due(self) -> int:
        """Deliver every scheduler message due now; returns how many.

        Works with the schedulers whose messages the process delivers itself: the in-memory one (``pop_due``;
        a failed delivery re-schedules the undelivered messages) and the SQLite one (``claim_due`` + ``ack``: a
        message is deleted only once delivered, so a crash mid-delivery delivers it again after a restart; a
        failed delivery releases the undelivered ones at once).

        Raises:
            TypeError: the scheduler delivers by itself (cloud schedulers) and has no ``pop_due``.
        """
        scheduler = self.adapters["scheduler"]
        if not isinstance(scheduler, _PollingScheduler):
            raise TypeError("run_due drives a scheduler with pop_due (in-memory or SQLite) only")
        leasing = scheduler if isinstance(scheduler, _LeasingScheduler) else None
        count = 0
        while True:
            now = self.service.clock.now()
            due = leasing.claim_due(now) if leasing is not None else scheduler.pop_due(now)
            if not due:
                return count
            for i, message in enumerate(due):
                try:
                    self.service.deliver_timer(message)
                except BaseException:
                    # Like a queue that was not acknowledged: this and the undelivered messages come back.
                    if leasing is not None:
                        leasing.release([m.message_id for m in due[i:]])
                    else:
                        for undelivered in due[i:]:
                            scheduler.schedule(undelivered)
                    raise
                if leasing is not None:
                    leasing.ack([message.message_id])
                count += 1


def bootstrap(
    settings: Settings | None = None,
    *,
    orders: OrderRepository | None = None,
    outbox: Outbox | None = None,
    restaurants: RestaurantRepository | None = None,
    drivers: DriverRepository | None = None,
    sagas: SagaStateStore | None = None,
    unit_of_work: OrderUnitOfWork | None = None,
    publisher: EventPublisher | None = None,
    notifier: Notifier | None = None,
    payments: PaymentGateway | None = None,
    location: LocationStream | None = None,
    scheduler: Scheduler | None = None,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    counters: OperationCounters | None = None,
    pricing: PricingPolicy | None = None,
    promotions: Mapping[str, PromoCode] | None = None,
    retain: int | None = None,
    saga_engine: SagaEngine | None = None,
    saga_engine_timers: bool = False,
    publish_after_commit: bool = True,
) -> Bootstrapped:
    """Build the service. Anything not injected is an in-memory adapter (sharing one ``OperationCounters``).

    Args:
        settings: typed settings; defaults to :meth:`Settings.from_env`.
        orders: the order store; when ``outbox`` is None it must also implement :class:`Outbox`.
        outbox: the outbox, if separate from the order store.
        unit_of_work: reads and writes an order's partition (order, outbox, saga) as a unit; by default the order
            store's native one over ``sagas`` (``UnitOfWorkSource``: the in-memory and SQLite stores), else one
            composed of the two ports (``ComposedUnitOfWork``). A native one that can hold ``scheduler``'s timers
            holds them (``TimerUnitOfWork``: the SQLite stores and scheduler of one database): the saga runner
            then writes a step's timers in the step's commit.
        restaurants, drivers, sagas, publisher, notifier, payments, location, scheduler, clock, ids: adapters.
        counters: operation counters for the in-memory adapters (a new one, without metering, by default); also
            the meter the in-memory adapters and the saga runner record their billable operations on when it meters
            (``OperationCounters()``; the simulation's does).
        pricing: platform fees (defaults per currency).
        promotions: promo codes, keyed by code (case-insensitive).
        saga_engine: where order sagas are started and signalled (default: the in-process runner); e.g. a
            queue-driven or Step Functions engine from a cloud package.
        saga_engine_timers: the ``saga_engine`` still uses the in-process runner's timers and resume commands
            (a queue-driven engine); False for a workflow engine that keeps its own time (Step Functions).
        publish_after_commit: False where the order store's change stream publishes the outbox (DynamoDB
            Streams, the Cosmos DB change feed): callers then make no publish call after a commit.
        retain: keep only the last N published events/notifications/locations in memory (for very long
            simulations); None keeps all.

    Raises:
        TypeError: ``orders`` is not an outbox and no ``outbox`` was given.
    """
    settings = settings or Settings.from_env()
    # metering (sizing every item written) is for cost runs: pass OperationCounters() to meter
    counters = counters if counters is not None else OperationCounters(metering=False)
    clock = clock or SystemClock()
    ids = ids or UuidIdGenerator()
    # In-memory adapters are imported only for the ports not injected (a cloud entrypoint injects them all).
    from fooddelivery.adapters import memory

    orders = orders if orders is not None else memory.InMemoryOrderRepository(counters=counters)
    if outbox is None:
        if not isinstance(orders, Outbox):
            raise TypeError("the order repository is not an Outbox; pass outbox=...")
        outbox = orders
    restaurants = restaurants if restaurants is not None else memory.InMemoryRestaurantRepository(counters=counters)
    drivers = drivers if drivers is not None else memory.InMemoryDriverRepository(counters=counters)
    if sagas is None:  # sharing the in-memory order store's lock: their unit of work takes one lock, not two
        shared = orders.lock if isinstance(orders, memory.InMemoryOrderRepository) else None
        sagas = memory.InMemorySagaStateStore(counters=counters, lock=shared)
    publisher = publisher if publisher is not None else memory.InMemoryEventPublisher(counters=counters, retain=retain)
    notifier = notifier if notifier is not None else memory.InMemoryNotifier(counters=counters, retain=retain)
    payments = payments if payments is not None else memory.FakePaymentGateway(counters=counters)
    location = location if location is not None else memory.InMemoryLocationStream(counters=counters, retain=retain)
    scheduler = scheduler if scheduler is not None else memory.InMemoryScheduler(counters=counters)
    assignment = AssignmentPolicy(settings.driver_radius_km, settings.driver_candidates)
    # Observability (fooddelivery.observability.instrument): when telemetry is on now (an OpenTelemetry SDK provider,
    # or log lines with fields), each port that leaves the process is wrapped (a span per call) and so are the saga's
    # actions; otherwise nothing is: no cost. The adapters dict keeps the raw adapters either way.
    observe = instrument.active()
    traced_publisher = instrument.TracedPublisher(publisher, clock) if observe else publisher
    traced_payments = instrument.TracedPaymentGateway(payments) if observe else payments
    traced_notifier = instrument.TracedNotifier(notifier) if observe else notifier
    traced_scheduler = instrument.TracedScheduler(scheduler) if observe else scheduler
    traced_sagas = instrument.TracedSagaStore(sagas) if observe else sagas
    traced_drivers = instrument.TracedDriverRepository(drivers) if observe else drivers
    traced_restaurants = instrument.TracedRestaurantRepository(restaurants) if observe else restaurants
    # One write per publication where the outbox can append to the bus's log itself (PublishingOutbox: the SQLite
    # outbox and bus log of one database), asked of the raw adapters: the traced publisher is a wrapper it does not know
    publication = publication_for(outbox, publisher)
    relay = OutboxRelay(
        outbox,
        traced_publisher,
        publish_after_commit=publish_after_commit,
        publication=instrument.TracedPublication(publication, clock) if observe and publication else publication,
    )
    # (the raw scheduler: a SQLite unit of work holds the timers of the SQLite scheduler on its own database)
    unit = unit_of_work if unit_of_work is not None else unit_of_work_for(orders, sagas, scheduler)
    # The use cases, the runtime and the saga's steps read and write through the session: each caller publishes
    # what it committed, and a call's reads come from what it committed or read already. (The session stamps each
    # event it commits with the current trace context before the relay claims it.)
    session = OrderSession(
        instrument.TracedOrderRepository(orders) if observe else orders,
        relay,
        instrument.TracedUnitOfWork(unit) if observe else unit,
    )
    scoped_restaurants = ScopedRestaurants(traced_restaurants, session)
    steps = OrderSagaSteps(
        session, scoped_restaurants, traced_drivers, traced_payments, traced_notifier, clock, ids, assignment
    )
    runner = SagaRunner(
        build_order_saga(settings.confirmation_timeout_s),
        instrument.traced_actions(steps.actions()) if observe else steps.actions(),
        traced_sagas,
        traced_scheduler,
        clock,
        meter=meter_of(counters),  # the meter itself (one call a record), None when not metering
        unit=session,
    )
    if saga_engine is None and unit.atomic:
        # The placement creates the order's saga instance in its own write (one unit of work per command).
        # (in the trace of the placement: every step of the saga belongs to it)
        session.new_saga = lambda order_id: runner.new_instance(order_id, {"orderId": order_id, **trace_data()})
        session.on_created = runner.started
    runtime = OrderRuntime(
        engine=saga_engine if saga_engine is not None else runner,
        orders=session,
        drivers=traced_drivers,
        notifier=traced_notifier,
        runner=runner if saga_engine is None or saga_engine_timers else None,
    )
    service = FoodDeliveryService(
        orders=session,
        restaurants=scoped_restaurants,
        drivers=traced_drivers,
        sagas=traced_sagas,
        location=instrument.TracedLocationStream(location) if observe else location,
        runner=runner,
        steps=steps,
        relay=relay,
        runtime=runtime,
        clock=clock,
        ids=ids,
        pricing=pricing,
        promotions={k.upper(): v for k, v in (promotions or {}).items()},
        eta=EtaPolicy(average_speed_kmh=settings.average_speed_kmh),
        assignment=assignment,
    )
    relay.consumer = service.handle_events
    session.runtime_consumers.append(service.handle_events)
    watch_dead_letters(service)
    adapters: dict[str, Any] = {
        "orders": orders,
        "outbox": outbox,
        "restaurants": restaurants,
        "drivers": drivers,
        "sagas": sagas,
        "unit_of_work": unit,
        "publisher": publisher,
        "publication": publication,
        "notifier": notifier,
        "payments": payments,
        "location": location,
        "scheduler": scheduler,
        "clock": clock,
        "ids": ids,
    }
    return Bootstrapped(service=service, runner=runner, counters=counters, adapters=adapters)
