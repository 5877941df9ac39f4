"""The conformance scenarios: the whole business, run over one adapter set, the way a cloud runs it.

An adapter set is the stores a deployment keeps its state in (orders with their outbox, restaurants, drivers, saga
state). The scenarios wire them through the core's :func:`~fooddelivery.bootstrap.bootstrap` and drive the order
runtime the way a queue-driven cloud does: the use cases commit and publish, a *delivery loop* hands every event
the runtime needs (and every due timer) to :class:`~fooddelivery.application.runtime.OrderRuntime` -- once, twice
or three times, as an at-least-once queue may -- and a *crash plan* kills the "process" at any saga step boundary
before the survivors restart it. Payments, notifications, timers, the bus and the clock are the harness's own
in-memory fakes, so every effect can be counted exactly.

Use it from any adapter package's tests::

    from fooddelivery.testing.conformance import AdapterSet, ConformanceSuite

    class TestMyStoreConformance(ConformanceSuite):
        adapter_set_name = "mystore"

        @pytest.fixture
        def adapter_set(self, my_store_client) -> AdapterSet:
            return AdapterSet(orders=MyOrderRepository(my_store_client), restaurants=..., drivers=..., sagas=...)

With ``pytest_plugins = ["fooddelivery.testing.plugin"]`` in the conftest, pytest prints one line per adapter set at
the end, e.g. ``conformance[mystore]: 27 passed, 0 failed, 0 skipped of 27 scenarios``.

The scenarios never assume an empty store: every world gets fresh ids (a random namespace), so a set may share
one emulator across the whole session.
"""

from __future__ import annotations

import contextlib
import threading
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, Final, cast

import pytest

from fooddelivery.adapters.memory import (
    FakePaymentGateway,
    InMemoryEventPublisher,
    InMemoryLocationStream,
    InMemoryNotifier,
    InMemoryScheduler,
    SequentialIdGenerator,
    VirtualClock,
)
from fooddelivery.application.commands import PlaceOrder, PlaceOrderResult
from fooddelivery.application.relay import ChangeRecord, ChangeStreamRelay
from fooddelivery.application.runtime import needs_runtime
from fooddelivery.application.unit_of_work import ComposedUnitOfWork
from fooddelivery.bootstrap import Bootstrapped, Settings, bootstrap
from fooddelivery.domain.actors import Actor
from fooddelivery.domain.catalog import DeliveryAddress, Driver, DriverStatus, MenuItem, Restaurant
from fooddelivery.domain.errors import (
    FoodDeliveryError,
    IdempotencyKeyReused,
    NotAllowed,
    NotFound,
    PriceChanged,
    ValidationError,
)
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.money import Money
from fooddelivery.domain.order import LineRequest, Order, OrderStatus, PaymentStatus, order_id_for_key
from fooddelivery.ports.drivers import DriverRepository
from fooddelivery.ports.messaging import Outbox
from fooddelivery.ports.orders import IdempotencyRecord, OrderRepository
from fooddelivery.ports.restaurants import RestaurantRepository
from fooddelivery.ports.saga_store import SagaState, SagaStateStore, SagaStatus
from fooddelivery.ports.unit_of_work import OrderUnitOfWork, UnitOfWorkSource

__all__ = ["BAD_INPUT", "AdapterSet", "ConformanceSuite", "ConformanceWorld", "SimulatedCrash"]

#: Where every world's clock starts.
START: Final[datetime] = datetime(2026, 12, 4, 18, 30, tzinfo=UTC)
#: The restaurant of every world (Lyon), with drivers placed due north of it.
LYON: Final[GeoPoint] = GeoPoint(45.7640, 4.8357)
_KM_PER_DEGREE: Final[float] = 111.195  # one degree of latitude on the core's sphere (R = 6371.0088 km)
CONFIRMATION_TIMEOUT_S: Final[float] = 300.0


class SimulatedCrash(RuntimeError):
    """The process died (raised by a :class:`CrashPlan`)."""


@dataclass
class AdapterSet:
    """The stores of one deployment, ready and reachable (the suite never creates tables or containers).

    Attributes:
        orders: the order store (and its outbox, unless ``outbox`` is given).
        restaurants: the restaurant store.
        drivers: the driver store.
        sagas: the saga state store.
        outbox: the outbox, if it is not the order store itself.
        unit_of_work: the set's native unit of work over ``orders`` and ``sagas``, if it has one and the order store
            does not build it itself (``UnitOfWorkSource``); None: the order store's own, else one composed of the
            two ports.
    """

    orders: OrderRepository
    restaurants: RestaurantRepository
    drivers: DriverRepository
    sagas: SagaStateStore
    outbox: Outbox | None = None
    unit_of_work: OrderUnitOfWork | None = None

    def native_unit(self) -> OrderUnitOfWork | None:
        """The set's native unit of work, or None (it composes one from the two ports)."""
        if self.unit_of_work is not None:
            return self.unit_of_work
        if isinstance(self.orders, UnitOfWorkSource):
            return self.orders.unit_of_work(self.sagas)
        return None


