"""The in-memory adapters: every port contract, plus what only they promise.

Virtual time, failure injection, retention, operation counters, the fake processor's tokens.
"""

from __future__ import annotations

import re
import threading
import tracemalloc
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from fooddelivery.adapters.memory import (
    OPERATION_NAMES,
    FakePaymentGateway,
    InMemoryDriverRepository,
    InMemoryEventPublisher,
    InMemoryLocationStream,
    InMemoryNotifier,
    InMemoryOrderRepository,
    InMemoryRestaurantRepository,
    InMemorySagaStateStore,
    InMemoryScheduler,
    OperationCounters,
    SequentialIdGenerator,
    VirtualClock,
    copy_saga_state,
)
from fooddelivery.adapters.system import SystemClock, UuidIdGenerator
from fooddelivery.domain.actors import Actor
from fooddelivery.domain.catalog import DriverStatus
from fooddelivery.domain.errors import (
    ConcurrencyConflict,
    IdempotencyKeyReused,
    InfrastructureError,
    NotFound,
    PaymentDeclined,
    PaymentRetryableError,
    ValidationError,
)
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.domain.money import Money
from fooddelivery.domain.order import OrderStatus
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
    RestaurantQuery,
    RestaurantRepository,
    SagaStateStore,
    Scheduler,
)
from fooddelivery.ports.notifications import Notification, NotificationKind
from fooddelivery.ports.scheduler import ScheduledMessage
from fooddelivery.testing.builders import (
    DOWNTOWN,
    T0,
    advance,
    make_driver,
    make_event,
    make_location_event,
    make_notification,
    make_order,
    make_restaurant,
    make_saga_state,
    make_scheduled,
    point_at,
)
from fooddelivery.testing.contracts.clock_contract import ClockContract
from fooddelivery.testing.contracts.driver_repository_contract import DriverRepositoryContract
from fooddelivery.testing.contracts.event_publisher_contract import EventPublisherContract
from fooddelivery.testing.contracts.id_generator_contract import IdGeneratorContract
from fooddelivery.testing.contracts.location_stream_contract import LocationStreamContract
from fooddelivery.testing.contracts.notifier_contract import NotifierContract
from fooddelivery.testing.contracts.operation_counts import EXPECTED_COUNTS, exercise_every_port
from fooddelivery.testing.contracts.order_repository_contract import OrderRepositoryContract
from fooddelivery.testing.contracts.payment_gateway_contract import PaymentGatewayContract
from fooddelivery.testing.contracts.restaurant_repository_contract import RestaurantRepositoryContract
from fooddelivery.testing.contracts.saga_store_contract import SagaStateStoreContract
from fooddelivery.testing.contracts.scheduler_contract import SchedulerContract


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")




# == the port contracts
# ======================================================================================
class TestSystemClock(ClockContract):
    @pytest.fixture
    def clock(self) -> Clock:
        return SystemClock()


class TestVirtualClock(ClockContract):
    @pytest.fixture
    def clock(self) -> Clock:
        return VirtualClock(T0)

    def test_it_stands_still_until_advanced(self) -> None:
        clock = VirtualClock(T0)
        assert clock.now() == clock.now() == T0

    def test_advance_takes_seconds_or_a_timedelta_and_returns_the_new_time(self) -> None:
        clock = VirtualClock(T0)
        assert clock.advance(90) == T0 + timedelta(seconds=90)
        assert clock.advance(timedelta(minutes=2)) == T0 + timedelta(seconds=210)
        assert clock.advance(0.5) == T0 + timedelta(seconds=210.5)
        assert clock.now() == T0 + timedelta(seconds=210.5)

    def test_set_jumps_forward_and_to_the_same_instant(self) -> None:
        clock = VirtualClock(T0)
        assert clock.set(T0 + timedelta(hours=1)) == T0 + timedelta(hours=1)
        assert clock.set(T0 + timedelta(hours=1)) == T0 + timedelta(hours=1)

    def test_it_never_goes_backwards(self) -> None:
        clock = VirtualClock(T0)
        with pytest.raises(ValueError, match="backwards"):
            clock.set(T0 - timedelta(microseconds=1))
        with pytest.raises(ValueError, match="backwards"):
            clock.advance(-1)
        assert clock.now() == T0

    def test_other_offsets_are_converted_to_utc_and_naive_times_refused(self) -> None:
        paris = timezone(timedelta(hours=1))
        clock = VirtualClock(datetime(2025, 3, 14, 13, 0, tzinfo=paris))
        assert clock.now() == T0
        assert clock.now().utcoffset() == timedelta(0)
        with pytest.raises(ValueError, match="timezone-aware"):
            VirtualClock(datetime(2025, 3, 14, 12, 0))
        with pytest.raises(ValueError, match="timezone-aware"):
            clock.set(datetime(2026, 1, 1))


