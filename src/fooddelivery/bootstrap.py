"""The composition root: builds the service from settings, using what was injected and in-memory adapters
for the rest.

Every process (the CLI, a server, each cloud entrypoint) calls :func:`bootstrap` once and caches the result;
nothing connects to anything at import time.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, TypeVar, runtime_checkable

from fooddelivery.domain._lazy import lazy_names
from fooddelivery.domain.errors import ValidationError

if TYPE_CHECKING:
    from fooddelivery.adapters.counters import OperationCounters
    from fooddelivery.application.saga.runner import SagaRunner
    from fooddelivery.application.services import FoodDeliveryService
    from fooddelivery.domain.pricing import PricingPolicy, PromoCode
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

# What this module builds with is imported by :func:`bootstrap` when it runs, not with the module: a process that
# reads :class:`Settings` or holds a :class:`ProcessApp` (a cloud entrypoint answering ``GET /health``) never loads
# the use cases, the saga or the adapters. The names it used to import at module level stay importable from it
# (PEP 562 ``__getattr__`` below).
_DEFERRED: Final[Mapping[str, str]] = {
    "OperationCounters": "fooddelivery.adapters.counters",
    "SystemClock": "fooddelivery.adapters.system",
    "UuidIdGenerator": "fooddelivery.adapters.system",
    "OrderSagaSteps": "fooddelivery.application.order_saga",
    "build_order_saga": "fooddelivery.application.order_saga",
    "OutboxRelay": "fooddelivery.application.relay",
    "OrderRuntime": "fooddelivery.application.runtime",
    "SagaRunner": "fooddelivery.application.saga.runner",
    "FoodDeliveryService": "fooddelivery.application.services",
    "OrderSession": "fooddelivery.application.unit_of_work",
    "ScopedRestaurants": "fooddelivery.application.unit_of_work",
    "unit_of_work_for": "fooddelivery.application.unit_of_work",
    "AssignmentPolicy": "fooddelivery.domain.assignment",
    "PricingPolicy": "fooddelivery.domain.pricing",
    "PromoCode": "fooddelivery.domain.pricing",
    "EtaPolicy": "fooddelivery.domain.tracking",
    "instrument": "fooddelivery.observability.instrument",  # the module itself
    "watch_dead_letters": "fooddelivery.observability.metrics",
    "trace_data": "fooddelivery.observability.tracing",
    "Clock": "fooddelivery.ports",
    "DriverRepository": "fooddelivery.ports",
    "EventPublisher": "fooddelivery.ports",
    "IdGenerator": "fooddelivery.ports",
    "LocationStream": "fooddelivery.ports",
    "Notifier": "fooddelivery.ports",
    "OrderRepository": "fooddelivery.ports",
    "Outbox": "fooddelivery.ports",
    "PaymentGateway": "fooddelivery.ports",
    "RestaurantRepository": "fooddelivery.ports",
    "SagaEngine": "fooddelivery.ports",
    "SagaStateStore": "fooddelivery.ports",
    "ScheduledMessage": "fooddelivery.ports",
    "Scheduler": "fooddelivery.ports",
    "OrderUnitOfWork": "fooddelivery.ports.unit_of_work",
}


__getattr__, __dir__ = lazy_names(globals(), _DEFERRED)


__all__ = ["Bootstrapped", "ProcessApp", "SettingDoc", "Settings", "bootstrap"]

#: Longest confirmation timeout accepted (s): a year. Its timer must stay schedulable (``datetime`` ends in 9999).
MAX_CONFIRMATION_TIMEOUT_S: Final[float] = 366 * 24 * 3600.0


def _check_setting(name: str, value: float, maximum: float | None = None) -> None:
    """Require a finite positive number (at most ``maximum``).

    Raises:
        ValidationError: naming ``name``.
    """
    if not math.isfinite(value) or not value > 0:
        raise ValidationError.single(name, f"must be a finite positive number, got {value!r}", "out_of_range")
    if maximum is not None and value > maximum:
        raise ValidationError.single(name, f"must be at most {maximum:g}", "out_of_range")


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


def _setting(default: Any, variable: str, doc: str) -> Any:
    """A :class:`Settings` field read from ``variable``; ``doc`` is what the README's settings table says."""
    return field(default=default, metadata={"env": variable, "doc": doc})