@dataclass
class CrashPlan:
    """Kills the process at the ``at``-th saga-state write (1-based), ``before`` or after it takes effect; once.

    A saga-state write is a step boundary: a native unit of work's commit that writes the saga (with the order's
    changes, atomically), or the saga store's own write (a composed unit of work writes the order first, so a crash
    "before" it falls between the order's write and the saga's).
    """

    at: int | None = None
    before: bool = True
    writes: int = 0
    fired: bool = False

    def around(self, write: Callable[[], None]) -> None:
        """Run ``write`` unless this is the write to die at (then raise before or after it)."""
        self.writes += 1
        hit = not self.fired and self.writes == self.at
        if hit and self.before:
            self.fired = True
            raise SimulatedCrash(f"crash before saga write {self.at}")
        write()
        if hit:
            self.fired = True
            raise SimulatedCrash(f"crash after saga write {self.at}")


class _CrashingSagaStore:
    """The set's saga store, with every write going through a :class:`CrashPlan` (a step boundary is a write)."""

    def __init__(self, inner: SagaStateStore, plan: CrashPlan) -> None:
        self.inner = inner
        self.plan = plan

    def create(self, state: SagaState) -> None:
        self.plan.around(lambda: self.inner.create(state))

    def get(self, saga_id: str) -> SagaState:
        return self.inner.get(saga_id)

    def save(self, state: SagaState) -> None:
        self.plan.around(lambda: self.inner.save(state))


class _CrashingUnitOfWork:
    """A native unit of work whose commits that write the saga go through a :class:`CrashPlan`."""

    def __init__(self, inner: OrderUnitOfWork, plan: CrashPlan) -> None:
        self.inner = inner
        self.plan = plan
        self.atomic = inner.atomic

    def load(self, order_id: str) -> tuple[Order, SagaState | None]:
        return self.inner.load(order_id)

    def commit(
        self,
        saga: SagaState | None,
        order: Order | None = None,
        *,
        create_saga: bool = False,
        idempotency: IdempotencyRecord | None = None,
    ) -> None:
        def write() -> None:
            self.inner.commit(saga, order, create_saga=create_saga, idempotency=idempotency)

        if saga is None:
            write()
        else:
            self.plan.around(write)


class _DyingDriverStore:
    """A driver store whose first ``save`` kills the process, before or after it takes effect (a manual
    assignment's reservation); everything else goes to the real store."""

    def __init__(self, inner: DriverRepository, *, after: bool) -> None:
        self.inner = inner
        self.after = after
        self.saves = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def save(self, driver: Driver) -> Any:
        self.saves += 1
        if self.saves == 1 and not self.after:
            raise SimulatedCrash("crash before the reservation")
        stored = self.inner.save(driver)
        if self.saves == 1:
            raise SimulatedCrash("crash after the reservation")
        return stored


def _north(km: float) -> GeoPoint:
    return GeoPoint(LYON.lat + km / _KM_PER_DEGREE, LYON.lon)


