"""A seeded, deterministic dinner rush through the real core.

Everything runs through :func:`fooddelivery.bootstrap.bootstrap` with the in-memory adapters and a
:class:`VirtualClock`: customers place orders through the use cases, the order saga runs on its timers,
restaurants react to the notifications they receive (confirm after a delay, reject, or never answer), cook, and
drivers ride to the restaurant and the door reporting positions. The simulation observes the system only the way a
downstream consumer would: through the published events.

The event loop is a discrete-event simulation: the next thing to happen is the earliest of the next customer
arrival, the next simulated actor's action, and the next saga timer in the in-memory scheduler; the virtual clock
jumps to it.
"""

from __future__ import annotations

import gc
import heapq
import math
import random
import resource
import threading
import time
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fooddelivery.adapters.memory import (
    FakePaymentGateway,
    InMemoryEventPublisher,
    InMemoryLocationStream,
    InMemoryNotifier,
    InMemoryOrderRepository,
    InMemorySagaStateStore,
    InMemoryScheduler,
    OperationCounters,
    SequentialIdGenerator,
    VirtualClock,
)
from fooddelivery.application.services import PlaceOrder
from fooddelivery.bootstrap import Bootstrapped, Settings, bootstrap
from fooddelivery.domain.actors import Actor
from fooddelivery.domain.catalog import DeliveryAddress, Driver, DriverStatus, Restaurant
from fooddelivery.domain.errors import FoodDeliveryError, InvalidTransition, LateEvent
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.money import Money
from fooddelivery.domain.order import LineRequest, Order, OrderStatus
from fooddelivery.domain.pricing import PromoCode, PromoKind
from fooddelivery.metering.operations import API_REQUEST
from fooddelivery.simulation.world import (
    CITY_RADIUS_KM,
    CUSTOMER_RADIUS_KM,
    City,
    Customer,
    load_cities,
    make_restaurant,
    offset_point,
)

__all__ = [
    "HOURLY_WEIGHTS",
    "PEAK_HOURS",
    "OrderAudit",
    "SimulationConfig",
    "peak_share",
    "run_simulation",
    "with_peak_share",
]

#: Share of a day's orders placed in each local hour (0..23): quiet nights, a lunch bump, and the 18:00-21:00
#: dinner peak that carries about half of the day.
HOURLY_WEIGHTS: tuple[float, ...] = (
    0.6, 0.3, 0.2, 0.1, 0.1, 0.2, 0.5, 1.0, 1.5, 1.5, 2.0, 4.5,
    6.5, 5.0, 2.5, 2.0, 2.5, 5.0, 15.0, 18.0, 16.0, 6.0, 2.5, 1.5,
)
#: The local dinner-rush hours (18:00-21:00).
PEAK_HOURS: tuple[int, ...] = (18, 19, 20)


def peak_share(weights: Sequence[float] = HOURLY_WEIGHTS) -> float:
    """The share of a day's orders that ``weights`` put in the dinner-rush hours (:data:`PEAK_HOURS`)."""
    return sum(weights[h] for h in PEAK_HOURS) / sum(weights)


def with_peak_share(share: float, weights: Sequence[float] = HOURLY_WEIGHTS) -> tuple[float, ...]:
    """``weights`` rescaled so the dinner-rush hours carry ``share`` of the day, every other hour keeping its
    proportion of the rest (the peak hours keep theirs among themselves).

    Raises:
        ValueError: ``share`` outside (0, 1).
    """
    if not 0.0 < share < 1.0:
        raise ValueError("the peak share must be between 0 and 1 (exclusive)")
    peak = sum(weights[h] for h in PEAK_HOURS)
    rest = sum(weights) - peak
    return tuple(
        w * share / peak if h in PEAK_HOURS else w * (1 - share) / rest for h, w in enumerate(weights)
    )

#: Average courier speed used for the simulated rides (km/h) and the time at each handover (s).
_RIDE_KMH = 22.0
_HANDOVER_S = 90.0