@dataclass(frozen=True, slots=True)
class SettingDoc:
    """One environment variable, as the README documents it (:meth:`Settings.documented`).

    Attributes:
        variable: the environment variable (``FOODDELIVERY_...``).
        kind: ``"number"``, ``"integer"`` or ``"text"``.
        default: the default as text.
        doc: what it sets, with its rules.
    """

    variable: str
    kind: str
    default: str
    doc: str


@dataclass(frozen=True, slots=True)
class Settings:
    """Typed settings, read from the environment in one place (:meth:`from_env`).

    Each field's metadata names its variable and says what it sets (:meth:`documented`): the README's table of
    ``FOODDELIVERY_*`` variables is generated from it.

    Attributes:
        confirmation_timeout_s: how long a restaurant has to confirm (``FOODDELIVERY_CONFIRMATION_TIMEOUT_S``,
            default 300, as in the reference workflow).
        driver_radius_km: driver search radius (``FOODDELIVERY_DRIVER_RADIUS_KM``, default 8).
        driver_candidates: drivers tried per assignment (``FOODDELIVERY_DRIVER_CANDIDATES``, default 5).
        average_speed_kmh: courier speed for ETAs (``FOODDELIVERY_AVERAGE_SPEED_KMH``, default 25).
    """

    confirmation_timeout_s: float = _setting(
        300.0,
        "FOODDELIVERY_CONFIRMATION_TIMEOUT_S",
        "Seconds a restaurant has to confirm an order before it fails (`restaurant_timeout`) with a refund; "
        "positive, at most a year (the reference workflow's 300 s).",
    )
    driver_radius_km: float = _setting(
        8.0, "FOODDELIVERY_DRIVER_RADIUS_KM", "How far from the restaurant a driver is searched for, km; positive."
    )
    driver_candidates: int = _setting(
        5,
        "FOODDELIVERY_DRIVER_CANDIDATES",
        "How many of the nearest available drivers an assignment tries to reserve, in order; positive.",
    )
    average_speed_kmh: float = _setting(
        25.0, "FOODDELIVERY_AVERAGE_SPEED_KMH", "Courier speed used for delivery ETAs, km/h; positive."
    )

    def __post_init__(self) -> None:
        """Refuse what no saga could run with (an infinite radius, a timeout no timer can be set to...).

        Raises:
            ValidationError: naming the field.
        """
        _check_setting("confirmation_timeout_s", self.confirmation_timeout_s, MAX_CONFIRMATION_TIMEOUT_S)
        _check_setting("driver_radius_km", self.driver_radius_km)
        _check_setting("driver_candidates", self.driver_candidates)
        _check_setting("average_speed_kmh", self.average_speed_kmh)

    @classmethod
    def documented(cls) -> list[SettingDoc]:
        """Every variable :meth:`from_env` reads, with its kind, default and description, in field order."""
        docs = []
        for f in fields(cls):
            kind = {"float": "number", "int": "integer"}.get(str(f.type), "text")
            docs.append(SettingDoc(f.metadata["env"], kind, f"{f.default:g}", f.metadata["doc"]))
        return docs

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``FOODDELIVERY_*`` variables; absent ones keep their defaults.

        Raises:
            ValidationError: a variable that is not a finite positive number, or a confirmation timeout over
                :data:`MAX_CONFIRMATION_TIMEOUT_S` (naming the variable).
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            var = f.metadata["env"]
            kind = int if str(f.type) == "int" else float
            raw = env.get(var)
            if raw is None:
                continue
            try:
                value = kind(raw)
            except ValueError:
                raise ValidationError.single(var, f"must be a number, got {raw!r}", "type") from None
            if not value > 0:
                raise ValidationError.single(var, "must be positive", "out_of_range")
            _check_setting(var, value, MAX_CONFIRMATION_TIMEOUT_S if f.name == "confirmation_timeout_s" else None)
            values[f.name] = value
        return cls(**values)