@dataclass
class ConformanceWorld:
    """One deployment over an adapter set: the core, the fakes around it, and a queue-like delivery loop.

    Attributes:
        boot: the bootstrapped core.
        clock: virtual time.
        namespace: this world's id prefix (restaurants, drivers, customers, orders, events).
        restaurant_id: the one restaurant (Lyon, EUR, 10 % tax).
        driver_ids: its drivers, nearest first.
        copies: how many times the delivery loop hands each message to the runtime (1, 2 or 3).
        crash: the crash plan of the saga store.
        placed: ids of the orders placed, in order.
    """

    boot: Bootstrapped
    clock: VirtualClock
    namespace: str
    restaurant_id: str
    driver_ids: list[str]
    copies: int = 1
    crash: CrashPlan = field(default_factory=CrashPlan)
    placed: list[str] = field(default_factory=list)
    _delivered: int = 0
    _inbox: list[Any] = field(default_factory=list)

    # -- building ---------------------------------------------------------------------------------------------
    @classmethod
    def build(cls, adapters: AdapterSet, *, drivers: int = 3, copies: int = 1) -> ConformanceWorld:
        """A world over ``adapters`` with one restaurant and ``drivers`` AVAILABLE drivers 0.5, 1.0... km away."""
        namespace = f"cf{uuid.uuid4().hex[:10]}"
        clock = VirtualClock(START)
        crash = CrashPlan()
        sagas = cast(SagaStateStore, _CrashingSagaStore(adapters.sagas, crash))
        native = adapters.native_unit()
        unit: OrderUnitOfWork = (
            _CrashingUnitOfWork(native, crash) if native is not None else ComposedUnitOfWork(adapters.orders, sagas)
        )
        boot = bootstrap(
            Settings(confirmation_timeout_s=CONFIRMATION_TIMEOUT_S),
            orders=adapters.orders,
            outbox=adapters.outbox,
            restaurants=adapters.restaurants,
            drivers=adapters.drivers,
            sagas=sagas,
            unit_of_work=unit,
            publisher=InMemoryEventPublisher(),
            notifier=InMemoryNotifier(),
            payments=FakePaymentGateway(),
            location=InMemoryLocationStream(),
            scheduler=InMemoryScheduler(),
            clock=clock,
            ids=SequentialIdGenerator(namespace),
        )
        boot.service.relay.consumer = None  # the delivery loop plays the runtime's queue
        restaurant_id = f"rest-{namespace}"
        adapters.restaurants.add(
            Restaurant(
                restaurant_id=restaurant_id,
                name="Bouchon Lyonnais — Chez Mère Brazier",
                cuisine="lyonnaise",
                rating=Decimal("4.7"),
                location=LYON,
                currency="EUR",
                tax_rate=Decimal("0.10"),
                avg_prep_minutes=20,
                menu=(
                    MenuItem("quenelle", "Quenelle de brochet", Money.of("18.50", "EUR")),
                    MenuItem("tarte", "Tarte aux pralines", Money.of("7.25", "EUR")),
                    MenuItem("truffe", "Poularde truffée", Money.of("95.00", "EUR"), available=False),
                ),
            )
        )
        driver_ids = []
        for i in range(drivers):
            driver_id = f"drv-{namespace}-{i}"
            adapters.drivers.add(
                Driver(driver_id, f"Coursier {i} ✓", DriverStatus.AVAILABLE, _north(0.5 * (i + 1)), "vélo", START)
            )
            driver_ids.append(driver_id)
        return cls(boot, clock, namespace, restaurant_id, driver_ids, copies, crash)

    @property
    def service(self) -> Any:
        """The use cases."""
        return self.boot.service

    @property
    def payments(self) -> FakePaymentGateway:
        """The fake card processor (its books are the audit)."""
        return cast(FakePaymentGateway, self.boot.adapters["payments"])

    @property
    def notifier(self) -> InMemoryNotifier:
        """Every notification sent."""
        return cast(InMemoryNotifier, self.boot.adapters["notifier"])

    @property
    def publisher(self) -> InMemoryEventPublisher:
        """The bus."""
        return cast(InMemoryEventPublisher, self.boot.adapters["publisher"])

    @property
    def scheduler(self) -> InMemoryScheduler:
        """The saga's timers."""
        return cast(InMemoryScheduler, self.boot.adapters["scheduler"])

    def customer(self, n: int = 0) -> str:
        """This world's ``n``-th customer id."""
        return f"cus-{self.namespace}-{n}"

    # -- commands ---------------------------------------------------------------------------------------------
    def command(self, token: str = "tok_visa", **overrides: Any) -> PlaceOrder:
        """The default order: 2 x quenelle (with the menu price), 1 x tarte by name; subtotal 44.25 EUR."""
        values: dict[str, Any] = {
            "restaurant_id": self.restaurant_id,
            "lines": [
                LineRequest(2, item_id="quenelle", unit_price="18.50"),
                LineRequest(1, name="Tarte aux pralines"),
            ],
            "delivery_address": DeliveryAddress("3 quai Saint-Antoine, 69002 Lyon", _north(-2.0)),
            "payment_method": token,
        }
        values.update(overrides)
        return PlaceOrder(**values)

    def place(self, token: str = "tok_visa", *, customer: int = 0, key: str | None = None) -> PlaceOrderResult:
        """Place the default order for ``customer`` (the saga starts when the loop delivers ``OrderPlaced``)."""
        result: PlaceOrderResult = self.service.place_order(
            Actor.customer(self.customer(customer)), self.command(token), key
        )
        if result.order.order_id not in self.placed:
            self.placed.append(result.order.order_id)
        return result

    def restaurant(self) -> Actor:
        """The restaurant's actor."""
        return Actor.restaurant(self.restaurant_id)

    # -- the queue --------------------------------------------------------------------------------------------
    def deliver(self) -> int:
        """Hand every new runtime event, then every due timer, to the runtime ``copies`` times each, until nothing
        is left; returns how many messages were handled. A message whose handling raised stays in the inbox (the
        queue would redeliver it) and the error propagates.
        """
        runtime = self.boot.service.runtime
        handled = 0
        while True:
            published = self.publisher.published
            self._inbox.extend(e for e in published[self._delivered :] if needs_runtime(e))
            self._delivered = len(published)
            if not self._inbox:
                due = self.scheduler.pop_due(self.clock.now())
                if not due:
                    return handled
                self._inbox.extend(due)
            message = self._inbox[0]
            for _ in range(self.copies):
                if isinstance(message, DomainEvent):
                    runtime.on_event(message)
                else:
                    runtime.on_timer(message)
                self.service._after_commit()  # what the consumer committed goes out, as a function's would
            self._inbox.pop(0)
            handled += 1

    def advance(self, seconds: float) -> int:
        """Move time on and run the queue."""
        self.clock.advance(seconds)
        return self.deliver()

    def restart(self) -> None:
        """What a new process does after a crash: sweep the outbox, resume every saga left RUNNING, run the queue
        (the message being handled when the process died is still in it)."""
        self.service.pump()
        for order_id in self.placed:
            if self.boot.runner.status(order_id) is SagaStatus.RUNNING:
                self.service.resume_saga(order_id)
        self.deliver()

    # -- reading ----------------------------------------------------------------------------------------------
    def order(self, order_id: str) -> Order:
        """The stored order."""
        order: Order = self.boot.adapters["orders"].get(order_id)
        return order

    def saga(self, order_id: str) -> SagaState:
        """The stored saga instance."""
        state: SagaState = self.boot.runner.store.get(order_id)
        return state

    def driver(self, driver_id: str) -> Driver:
        """The stored driver."""
        driver: Driver = self.boot.adapters["drivers"].get(driver_id)
        return driver

    def templates(self, recipient: str) -> list[str]:
        """The notification templates ``recipient`` received, in order."""
        return [n.template for n in self.notifier.sent_to(recipient)]

    def end_state(self, order_id: str) -> dict[str, Any]:
        """Everything the business cares about for one order, for comparing two runs."""
        order = self.order(order_id)
        drivers = {d: self.driver(d) for d in self.driver_ids}
        return {
            "status": order.status,
            "payment": order.payment_status,
            "reason": order.failure_reason,
            "driver": None if order.driver_id is None else self.driver_ids.index(order.driver_id),
            "events": [  # each event once: consumers deduplicate on the id (delivery is at-least-once)
                (e.type, e.order_version)
                for e in {e.event_id: e for e in self.publisher.published if e.order_id == order_id}.values()
            ],
            "captures": len(self.payments.charges),
            "refunds": [str(r.amount) for r in self.payments.refunds],
            "notifications": sorted(Counter(n.notification_id.split(":", 1)[1] for n in self.notifier.sent).items()),
            "drivers": sorted((self.driver_ids.index(d), x.status) for d, x in drivers.items()),
            "saga": (self.saga(order_id).status, self.saga(order_id).outcome),
        }

    def assert_no_driver_held_twice(self) -> None:
        """Every ASSIGNED driver holds exactly one order, and that order names it (or is finished)."""
        held = Counter(self.driver(d).current_order_id for d in self.driver_ids if self.driver(d).current_order_id)
        assert all(n == 1 for n in held.values()), held
        for order_id in held:
            order = self.order(str(order_id))
            assert order.driver_id is not None and held[order_id] == 1


