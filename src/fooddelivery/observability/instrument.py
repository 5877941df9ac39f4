"""The instrumentation composed by the composition root (``fooddelivery.bootstrap``): port wrappers, the saga's
actions, the use cases.

Each wrapper forwards to the adapter it wraps and adds a span per call that leaves the process, with the
semantic-convention attributes that apply. The composition root composes the wrappers only when an SDK tracer or
meter provider is in use (:func:`active`); without one nothing is wrapped, and the log lines' order id and saga
step are bound by the use cases, the runtime and the saga runner through the logging layer's context variable
(:mod:`~fooddelivery.observability.logs`). Cloud adapters are not edited: whatever ``bootstrap()`` is given is
wrapped there.

- :func:`committing` / :func:`committed` (called by the order session around each write): stamp the current trace
  context into every event it writes to the outbox (:data:`~fooddelivery.observability.tracing.TRACE_KEY`), and
  count orders placed/confirmed/failed/cancelled once the write is committed;
- :class:`TracedOrderRepository`, :class:`TracedUnitOfWork`, :class:`TracedDriverRepository`,
  :class:`TracedRestaurantRepository`: a ``CLIENT`` span per store call;
- :class:`TracedPublisher`: a ``PRODUCER`` span per publish (``messaging.*``) linking each event's trace, and the
  outbox lag;
- :class:`TracedPaymentGateway`, :class:`TracedNotifier`, :class:`TracedScheduler` (which stamps the trace context
  into each timer's body), :class:`TracedLocationStream`, :class:`TracedSagaStore`: a ``CLIENT`` span per call;
- :func:`traced_actions`: a span per saga step attempt (``fooddelivery.saga.step``), in the trace of the
  order's placement (:func:`~fooddelivery.observability.tracing.workflow_span`), with its duration and retries
  measured;
- :func:`traced_use_cases`: a span per use case (a class decorator).
"""

from __future__ import annotations

import functools
import inspect
import sys
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar, cast

from fooddelivery.domain.catalog import Driver, Restaurant
from fooddelivery.domain.events import DomainEvent
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.money import Money
from fooddelivery.domain.order import Order, OrderStatus
from fooddelivery.observability.logs import FIELDS, _bound, annotate, bind
from fooddelivery.observability.metrics import count_committed, instruments, metrics_off, record_outbox_lag, record_step
from fooddelivery.observability.tracing import (
    _NO_SPAN,
    TRACE_KEY,
    _providers,
    consumer_span,
    context_from,
    current_carrier,
    current_span_context,
    enabled,
    off,
    origin_carrier,
    span,
    workflow_span,
)
from fooddelivery.ports.clock import Clock
from fooddelivery.ports.drivers import DriverRepository
from fooddelivery.ports.messaging import EventPublisher, OutboxPublication
from fooddelivery.ports.notifications import Notification, Notifier
from fooddelivery.ports.orders import IdempotencyRecord, OrderRepository, Page
from fooddelivery.ports.payments import Charge, PaymentGateway, Refund
from fooddelivery.ports.restaurants import RestaurantQuery, RestaurantRepository
from fooddelivery.ports.saga_store import SagaState, SagaStateStore
from fooddelivery.ports.scheduler import ScheduledMessage, Scheduler
from fooddelivery.ports.unit_of_work import OrderUnitOfWork, TimerUnitOfWork

__all__ = [
    "TracedDriverRepository",
    "TracedLocationStream",
    "TracedNotifier",
    "TracedOrderRepository",
    "TracedPaymentGateway",
    "TracedPublication",
    "TracedPublisher",
    "TracedRestaurantRepository",
    "TracedSagaStore",
    "TracedScheduler",
    "TracedUnitOfWork",
    "active",
    "committed",
    "committing",
    "event_span",
    "placing",
    "publish_span",
    "stamp_events",
    "traced_actions",
    "traced_use_cases",
]

T = TypeVar("T")

_modules = sys.modules
_TRACE_API = "opentelemetry.trace"
_METRICS_API = "opentelemetry.metrics"
C = TypeVar("C", bound=type)
PortT = TypeVar("PortT")