@dataclass
class Bootstrapped:
    """What :func:`bootstrap` built: the service plus every adapter, for entrypoints and tests.

    Attributes:
        service: the use cases.
        runner: the order saga runner.
        counters: operation counters shared by the in-memory adapters (None when all were injected).
        adapters: every port's adapter by port name (``"orders"``, ``"publisher"``, ``"payments"``...).
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
            composed of the two ports (``ComposedUnitOfWork``).
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
    from fooddelivery.adapters.counters import OperationCounters, meter_of
    from fooddelivery.adapters.system import SystemClock, UuidIdGenerator
    from fooddelivery.application.order_saga import OrderSagaSteps, build_order_saga
    from fooddelivery.application.relay import OutboxRelay
    from fooddelivery.application.runtime import OrderRuntime
    from fooddelivery.application.saga.runner import SagaRunner
    from fooddelivery.application.services import FoodDeliveryService
    from fooddelivery.application.unit_of_work import OrderSession, ScopedRestaurants, unit_of_work_for
    from fooddelivery.domain.assignment import AssignmentPolicy
    from fooddelivery.domain.tracking import EtaPolicy
    from fooddelivery.observability import instrument
    from fooddelivery.observability.metrics import watch_dead_letters
    from fooddelivery.observability.tracing import trace_data
    from fooddelivery.ports import Outbox

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
    relay = OutboxRelay(outbox, traced_publisher, publish_after_commit=publish_after_commit)
    unit = unit_of_work if unit_of_work is not None else unit_of_work_for(orders, sagas)
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
        "notifier": notifier,
        "payments": payments,
        "location": location,
        "scheduler": scheduler,
        "clock": clock,
        "ids": ids,
    }
    return Bootstrapped(service=service, runner=runner, counters=counters, adapters=adapters)


AppT = TypeVar("AppT")


class ProcessApp(Generic[AppT]):
    """The one application of a process (a Lambda execution environment, a Functions host, a Cloud Functions
    instance): set up and built on first use, then cached.

    The first :meth:`get` configures the process's log lines (``FOODDELIVERY_LOG_FORMAT``) and OpenTelemetry
    (``OTEL_*``) -- the one set-up of every entrypoint, :func:`fooddelivery.observability.setup.configure` --
    then calls ``build``, under a lock so that concurrent first calls build once. A cloud package holds one::

        _APP = ProcessApp("fooddelivery-aws", build_aws_app)

    Args:
        service_name: the telemetry's ``service.name`` (``"fooddelivery-aws"``...).
        build: builds the application from the environment; may raise (then nothing is cached and the next
            :meth:`get` tries again).
    """

    def __init__(self, service_name: str, build: Callable[[], AppT]) -> None:
        self._service_name = service_name
        self._build = build
        self._app: AppT | None = None
        self._lock = threading.Lock()

    def get(self) -> AppT:
        """The application: built (after the process's set-up) on the first call, then the cached one.

        Raises:
            ValidationError: a missing or invalid setting (named), or whatever ``build`` raises; the next call
                tries again.
        """
        app = self._app
        if app is None:
            with self._lock:
                if self._app is None:
                    from fooddelivery.observability.setup import configure

                    configure(self._service_name, platform=True)
                    self._app = self._build()
                app = self._app
        return app

    def reset(self, app: AppT | None = None) -> None:
        """Forget the cached application, or install ``app`` as it (tests; a new configuration)."""
        with self._lock:
            self._app = app