# simulated actions in the heap
_CONFIRM, _REJECT, _PREPARING, _READY, _PICKUP, _MIDWAY, _DELIVER = range(7)
# the event kinds _observe reads
_STATUS_CHANGED = EventType.ORDER_STATUS_CHANGED
_CUSTOMER_NOTIFIED = EventType.CUSTOMER_NOTIFIED
_PLACED = EventType.ORDER_PLACED
_PAYMENT_CAPTURED = EventType.PAYMENT_CAPTURED
_PAYMENT_REFUNDED = EventType.PAYMENT_REFUNDED
_RESTAURANT_NOTIFIED = EventType.RESTAURANT_NOTIFIED
_DRIVER_ASSIGNED = EventType.DRIVER_ASSIGNED
_DRIVER_RELEASED = EventType.DRIVER_RELEASED
_ORDER_FAILED = EventType.ORDER_FAILED
_ORDER_CANCELLED = EventType.ORDER_CANCELLED
#: Notification ids remembered for deduplication (the last ~25,000 orders' worth).
_DEDUPE_WINDOW = 100_000
#: Orders placed between two freezes of what the collector tracks (see :meth:`Simulation.run`).
_REFREEZE_EVERY = 10_000
#: The collector's thresholds during the loop: young collections rarely (the freezes every
#: :data:`_REFREEZE_EVERY` orders collect the young generations anyway), full ones more rarely still.
_GC_THRESHOLDS = (50_000, 20, 20)


class _CollectorState:
    """The collector as found by the first of the runs in progress (see :meth:`Simulation.run`), under ``lock``."""

    __slots__ = ("freeze", "lock", "runs", "thresholds")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs = 0  # runs in progress
        self.thresholds: tuple[int, ...] = (700, 10, 10)
        self.freeze = True  # whether the runs freeze (nothing was frozen before the first)