class TestUuidIdGenerator(IdGeneratorContract):
    @pytest.fixture
    def ids(self) -> IdGenerator:
        return UuidIdGenerator()

    def test_ids_are_the_prefix_and_32_hex_digits(self) -> None:
        assert re.fullmatch(r"ord-[0-9a-f]{32}", UuidIdGenerator().new_id("ord"))


class TestSequentialIdGenerator(IdGeneratorContract):
    @pytest.fixture
    def ids(self) -> IdGenerator:
        return SequentialIdGenerator()

    def test_ids_count_up_across_prefixes_from_one(self) -> None:
        ids = SequentialIdGenerator()
        assert [ids.new_id("ord"), ids.new_id("evt"), ids.new_id("ord")] == [
            "ord-00000001",
            "evt-00000002",
            "ord-00000003",
        ]
        assert ids.next_number == 4

    @pytest.mark.usefixtures("busy_switching")
    def test_threads_never_get_the_same_number(self) -> None:
        ids = SequentialIdGenerator()
        got: list[list[str]] = [[] for _ in range(8)]

        def work(mine: list[str]) -> None:
            for _ in range(2000):
                mine.append(ids.new_id("evt"))

        threads = [threading.Thread(target=work, args=(mine,)) for mine in got]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        every = [i for mine in got for i in mine]
        assert len(set(every)) == 16_000
        assert sorted(every) == [f"evt-{n:08d}" for n in range(1, 16_001)]
        assert ids.next_number == 16_001

    def test_a_namespace_and_a_start_make_ids_of_separate_generators_distinct(self) -> None:
        ids = SequentialIdGenerator(namespace="w2", start=41)
        assert ids.new_id("ord") == "ord-w2-00000041"

    def test_a_namespace_with_a_slash_or_a_negative_start_is_refused(self) -> None:
        with pytest.raises(ValueError):
            SequentialIdGenerator(namespace="a/b")
        with pytest.raises(ValueError):
            SequentialIdGenerator(start=-1)

    @pytest.mark.parametrize("start", [1.5, 2.0, Decimal("3.7")])
    def test_a_start_that_is_not_an_integer_is_refused_not_truncated_into_the_ids(self, start: object) -> None:
        # "%08d" truncates a float or a Decimal: 1.5 would hand out "ord-00000001" then "ord-00000002" (numbers it
        # never counted, next_number then failing on "3.5"); the f-string before it refused them at the first id
        with pytest.raises(ValueError, match="start"):
            SequentialIdGenerator(start=start)  # type: ignore[arg-type]
        assert SequentialIdGenerator(start=True).new_id("ord") == "ord-00000001"  # a bool is an int, as before


class TestInMemoryOrderRepository(OrderRepositoryContract):
    @pytest.fixture
    def repo(self) -> OrderRepository:
        return InMemoryOrderRepository()

    def test_it_is_both_an_order_repository_and_an_outbox(self) -> None:
        repo = InMemoryOrderRepository()
        assert isinstance(repo, OrderRepository)
        assert isinstance(repo, Outbox)

    def test_a_cursor_of_another_listing_is_refused(self) -> None:
        repo = InMemoryOrderRepository()
        restaurant = make_restaurant()
        for i in range(3):
            repo.add(make_order(restaurant, customer_id="cus-ana", now=T0 + timedelta(minutes=i)))
        cursor = repo.list_by_customer("cus-ana", limit=1).next_cursor
        assert cursor is not None
        with pytest.raises(ValidationError):
            repo.list_by_customer("cus-bob", cursor=cursor)
        with pytest.raises(ValidationError):
            repo.list_by_restaurant(restaurant.restaurant_id, cursor=cursor)

    def test_counts_by_status_and_outbox_size_follow_the_writes(self) -> None:
        repo = InMemoryOrderRepository()
        orders = [make_order() for _ in range(3)]
        for order in orders:
            repo.add(order)
        loaded = repo.get(orders[0].order_id)
        advance(loaded, OrderStatus.CONFIRMED)
        repo.save(loaded)
        assert len(repo) == 3
        assert repo.count_by_status() == {OrderStatus.PENDING: 2, OrderStatus.CONFIRMED: 1}
        assert repo.outbox_size == 4

    def test_pending_of_zero_or_less_is_empty(self) -> None:
        repo = InMemoryOrderRepository()
        repo.add(make_order())
        assert list(repo.pending(0)) == []