def _adapter(inner: object) -> str:
    return type(inner).__name__


#: ``db.system.name`` (https://opentelemetry.io/docs/specs/semconv/attributes-registry/db/) of the stores whose
#: module names them; others (in memory, a store of an unknown kind) are left without it.
_DB_SYSTEMS: dict[str, str] = {"sqlite": "sqlite", "dynamodb": "aws.dynamodb", "cosmos": "azure.cosmosdb"}


def _db_system(inner: object) -> str | None:
    module = type(inner).__module__
    return next((system for marker, system in _DB_SYSTEMS.items() if marker in module), None)


def active() -> bool:
    """Whether the composition root should add the instrumentation: an SDK tracer or meter provider is in use.
    Otherwise the ports and the saga's actions run unwrapped: no cost at all; log lines still carry the order id
    and saga step, bound by the use cases, the runtime and the saga runner through context variables
    (:mod:`~fooddelivery.observability.logs`), not by these wrappers. (So configure telemetry before
    ``bootstrap()``, as every entrypoint does.)"""
    return enabled() or (not metrics_off() and instruments() is not None)


# -- events ---------------------------------------------------------------------------------------------------
def stamp_events(events: list[DomainEvent], origin: Any = None) -> None:
    """Put the current trace context into each event's payload (:data:`TRACE_KEY`), in place, unless it has one.

    With ``origin`` (a saga's trace context, for events a saga's steps recorded and its runner commits), the
    events get it instead when the current span belongs to another trace (the request that drove the step) or
    none is current. Nothing happens when nothing is traced.
    """
    if not events:
        return
    carrier = current_carrier()
    if context_from(origin) is not None and (
        carrier is None or str(origin.get("traceparent", "")).split("-")[1:2] != carrier["traceparent"].split("-")[1:2]
    ):
        carrier = {k: v for k, v in origin.items() if k in ("traceparent", "tracestate")}
    if carrier is None:
        return
    for i, event in enumerate(events):
        if TRACE_KEY not in event.payload:
            events[i] = replace(event, payload={**event.payload, TRACE_KEY: carrier})


def publish_span(operation: str, events: Sequence[DomainEvent], destination: str | None = None) -> Any:
    """A ``PRODUCER`` span around publishing ``events`` (one batch).

    Within a traced block it is that block's child; otherwise (a sweep, a change-stream relay in its own
    invocation) it continues the trace of the batch's first event. Each other trace of the batch is linked once.
    """
    if not events or not enabled():
        return span(operation)
    first = events[0]
    attributes = {
        "messaging.operation.type": "send",
        "messaging.operation.name": operation,
        "messaging.batch.message_count": len(events) if len(events) > 1 else None,
        "messaging.message.id": first.event_id if len(events) == 1 else None,
        "messaging.destination.name": destination,
        "fooddelivery.order_id": first.order_id if all(e.order_id == first.order_id for e in events) else None,
    }
    current = current_span_context()
    parent = None if current is not None else context_from(first.payload.get(TRACE_KEY))
    from opentelemetry.trace import get_current_span

    main = (
        current.trace_id
        if current is not None
        else (get_current_span(parent).get_span_context().trace_id if parent is not None else None)
    )
    links = []
    seen: set[int] = set()
    for event in events:
        origin = context_from(event.payload.get(TRACE_KEY))
        if origin is None:
            continue
        origin_span = get_current_span(origin).get_span_context()
        if origin_span.trace_id != main and origin_span.trace_id not in seen:
            seen.add(origin_span.trace_id)  # one link per other trace
            links.append(origin_span)
    name = f"{operation} {first.type.value}" if len(events) == 1 else operation
    return span(name, kind="PRODUCER", attributes=attributes, parent=parent, links=links)