#: Orders the use cases must refuse, with the error type: (name, PlaceOrder overrides, actor customer or None for
#: another role, error). Nothing is stored, published or charged for any of them.
BAD_INPUT: Final[tuple[tuple[str, dict[str, Any], str | None, type[FoodDeliveryError]], ...]] = (
    ("unknown restaurant", {"restaurant_id": "rest-does-not-exist"}, "customer", NotFound),
    ("no lines", {"lines": []}, "customer", ValidationError),
    ("unknown item", {"lines": [LineRequest(1, item_id="caviar")]}, "customer", ValidationError),
    ("unavailable item", {"lines": [LineRequest(1, item_id="truffe")]}, "customer", ValidationError),
    ("zero quantity", {"lines": [LineRequest(0, item_id="tarte")]}, "customer", ValidationError),
    ("quantity over 99", {"lines": [LineRequest(100, item_id="tarte")]}, "customer", ValidationError),
    ("boolean quantity", {"lines": [LineRequest(True, item_id="tarte")]}, "customer", ValidationError),
    ("float quantity", {"lines": [LineRequest(1.5, item_id="tarte")]}, "customer", ValidationError),
    ("a line naming nothing", {"lines": [LineRequest(1)]}, "customer", ValidationError),
    ("a stale client price", {"lines": [LineRequest(1, item_id="tarte", unit_price="6.99")]}, "customer", PriceChanged),
    ("a float price", {"lines": [LineRequest(1, item_id="tarte", unit_price=7.25)]}, "customer", ValidationError),
    ("no payment method", {"payment_method": ""}, "customer", ValidationError),
    ("a negative tip", {"tip": "-1.00"}, "customer", ValidationError),
    ("a tip with a fraction of a cent", {"tip": "1.001"}, "customer", ValidationError),
    ("an unknown promo code", {"promo_code": "FREEFOOD"}, "customer", ValidationError),
    (  # 40 km from the restaurant: outside the default 15 km delivery area
        "an address outside the delivery area",
        {"delivery_address": DeliveryAddress("Somewhere 40 km south of Lyon", _north(-40.0))},
        "customer",
        ValidationError,
    ),
    ("another customer's id", {"customer_id": "cus-somebody-else"}, "customer", NotAllowed),
    ("a restaurant placing an order", {}, None, NotAllowed),
)