class TestInMemoryRestaurantRepository(RestaurantRepositoryContract):
    @pytest.fixture
    def repo(self) -> RestaurantRepository:
        return InMemoryRestaurantRepository()

    def test_a_restaurant_moved_to_another_cuisine_is_listed_under_the_new_one_only(self) -> None:
        repo = InMemoryRestaurantRepository()
        stored = repo.add(make_restaurant(cuisine="pizza"))
        repo.save(replace(stored, cuisine="sushi"))
        assert list(repo.search(RestaurantQuery(cuisine="pizza")).items) == []
        assert [r.restaurant_id for r in repo.search(RestaurantQuery(cuisine="sushi")).items] == [stored.restaurant_id]
        assert len(repo) == 1


class TestInMemoryDriverRepository(DriverRepositoryContract):
    @pytest.fixture
    def repo(self) -> DriverRepository:
        return InMemoryDriverRepository()

    def test_drivers_across_the_antimeridian_are_found(self) -> None:
        repo = InMemoryDriverRepository()
        repo.add(make_driver(driver_id="drv-east", location=GeoPoint(0.0, 179.99)))
        repo.add(make_driver(driver_id="drv-west", location=GeoPoint(0.0, -179.98)))
        repo.add(make_driver(driver_id="drv-on", location=GeoPoint(0.0, 180.0)))
        found = repo.available_near(GeoPoint(0.0, -180.0), 5.0, 10)
        assert [d.driver_id for d in found] == ["drv-on", "drv-east", "drv-west"]

    def test_drivers_near_a_pole_are_found_at_any_longitude(self) -> None:
        repo = InMemoryDriverRepository()
        repo.add(make_driver(driver_id="drv-a", location=GeoPoint(89.99, 0.0)))
        repo.add(make_driver(driver_id="drv-b", location=GeoPoint(89.99, 180.0)))
        repo.add(make_driver(driver_id="drv-far", location=GeoPoint(80.0, 0.0)))
        found = repo.available_near(GeoPoint(90.0, 0.0), 5.0, 10)
        assert [d.driver_id for d in found] == ["drv-a", "drv-b"]

    def test_a_search_looks_only_at_drivers_near_the_point(self) -> None:
        repo = InMemoryDriverRepository()
        for i in range(100):
            for j in range(100):
                spot = point_at(DOWNTOWN, km_north=i - 50, km_east=j - 50)
                repo.add(make_driver(driver_id=f"drv-{i:03d}-{j:03d}", location=spot))
        found = repo.available_near(DOWNTOWN, 8.0, 5)
        assert found[0].driver_id == "drv-050-050"
        assert len(found) == 5
        assert 5 <= repo.last_query_examined < 100  # of 10,000 drivers
        everyone = repo.available_near(DOWNTOWN, 8.0, 1000)
        assert len(everyone) == 197  # the 1 km grid points within 8 km
        assert repo.last_query_examined < 400

    def test_a_negative_radius_or_a_limit_below_one_is_refused(self) -> None:
        repo = InMemoryDriverRepository()
        with pytest.raises(ValidationError):
            repo.available_near(DOWNTOWN, -1.0, 5)
        with pytest.raises(ValidationError):
            repo.available_near(DOWNTOWN, 5.0, 0)

    def test_a_cell_size_that_does_not_divide_360_is_refused(self) -> None:
        with pytest.raises(ValueError):
            InMemoryDriverRepository(cell_degrees=0.07)
        with pytest.raises(ValueError):
            InMemoryDriverRepository(cell_degrees=0)

    def test_the_inspection_helpers_report_every_and_the_available_drivers(self) -> None:
        repo = InMemoryDriverRepository(cell_degrees=0.05)
        repo.add(make_driver(driver_id="drv-b"))
        repo.add(make_driver(driver_id="drv-a", status=DriverStatus.OFFLINE))
        assert [d.driver_id for d in repo.all_drivers()] == ["drv-a", "drv-b"]
        assert repo.available_count == 1
        assert len(repo) == 2