def event_span(event: DomainEvent) -> Any:
    """A ``CONSUMER`` span for the runtime's handling of ``event`` (see
    :func:`~fooddelivery.observability.tracing.consumer_span`), with the order id bound to log lines."""
    if (_providers.tracer_provider is None and _TRACE_API not in _modules) or not enabled():
        return _order_fields(event.order_id) if FIELDS.on else _NO_SPAN
    return _Both(
        consumer_span(
            f"process {event.type.value}",
            event.payload.get(TRACE_KEY),
            attributes={
                "messaging.operation.type": "process",
                "messaging.message.id": event.event_id,
                "fooddelivery.event.type": event.type.value,
                "fooddelivery.order_id": event.order_id,
            },
        ),
        bind(order_id=event.order_id),
    )


def timer_span(message: ScheduledMessage) -> Any:
    """A ``CONSUMER`` span for the delivery of a saga timer (continuing the trace that set it), with the order id
    bound to log lines."""
    order_id = str(message.body.get("sagaId") or "") or None
    if (_providers.tracer_provider is None and _TRACE_API not in _modules) or not enabled():
        return _order_fields(order_id) if FIELDS.on else _NO_SPAN
    return _Both(
        consumer_span(
            f"timer {message.kind}",
            message.body.get(TRACE_KEY),
            attributes={
                "messaging.operation.type": "process",
                "messaging.message.id": message.message_id,
                "fooddelivery.order_id": order_id,
                "fooddelivery.saga.step": message.body.get("step") or message.body.get("state"),
            },
        ),
        bind(order_id=order_id),
    )


def _order_fields(order_id: str | None) -> Any:
    """Bind ``order_id`` to the log lines of a block, unless log lines carry no fields or it is bound already (an
    event handled in process, inside the use case that committed it): then nothing is done."""
    if not FIELDS.on or order_id is None:
        return _NO_SPAN
    current = _bound.get()
    if "order_id" in current and current["order_id"] == order_id:
        return _NO_SPAN
    return bind(order_id=order_id)


class _Both:
    """Two context managers entered in order and left in reverse."""

    __slots__ = ("_first", "_second")

    def __init__(self, first: Any, second: Any) -> None:
        self._first = first
        self._second = second

    def __enter__(self) -> Any:
        entered = self._first.__enter__()
        try:
            self._second.__enter__()
        except BaseException:
            self._first.__exit__(None, None, None)
            raise
        return entered

    def __exit__(self, *exc: Any) -> bool:
        try:
            self._second.__exit__(*exc)
        finally:
            suppressed = bool(self._first.__exit__(*exc))
        return suppressed


# -- the order store -------------------------------------------------------------------------------------------
def committing(order: Order | None, saga: SagaState | None = None) -> list[DomainEvent]:
    """Before an order's write: stamp its pending events with the trace context (what the relay then claims and
    the store keeps) -- the current span's, or the saga's own trace when ``saga`` (committed with the order) has
    one and the current span is elsewhere; returns the events, for :func:`committed` once the write succeeded."""
    if order is None:
        return []
    if _providers.tracer_provider is not None or _TRACE_API in _modules:
        stamp_events(order.pending_events, saga.data.get(TRACE_KEY) if saga is not None else None)
    return list(order.pending_events)


def committed(events: list[DomainEvent]) -> None:
    """After a successful write: count the orders placed, confirmed, failed and cancelled by its events."""
    if events and (_providers.meter_provider is not None or _METRICS_API in _modules):
        count_committed(events)


def placing(order: Order) -> None:
    """A new order is about to be written: its id goes to the log lines of the caller's block and to the current
    span (the use case's)."""
    if FIELDS.on:
        annotate(order_id=order.order_id)
    if (_providers.tracer_provider is not None or _TRACE_API in _modules) and current_span_context() is not None:
        from opentelemetry.trace import get_current_span

        get_current_span().set_attribute("fooddelivery.order_id", order.order_id)


class _Wrapper(Generic[PortT]):
    """What every port wrapper shares: the adapter it wraps (``inner``), that adapter's class name (the
    ``fooddelivery.adapter`` attribute of its spans), and whatever the adapter offers beyond the port, forwarded."""

    def __init__(self, inner: PortT) -> None:
        self.inner = inner
        self._adapter = _adapter(inner)

    def __getattr__(self, name: str) -> Any:
        # what the wrapped adapter offers beyond the port (an outbox, a native unit of work...)
        return getattr(self.inner, name)