#: The one collector state of the process (the collector's thresholds and freeze are process-wide).
_collector = _CollectorState()


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """Knobs of a run. Rates are fractions of orders (0..1).

    Attributes:
        orders: orders placed over the simulated day.
        seed: the random seed; the same seed gives the same report (except wall-clock figures).
        cities: how many of the largest US cities (1..50).
        decline_rate: orders paid with a card that is declined.
        transient_rate: orders whose payment fails transiently once or twice, then succeeds on retry.
        transient_exhausted_rate: orders whose payment keeps failing transiently (retries run out).
        no_answer_rate: orders whose restaurant never answers (the 300 s timeout fires).
        reject_rate: orders the restaurant rejects.
        confirm_delay_s: (min, max) seconds a restaurant takes to confirm after being notified.
        restaurants: restaurant count (at least ``cities``: customers order in their own city), or None to size it
            from ``orders``.
        drivers: driver count, or None to size it for the peak hour.
        customers: customer count, or None to size it from ``orders`` (a city with orders that drew no customer
            gets one more, living there).
        day: the simulated (local) date.
        promo_rate: orders using the ``DINNER10`` promo code (10 % off from 20.00).
        metering: record billable operations (``fooddelivery.metering``) for the cost report; about half as
            fast again without it (no sizes to compute).
        hourly_weights: share of the day's orders in each local hour (24 weights), default
            :data:`HOURLY_WEIGHTS`.
    """

    orders: int = 10_000
    seed: int = 1
    cities: int = 10
    decline_rate: float = 0.02
    transient_rate: float = 0.03
    transient_exhausted_rate: float = 0.002
    no_answer_rate: float = 0.01
    reject_rate: float = 0.005
    confirm_delay_s: tuple[float, float] = (20.0, 180.0)
    restaurants: int | None = None
    drivers: int | None = None
    customers: int | None = None
    day: str = "2026-11-30"
    promo_rate: float = 0.1
    metering: bool = True
    hourly_weights: tuple[float, ...] = HOURLY_WEIGHTS

    def __post_init__(self) -> None:
        if len(self.hourly_weights) != 24 or any(w < 0 for w in self.hourly_weights) or not sum(self.hourly_weights):
            raise ValueError("hourly_weights must be 24 weights >= 0, not all zero")
        if not 1 <= self.orders <= 10_000_000:
            raise ValueError("orders must be 1..10,000,000")
        for name in ("decline_rate", "transient_rate", "transient_exhausted_rate", "no_answer_rate",
                     "reject_rate", "promo_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if (self.decline_rate + self.transient_rate + self.transient_exhausted_rate) > 1.0:
            raise ValueError("payment failure rates add up to more than 1")
        if self.restaurants is not None and self.restaurants < self.cities:
            # customers order from their own city (a restaurant elsewhere is outside the delivery area)
            raise ValueError(f"restaurants must be at least cities ({self.cities}): every city needs one")
        if (self.no_answer_rate + self.reject_rate) > 1.0:
            raise ValueError("restaurant failure rates add up to more than 1")
        lo, hi = self.confirm_delay_s
        if not 0 <= lo <= hi:
            raise ValueError("confirm_delay_s must be (min, max) with 0 <= min <= max")


@dataclass(slots=True)
class OrderAudit:
    """The end-of-run audit of orders against the card processor's books, folded one order at a time (so a
    finished order can be released from the stores before the run ends).

    Attributes:
        ended: every order folded is DELIVERED, FAILED or CANCELLED.
        refunded_ok: each captured order that failed or was cancelled had exactly one refund of its full total,
            and no delivered order had any.
        captured: orders folded with a captured payment.
        delivered_minor: the totals of the delivered orders folded (minor units).
    """

    ended: bool = True
    refunded_ok: bool = True
    captured: int = 0
    delivered_minor: int = 0

    def fold(self, order: Order, refunds_minor: Sequence[int]) -> None:
        """Add one order, with the amounts (minor units) refunded on its charge."""
        if not order.status.is_terminal:
            self.ended = False
        if order.charge_id is None:
            return
        self.captured += 1
        if order.status is OrderStatus.DELIVERED:
            self.delivered_minor += order.pricing.total.minor
            self.refunded_ok = self.refunded_ok and not refunds_minor
        else:
            self.refunded_ok = self.refunded_ok and list(refunds_minor) == [order.pricing.total.minor]


@dataclass(slots=True)
class _Pending:
    """What the simulation remembers about an order still in flight."""

    restaurant: int
    customer: int
    address: GeoPoint
    behaviour: int  # 0 confirm, 1 reject, 2 never answer
    delay: float
    placed_at: float
    assigned_at: float = -1.0
    driver_id: str | None = None
    driver: Actor | None = None  # the driver acting (built once at the assignment)


@dataclass
class _Stats:
    placed: int = 0
    refused_at_placement: Counter[str] = field(default_factory=Counter)
    delivered: int = 0
    cancelled: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    refunds: int = 0
    refunded_minor: int = 0
    captured_minor: int = 0
    to_confirm_min: array[float] = field(default_factory=lambda: array("d"))
    to_deliver_min: array[float] = field(default_factory=lambda: array("d"))
    driver_busy_s: float = 0.0
    double_bookings: int = 0
    late_confirmations: int = 0
    early_confirmations: int = 0
    hourly_placed: list[int] = field(default_factory=lambda: [0] * 24)
    hourly_delivered: list[int] = field(default_factory=lambda: [0] * 24)
    hourly_failed: list[int] = field(default_factory=lambda: [0] * 24)
    minutely_placed: list[int] = field(default_factory=lambda: [0] * 1440)


class Simulation:
    """One run. Use :func:`run_simulation`.

    Args:
        config: the knobs.
        progress: called with (orders placed so far, total) now and then, or None.
    """

    def __init__(self, config: SimulationConfig, progress: Callable[[int, int], None] | None = None) -> None:
        self.config = config
        self.progress = progress
        self.rng = random.Random(config.seed)
        self.day = datetime.fromisoformat(config.day).date()
        self.start = datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC) - timedelta(hours=14)
        self.clock = VirtualClock(self.start)
        #: the start's seconds into its UTC day (a whole number: the start is a whole hour)
        self._start_s = float(self.start.hour * 3600 + self.start.minute * 60 + self.start.second)
        self.counters = OperationCounters(metering=config.metering)
        #: the meter's per-thread sums the simulated clients' requests are added to (``sums.unsized[API_REQUEST] +=
        #: n`` is ``counters.record(API_REQUEST, n)`` without the call), None without metering
        self._sums = self.counters.meter.local if config.metering else None
        promotions = {
            "DINNER10": PromoCode(
                "DINNER10", PromoKind.PERCENT, percent=Decimal(10), min_subtotal=Money.of("20.00", "USD")
            )
        }
        self.app: Bootstrapped = bootstrap(
            Settings(),
            clock=self.clock,
            ids=SequentialIdGenerator(),
            counters=self.counters,
            promotions=promotions,
            retain=1000,
            # bounded memory: notifications deduplicated over a window (a re-sent notice comes within seconds),
            # published events and driver positions counted, not kept (nothing reads them back: the simulation
            # observes the events as its consumer, see consume below; a publisher that keeps none tracks no ids)
            publisher=InMemoryEventPublisher(counters=self.counters, retain=0),
            notifier=InMemoryNotifier(counters=self.counters, retain=1000, dedupe_window=_DEDUPE_WINDOW),
            location=InMemoryLocationStream(counters=self.counters, retain=0),
        )
        self.service = self.app.service
        scheduler = self.app.adapters["scheduler"]
        assert isinstance(scheduler, InMemoryScheduler)
        self.scheduler = scheduler
        payments = self.app.adapters["payments"]
        assert isinstance(payments, FakePaymentGateway)
        self.payments = payments
        self.stats = _Stats()
        self.pending: dict[str, _Pending] = {}
        self.heap: list[tuple[float, int, int, str]] = []
        self.seq = 0
        self.holders: dict[str, str] = {}
        self.cities: list[City] = []
        self.restaurants: list[Restaurant] = []
        self.restaurant_actors: list[Actor] = []  # each restaurant's staff (an actor is immutable: built once)
        self.city_restaurants: list[list[int]] = []
        self.customers: list[Customer] = []
        self.city_customers: list[list[int]] = []
        self.driver_count = 0
        self.now_s = 0.0
        self.first_arrival_s = 0.0
        self._staged: _Pending | None = None
        self.loop_cpu_s = 0.0
        self._freeze = True  # whether the run freezes what the collector tracks (see run)
        orders, sagas = self.app.adapters["orders"], self.app.adapters["sagas"]
        assert isinstance(orders, InMemoryOrderRepository) and isinstance(sagas, InMemorySagaStateStore)
        self.orders, self.sagas = orders, sagas
        self.audit = OrderAudit()
        self._finished: list[str] = []
        original = self.service.handle_events

        def consume(events: Sequence[DomainEvent]) -> list[str]:
            failed = original(events)
            self._observe(events)
            return failed

        self.service.relay.consumer = consume
        self.service.orders.runtime_consumers.append(consume)  # it hands OrderPlaced to the runtime

    # -- world ------------------------------------------------------------------------------------------
    def _t(self, when: datetime) -> float:
        return (when - self.start).total_seconds()

    def _build_world(self, arrivals_per_city: list[int], peak_per_city: list[float]) -> None:
        cfg, rng = self.config, self.rng
        n_rest = cfg.restaurants or max(100, min(50_000, cfg.orders // 50))
        n_cust = cfg.customers or max(100, min(2_000_000, cfg.orders // 4))
        total = sum(arrivals_per_city) or 1
        # restaurants: ids rest-0..rest-99 first (the reference load test's ids), spread by demand
        weights = [a / total for a in arrivals_per_city]
        self.city_restaurants = [[] for _ in self.cities]
        for i in range(n_rest):
            c = i % len(self.cities) if i < len(self.cities) else rng.choices(range(len(self.cities)), weights)[0]
            r = make_restaurant(i, self.cities[c], rng)
            self.service.restaurants.add(r)
            self.restaurants.append(r)
            self.restaurant_actors.append(Actor.restaurant(r.restaurant_id))
            self.city_restaurants[c].append(i)
        self.city_customers = [[] for _ in self.cities]
        for i in range(n_cust):
            c = rng.choices(range(len(self.cities)), weights)[0]
            home = offset_point(rng, self.cities[c].centre, CUSTOMER_RADIUS_KM)
            self.customers.append(Customer(f"user-{i}", c, home))
            self.city_customers[c].append(i)
        # a city with orders that drew no customer (few customers, many cities) gets one living there: its orders
        # come from its own residents, inside the delivery area of its restaurants (a customer of another city is
        # hundreds of km away). Runs where every such city drew one are unchanged.
        for c, arrivals in enumerate(arrivals_per_city):
            if arrivals and not self.city_customers[c]:
                i = len(self.customers)
                home = offset_point(rng, self.cities[c].centre, CUSTOMER_RADIUS_KM)
                self.customers.append(Customer(f"user-{i}", c, home))
                self.city_customers[c].append(i)
        # drivers: enough for each city's busiest hour (a driver is held ~50 min per order: assignment at
        # payment, cooking, the ride to the door), plus 60 % for drivers who are on the wrong side of town
        now = self.clock.now()
        vehicles = ("bicycle", "scooter", "scooter", "car")
        d = 0
        for c in range(len(self.cities)):
            if cfg.drivers is not None:
                count = max(1, round(cfg.drivers * weights[c]))
            else:
                count = max(3, math.ceil(peak_per_city[c] * (50 / 60) * 1.6))
            for _ in range(count):
                self.service.drivers.add(
                    Driver(
                        driver_id=f"drv-{d}",
                        name=f"Driver {d}",
                        status=DriverStatus.AVAILABLE,
                        location=self._near_a_restaurant(c),
                        vehicle=rng.choice(vehicles),
                        last_seen=now,
                    )
                )
                d += 1
        self.driver_count = d

    def _near_a_restaurant(self, city: int) -> GeoPoint:
        """Drivers wait where the restaurants are: within 3 km of one of the city's restaurants."""
        ids = self.city_restaurants[city]
        if not ids:
            return offset_point(self.rng, self.cities[city].centre, CITY_RADIUS_KM)
        spot = self.restaurants[ids[self.rng.randrange(len(ids))]].location
        return offset_point(self.rng, spot, 3.0)

    def _arrivals(self) -> tuple[array[float], array[int]]:
        """Arrival times (s from start, sorted) and their city indexes, drawn from the hourly profile in each
        city's local time."""
        cfg, rng = self.config, self.rng
        pops = [c.population for c in self.cities]
        total_pop = sum(pops)
        hours = list(range(24))
        cum: list[float] = []
        acc = 0.0
        for w in cfg.hourly_weights:
            acc += w
            cum.append(acc)
        offsets = []
        for city in self.cities:
            local_midnight = datetime(self.day.year, self.day.month, self.day.day, tzinfo=ZoneInfo(city.timezone))
            offsets.append(self._t(local_midnight.astimezone(UTC)))
        pairs: list[tuple[float, int]] = []
        city_idx = list(range(len(self.cities)))
        city_w = [p / total_pop for p in pops]
        cities = rng.choices(city_idx, city_w, k=cfg.orders)
        for c in cities:
            hour = hours[bisect_right(cum, rng.random() * acc)] if acc else 0
            pairs.append((offsets[c] + hour * 3600 + rng.random() * 3600, c))
        pairs.sort()
        return array("d", (p[0] for p in pairs)), array("i", (p[1] for p in pairs))

    # -- scheduling -------------------------------------------------------------------------------------
    def _push(self, at: float, kind: int, order_id: str) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, kind, order_id))

    # -- observing the system ---------------------------------------------------------------------------
    def _observe(self, events: Sequence[DomainEvent]) -> None:
        # the kinds by how often they come (a status change about five times per order; a customer notice, which
        # changes nothing here, about twice), each kind tested once; the order in flight looked up only for the
        # kinds that read it
        st = self.stats
        pending = self.pending
        for e in events:
            kind = e.type
            if kind is _STATUS_CHANGED:
                p = pending.get(e.order_id)
                if p is None:
                    continue
                to = e.payload["to"]
                if to == "CONFIRMED":
                    st.to_confirm_min.append((self.now_s - p.placed_at) / 60)
                    self._push(self.now_s + 60, _PREPARING, e.order_id)
                    prep = self.restaurants[p.restaurant].avg_prep_minutes * 60 * self.rng.uniform(0.7, 1.4)
                    self._push(self.now_s + max(120.0, prep), _READY, e.order_id)
                elif to == "DELIVERED":
                    st.delivered += 1
                    st.to_deliver_min.append((self.now_s - p.placed_at) / 60)
                    st.hourly_delivered[self._hour(p.placed_at)] += 1
                    if p.driver_id is not None:
                        self._free(p, p.driver_id, e.order_id)
                    self._finish(e.order_id)
            elif kind is _CUSTOMER_NOTIFIED:
                continue
            elif kind is _PLACED:
                if self._staged is not None:
                    pending[e.order_id] = self._staged
                    self._staged = None
            elif kind is _PAYMENT_CAPTURED:
                st.captured_minor += Money.of(e.payload["amount"], e.payload["currency"]).minor
            elif kind is _PAYMENT_REFUNDED:
                st.refunds += 1
                st.refunded_minor += Money.of(e.payload["amount"], e.payload["currency"]).minor
            else:
                p = pending.get(e.order_id)
                if p is None:
                    continue
                if kind is _RESTAURANT_NOTIFIED:
                    if p.behaviour == 0:
                        self._push(self.now_s + p.delay, _CONFIRM, e.order_id)
                    elif p.behaviour == 1:
                        self._push(self.now_s + p.delay, _REJECT, e.order_id)
                elif kind is _DRIVER_ASSIGNED:
                    driver = str(e.payload["driverId"])
                    if driver in self.holders:
                        st.double_bookings += 1
                    self.holders[driver] = e.order_id
                    p.assigned_at = self.now_s
                    p.driver_id = driver
                    p.driver = Actor.driver(driver)
                elif kind is _DRIVER_RELEASED:
                    self._free(p, str(e.payload["driverId"]), e.order_id)
                elif kind is _ORDER_FAILED:
                    st.failed[str(e.payload.get("reason", "unknown"))] += 1
                    st.hourly_failed[self._hour(p.placed_at)] += 1
                    self._finish(e.order_id)
                elif kind is _ORDER_CANCELLED:
                    st.cancelled += 1
                    self._finish(e.order_id)

    def _hour(self, t: float) -> int:
        """The UTC hour of ``t`` (s from start): ``(start + timedelta(seconds=t)).hour``, by arithmetic on the
        seconds of the day unless ``t`` is within a second of a whole hour (where the microsecond rounding of the
        timedelta could decide it: the datetime then)."""
        s = t + self._start_s
        if 1.0 <= s % 3600.0 <= 3599.0:
            return int(s // 3600.0) % 24
        return int((self.start + timedelta(seconds=t)).hour)

    def _minute(self, t: float) -> int:
        """The UTC minute of the day of ``t`` (s from start), as :meth:`_hour` (the datetime within 1 ms of a whole
        minute)."""
        s = t + self._start_s
        if 0.001 <= s % 60.0 <= 59.999:
            return int(s // 60.0) % 1440
        at = self.start + timedelta(seconds=t)
        return at.hour * 60 + at.minute

    def _free(self, p: _Pending, driver: str, order_id: str) -> None:
        if self.holders.get(driver) == order_id:
            del self.holders[driver]
            if p.assigned_at >= 0:
                self.stats.driver_busy_s += self.now_s - p.assigned_at
                p.assigned_at = -1.0

    def _finish(self, order_id: str) -> None:
        self.pending.pop(order_id, None)
        self._finished.append(order_id)

    def _release_finished(self) -> None:
        """Fold every order that finished in the last call into the audit (:class:`OrderAudit`) and release it, its
        saga and its payment (charge, idempotency results) from the stores: memory follows the orders in flight, not
        every order placed. An order whose saga has not ended yet stays stored (the final audit reads it)."""
        finished, self._finished = self._finished, []
        for order_id in finished:
            if self.sagas.release(order_id, finished_only=True) is None:
                continue
            order = self.orders.release(order_id)
            if order is None:
                continue
            refunds = self.payments.refunds_of(order.charge_id) if order.charge_id is not None else []
            self.audit.fold(order, [r.amount.minor for r in refunds])
            # a declined authorization leaves a stored result (and an exhausted retry its failure count) but no charge
            self.payments.release(
                order.charge_id, (f"{order_id}:authorize", f"{order_id}:capture", f"{order_id}:refund")
            )

    # -- actors -----------------------------------------------------------------------------------------
    def _place(self, city: int) -> None:
        cfg, rng, st = self.config, self.rng, self.stats
        cust_ids = self.city_customers[city]  # never empty for a city with orders (see _build_world)
        ci = cust_ids[rng.randrange(len(cust_ids))]
        customer = self.customers[ci]
        # customers order nearby: the closest of a few restaurants of their city the app suggests (every city has
        # one, and each is inside the customer's delivery area: see fooddelivery.simulation.world)
        rest_ids = self.city_restaurants[city]
        suggested = [rest_ids[rng.randrange(len(rest_ids))] for _ in range(4)]
        ri = min(suggested, key=lambda k: (self.restaurants[k].location.distance_km(customer.home), k))
        restaurant = self.restaurants[ri]
        roll = rng.random()
        if roll < cfg.decline_rate:
            token = "tok_chargeDeclined"
        elif roll < cfg.decline_rate + cfg.transient_rate:
            token = "tok_processingError_1"
        elif roll < cfg.decline_rate + cfg.transient_rate + cfg.transient_exhausted_rate:
            token = "tok_processingError"
        else:
            token = "tok_visa" if rng.random() < 0.7 else "card"
        roll = rng.random()
        behaviour = 2 if roll < cfg.no_answer_rate else 1 if roll < cfg.no_answer_rate + cfg.reject_rate else 0
        lo, hi = cfg.confirm_delay_s
        delay = rng.uniform(lo, hi)
        subtotal = 2197
        if rng.random() < 0.25:
            lines = [
                LineRequest(1, name="Pizza", unit_price=Decimal("15.99")),
                LineRequest(2, name="Soda", unit_price=Decimal("2.99")),
            ]
        else:
            available = [m for m in restaurant.menu if m.available]
            picks = rng.sample(available, k=min(len(available), rng.randint(1, 3)))
            qty = [rng.randint(1, 3) for _ in picks]
            lines = [LineRequest(q, item_id=m.item_id) for q, m in zip(qty, picks, strict=True)]
            subtotal = sum(m.price.minor * q for q, m in zip(qty, picks, strict=True))
        command = PlaceOrder(
            restaurant_id=restaurant.restaurant_id,
            lines=lines,
            delivery_address=DeliveryAddress(f"{ci} Simulated St, {self.cities[city].name}", customer.home),
            payment_method=token,
            tip=f"{rng.randint(0, 6)}.{rng.choice(('00', '50'))}",
            # the app only offers the code when the basket qualifies (20.00 minimum)
            promo_code="DINNER10" if subtotal >= 2000 and rng.random() < cfg.promo_rate else None,
        )
        placed_at = self.now_s
        # picked up by _observe at the order's OrderPlaced event, before the saga's own events arrive
        self._staged = _Pending(ri, ci, customer.home, behaviour, delay, placed_at)
        if self._sums is not None:
            self._sums.unsized[API_REQUEST] += 1
        try:
            self.service.place_order(Actor.customer(customer.customer_id), command)
        except FoodDeliveryError as exc:
            st.refused_at_placement[exc.code] += 1
            self._staged = None
            return
        st.placed += 1
        st.hourly_placed[self._hour(placed_at)] += 1
        st.minutely_placed[self._minute(placed_at)] += 1

    def _act(self, kind: int, order_id: str) -> None:
        p = self.pending.get(order_id)
        if p is None:
            return
        svc = self.service
        restaurant = self.restaurants[p.restaurant]
        staff = self.restaurant_actors[p.restaurant]
        # every action is one HTTP request of a client, two for a position report with a status change
        if self._sums is not None:
            self._sums.unsized[API_REQUEST] += 2 if kind in (_PICKUP, _DELIVER) else 1
        try:
            if kind == _CONFIRM:
                svc.confirm_order(staff, order_id)
            elif kind == _REJECT:
                svc.reject_order(staff, order_id, "kitchen closed")
            elif kind == _PREPARING:
                svc.change_status(staff, order_id, OrderStatus.PREPARING)
            elif kind == _READY:
                svc.change_status(staff, order_id, OrderStatus.READY_FOR_PICKUP)
                self._schedule_pickup(p, order_id, restaurant)
            elif kind == _PICKUP:
                driver = p.driver
                assert driver is not None
                svc.report_location(driver, order_id, restaurant.location)
                svc.change_status(driver, order_id, OrderStatus.PICKED_UP)
                ride = restaurant.location.distance_km(p.address) / _RIDE_KMH * 3600
                self._push(self.now_s + ride / 2, _MIDWAY, order_id)
                self._push(self.now_s + ride + _HANDOVER_S, _DELIVER, order_id)
            elif kind == _MIDWAY:
                assert p.driver is not None
                mid = GeoPoint(
                    round((restaurant.location.lat + p.address.lat) / 2, 6),
                    round((restaurant.location.lon + p.address.lon) / 2, 6),
                )
                svc.report_location(p.driver, order_id, mid)
            elif kind == _DELIVER:
                driver = p.driver
                assert driver is not None
                svc.report_location(driver, order_id, p.address)
                svc.change_status(driver, order_id, OrderStatus.DELIVERED)
        except LateEvent:
            self.stats.late_confirmations += 1
        except InvalidTransition:
            if kind in (_CONFIRM, _REJECT):
                # the saga is not waiting yet (payment or driver retry in progress): try again shortly
                self.stats.early_confirmations += 1
                self._push(self.now_s + 30, kind, order_id)
            else:
                raise

    def _schedule_pickup(self, p: _Pending, order_id: str, restaurant: Restaurant) -> None:
        if p.driver_id is None:
            raise RuntimeError(f"order {order_id} is ready without a driver")
        driver = self.service.drivers.get(p.driver_id)
        arrive = p.assigned_at + driver.location.distance_km(restaurant.location) / _RIDE_KMH * 3600
        self._push(max(self.now_s, arrive) + _HANDOVER_S, _PICKUP, order_id)

    # -- main loop --------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Run the whole day and return the report (see :mod:`fooddelivery.simulation.report`)."""
        cfg = self.config
        wall0 = time.perf_counter()
        self.cities = load_cities(cfg.cities)
        times, cities = self._arrivals()
        self.first_arrival_s = times[0] if len(times) else 0.0
        per_city = [0] * len(self.cities)
        for c in cities:
            per_city[c] += 1
        # busiest hour per city = its share x the peak hour's weight
        top = max(cfg.hourly_weights) / sum(cfg.hourly_weights)
        peak_f = [n * top for n in per_city]
        self._build_world(per_city, peak_f)
        self.counters.reset_usage()  # the world's setup is not part of the day's bill
        # The collector's thresholds and freeze are process-wide: the first of overlapping runs (threads) keeps them
        # as found, the last restores them
        with _collector.lock:
            if _collector.runs == 0:
                _collector.thresholds = gc.get_threshold()
                _collector.freeze = gc.get_freeze_count() == 0
            _collector.runs += 1
            self._freeze = _collector.freeze
            gc.set_threshold(*_GC_THRESHOLDS)
        try:
            # The world lives as long as the run: out of the collector's generations, so a collection never walks it.
            # Not when the caller has frozen objects of its own: gc.unfreeze() at the end cannot tell them from the
            # run's and would unfreeze them too (the run is then slower, the caller's state left as found).
            if self._freeze:
                gc.collect()
                gc.freeze()
            build_s = time.perf_counter() - wall0
            loop0 = time.perf_counter()
            cpu0 = time.process_time()
            self._loop(times, cities)
        finally:
            with _collector.lock:
                _collector.runs -= 1
                if _collector.runs == 0:
                    gc.set_threshold(*_collector.thresholds)
                    if _collector.freeze:
                        gc.unfreeze()
        loop_s = time.perf_counter() - loop0
        self.loop_cpu_s = time.process_time() - cpu0
        return self._report(build_s, loop_s)

    def _loop(self, times: array[float], cities: array[int]) -> None:
        """The day: arrivals (``times``, s from start, sorted; ``cities``, their city indexes), actions and timers,
        earliest first, until nothing is left."""
        i, n = 0, len(times)
        next_sched = self.scheduler.next_due
        heap = self.heap
        report_every = max(1, n // 200)
        inf = math.inf
        clock, start = self.clock, self.start
        # the earliest timer's due time (a datetime) and its seconds: the same timer stays first for many steps
        last_due: datetime | None = None
        last_tim = inf
        while True:
            t_arr = times[i] if i < n else inf
            t_act = heap[0][0] if heap else inf
            due = next_sched()
            if due is None:
                t_tim = inf
            elif due is last_due:
                t_tim = last_tim
            else:
                t_tim = last_tim = self._t(due)
                last_due = due
            t = t_arr if t_arr < t_act else t_act
            t = t_tim if t_tim < t else t  # min(t_arr, t_act, t_tim), without the call
            if t == inf:
                break
            if t > self.now_s:  # the clock jumps to the next thing to happen
                self.now_s = t
                clock.set(start + timedelta(seconds=t))
            if t_tim <= t:
                self.app.run_due()
            elif t_act <= t:
                _, _, kind, order_id = heapq.heappop(heap)
                self._act(kind, order_id)
            else:
                self._place(cities[i])
                i += 1
                if self.progress is not None and i % report_every == 0:
                    self.progress(i, n)
                if i % _REFREEZE_EVERY == 0 and self._freeze:
                    # The young generations' cyclic garbage (an exception's frames) collected, what is left is mostly
                    # long-lived (drivers saved since, each a new object with new index entries; orders in flight):
                    # frozen too, so no collection walks the fleet again as it moves out of the frozen world (at a
                    # million orders, 250,000 drivers: a full collection took 1-2 s, and all of them about a quarter
                    # of the run). An order frozen in flight is freed by its reference count when it is released;
                    # the unfreeze at the end hands any cycle among them back to the collector.
                    gc.collect(1)
                    gc.freeze()
            if self._finished:
                self._release_finished()
        if self.progress is not None:
            self.progress(n, n)

    def _report(self, build_s: float, loop_s: float) -> dict[str, Any]:
        from fooddelivery.simulation.report import build_report

        return build_report(self, build_s, loop_s, _peak_rss_mib())


def _peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB (``getrusage``; Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_simulation(
    config: SimulationConfig, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Run one simulated day and return its report (a JSON-ready dict; field names documented in
    :mod:`fooddelivery.simulation.report`).

    Raises:
        ValueError: an invalid config.
        RuntimeError: an invariant broke in a way the simulation cannot continue from (a bug in the core).
    """
    return Simulation(config, progress).run()