class TestInMemorySagaStateStore(SagaStateStoreContract):
    @pytest.fixture
    def store(self) -> SagaStateStore:
        return InMemorySagaStateStore()

    def test_the_fast_copy_equals_the_state_and_shares_no_container(self) -> None:
        state = make_saga_state(outcome="payment_declined", version=3)
        copied = copy_saga_state(state)
        assert copied == state
        assert copied == state.copy()
        for name in ("data", "completed", "compensated", "attempts", "branches_done"):
            assert getattr(copied, name) is not getattr(state, name)
        assert copied.data["driver"] is not state.data["driver"]
        assert copied.data["driver"]["history"] is not state.data["driver"]["history"]

    def test_ids_lists_every_stored_saga(self) -> None:
        store = InMemorySagaStateStore()
        for saga_id in ("ord-b", "ord-a"):
            store.create(make_saga_state(saga_id=saga_id))
        assert store.ids() == ["ord-a", "ord-b"]
        assert len(store) == 2


class TestInMemoryScheduler(SchedulerContract):
    @pytest.fixture
    def scheduler(self) -> Scheduler:
        return InMemoryScheduler()

    def due(self, scheduler: Scheduler, now: datetime) -> list[ScheduledMessage]:
        assert isinstance(scheduler, InMemoryScheduler)
        return scheduler.pop_due(now)

    def test_next_due_and_pending_count_follow_schedules_cancels_and_deliveries(self) -> None:
        scheduler = InMemoryScheduler()
        assert scheduler.next_due() is None
        scheduler.schedule(make_scheduled(message_id="msg-1", due_at=T0 + timedelta(minutes=1)))
        scheduler.schedule(make_scheduled(message_id="msg-2", due_at=T0 + timedelta(minutes=2)))
        assert scheduler.pending_count == 2
        assert scheduler.next_due() == T0 + timedelta(minutes=1)
        scheduler.cancel("msg-1")
        assert scheduler.next_due() == T0 + timedelta(minutes=2)
        assert [m.message_id for m in scheduler.pending()] == ["msg-2"]
        scheduler.pop_due(T0 + timedelta(minutes=2))
        assert scheduler.pending_count == 0
        assert scheduler.next_due() is None

    def test_an_id_may_be_scheduled_again_after_it_was_cancelled_or_delivered(self) -> None:
        scheduler = InMemoryScheduler()
        scheduler.schedule(make_scheduled(message_id="msg-re", due_at=T0))
        scheduler.cancel("msg-re")
        scheduler.schedule(make_scheduled(message_id="msg-re", due_at=T0 + timedelta(minutes=3)))
        assert scheduler.pop_due(T0) == []
        assert [m.due_at for m in scheduler.pop_due(T0 + timedelta(minutes=3))] == [T0 + timedelta(minutes=3)]
        scheduler.schedule(make_scheduled(message_id="msg-re", due_at=T0 + timedelta(minutes=4)))
        assert scheduler.pending_count == 1

    def test_many_cancellations_keep_the_due_order_of_the_rest(self) -> None:
        scheduler = InMemoryScheduler()
        for i in range(500):
            scheduler.schedule(make_scheduled(message_id=f"msg-{i:03d}", due_at=T0 + timedelta(seconds=500 - i)))
        for i in range(500):
            if i % 5:
                assert scheduler.cancel(f"msg-{i:03d}") is True
        delivered = scheduler.pop_due(T0 + timedelta(hours=1))
        assert [m.message_id for m in delivered] == [f"msg-{i:03d}" for i in range(495, -1, -5)]

    def test_a_naive_due_time_is_refused(self) -> None:
        with pytest.raises(ValidationError):
            InMemoryScheduler().schedule(make_scheduled(due_at=datetime(2025, 3, 14, 12, 5)))