class _TracedStore(_Wrapper[PortT]):
    """A store's wrapper: a ``CLIENT`` span per call, named ``<_prefix>.<operation>``, with ``db.system.name`` (when
    the store's module names it), ``db.operation.name``, ``db.collection.name`` (``_collection``, when set),
    ``fooddelivery.adapter`` and the record's id as ``_id_attribute``."""

    #: The span name's prefix.
    _prefix: ClassVar[str]
    #: ``db.collection.name``, or None: left out.
    _collection: ClassVar[str | None]
    #: The attribute that carries the id of the record a call is about.
    _id_attribute: ClassVar[str]

    def __init__(self, inner: PortT) -> None:
        super().__init__(inner)
        self._db = _db_system(inner)

    def _span(self, operation: str, record_id: str | None) -> Any:
        return span(
            f"{self._prefix}.{operation}",
            kind="CLIENT",
            attributes={
                "db.system.name": self._db,
                "db.operation.name": operation,
                "db.collection.name": self._collection,
                "fooddelivery.adapter": self._adapter,
                self._id_attribute: record_id,
            },
        )


class TracedOrderRepository(_TracedStore[OrderRepository]):
    """The order store: a ``CLIENT`` span per call (``db.operation.name``, ``fooddelivery.order_id``).

    Args:
        inner: the store.
    """

    _prefix = _collection = "orders"
    _id_attribute = "fooddelivery.order_id"

    def add(self, order: Order, idempotency: IdempotencyRecord | None = None) -> None:
        """``OrderRepository.add``."""
        if off():
            self.inner.add(order, idempotency)
            return
        with self._span("add", order.order_id):
            self.inner.add(order, idempotency)

    def save(self, order: Order) -> None:
        """``OrderRepository.save``."""
        if off():
            self.inner.save(order)
            return
        with self._span("save", order.order_id):
            self.inner.save(order)

    def get(self, order_id: str) -> Order:
        """``OrderRepository.get``."""
        if off():
            return self.inner.get(order_id)
        with self._span("get", order_id):
            return self.inner.get(order_id)

    def find_idempotent(self, scope: str, key: str) -> IdempotencyRecord | None:
        """``OrderRepository.find_idempotent``."""
        if off():
            return self.inner.find_idempotent(scope, key)
        with self._span("find_idempotent", None):
            return self.inner.find_idempotent(scope, key)

    def list_by_customer(self, customer_id: str, limit: int = 20, cursor: str | None = None) -> Page[Order]:
        """``OrderRepository.list_by_customer``."""
        if off():
            return self.inner.list_by_customer(customer_id, limit, cursor)
        with self._span("list_by_customer", None):
            return self.inner.list_by_customer(customer_id, limit, cursor)

    def list_by_restaurant(
        self,
        restaurant_id: str,
        status: OrderStatus | None = None,
        limit: int = 20,
        cursor: str | None = None,
        *,
        newest_first: bool = False,
    ) -> Page[Order]:
        """``OrderRepository.list_by_restaurant``."""
        if off():
            return self.inner.list_by_restaurant(restaurant_id, status, limit, cursor, newest_first=newest_first)
        with self._span("list_by_restaurant", None):
            return self.inner.list_by_restaurant(restaurant_id, status, limit, cursor, newest_first=newest_first)


