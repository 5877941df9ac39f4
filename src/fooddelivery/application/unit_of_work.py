"""The application's unit of work: one read and one write per order step, and reads a call has made kept for it.

Two pieces:

- :class:`ComposedUnitOfWork` -- the :class:`~fooddelivery.ports.unit_of_work.OrderUnitOfWork` port made of the
  ``OrderRepository`` and ``SagaStateStore`` ports, for a store that does not implement it natively, or a saga
  store it cannot write with in one call (e.g. a Cosmos DB saga store on a container of its own): ``load`` reads
  the order, then its saga; ``commit`` writes the order (with its outbox records), then the saga. Not atomic: a
  crash between the two leaves the order written and the saga one step behind, which the saga's idempotent steps
  absorb (the step runs again and finds its effect recorded on the order).
- :class:`OrderSession` -- the order store as the use cases, the runtime and the saga's steps see it: every write
  first *claims* its events with the relay (so the caller publishes exactly what it committed), goes through the
  unit of work, and leaves what it committed in the **call's scope**; reads within a call (a command and what the
  in-process runtime does in reaction to it) are answered from that scope when they can be. A call opens a scope
  with :meth:`OrderSession.call` (the use cases do, see ``fooddelivery.application._base.use_case``); outside one,
  every read goes to the store.

The scope is per thread and lives for one call: its entries are what this call committed or read, so a read in it
never sees another call's uncommitted state, and a write based on a read that went stale meanwhile fails its
compare-and-set like any other. Entries are *lent*, not copied: a reader gets the object itself and changes it only
to write it back (the use cases and the saga's steps do exactly that); a write puts the written object in, and a
write that fails -- or a saga drive that stops on an error -- drops the entry, so the next read goes to the store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from fooddelivery.application.relay import OutboxRelay
from fooddelivery.domain.catalog import Restaurant
from fooddelivery.domain.errors import NotFound
from fooddelivery.domain.events import DomainEvent
from fooddelivery.domain.order import Order, OrderStatus
from fooddelivery.observability.instrument import _METRICS_API, _TRACE_API, _modules, committed, committing, placing
from fooddelivery.observability.tracing import _providers
from fooddelivery.ports.orders import IdempotencyRecord, OrderRepository, Page
from fooddelivery.ports.restaurants import RestaurantQuery, RestaurantRepository
from fooddelivery.ports.saga_store import SagaState, SagaStateStore
from fooddelivery.ports.scheduler import ScheduledMessage, Scheduler
from fooddelivery.ports.unit_of_work import OrderUnitOfWork, TimerUnitOfWork, UnitOfWorkSource

__all__ = ["ComposedUnitOfWork", "OrderSession", "ScopedRestaurants", "unit_of_work_for"]


class ComposedUnitOfWork:
    """:class:`~fooddelivery.ports.unit_of_work.OrderUnitOfWork` from the order and saga stores' own ports.

    ``load`` is ``orders.get`` then ``sagas.get``; ``commit`` is ``orders.add`` / ``orders.save`` (when the order
    is new or changed), then ``sagas.create`` / ``sagas.save``. Not atomic (:attr:`atomic` is False): see the
    module docstring.

    Args:
        orders: the order store (with its outbox).
        sagas: the saga store.
    """

    atomic = False

    def __init__(self, orders: OrderRepository, sagas: SagaStateStore) -> None:
        self.orders = orders
        self.sagas = sagas

    def load(self, order_id: str) -> tuple[Order, SagaState | None]:
        """``orders.get`` then ``sagas.get`` (None when it has no saga).

        Raises:
            NotFound: no such order.
        """
        order = self.orders.get(order_id)
        try:
            saga: SagaState | None = self.sagas.get(order_id)
        except NotFound:
            saga = None
        return order, saga

    def commit(
        self,
        saga: SagaState | None,
        order: Order | None = None,
        *,
        create_saga: bool = False,
        idempotency: IdempotencyRecord | None = None,
    ) -> None:
        """The order's write (if new or changed), then the saga's (see the port).

        Raises:
            ConcurrencyConflict, DuplicateRequest, IdempotencyKeyReused, NotFound, InfrastructureError: as the
                two ports raise them; a failed saga write leaves the order written.
        """
        if order is not None:
            if order.persisted_version == 0 and order.concurrency_token is None:
                self.orders.add(order, idempotency)
            elif order.version != order.persisted_version:
                self.orders.save(order)
        if saga is not None:
            if create_saga:
                self.sagas.create(saga)
            else:
                self.sagas.save(saga)


def unit_of_work_for(
    orders: OrderRepository, sagas: SagaStateStore, timers: Scheduler | None = None
) -> OrderUnitOfWork:
    """The native unit of work of ``orders`` over ``sagas`` when it has one, else :class:`ComposedUnitOfWork`.

    With ``timers``: a native unit that can hold that scheduler's timers in its commits
    (``fooddelivery.ports.unit_of_work.TimerUnitOfWork.with_timers``: SQLite, on the scheduler's database) holds
    them; any other unit is returned as without it.
    """
    if isinstance(orders, UnitOfWorkSource):
        native = orders.unit_of_work(sagas)
        if native is not None:
            if timers is not None and isinstance(native, TimerUnitOfWork):
                held = native.with_timers(timers)
                if held is not None:
                    return held
            return native
    return ComposedUnitOfWork(orders, sagas)


class _Scope(threading.local):
    """What this thread's current call committed or read (see the module docstring)."""

    def __init__(self) -> None:
        self.depth = 0
        self.orders: dict[str, Order] = {}
        self.sagas: dict[str, SagaState | None] = {}
        self.restaurants: dict[str, Restaurant] = {}

    def clear(self) -> None:
        # new dicts, not dict.clear() calls (the use cases write this out when their outermost call ends); nothing
        # keeps a reference to the old ones: every access goes through the scope's attributes
        self.orders = {}
        self.sagas = {}
        self.restaurants = {}


class OrderSession:
    """The order store as the application uses it (implements ``OrderRepository``, plus the unit of work).

    Args:
        inner: the order store (and, usually, the outbox).
        relay: the relay that publishes what this session commits (claims are taken before each write).
        unit: the unit of work over the order store and the saga store (native, or composed).
        new_saga: when the in-process saga runner drives orders and ``unit`` is atomic: builds the saga instance a
            placement creates in the same write as its order (``fooddelivery.application.saga.runner.SagaRunner.
            new_instance``), used while the relay's consumer is one of :attr:`runtime_consumers` (it hands
            ``OrderPlaced`` to this process's runtime, which drives the instance); otherwise -- or when None -- the
            saga is created when ``OrderPlaced`` reaches the runtime.
        on_created: called with each saga instance a placement created (the runner meters its start).
    """

    def __init__(
        self,
        inner: OrderRepository,
        relay: OutboxRelay,
        unit: OrderUnitOfWork,
        *,
        new_saga: Callable[[str], SagaState] | None = None,
        on_created: Callable[[SagaState], None] | None = None,
    ) -> None:
        self.inner = inner
        self.relay = relay
        self.unit = unit
        self.new_saga = new_saga
        self.on_created = on_created
        #: the relay consumers that hand ``OrderPlaced`` to this process's saga runner (bootstrap registers the
        #: service's ``handle_events``; a wrapper of it registers itself): see ``new_saga``
        self.runtime_consumers: list[object] = []
        self._scope = _Scope()

    # -- the call's scope -----------------------------------------------------------------------------------
    @contextmanager
    def call(self) -> Iterator[None]:
        """Open this thread's call scope for the block (a nested call shares the outer one); it is emptied when the
        outermost block ends, however it ends."""
        scope = self.enter()
        try:
            yield
        finally:
            self.leave(scope)

    def enter(self) -> _Scope:
        """Open this thread's call scope (or enter the open one); pair it with :meth:`leave`."""
        scope = self._scope
        scope.depth += 1
        return scope

    @staticmethod
    def leave(scope: _Scope) -> None:
        """Leave the scope :meth:`enter` returned; the outermost leave empties it."""
        scope.depth -= 1
        if scope.depth == 0:
            scope.clear()

    @property
    def in_call(self) -> bool:
        """Whether this thread is inside a call scope."""
        return self._scope.depth > 0

    def forget(self, order_id: str) -> None:
        """Drop what the scope knows of ``order_id`` (its next read goes to the store): after a failed write, or an
        object changed and not written back."""
        scope = self._scope
        scope.orders.pop(order_id, None)
        scope.sagas.pop(order_id, None)

    def _keep(self, order: Order | None, saga: SagaState | None, order_id: str, *, saga_known: bool) -> None:
        scope = self._scope
        if scope.depth == 0:
            return
        if order is not None:
            scope.orders[order_id] = order
        if saga_known:
            scope.sagas[order_id] = saga

    # -- the unit of work -----------------------------------------------------------------------------------
    @property
    def atomic(self) -> bool:
        """Whether commits write the order and its saga in one atomic write (a native unit of work)."""
        return self.unit.atomic

    @property
    def timers(self) -> Scheduler | None:
        """The scheduler whose timers :meth:`commit` writes with the order and the saga (``schedule`` /
        ``cancel``): the unit of work's (``fooddelivery.ports.unit_of_work.TimerUnitOfWork``), or None."""
        return getattr(self.unit, "timers", None)

    def load(self, order_id: str, *, fresh: bool = False) -> tuple[Order, SagaState | None]:
        """The order and its saga (None: not started), from the call's scope when it knows both, else from the
        unit of work (``fresh``: always from the store). Lent by the scope (see the module docstring).

        Raises:
            NotFound: no such order.
        """
        scope = self._scope
        if not fresh and scope.depth and order_id in scope.orders and order_id in scope.sagas:
            return scope.orders[order_id], scope.sagas[order_id]  # (tests and subscripts: no call on this path)
        order, saga = self.unit.load(order_id)
        self._keep(order, saga, order_id, saga_known=True)
        return order, saga

    def cached_saga(self, order_id: str) -> tuple[bool, SagaState | None]:
        """(whether the call's scope knows the saga of ``order_id``, it or None) -- read only."""
        scope = self._scope
        if scope.depth and order_id in scope.sagas:
            return True, scope.sagas[order_id]
        return False, None

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
        """The unit of work's commit, claiming the order's pending events first (released if it fails); what was
        committed joins the call's scope. On a conflict the scope forgets the order (the next read is fresh).

        ``schedule`` / ``cancel``: timers written in the same commit (only when :attr:`timers` is not None: see
        ``TimerUnitOfWork.commit``); passed on only when given, so a unit without timers is called as before.

        Raises:
            As ``OrderUnitOfWork.commit`` (and ``TimerUnitOfWork.commit`` with timers).
        """
        # committing(order, saga): the events, stamped with the trace context (fooddelivery.observability); its
        # test written out: without tracing it only copies them
        if order is None:
            events: list[DomainEvent] = []
        elif _providers.tracer_provider is None and _TRACE_API not in _modules:
            events = order.pending_events[:]
        else:
            events = committing(order, saga)
        relay = self.relay
        if events and relay.publish_after_commit:  # relay.claim(events), written out (every commit passes here)
            generation, claims = relay._generation, relay._claims
            for event in events:
                claims[event.event_id] = generation
            relay._own.events += events
        try:
            if schedule is None and cancel is None:
                self.unit.commit(saga, order, create_saga=create_saga, idempotency=idempotency)
            else:
                if self.timers is None:
                    raise TypeError(f"{type(self.unit).__name__} holds no timers: commit without schedule / cancel")
                cast(TimerUnitOfWork, self.unit).commit(
                    saga, order, create_saga=create_saga, idempotency=idempotency, schedule=schedule, cancel=cancel
                )
        except BaseException:
            self.relay.unclaim(events)
            self.forget(order.order_id if order is not None else saga.saga_id if saga is not None else "")
            raise
        if events and (_providers.meter_provider is not None or _METRICS_API in _modules):
            committed(events)  # (its test written out: it counts only for a meter)
        scope = self._scope  # self._keep(order, saga, <its id>, saga_known=saga is not None), written out
        if scope.depth:
            if order is not None:
                scope.orders[order.order_id] = order
                if saga is not None:
                    scope.sagas[order.order_id] = saga
            elif saga is not None:
                scope.sagas[saga.saga_id] = saga

    # -- OrderRepository ------------------------------------------------------------------------------------
    def add(self, order: Order, idempotency: IdempotencyRecord | None = None) -> None:
        """``OrderRepository.add``, claiming the order's events first. With ``new_saga`` (an atomic unit of work
        and the in-process runner), the order's saga instance is created in the same write.

        Raises:
            As ``OrderRepository.add``.
        """
        placing(order)
        relay = self.relay
        if self.new_saga is not None and relay.publish_after_commit and relay.consumer in self.runtime_consumers:
            saga = self.new_saga(order.order_id)
            self.commit(saga, order, create_saga=True, idempotency=idempotency)
            if self.on_created is not None:
                self.on_created(saga)
            return
        events = committing(order)
        self.relay.claim(events)
        try:
            self.inner.add(order, idempotency)
        except BaseException:
            self.relay.unclaim(events)
            self.forget(order.order_id)
            raise
        committed(events)
        self._keep(order, None, order.order_id, saga_known=False)

    def save(self, order: Order) -> None:
        """``OrderRepository.save``, claiming the order's events first (released if the write fails).

        Raises:
            As ``OrderRepository.save``.
        """
        # committing(order) and committed(events), their tests written out (see commit)
        if _providers.tracer_provider is None and _TRACE_API not in _modules:
            events = order.pending_events[:]
        else:
            events = committing(order)
        relay = self.relay
        if events and relay.publish_after_commit:  # relay.claim(events), written out (see commit)
            generation, claims = relay._generation, relay._claims
            for event in events:
                claims[event.event_id] = generation
            relay._own.events += events
        try:
            self.inner.save(order)
        except BaseException:
            self.relay.unclaim(events)
            self.forget(order.order_id)
            raise
        if events and (_providers.meter_provider is not None or _METRICS_API in _modules):
            committed(events)
        scope = self._scope  # self._keep(order, None, order.order_id, saga_known=False)
        if scope.depth:
            scope.orders[order.order_id] = order

    def get(self, order_id: str) -> Order:
        """The order: what this call committed or read of it (lent: see the module docstring), else
        ``OrderRepository.get``.

        Raises:
            NotFound: no such order.
        """
        scope = self._scope
        if scope.depth:
            orders = scope.orders
            if order_id in orders:  # (a test and a subscript: no call on this path; the scope keeps no None)
                return orders[order_id]
            order = self.inner.get(order_id)
            orders[order_id] = order  # self._keep(order, None, order_id, saga_known=False)
            return order
        return self.inner.get(order_id)

    def find_idempotent(self, scope: str, key: str) -> IdempotencyRecord | None:
        """``OrderRepository.find_idempotent``."""
        return self.inner.find_idempotent(scope, key)

    def list_by_customer(self, customer_id: str, limit: int = 20, cursor: str | None = None) -> Page[Order]:
        """``OrderRepository.list_by_customer``."""
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
        return self.inner.list_by_restaurant(restaurant_id, status, limit, cursor, newest_first=newest_first)


class ScopedRestaurants:
    """The restaurant store as the application uses it: a restaurant read once in a call (the placement's) is
    answered from the call's scope afterwards (the driver search of the saga step it started). Writes and searches
    go to the store.

    Args:
        inner: the restaurant store.
        session: the order session whose call scope this shares.
    """

    def __init__(self, inner: RestaurantRepository, session: OrderSession) -> None:
        self.inner = inner
        self.session = session

    def get(self, restaurant_id: str) -> Restaurant:
        """``RestaurantRepository.get`` (``Restaurant`` is immutable: the scope shares it).

        Raises:
            NotFound: no such restaurant.
        """
        scope = self.session._scope
        if scope.depth:
            cached = scope.restaurants.get(restaurant_id)
            if cached is not None:
                return cached
            found = self.inner.get(restaurant_id)
            scope.restaurants[restaurant_id] = found
            return found
        return self.inner.get(restaurant_id)

    def add(self, restaurant: Restaurant) -> Restaurant:
        """``RestaurantRepository.add``."""
        return self.inner.add(restaurant)

    def save(self, restaurant: Restaurant) -> Restaurant:
        """``RestaurantRepository.save``."""
        return self.inner.save(restaurant)

    def search(self, query: RestaurantQuery) -> Page[Restaurant]:
        """``RestaurantRepository.search``."""
        return self.inner.search(query)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