class TestInMemoryEventPublisher(EventPublisherContract):
    @pytest.fixture
    def publisher(self) -> EventPublisher:
        return InMemoryEventPublisher()

    def published(self, publisher: EventPublisher) -> list[DomainEvent]:
        assert isinstance(publisher, InMemoryEventPublisher)
        return publisher.published

    def test_an_injected_failure_accepts_nothing_and_names_every_event(self) -> None:
        publisher = InMemoryEventPublisher()
        events = [make_event(), make_event()]
        publisher.fail_next(1)
        with pytest.raises(InfrastructureError) as caught:
            publisher.publish(events)
        assert caught.value.context["failed_ids"] == [e.event_id for e in events]
        assert publisher.published == []
        publisher.publish(events)
        assert publisher.published == events

    def test_retain_keeps_the_last_events_but_counts_every_one_by_type(self) -> None:
        publisher = InMemoryEventPublisher(retain=2)
        placed = [make_event(type=EventType.ORDER_PLACED) for _ in range(3)]
        cancelled = make_event(type=EventType.ORDER_CANCELLED)
        publisher.publish([*placed, cancelled])
        assert publisher.published == [placed[2], cancelled]
        assert publisher.published_ids == {placed[2].event_id, cancelled.event_id}
        assert publisher.counts_by_type == {"OrderPlaced": 3, "OrderCancelled": 1}
        assert publisher.total == 4

    def test_retain_evicts_the_oldest_across_calls_and_within_one(self) -> None:
        publisher = InMemoryEventPublisher(retain=3)
        a, b, c, d, e = (make_event() for _ in range(5))
        publisher.publish([a])
        publisher.publish([b, c, d, e])  # room for two, then a and b (kept earlier in this call) are evicted
        assert publisher.published == [c, d, e]
        assert publisher.published_ids == {c.event_id, d.event_id, e.event_id}
        publisher.publish([a, c])  # full: a evicts c, then c evicts d; c, evicted, is no duplicate
        assert publisher.published == [e, a, c]
        assert publisher.published_ids == {e.event_id, a.event_id, c.event_id}
        assert publisher.duplicates == 0 and publisher.total == 7

    def test_a_republished_event_is_accepted_and_counted_as_a_duplicate(self) -> None:
        publisher = InMemoryEventPublisher()
        event = make_event()
        publisher.publish([event])
        publisher.publish([event])
        assert publisher.duplicates == 1
        assert publisher.published == [event, event]
        assert publisher.published_ids == {event.event_id}
        assert publisher.of_order(event.order_id) == [event, event]

    def test_retain_zero_keeps_nothing_but_still_counts(self) -> None:
        publisher = InMemoryEventPublisher(retain=0)
        publisher.publish([make_event(), make_event()])
        assert publisher.published == []
        assert publisher.total == 2
        assert publisher.counts_by_type == {"OrderPlaced": 2}

    def test_clear_forgets_the_events_but_keeps_the_counts(self) -> None:
        publisher = InMemoryEventPublisher()
        publisher.publish([make_event()])
        publisher.clear()
        assert publisher.published == []
        assert publisher.counts_by_type == {"OrderPlaced": 1}


class TestInMemoryNotifier(NotifierContract):
    @pytest.fixture
    def notifier(self) -> Notifier:
        return InMemoryNotifier()

    def delivered(self, notifier: Notifier) -> list[Notification]:
        assert isinstance(notifier, InMemoryNotifier)
        return notifier.sent

    def test_counts_by_kind_and_template_cover_every_delivery(self) -> None:
        notifier = InMemoryNotifier(retain=1)
        notifier.send(make_notification(kind=NotificationKind.RESTAURANT, template="new_order"))
        notifier.send(make_notification(kind=NotificationKind.CUSTOMER, template="order_confirmed"))
        last = make_notification(kind=NotificationKind.CUSTOMER, template="order_delivered")
        notifier.send(last)
        assert notifier.sent == [last]
        assert notifier.counts_by_kind == {"restaurant": 1, "customer": 2}
        assert notifier.counts_by_template == {
            "new_order": 1,
            "order_confirmed": 1,
            "order_delivered": 1,
        }
        assert notifier.total == 3
        assert notifier.sent_to(last.recipient_id) == [last]

    def test_a_repeat_is_counted_as_a_duplicate_not_a_delivery(self) -> None:
        notifier = InMemoryNotifier()
        notification = make_notification()
        notifier.send(notification)
        notifier.send(notification)
        assert notifier.total == 1
        assert notifier.duplicates == 1

    def test_a_dedupe_window_forgets_the_oldest_ids(self) -> None:
        notifier = InMemoryNotifier(dedupe_window=2)
        first = make_notification(notification_id="ntf-1")
        notifier.send(first)
        notifier.send(make_notification(notification_id="ntf-2"))
        notifier.send(make_notification(notification_id="ntf-3"))
        notifier.send(first)
        assert [n.notification_id for n in notifier.sent] == ["ntf-1", "ntf-2", "ntf-3", "ntf-1"]

    def test_an_injected_failure_delivers_nothing_and_a_retry_delivers_once(self) -> None:
        notifier = InMemoryNotifier()
        notification = make_notification()
        notifier.fail_next(1)
        with pytest.raises(InfrastructureError):
            notifier.send(notification)
        assert notifier.sent == []
        notifier.send(notification)
        notifier.send(notification)
        assert notifier.sent == [notification]