class TracedUnitOfWork(_TracedStore[OrderUnitOfWork]):
    """The order's unit of work (order, outbox, saga in one write): a ``CLIENT`` span per load and commit.

    Args:
        inner: the unit of work.
    """

    _prefix = "unit_of_work"
    _collection = None
    _id_attribute = "fooddelivery.order_id"

    def __init__(self, inner: OrderUnitOfWork) -> None:
        super().__init__(inner)
        self.atomic = inner.atomic
        #: the inner unit's timers (``TimerUnitOfWork``), or None
        self.timers: Scheduler | None = getattr(inner, "timers", None)

    def with_timers(self, scheduler: Scheduler) -> TracedUnitOfWork | None:
        """``TimerUnitOfWork.with_timers`` of the inner unit, traced; None when it has none or cannot."""
        with_timers = getattr(self.inner, "with_timers", None)
        held = with_timers(scheduler) if with_timers is not None else None
        return TracedUnitOfWork(held) if held is not None else None

    def load(self, order_id: str) -> tuple[Order, SagaState | None]:
        """``OrderUnitOfWork.load``."""
        if off():
            return self.inner.load(order_id)
        with self._span("load", order_id):
            return self.inner.load(order_id)

    def commit(
        self,
        saga: SagaState | None,
        order: Order | None = None,
        *,
        create_saga: bool = False,
        idempotency: IdempotencyRecord | None = None,
        schedule: ScheduledMessage | None = None,
        cancel: str | None = None,
    ) -> None:
        """``OrderUnitOfWork.commit`` (``TimerUnitOfWork.commit`` with ``schedule`` / ``cancel``: the span carries
        their ids, ``fooddelivery.timer.scheduled`` / ``fooddelivery.timer.cancelled``, and the scheduled message's
        body the current trace context, as :class:`TracedScheduler` does)."""
        if off():
            self._commit(saga, order, create_saga, idempotency, schedule, cancel)
            return
        order_id = order.order_id if order is not None else saga.saga_id if saga is not None else None
        with self._span("commit", order_id) as current:
            if current is not None:  # the timers written with it (``TimerUnitOfWork``), by message id
                if schedule is not None:
                    current.set_attribute("fooddelivery.timer.scheduled", schedule.message_id)
                if cancel is not None:
                    current.set_attribute("fooddelivery.timer.cancelled", cancel)
            if schedule is not None:
                carrier = current_carrier()
                if carrier is not None and TRACE_KEY not in schedule.body:
                    schedule = replace(schedule, body={**schedule.body, TRACE_KEY: carrier})
            self._commit(saga, order, create_saga, idempotency, schedule, cancel)

    def _commit(
        self,
        saga: SagaState | None,
        order: Order | None,
        create_saga: bool,
        idempotency: IdempotencyRecord | None,
        schedule: ScheduledMessage | None,
        cancel: str | None,
    ) -> None:
        if schedule is None and cancel is None:  # a unit without timers is called as the port says
            self.inner.commit(saga, order, create_saga=create_saga, idempotency=idempotency)
        else:
            cast(TimerUnitOfWork, self.inner).commit(
                saga, order, create_saga=create_saga, idempotency=idempotency, schedule=schedule, cancel=cancel
            )


class TracedDriverRepository(_TracedStore[DriverRepository]):
    """The driver store: a ``CLIENT`` span per call (``db.operation.name``, ``db.collection.name`` ``drivers``,
    ``db.system.name`` when known, ``fooddelivery.driver_id``).

    Args:
        inner: the store.
    """

    _prefix = _collection = "drivers"
    _id_attribute = "fooddelivery.driver_id"

    def add(self, driver: Driver) -> Driver:
        """``DriverRepository.add``."""
        if off():
            return self.inner.add(driver)
        with self._span("add", driver.driver_id):
            return self.inner.add(driver)

    def get(self, driver_id: str) -> Driver:
        """``DriverRepository.get``."""
        if off():
            return self.inner.get(driver_id)
        with self._span("get", driver_id):
            return self.inner.get(driver_id)

    def save(self, driver: Driver) -> Driver:
        """``DriverRepository.save``."""
        if off():
            return self.inner.save(driver)
        with self._span("save", driver.driver_id):
            return self.inner.save(driver)

    def available_near(self, point: GeoPoint, radius_km: float, limit: int) -> Sequence[Driver]:
        """``DriverRepository.available_near``."""
        if off():
            return self.inner.available_near(point, radius_km, limit)
        with self._span("available_near", None) as current:
            found = self.inner.available_near(point, radius_km, limit)
            if current is not None:
                current.set_attribute("db.response.returned_rows", len(found))
            return found