class ConformanceSuite:
    """The scenarios; subclass it, set :attr:`adapter_set_name` and override the ``adapter_set`` fixture."""

    #: The adapter set's name in the summary line (``memory``, ``sqlite``, ``dynamodb``, ``cosmos``...).
    adapter_set_name: ClassVar[str] = "unnamed"

    @pytest.fixture
    def adapter_set(self) -> AdapterSet:
        """The stores under test (subclasses override this fixture)."""
        raise NotImplementedError("a subclass provides the adapter set under test")

    @pytest.fixture
    def world(self, adapter_set: AdapterSet) -> ConformanceWorld:
        """A fresh world over the set, with three drivers."""
        return ConformanceWorld.build(adapter_set)

    # -- the paths of the saga --------------------------------------------------------------------------------
    def test_a_placed_order_is_paid_announced_assigned_the_nearest_driver_and_waits(
        self, world: ConformanceWorld
    ) -> None:
        placed = world.place()
        assert placed.created and placed.order.status is OrderStatus.PENDING
        assert str(placed.order.pricing.subtotal) == "44.25"
        world.deliver()
        order = world.order(placed.order.order_id)
        assert order.payment_status is PaymentStatus.CAPTURED
        assert [str(c.amount) for c in world.payments.charges] == [str(order.pricing.total)]
        assert order.driver_id == world.driver_ids[0]
        assert world.driver(world.driver_ids[0]).current_order_id == order.order_id
        assert world.saga(order.order_id).status is SagaStatus.WAITING
        assert world.templates(world.restaurant_id) == ["new_order"]
        assert world.templates(world.customer()) == ["order_received"]

    def test_a_confirmed_order_is_prepared_picked_up_and_delivered_and_its_driver_freed(
        self, world: ConformanceWorld
    ) -> None:
        order_id = world.place().order.order_id
        world.deliver()
        assert world.service.confirm_order(world.restaurant(), order_id) == "ACCEPTED"
        world.deliver()
        assert world.order(order_id).status is OrderStatus.CONFIRMED
        assert world.saga(order_id).status is SagaStatus.SUCCEEDED
        for status in (OrderStatus.PREPARING, OrderStatus.READY_FOR_PICKUP):
            world.service.change_status(world.restaurant(), order_id, status)
        driver = Actor.driver(world.driver_ids[0], f"courier-{world.namespace}")
        for status in (OrderStatus.PICKED_UP, OrderStatus.DELIVERED):
            world.service.change_status(driver, order_id, status)
        world.deliver()
        assert world.order(order_id).status is OrderStatus.DELIVERED
        assert world.driver(world.driver_ids[0]).status is DriverStatus.AVAILABLE
        assert world.payments.refunds == []
        assert world.templates(world.customer()) == ["order_received", "order_confirmed"]

    def test_a_declined_card_fails_the_order_with_nothing_charged(self, world: ConformanceWorld) -> None:
        order_id = world.place("tok_chargeDeclined").order.order_id
        world.deliver()
        order = world.order(order_id)
        assert (order.status, order.payment_status, order.failure_reason) == (
            OrderStatus.FAILED,
            PaymentStatus.DECLINED,
            "payment_declined",
        )
        assert world.payments.charges == [] and world.payments.refunds == []
        assert all(world.driver(d).status is DriverStatus.AVAILABLE for d in world.driver_ids)
        assert world.templates(world.restaurant_id) == []  # never told of it, so nothing to take back

    def test_transient_payment_errors_are_retried_then_the_order_is_paid_once(self, world: ConformanceWorld) -> None:
        order_id = world.place("tok_processingError_2").order.order_id
        world.deliver()
        assert world.saga(order_id).status is SagaStatus.RETRY_WAIT
        assert world.advance(5) == 1  # first retry after 5 s: fails again
        assert world.saga(order_id).status is SagaStatus.RETRY_WAIT
        assert world.advance(10) == 1  # second retry after 10 more: succeeds
        order = world.order(order_id)
        assert order.payment_status is PaymentStatus.CAPTURED
        assert len(world.payments.charges) == 1 and len(world.payments.authorizations) == 1
        assert world.saga(order_id).status is SagaStatus.WAITING

    def test_a_restaurant_that_never_answers_times_out_with_one_refund(self, world: ConformanceWorld) -> None:
        order_id = world.place().order.order_id
        world.deliver()
        assert world.advance(CONFIRMATION_TIMEOUT_S - 1) == 0
        world.advance(1)
        order = world.order(order_id)
        assert (order.status, order.payment_status, order.failure_reason) == (
            OrderStatus.FAILED,
            PaymentStatus.REFUNDED,
            "restaurant_timeout",
        )
        assert [str(r.amount) for r in world.payments.refunds] == [str(order.pricing.total)]
        assert world.driver(world.driver_ids[0]).status is DriverStatus.AVAILABLE
        assert world.templates(world.restaurant_id) == ["new_order", "order_failed"]
        world.advance(3600)
        assert len(world.payments.refunds) == 1

    def test_a_rejected_order_fails_with_one_refund_and_a_late_confirmation_changes_nothing(
        self, world: ConformanceWorld
    ) -> None:
        order_id = world.place().order.order_id
        world.deliver()
        assert world.service.reject_order(world.restaurant(), order_id, "plus de quenelles") == "ACCEPTED"
        world.deliver()
        order = world.order(order_id)
        assert (order.status, order.failure_reason) == (OrderStatus.FAILED, "restaurant_rejected")
        assert len(world.payments.refunds) == 1
        with pytest.raises(FoodDeliveryError):
            world.service.confirm_order(world.restaurant(), order_id)
        world.deliver()
        assert world.order(order_id).status is OrderStatus.FAILED and len(world.payments.refunds) == 1

    def test_an_order_cancelled_while_waiting_is_refunded_once_and_its_driver_freed(
        self, world: ConformanceWorld
    ) -> None:
        order_id = world.place().order.order_id
        world.deliver()
        world.service.cancel_order(Actor.customer(world.customer()), order_id, "changé d'avis")
        world.deliver()
        order = world.order(order_id)
        assert (order.status, order.payment_status) == (OrderStatus.CANCELLED, PaymentStatus.REFUNDED)
        assert len(world.payments.refunds) == 1
        assert world.driver(world.driver_ids[0]).status is DriverStatus.AVAILABLE
        assert world.saga(order_id).status is SagaStatus.FAILED
        assert world.templates(world.restaurant_id) == ["new_order", "order_cancelled"]
        world.advance(CONFIRMATION_TIMEOUT_S)  # the cancelled timeout changes nothing
        assert len(world.payments.refunds) == 1

    def test_a_keyed_placement_sent_again_returns_the_same_order_and_another_body_is_refused(
        self, world: ConformanceWorld
    ) -> None:
        first = world.place(key="checkout-1")
        again = world.place(key="checkout-1")
        assert first.order.order_id == order_id_for_key(world.customer(), "checkout-1")
        assert (again.created, again.order.order_id) == (False, first.order.order_id)
        with pytest.raises(IdempotencyKeyReused):
            world.service.place_order(
                Actor.customer(world.customer()), world.command(tip="2.00"), "checkout-1"
            )
        world.deliver()
        assert len(world.payments.charges) == 1

    # -- at-least-once delivery --------------------------------------------------------------------------------
    @pytest.mark.parametrize("copies", [2, 3])
    def test_every_message_delivered_more_than_once_has_each_effect_once(
        self, adapter_set: AdapterSet, copies: int
    ) -> None:
        world = ConformanceWorld.build(adapter_set, copies=copies)
        confirmed = world.place(customer=0).order.order_id
        timed_out = world.place(customer=1).order.order_id
        cancelled = world.place(customer=2).order.order_id
        world.deliver()
        world.service.confirm_order(world.restaurant(), confirmed)
        world.service.cancel_order(Actor.customer(world.customer(2)), cancelled, "trop long")
        world.advance(CONFIRMATION_TIMEOUT_S)
        assert world.order(confirmed).status is OrderStatus.CONFIRMED
        assert world.order(timed_out).failure_reason == "restaurant_timeout"
        assert world.order(cancelled).status is OrderStatus.CANCELLED
        assert len(world.payments.charges) == 3
        assert sorted(r.charge_id for r in world.payments.refunds) == sorted(
            str(world.order(o).charge_id) for o in (timed_out, cancelled)
        )
        told = Counter(world.templates(world.restaurant_id))
        assert told == {"new_order": 3, "order_failed": 1, "order_cancelled": 1}
        assert Counter(n.notification_id for n in world.notifier.sent).most_common(1)[0][1] == 1
        world.assert_no_driver_held_twice()
        assert world.driver(str(world.order(confirmed).driver_id)).current_order_id == confirmed

    # -- crashes ----------------------------------------------------------------------------------------------
    @pytest.mark.parametrize("before", [True, False], ids=["before-write", "after-write"])
    @pytest.mark.parametrize("scenario", ["confirmed", "timed-out", "cancelled"])
    def test_a_crash_at_every_saga_step_boundary_resumes_to_the_uninterrupted_end_state(
        self, adapter_set: AdapterSet, scenario: str, before: bool
    ) -> None:
        clean = ConformanceWorld.build(adapter_set)
        expected = clean.end_state(_run_scenario(clean, scenario))
        boundaries = clean.crash.writes
        assert boundaries >= 4, f"the {scenario} run wrote saga state only {boundaries} times"
        for at in range(1, boundaries + 1):
            world = ConformanceWorld.build(adapter_set)
            world.crash.at, world.crash.before = at, before
            order_id = _run_scenario(world, scenario, crash_safe=True)
            assert world.crash.fired, f"no crash at saga write {at}"
            assert world.end_state(order_id) == expected, f"crash {'before' if before else 'after'} write {at}"

    @pytest.mark.parametrize("recovery", ["saga-retry", "sent-again"])
    @pytest.mark.parametrize("dies", ["before-reserving", "after-reserving"])
    def test_a_manual_assignment_whose_process_died_never_holds_its_driver_for_an_order_that_does_not_name_it(
        self, adapter_set: AdapterSet, dies: str, recovery: str
    ) -> None:
        world = ConformanceWorld.build(adapter_set, drivers=0)
        order_id = world.place().order.order_id
        world.deliver()
        assert world.saga(order_id).status is SagaStatus.RETRY_WAIT  # no driver yet: AssignDriver retries
        driver_id = f"drv-{world.namespace}-late"
        late = Driver(driver_id, "Coursier tardif", DriverStatus.AVAILABLE, _north(1.0), "vélo", START)
        adapter_set.drivers.add(late)
        world.driver_ids.append(driver_id)
        store = world.service.drivers
        world.service.drivers = _DyingDriverStore(store, after=dies == "after-reserving")
        with pytest.raises(SimulatedCrash):
            world.service.assign_driver(world.restaurant(), order_id)
        world.service.drivers = store  # a new process
        left = world.order(order_id)
        assert (left.driver_id, left.driver_claim) == (None, driver_id)  # the claim, as the store keeps it
        assert world.driver(driver_id).current_order_id == (order_id if dies == "after-reserving" else None)

        if recovery == "sent-again":
            assert world.service.assign_driver(world.restaurant(), order_id).driver_id == driver_id
        world.restart()
        world.advance(30)  # the saga's retry of AssignDriver

        order = world.order(order_id)
        assert (order.driver_id, order.driver_claim) == (driver_id, None)
        assert world.driver(driver_id).current_order_id == order_id
        assert world.saga(order_id).status is SagaStatus.WAITING
        assigned = {e.event_id: e for e in world.publisher.published if e.type is EventType.DRIVER_ASSIGNED}
        assert [e.payload["driverId"] for e in assigned.values()] == [driver_id]
        world.assert_no_driver_held_twice()

    # -- concurrency ------------------------------------------------------------------------------------------
    def test_fifty_orders_racing_for_five_drivers_book_each_driver_once(self, adapter_set: AdapterSet) -> None:
        world = ConformanceWorld.build(adapter_set, drivers=5)
        placed = [world.place(customer=i).order for i in range(50)]
        world.publisher.clear()  # the fifty sagas start from the threads below, not from the loop
        barrier = threading.Barrier(10)
        errors: list[str] = []  # each with its traceback: a failure in a thread must say where it came from

        def start(chunk: Sequence[Order]) -> None:
            barrier.wait()
            for order in chunk:
                try:
                    world.boot.service.runtime.on_event(_placed_event(order))
                except BaseException:  # a lost race must never escape as an error
                    errors.append(traceback.format_exc())

        threads = [threading.Thread(target=start, args=(placed[i::10],)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, "\n".join(errors)
        world.placed = [o.order_id for o in placed]
        assigned = [world.order(o.order_id).driver_id for o in placed]
        winners = [d for d in assigned if d is not None]
        assert sorted(winners) == sorted(world.driver_ids)  # each driver booked exactly once
        for driver_id in world.driver_ids:
            holder = world.driver(driver_id).current_order_id
            assert holder is not None and world.order(holder).driver_id == driver_id
        waiting = [o.order_id for o in placed if world.order(o.order_id).driver_id is None]
        assert all(world.saga(o).status is SagaStatus.RETRY_WAIT for o in waiting)

    # -- bad input --------------------------------------------------------------------------------------------
    @pytest.mark.parametrize(("name", "overrides", "role", "error"), BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
    def test_bad_input_is_refused_and_nothing_is_stored_published_or_charged(
        self,
        world: ConformanceWorld,
        name: str,
        overrides: dict[str, Any],
        role: str | None,
        error: type[FoodDeliveryError],
    ) -> None:
        actor = Actor.customer(world.customer()) if role == "customer" else world.restaurant()
        with pytest.raises(error):
            world.service.place_order(actor, world.command(**overrides), f"key-{name}")
        assert world.boot.adapters["orders"].list_by_customer(world.customer()).items == []
        assert world.boot.adapters["orders"].find_idempotent(world.customer(), f"key-{name}") is None
        with pytest.raises(NotFound):
            world.order(order_id_for_key(world.customer(), f"key-{name}"))
        world.service.pump()
        assert world.publisher.published == [] and world.payments.calls == 0

    # -- the change-stream relay ------------------------------------------------------------------------------
    def test_the_change_stream_relay_publishes_each_committed_event_once_in_order_and_marks_it_sent(
        self, world: ConformanceWorld
    ) -> None:
        world.boot.service.relay.publish_after_commit = False  # a change stream publishes instead
        order_id = world.place().order.order_id
        outbox = cast(Outbox, world.boot.adapters["outbox"])
        pending = [r for r in outbox.pending(1000) if r.event.order_id == order_id]
        assert [r.event.type for r in pending] == [EventType.ORDER_PLACED]
        stream = ChangeStreamRelay(world.publisher, outbox)
        records = [ChangeRecord(f"seq-{i}", r.event) for i, r in enumerate(pending)] + [ChangeRecord("seq-x", None)]
        assert stream.relay(records).retry_from is None
        assert stream.relay(records[:1]).retry_from is None  # the stream delivers it again: harmless
        assert [e.type for e in world.publisher.published] == [EventType.ORDER_PLACED] * 2
        assert [r for r in outbox.pending(1000) if r.event.order_id == order_id] == []
        assert stream.sweep() == 0


def _placed_event(order: Order) -> DomainEvent:
    return DomainEvent(f"evt-start-{order.order_id}", EventType.ORDER_PLACED, order.created_at, order.order_id, 1, {})


def _run_scenario(world: ConformanceWorld, scenario: str, *, crash_safe: bool = False) -> str:
    """Run ``scenario`` to its end; with ``crash_safe``, every step survives one :class:`SimulatedCrash` by
    restarting and repeating what the client was doing."""

    def attempt(step: Callable[[], object]) -> None:
        try:
            step()
        except SimulatedCrash:
            if not crash_safe:
                raise
            world.restart()
            # the repeated command may have been done already (a duplicate confirmation, a cancelled order)
            with contextlib.suppress(FoodDeliveryError):
                step()

    attempt(lambda: world.place(key="crash-test"))
    order_id = order_id_for_key(world.customer(), "crash-test")
    attempt(world.deliver)
    if scenario == "confirmed":
        attempt(lambda: world.service.confirm_order(world.restaurant(), order_id))
        attempt(world.deliver)
    elif scenario == "cancelled":
        attempt(lambda: world.service.cancel_order(Actor.customer(world.customer()), order_id, "annulé"))
        attempt(world.deliver)
    attempt(lambda: world.advance(CONFIRMATION_TIMEOUT_S))
    attempt(world.deliver)
    return order_id