class TestInMemoryLocationStream(LocationStreamContract):
    @pytest.fixture
    def stream(self) -> LocationStream:
        return InMemoryLocationStream()

    def appended(self, stream: LocationStream, partition_key: str) -> list[DomainEvent]:
        assert isinstance(stream, InMemoryLocationStream)
        return stream.events(partition_key)

    def test_latest_is_the_last_position_of_a_partition(self) -> None:
        stream = InMemoryLocationStream(retain=2)
        events = [make_location_event("drv-ana", version=v) for v in range(1, 4)]
        for event in events:
            stream.append(event, "drv-ana")
        assert stream.latest("drv-ana") == events[-1]
        assert stream.latest("drv-bob") is None
        assert stream.events("drv-ana") == events[1:]
        assert stream.total == 3
        assert stream.partitions == ["drv-ana"]

    def test_only_location_events_are_accepted(self) -> None:
        stream = InMemoryLocationStream()
        with pytest.raises(ValidationError):
            stream.append(make_event(type=EventType.ORDER_PLACED), "drv-ana")
        with pytest.raises(ValidationError):
            stream.append(make_location_event(), "")

    def test_an_injected_failure_appends_nothing(self) -> None:
        stream = InMemoryLocationStream()
        stream.fail_next(1)
        with pytest.raises(InfrastructureError):
            stream.append(make_location_event("drv-ana"), "drv-ana")
        assert stream.events("drv-ana") == []


class TestFakePaymentGateway(PaymentGatewayContract):
    success_tokens = ("tok_visa", "tok_mastercard", "pm_card_visa", "card")

    @pytest.fixture
    def gateway(self) -> PaymentGateway:
        return FakePaymentGateway()

    def net_captured(self, gateway: PaymentGateway, charge_id: str) -> Money:
        assert isinstance(gateway, FakePaymentGateway)
        return gateway.net_captured(charge_id)

    def test_a_processing_error_token_fails_the_first_n_authorizations_then_captures_normally(self) -> None:
        gateway = FakePaymentGateway()
        for _ in range(2):
            with pytest.raises(PaymentRetryableError):
                gateway.authorize("tok_processingError_2", usd("10.00"), "ord-1:authorize")
        auth = gateway.authorize("tok_processingError_2", usd("10.00"), "ord-1:authorize")
        charge = gateway.capture(auth.charge_id, usd("10.00"), "ord-1:capture")
        assert charge.captured is True
        assert gateway.captured_total("USD") == usd("10.00")
        assert gateway.calls == 4

    def test_a_processing_error_token_counts_attempts_per_idempotency_key(self) -> None:
        gateway = FakePaymentGateway()
        with pytest.raises(PaymentRetryableError):
            gateway.authorize("tok_processingError_1", usd("10.00"), "ord-1:authorize")
        with pytest.raises(PaymentRetryableError):
            gateway.authorize("tok_processingError_1", usd("10.00"), "ord-2:authorize")
        assert gateway.authorize("tok_processingError_1", usd("10.00"), "ord-1:authorize").amount == usd("10.00")

    def test_the_plain_processing_error_token_never_succeeds(self) -> None:
        gateway = FakePaymentGateway()
        for _ in range(5):
            with pytest.raises(PaymentRetryableError):
                gateway.authorize("tok_processingError", usd("10.00"), "ord-1:authorize")
        assert gateway.authorizations == []

    def test_a_declined_key_replays_the_decline(self) -> None:
        gateway = FakePaymentGateway()
        for _ in range(2):
            with pytest.raises(PaymentDeclined) as caught:
                gateway.authorize("tok_chargeDeclinedInsufficientFunds", usd("10.00"), "ord-1:authorize")
            assert caught.value.context["decline_code"] == "insufficient_funds"
        assert gateway.authorizations == []

    def test_an_unknown_token_is_declined_as_an_unknown_payment_method(self) -> None:
        with pytest.raises(PaymentDeclined, match="unknown payment method"):
            FakePaymentGateway().authorize("4242424242424242", usd("10.00"), "ord-1:authorize")

    def test_injected_failures_hit_any_token_and_are_not_stored_against_the_key(self) -> None:
        gateway = FakePaymentGateway()
        gateway.fail_next(2)
        for _ in range(2):
            with pytest.raises(PaymentRetryableError):
                gateway.authorize("tok_visa", usd("10.00"), "ord-1:authorize")
        auth = gateway.authorize("tok_visa", usd("10.00"), "ord-1:authorize")
        assert auth.amount == usd("10.00")
        assert len(gateway.authorizations) == 1

    def test_keys_share_one_namespace_across_operations(self) -> None:
        gateway = FakePaymentGateway()
        auth = gateway.authorize("tok_visa", usd("10.00"), "ord-1")
        with pytest.raises(IdempotencyKeyReused):
            gateway.capture(auth.charge_id, usd("10.00"), "ord-1")

    def test_totals_charges_and_refunds_report_what_moved(self) -> None:
        gateway = FakePaymentGateway()
        first = gateway.authorize("tok_visa", usd("21.97"), "a:authorize")
        second = gateway.authorize("card", usd("5.00"), "b:authorize")
        gateway.authorize("tok_mastercard", Money.of("7.00", "EUR"), "c:authorize")
        gateway.capture(first.charge_id, usd("21.97"), "a:capture")
        gateway.capture(second.charge_id, usd("4.00"), "b:capture")
        refund = gateway.refund(first.charge_id, usd("1.97"), "a:refund")
        assert [c.charge_id for c in gateway.charges] == [first.charge_id, second.charge_id]
        assert [c.amount for c in gateway.charges] == [usd("21.97"), usd("4.00")]
        assert gateway.refunds == [refund]
        assert gateway.captured_total("USD") == usd("25.97")
        assert gateway.refunded_total("USD") == usd("1.97")
        assert gateway.captured_total("EUR") == Money.of("0", "EUR")
        assert gateway.net_captured(first.charge_id) == usd("20.00")
        assert len(gateway.authorizations) == 3
        with pytest.raises(NotFound):
            gateway.net_captured("ch_missing")

    def test_ids_are_deterministic(self) -> None:
        gateway = FakePaymentGateway()
        auth = gateway.authorize("tok_visa", usd("3.00"), "k1")
        gateway.capture(auth.charge_id, usd("3.00"), "k2")
        refund = gateway.refund(auth.charge_id, usd("1.00"), "k3")
        assert (auth.charge_id, refund.refund_id) == ("ch_00000001", "re_00000001")

    def test_a_non_positive_amount_is_refused(self) -> None:
        with pytest.raises(ValidationError):
            FakePaymentGateway().authorize("tok_visa", usd("0.00"), "k1")

    def test_an_idempotency_window_forgets_the_oldest_keys(self) -> None:
        gateway = FakePaymentGateway(idempotency_window=1)
        first = gateway.authorize("tok_visa", usd("1.00"), "k1")
        gateway.authorize("tok_visa", usd("2.00"), "k2")
        again = gateway.authorize("tok_visa", usd("1.00"), "k1")
        assert again.charge_id != first.charge_id