class TracedRestaurantRepository(_TracedStore[RestaurantRepository]):
    """The restaurant store: a ``CLIENT`` span per call (``db.operation.name``, ``db.collection.name``
    ``restaurants``, ``db.system.name`` when known, ``fooddelivery.restaurant_id``).

    Args:
        inner: the store.
    """

    _prefix = _collection = "restaurants"
    _id_attribute = "fooddelivery.restaurant_id"

    def add(self, restaurant: Restaurant) -> Restaurant:
        """``RestaurantRepository.add``."""
        if off():
            return self.inner.add(restaurant)
        with self._span("add", restaurant.restaurant_id):
            return self.inner.add(restaurant)

    def save(self, restaurant: Restaurant) -> Restaurant:
        """``RestaurantRepository.save``."""
        if off():
            return self.inner.save(restaurant)
        with self._span("save", restaurant.restaurant_id):
            return self.inner.save(restaurant)

    def get(self, restaurant_id: str) -> Restaurant:
        """``RestaurantRepository.get``."""
        if off():
            return self.inner.get(restaurant_id)
        with self._span("get", restaurant_id):
            return self.inner.get(restaurant_id)

    def search(self, query: RestaurantQuery) -> Page[Restaurant]:
        """``RestaurantRepository.search``."""
        if off():
            return self.inner.search(query)
        with self._span("search", None) as current:
            page = self.inner.search(query)
            if current is not None:
                current.set_attribute("db.response.returned_rows", len(page.items))
            return page


# -- ports that leave the process ------------------------------------------------------------------------------
class TracedPublisher(_Wrapper[EventPublisher]):
    """The event bus: a ``PRODUCER`` span per publish call, and the outbox lag of every event it accepted.

    Args:
        inner: the bus adapter.
        clock: the composition's clock (the lag is measured on it: virtual time in a simulation).
    """

    def __init__(self, inner: EventPublisher, clock: Clock) -> None:
        super().__init__(inner)
        self.clock = clock

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """``EventPublisher.publish``."""
        if off():
            self.inner.publish(events)
        else:
            with publish_span("publish", events, self._adapter):
                self.inner.publish(events)
        if not metrics_off():
            record_outbox_lag(events, self.clock.now(), "publish")


class TracedPublication(_Wrapper[OutboxPublication]):
    """The outbox's publication to the bus in one write (``OutboxPublication``): the ``PRODUCER`` span and the outbox
    lag :class:`TracedPublisher` records for a publish call, per call (the span names the bus adapter, as
    :class:`TracedPublisher`'s does); the lag of the events appended only.

    Args:
        inner: the publication.
        clock: the composition's clock (the lag is measured on it).
    """

    def __init__(self, inner: OutboxPublication, clock: Clock) -> None:
        super().__init__(inner)
        self.clock = clock
        self.publisher = inner.publisher
        self._bus = _adapter(inner.publisher)

    def publish_and_mark(
        self,
        events: Sequence[DomainEvent],
        unhandled: Collection[str] = (),
        handed: Mapping[str, DomainEvent] | None = None,
    ) -> list[str]:
        """``OutboxPublication.publish_and_mark``."""
        if off():
            appended = self.inner.publish_and_mark(events, unhandled, handed)
        else:
            with publish_span("publish", events, self._bus):
                appended = self.inner.publish_and_mark(events, unhandled, handed)
        if appended and not metrics_off():
            ours = {e.event_id: e for e in events}
            gone = [ours.get(i) or (handed.get(i) if handed is not None else None) for i in appended]
            record_outbox_lag([e for e in gone if e is not None], self.clock.now(), "publish")
        return appended


def _client_span(port: str, operation: str, adapter: str, **attributes: Any) -> Any:
    return span(
        f"{port}.{operation}",
        kind="CLIENT",
        attributes={"fooddelivery.port": port, "fooddelivery.adapter": adapter, **attributes},
    )


class TracedPaymentGateway(_Wrapper[PaymentGateway]):
    """The card processor: a ``CLIENT`` span per call (``fooddelivery.payment.amount`` in minor units as text)."""

    def authorize(self, payment_method: str, amount: Money, idempotency_key: str) -> Charge:
        """``PaymentGateway.authorize``."""
        if off():
            return self.inner.authorize(payment_method, amount, idempotency_key)
        with _client_span("payments", "authorize", self._adapter, **{"fooddelivery.currency": amount.currency}):
            return self.inner.authorize(payment_method, amount, idempotency_key)

    def capture(self, charge_id: str, amount: Money, idempotency_key: str) -> Charge:
        """``PaymentGateway.capture``."""
        if off():
            return self.inner.capture(charge_id, amount, idempotency_key)
        with _client_span("payments", "capture", self._adapter, **{"fooddelivery.currency": amount.currency}):
            return self.inner.capture(charge_id, amount, idempotency_key)

    def refund(self, charge_id: str, amount: Money, idempotency_key: str) -> Refund:
        """``PaymentGateway.refund``."""
        if off():
            return self.inner.refund(charge_id, amount, idempotency_key)
        with _client_span("payments", "refund", self._adapter, **{"fooddelivery.currency": amount.currency}):
            return self.inner.refund(charge_id, amount, idempotency_key)


class TracedNotifier(_Wrapper[Notifier]):
    """The notification channel: a ``CLIENT`` span per notification sent."""

    def send(self, notification: Notification) -> None:
        """``Notifier.send``."""
        if off():
            self.inner.send(notification)
            return
        with _client_span(
            "notifier",
            "send",
            self._adapter,
            **{"fooddelivery.order_id": notification.order_id, "fooddelivery.notification": notification.template},
        ):
            self.inner.send(notification)


class TracedScheduler(_Wrapper[Scheduler]):
    """The timer service: a ``CLIENT`` span per call; each scheduled message's body carries the current trace
    context (:data:`TRACE_KEY`), so its delivery continues the trace."""

    def schedule(self, message: ScheduledMessage) -> None:
        """``Scheduler.schedule``."""
        if off():
            self.inner.schedule(message)
            return
        with _client_span(
            "scheduler",
            "schedule",
            self._adapter,
            **{"messaging.message.id": message.message_id, "fooddelivery.order_id": message.body.get("sagaId")},
        ):
            carrier = current_carrier()
            if carrier is not None and TRACE_KEY not in message.body:
                message = replace(message, body={**message.body, TRACE_KEY: carrier})
            self.inner.schedule(message)

    def cancel(self, message_id: str) -> bool:
        """``Scheduler.cancel``."""
        if off():
            return self.inner.cancel(message_id)
        with _client_span("scheduler", "cancel", self._adapter, **{"messaging.message.id": message_id}):
            return self.inner.cancel(message_id)


class TracedLocationStream(_Wrapper[Any]):
    """The location stream: a ``PRODUCER`` span per position appended."""

    def append(self, event: DomainEvent, partition_key: str) -> None:
        """``LocationStream.append``."""
        if off():
            self.inner.append(event, partition_key)
            return
        with span(
            "location.append",
            kind="PRODUCER",
            attributes={"fooddelivery.adapter": self._adapter, "fooddelivery.order_id": event.order_id},
        ):
            self.inner.append(event, partition_key)


class TracedSagaStore(_TracedStore[SagaStateStore]):
    """The saga state store: a ``CLIENT`` span per call."""

    _prefix = _collection = "sagas"
    _id_attribute = "fooddelivery.order_id"

    def create(self, state: SagaState) -> None:
        """``SagaStateStore.create``."""
        if off():
            return self.inner.create(state)
        with self._span("create", state.saga_id):
            self.inner.create(state)

    def get(self, saga_id: str) -> SagaState:
        """``SagaStateStore.get``."""
        if off():
            return self.inner.get(saga_id)
        with self._span("get", saga_id):
            return self.inner.get(saga_id)

    def save(self, state: SagaState) -> None:
        """``SagaStateStore.save``."""
        if off():
            return self.inner.save(state)
        with self._span("save", state.saga_id):
            self.inner.save(state)


# -- the saga's steps -------------------------------------------------------------------------------------------
def traced_actions(actions: Mapping[str, Callable[[Any], Mapping[str, Any] | None]]) -> dict[str, Any]:
    """The saga's actions, each run in a span named ``saga <step>`` in the trace of the saga's origin.

    The first step to run under a traced span records that trace context in the saga data
    (:data:`TRACE_KEY`, merged with the step's output); every step's duration and retries are measured
    (:func:`~fooddelivery.observability.metrics.record_step`), traced or not only when an SDK is in use.
    """
    return {key: _traced_action(key, action) for key, action in actions.items()}