# == counters
# ================================================================================================
class TestOperationCounters:
    def test_add_and_snapshot_tally_named_operations(self) -> None:
        counters = OperationCounters()
        counters.add("orders.reads")
        counters.add("orders.reads", 4)
        counters.add("events.published", 0)
        assert counters.snapshot() == {"orders.reads": 5}
        assert counters["orders.reads"] == 5
        assert counters.get("never") == 0
        counters.reset()
        assert counters.snapshot() == {}

    def test_the_snapshot_is_an_independent_copy(self) -> None:
        counters = OperationCounters()
        counters.add("saga.reads")
        snapshot = counters.snapshot()
        snapshot["saga.reads"] = 100
        assert counters["saga.reads"] == 1

    @pytest.mark.usefixtures("busy_switching")
    def test_concurrent_adds_are_never_lost(self) -> None:
        counters = OperationCounters()

        def work() -> None:
            for _ in range(5000):
                counters.add("drivers.queries")

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert counters["drivers.queries"] == 40_000

    def test_adding_to_this_threads_counts_is_adding(self) -> None:
        counters = OperationCounters()
        counters.local.counts["units.writes"] += 1
        counters.local.counts["outbox.writes"] += 3
        counters.add("units.writes")
        assert counters.snapshot() == {"units.writes": 2, "outbox.writes": 3}
        counters.reset()
        assert counters.snapshot() == {}
        counters.local.counts["units.writes"] += 1  # the same thread's dict, still registered after a reset
        assert counters.snapshot() == {"units.writes": 1}

    @pytest.mark.usefixtures("busy_switching")
    def test_concurrent_adds_to_each_threads_counts_are_never_lost(self) -> None:
        counters = OperationCounters()
        dicts: list[object] = []

        def work() -> None:
            dicts.append(counters.local.counts)  # each thread its own dict (what makes adding without a lock exact)
            for _ in range(3000):
                counts = counters.local.counts
                counts["orders.writes"] += 1
                counts["outbox.writes"] += 2
                counters.add("orders.reads")

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert counters.snapshot() == {"orders.writes": 24_000, "outbox.writes": 48_000, "orders.reads": 24_000}
        assert len({id(d) for d in dicts}) == 8 and all(d is not counters.local.counts for d in dicts)

    def test_what_ended_threads_counted_is_kept_without_a_dict_per_thread_ever_seen(self) -> None:
        # A thread per request (http.server's ThreadingHTTPServer, a WSGI dev server) counting on one process-wide
        # OperationCounters: an ended thread's counts stay, its own dict need not (it grew by one dict per thread
        # ever seen: about 200 KB after 1,000 short-lived threads, measured on 7d861af).
        counters = OperationCounters()

        def one() -> None:
            counters.add("orders.reads")
            counters.local.counts["orders.writes"] += 2

        def churn(n: int) -> None:
            for _ in range(n):
                thread = threading.Thread(target=one)
                thread.start()
                thread.join()

        churn(50)  # the threading module's and the allocator's own first allocations
        tracing = tracemalloc.is_tracing()
        if not tracing:
            tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            churn(1000)
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            if not tracing:
                tracemalloc.stop()
        assert counters.snapshot() == {"orders.reads": 1050, "orders.writes": 2100}
        assert grown < 50_000, f"{grown} bytes more after 1,000 short-lived counting threads"
        counters.reset()
        assert counters.snapshot() == {}
        churn(1)
        assert counters.snapshot() == {"orders.reads": 1, "orders.writes": 2}

    def test_a_refused_write_counts_as_a_write_and_carries_no_outbox_record(self) -> None:
        counters = OperationCounters()
        orders = InMemoryOrderRepository(counters=counters)
        unit = orders.unit_of_work(InMemorySagaStateStore(counters=counters))
        assert unit is not None
        order = make_order()
        orders.add(order)
        stale, fresh = orders.get(order.order_id), orders.get(order.order_id)
        advance(fresh, OrderStatus.PREPARING)
        orders.save(fresh)
        before = counters.snapshot()
        advance(stale, OrderStatus.PREPARING)
        with pytest.raises(ConcurrencyConflict):
            orders.save(stale)
        with pytest.raises(ConcurrencyConflict):
            unit.commit(None, stale)
        after = counters.snapshot()
        assert after["orders.writes"] - before["orders.writes"] == 1
        assert after.get("units.writes", 0) - before.get("units.writes", 0) == 1
        assert after["outbox.writes"] == before["outbox.writes"]
        unit.commit(None, orders.get(order.order_id))  # nothing changed: a unit write, no outbox record
        assert counters.snapshot()["units.writes"] == after.get("units.writes", 0) + 1
        assert counters.snapshot()["outbox.writes"] == before["outbox.writes"]

    def test_every_adapter_counts_its_operations_under_the_stable_names(self) -> None:
        c = OperationCounters()
        ports = SimpleNamespace(
            orders=InMemoryOrderRepository(counters=c),
            restaurants=InMemoryRestaurantRepository(counters=c),
            drivers=InMemoryDriverRepository(counters=c),
            publisher=InMemoryEventPublisher(counters=c),
            notifier=InMemoryNotifier(counters=c),
            payments=FakePaymentGateway(counters=c),
            location=InMemoryLocationStream(counters=c),
            scheduler=InMemoryScheduler(counters=c),
            sagas=InMemorySagaStateStore(counters=c),
        )

        exercise_every_port(ports)

        assert c.snapshot() == EXPECTED_COUNTS
        assert set(c.snapshot()) == OPERATION_NAMES


# == storage independence
# ====================================================================================
class TestStoredCopies:
    def test_changing_the_order_after_add_changes_neither_the_store_nor_the_outbox(self) -> None:
        repo = InMemoryOrderRepository()
        order = make_order()
        repo.add(order)
        order.status_times.clear()
        order.transition(OrderStatus.CONFIRMED, Actor.system(), T0, "evt-x")
        (record,) = repo.pending()
        assert record.event.type is EventType.ORDER_PLACED
        assert repo.get(order.order_id).status_times == {"PENDING": T0}

    def test_the_scheduler_keeps_its_own_copy_of_the_body(self) -> None:
        scheduler = InMemoryScheduler()
        body: dict[str, Any] = {"a": {"b": [1]}}
        scheduler.schedule(make_scheduled(message_id="m", due_at=T0, body=body))
        body["a"]["b"].append(2)
        (message,) = scheduler.pop_due(T0)
        assert message.body == {"a": {"b": [1]}}