def _traced_action(key: str, action: Callable[[Any], Mapping[str, Any] | None]) -> Any:
    @functools.wraps(action)
    def run(context: Any) -> Mapping[str, Any] | None:
        # (the log lines' order id and step are bound by the saga runner around every action)
        if off() or not enabled():
            started = time.perf_counter()
            try:
                out = action(context)
            except BaseException as exc:
                record_step(context.step, time.perf_counter() - started, context.attempt, exc)
                raise
            record_step(context.step, time.perf_counter() - started, context.attempt, None)
            return out
        origin = context.data.get(TRACE_KEY)
        new_origin = origin_carrier() if origin is None else None
        attributes = {
            "fooddelivery.order_id": context.saga_id,
            "fooddelivery.saga.step": context.step,
            "fooddelivery.saga.action": key,
            "fooddelivery.saga.attempt": context.attempt,
        }
        with workflow_span(f"saga {context.step}", origin, attributes=attributes):
            started = time.perf_counter()
            try:
                out = action(context)
            except BaseException as exc:
                record_step(context.step, time.perf_counter() - started, context.attempt, exc)
                raise
            record_step(context.step, time.perf_counter() - started, context.attempt, None)
        if new_origin is not None:
            return {**(out or {}), TRACE_KEY: new_origin}
        return out

    return run


# -- use cases --------------------------------------------------------------------------------------------------
def traced_use_cases(*names: str) -> Callable[[C], C]:
    """A class decorator: each named method runs in a span ``use_case <name>`` (``fooddelivery.use_case``; the
    ``order_id`` argument, when it has one, as ``fooddelivery.order_id``), and binds the order id to log lines."""

    def decorate(cls: C) -> C:
        for name in names:
            method = getattr(cls, name)
            with_tracing = getattr(method, "with_tracing", None)
            if with_tracing is not None and hasattr(method, "__wrapped__"):
                # a use case (fooddelivery.application._base.use_case): its own wrapper calls the traced method
                # when telemetry is configured, and the method itself when not (one wrapper per call, not two)
                setattr(cls, name, with_tracing(_traced_method(name, method.__wrapped__)))
            else:
                setattr(cls, name, _traced_method(name, method))
        return cls

    return decorate


def _traced_method(name: str, method: Callable[..., T]) -> Callable[..., T]:
    parameters = list(inspect.signature(method).parameters)
    index = parameters.index("order_id") if "order_id" in parameters else None
    span_name = f"use_case {name}"

    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> T:
        if not FIELDS.on and ((_providers.tracer_provider is None and _TRACE_API not in _modules) or not enabled()):
            return method(*args, **kwargs)  # no span, no log fields: nothing to look up (every use case passes here)
        order_id = kwargs.get("order_id") if kwargs else None
        if order_id is None and index is not None and index < len(args):
            order_id = args[index]
        if (_providers.tracer_provider is None and _TRACE_API not in _modules) or not enabled():
            # the log lines' order id for the block (a new block even without one: placing() adds the new order's)
            token = _bound.set({**_bound.get()} if order_id is None else {**_bound.get(), "order_id": str(order_id)})
            try:
                return method(*args, **kwargs)
            finally:
                _bound.reset(token)
        with (
            span(
                span_name,
                attributes={"fooddelivery.use_case": name, "fooddelivery.order_id": order_id},
            ) as current,
            bind(order_id=None if order_id is None else str(order_id)),
        ):
            result = method(*args, **kwargs)
            produced = _order_id_of(result)
            if produced is not None and current is not None:
                current.set_attribute("fooddelivery.order_id", produced)
            return result

    return run


def _order_id_of(result: Any) -> str | None:
    order = getattr(result, "order", result)
    order_id = getattr(order, "order_id", None)
    return order_id if isinstance(order_id, str) else None


def now_utc() -> datetime:
    """The wall-clock time (UTC), for lag measured outside a composition (a change-stream relay)."""
    return datetime.now(UTC)
