"""Contract of ``OrderRepository`` and its ``Outbox``: every order store must pass it.

Subclass :class:`OrderRepositoryContract` in a ``Test*`` class and provide the ``repo`` fixture (an
empty store). If the outbox is a separate object, override :meth:`OrderRepositoryContract.outbox`.
"""

from __future__ import annotations

import base64
import threading
from datetime import timedelta
from typing import cast

import pytest

from fooddelivery.domain.actors import Actor
from fooddelivery.domain.errors import (
    ConcurrencyConflict,
    DuplicateRequest,
    IdempotencyKeyReused,
    NotFound,
    ValidationError,
)
from fooddelivery.domain.events import EventType
from fooddelivery.domain.order import Order, OrderStatus
from fooddelivery.ports.messaging import Outbox
from fooddelivery.ports.orders import IdempotencyRecord, OrderRepository
from fooddelivery.testing.builders import T0, UNICODE_NAMES, advance, make_order, make_restaurant, unique_id

__all__ = ["OrderRepositoryContract"]


def _all_pages_by_customer(repo: OrderRepository, customer_id: str, limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = repo.list_by_customer(customer_id, limit=limit, cursor=cursor)
        pages.append([o.order_id for o in page.items])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor
        assert len(pages) < 100, "pagination never ends"


def _all_pages_by_restaurant(
    repo: OrderRepository, restaurant_id: str, status: OrderStatus | None, limit: int, *, newest_first: bool = False
) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = repo.list_by_restaurant(
            restaurant_id, status=status, limit=limit, cursor=cursor, newest_first=newest_first
        )
        pages.append([o.order_id for o in page.items])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor
        assert len(pages) < 100, "pagination never ends"


class OrderRepositoryContract:
    """Behaviour every ``OrderRepository`` + ``Outbox`` must show (fixture ``repo``: empty)."""

    @pytest.fixture
    def repo(self) -> OrderRepository:
        """The OrderRepository under test, fresh for each test (subclasses override this fixture)."""
        raise NotImplementedError("a subclass provides the store under test")

    def outbox(self, repo: OrderRepository) -> Outbox:
        """The outbox written by ``repo`` (the store itself by default)."""
        return cast(Outbox, repo)

    def _pending_ids(self, repo: OrderRepository) -> list[str]:
        return [r.event.event_id for r in self.outbox(repo).pending(1000)]

    # -- add / get ---------------------------------------------------------------------------------
    def test_an_added_order_reads_back_with_every_field_equal(self, repo: OrderRepository) -> None:
        order = make_order()
        expected = order.snapshot()
        repo.add(order)
        stored = repo.get(order.order_id)
        assert stored.same_state(expected)
        assert stored.lines == expected.lines
        assert stored.pricing == expected.pricing
        assert stored.pricing.promo_code == "SAVE10"
        assert str(stored.pricing.tip) == "3.50"
        assert stored.delivery_address == expected.delivery_address
        assert stored.delivery_address.location == expected.delivery_address.location
        assert stored.status_times == {"PENDING": T0}
        assert stored.created_at == T0 and stored.created_at.utcoffset() == timedelta(0)
        assert stored.version == 1
        assert stored.persisted_version == 1
        assert stored.pending_events == []

    def test_unicode_names_and_address_round_trip_unchanged(self, repo: OrderRepository) -> None:
        restaurant = make_restaurant()
        order = make_order(restaurant)
        repo.add(order)
        stored = repo.get(order.order_id)
        assert [line.name for line in stored.lines] == list(UNICODE_NAMES[:3])
        assert stored.delivery_address.text == "Müllerstraße 5, 3. OG — «Tür 🚪 links», 東京"

    def test_add_moves_the_pending_events_out_of_the_aggregate_and_sets_its_persisted_version(
        self, repo: OrderRepository
    ) -> None:
        order = make_order()
        placed = order.pending_events[0]
        repo.add(order)
        assert order.pending_events == []
        assert order.persisted_version == order.version == 1
        assert self._pending_ids(repo) == [placed.event_id]

    def test_get_of_an_unknown_order_raises_not_found(self, repo: OrderRepository) -> None:
        with pytest.raises(NotFound):
            repo.get("ord-missing")

    def test_adding_an_existing_order_id_raises_concurrency_conflict_and_writes_nothing(
        self, repo: OrderRepository
    ) -> None:
        first = make_order()
        repo.add(first)
        second = make_order(order_id=first.order_id, customer_id="cus-other")
        second_event = second.pending_events[0].event_id
        with pytest.raises(ConcurrencyConflict):
            repo.add(second)
        assert repo.get(first.order_id).customer_id == first.customer_id
        assert second_event not in self._pending_ids(repo)
        assert len(second.pending_events) == 1

    def test_reads_are_independent_copies_of_the_stored_order(self, repo: OrderRepository) -> None:
        order = make_order()
        repo.add(order)
        order.status_times["HACKED"] = T0
        read = repo.get(order.order_id)
        read.status_times["MUTATED"] = T0
        read.transition(OrderStatus.CONFIRMED, Actor.system(), T0, unique_id("evt"))
        again = repo.get(order.order_id)
        assert again.status is OrderStatus.PENDING
        assert again.status_times == {"PENDING": T0}
        assert again.version == 1

    # -- save --------------------------------------------------------------------------------------
    def test_save_writes_the_change_and_its_event(self, repo: OrderRepository) -> None:
        order = make_order()
        repo.add(order)
        loaded = repo.get(order.order_id)
        later = T0 + timedelta(minutes=2)
        loaded.transition(OrderStatus.CONFIRMED, Actor.system(), later, "evt-confirm-1")
        repo.save(loaded)
        assert loaded.persisted_version == 2
        assert loaded.pending_events == []
        stored = repo.get(order.order_id)
        assert stored.status is OrderStatus.CONFIRMED
        assert stored.version == 2
        assert stored.updated_at == later
        assert stored.status_times == {"PENDING": T0, "CONFIRMED": later}
        assert "evt-confirm-1" in self._pending_ids(repo)

    def test_saving_a_stale_copy_raises_concurrency_conflict_and_writes_nothing(self, repo: OrderRepository) -> None:
        order = make_order()
        repo.add(order)
        first = repo.get(order.order_id)
        second = repo.get(order.order_id)
        first.transition(OrderStatus.CONFIRMED, Actor.system(), T0, "evt-winner")
        repo.save(first)
        second.cancel(Actor.customer(order.customer_id), T0, "evt-loser", "changed my mind")
        with pytest.raises(ConcurrencyConflict):
            repo.save(second)
        stored = repo.get(order.order_id)
        assert stored.status is OrderStatus.CONFIRMED
        assert stored.failure_reason is None
        assert "evt-loser" not in self._pending_ids(repo)
        assert [e.event_id for e in second.pending_events] == ["evt-loser"]
        assert second.persisted_version == 1

    def test_save_of_an_order_never_added_raises_not_found(self, repo: OrderRepository) -> None:
        with pytest.raises(NotFound):
            repo.save(make_order())

    def test_of_many_concurrent_writers_of_one_version_exactly_one_wins(self, repo: OrderRepository) -> None:
        order = make_order()
        repo.add(order)
        copies = [repo.get(order.order_id) for _ in range(12)]
        for i, copy in enumerate(copies):
            copy.cancel(Actor.customer(order.customer_id), T0, f"evt-race-{i}", f"reason {i}")
        wins: list[str] = []
        conflicts: list[int] = []
        barrier = threading.Barrier(len(copies))

        def write(copy: Order, i: int) -> None:
            barrier.wait()
            try:
                repo.save(copy)
                wins.append(f"reason {i}")
            except ConcurrencyConflict:
                conflicts.append(i)

        threads = [threading.Thread(target=write, args=(c, i)) for i, c in enumerate(copies)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(wins) == 1
        assert len(conflicts) == 11
        assert repo.get(order.order_id).failure_reason == wins[0]
        race_events = [e for e in self._pending_ids(repo) if e.startswith("evt-race-")]
        assert len(race_events) == 1

    # -- idempotency -------------------------------------------------------------------------------
    def test_a_repeated_key_with_the_same_body_raises_duplicate_request_naming_the_first_order(
        self, repo: OrderRepository
    ) -> None:
        first = make_order(customer_id="cus-ana")
        repo.add(first, IdempotencyRecord("cus-ana", "key-1", "f" * 64, first.order_id))
        retry = make_order(customer_id="cus-ana")
        with pytest.raises(DuplicateRequest) as caught:
            repo.add(retry, IdempotencyRecord("cus-ana", "key-1", "f" * 64, retry.order_id))
        assert caught.value.resource_id == first.order_id
        with pytest.raises(NotFound):
            repo.get(retry.order_id)
        assert retry.pending_events[0].event_id not in self._pending_ids(repo)

    def test_a_repeated_key_with_another_body_raises_idempotency_key_reused_and_writes_nothing(
        self, repo: OrderRepository
    ) -> None:
        first = make_order(customer_id="cus-ana")
        repo.add(first, IdempotencyRecord("cus-ana", "key-1", "a" * 64, first.order_id))
        other = make_order(customer_id="cus-ana")
        with pytest.raises(IdempotencyKeyReused):
            repo.add(other, IdempotencyRecord("cus-ana", "key-1", "b" * 64, other.order_id))
        with pytest.raises(NotFound):
            repo.get(other.order_id)
        assert repo.find_idempotent("cus-ana", "key-1") == IdempotencyRecord(
            "cus-ana", "key-1", "a" * 64, first.order_id
        )

    def test_the_same_key_of_two_customers_never_collides(self, repo: OrderRepository) -> None:
        ana = make_order(customer_id="cus-ana")
        bob = make_order(customer_id="cus-bob")
        repo.add(ana, IdempotencyRecord("cus-ana", "shared-key", "a" * 64, ana.order_id))
        repo.add(bob, IdempotencyRecord("cus-bob", "shared-key", "b" * 64, bob.order_id))
        found_ana = repo.find_idempotent("cus-ana", "shared-key")
        found_bob = repo.find_idempotent("cus-bob", "shared-key")
        assert found_ana is not None and found_ana.order_id == ana.order_id
        assert found_bob is not None and found_bob.order_id == bob.order_id

    def test_find_idempotent_of_an_unbound_key_is_none(self, repo: OrderRepository) -> None:
        assert repo.find_idempotent("cus-ana", "never-used") is None

    # -- listings ----------------------------------------------------------------------------------
    def test_customer_pages_run_newest_first_and_cover_every_order_exactly_once(self, repo: OrderRepository) -> None:
        restaurant = make_restaurant()
        mine = []
        for i in range(7):
            order = make_order(restaurant, customer_id="cus-pager", now=T0 + timedelta(minutes=i))
            repo.add(order)
            mine.append(order.order_id)
        repo.add(make_order(restaurant, customer_id="cus-someone-else"))
        pages = _all_pages_by_customer(repo, "cus-pager", limit=3)
        assert [len(p) for p in pages] == [3, 3, 1]
        assert [oid for page in pages for oid in page] == list(reversed(mine))

    def test_orders_placed_at_the_same_instant_are_each_listed_once(self, repo: OrderRepository) -> None:
        restaurant = make_restaurant()
        ids = set()
        for _ in range(5):
            order = make_order(restaurant, customer_id="cus-twins", now=T0)
            repo.add(order)
            ids.add(order.order_id)
        pages = _all_pages_by_customer(repo, "cus-twins", limit=2)
        listed = [oid for page in pages for oid in page]
        assert sorted(listed) == sorted(ids)
        assert len(listed) == 5

    def test_a_page_as_large_as_the_listing_has_no_next_cursor(self, repo: OrderRepository) -> None:
        restaurant = make_restaurant()
        for i in range(3):
            repo.add(make_order(restaurant, customer_id="cus-exact", now=T0 + timedelta(minutes=i)))
        page = repo.list_by_customer("cus-exact", limit=3)
        assert len(page.items) == 3
        assert page.next_cursor is None

    def test_listed_orders_carry_every_stored_field(self, repo: OrderRepository) -> None:
        order = make_order(customer_id="cus-full")
        expected = order.snapshot()
        repo.add(order)
        (listed,) = repo.list_by_customer("cus-full").items
        assert listed.same_state(expected)
        assert listed.persisted_version == 1

    def test_an_unknown_customer_has_an_empty_listing(self, repo: OrderRepository) -> None:
        page = repo.list_by_customer("cus-nobody")
        assert list(page.items) == []
        assert page.next_cursor is None

    def test_restaurant_pages_run_oldest_first_and_cover_every_order_exactly_once(self, repo: OrderRepository) -> None:
        restaurant = make_restaurant()
        placed = []
        for i in range(5):
            order = make_order(restaurant, now=T0 + timedelta(minutes=i))
            repo.add(order)
            placed.append(order.order_id)
        repo.add(make_order(make_restaurant()))
        pages = _all_pages_by_restaurant(repo, restaurant.restaurant_id, None, limit=2)
        assert [len(p) for p in pages] == [2, 2, 1]
        assert [oid for page in pages for oid in page] == placed

    def test_the_restaurant_listing_filters_by_the_current_status(self, repo: OrderRepository) -> None:
        restaurant = make_restaurant()
        placed = []
        for i in range(6):
            order = make_order(restaurant, now=T0 + timedelta(minutes=i))
            repo.add(order)
            placed.append(order.order_id)
        for order_id in placed[1::2]:
            loaded = repo.get(order_id)
            advance(loaded, OrderStatus.PREPARING)
            repo.save(loaded)
        rid = restaurant.restaurant_id
        preparing = _all_pages_by_restaurant(repo, rid, OrderStatus.PREPARING, limit=2)
        pending = _all_pages_by_restaurant(repo, rid, OrderStatus.PENDING, limit=2)
        assert [oid for page in preparing for oid in page] == placed[1::2]
        assert [oid for page in pending for oid in page] == placed[0::2]
        assert _all_pages_by_restaurant(repo, rid, OrderStatus.CONFIRMED, limit=2) == [[]]
        everything = _all_pages_by_restaurant(repo, rid, None, limit=4)
        assert [oid for page in everything for oid in page] == placed

    def test_newest_first_is_the_restaurant_listing_backwards_by_status_too(self, repo: OrderRepository) -> None:
        restaurant = make_restaurant()
        placed = []
        for i in range(7):
            order = make_order(restaurant, now=T0 + timedelta(minutes=i // 2))  # pairs share a time: the id decides
            if i % 3 == 0:
                order.transition(OrderStatus.CANCELLED, Actor.admin(), order.created_at, f"evt-cancel-{i}", "test")
            repo.add(order)
            placed.append(order)
        repo.add(make_order(make_restaurant()))  # another restaurant's
        rid = restaurant.restaurant_id
        for status in (None, OrderStatus.PENDING, OrderStatus.CANCELLED):
            oldest = _all_pages_by_restaurant(repo, rid, status, limit=2)
            newest = _all_pages_by_restaurant(repo, rid, status, limit=2, newest_first=True)
            ids = [i for page in oldest for i in page]
            assert [i for page in newest for i in page] == list(reversed(ids))
            assert all(len(page) <= 2 for page in newest)
            expected = sorted(
                (o for o in placed if status is None or o.status is status), key=lambda o: (o.created_at, o.order_id)
            )
            assert ids == [o.order_id for o in expected]

    def test_a_restaurant_cursor_continues_only_its_own_direction_and_status(self, repo: OrderRepository) -> None:
        restaurant = make_restaurant()
        for i in range(3):
            repo.add(make_order(restaurant, now=T0 + timedelta(minutes=i)))
        rid = restaurant.restaurant_id
        backwards = repo.list_by_restaurant(rid, None, 1, newest_first=True).next_cursor
        forwards = repo.list_by_restaurant(rid, None, 1).next_cursor
        pending = repo.list_by_restaurant(rid, OrderStatus.PENDING, 1, newest_first=True).next_cursor
        assert backwards and forwards and pending
        for status, cursor, newest_first in (
            (None, backwards, False),
            (None, forwards, True),
            (None, pending, True),
            (OrderStatus.PENDING, backwards, True),
        ):
            with pytest.raises(ValidationError) as caught:
                repo.list_by_restaurant(rid, status, 1, cursor, newest_first=newest_first)
            assert [f.field for f in caught.value.fields] == ["cursor"]

    @pytest.mark.parametrize(
        "cursor",
        [
            "not a cursor!",
            "",
            base64.urlsafe_b64encode(b"\xff\xfe\x00binary").decode(),
            base64.urlsafe_b64encode(b'["a", "list"]').decode(),
            base64.urlsafe_b64encode(b'{"unexpected": true}').decode(),
        ],
    )
    def test_a_malformed_cursor_raises_validation_error_on_the_cursor_field(
        self, repo: OrderRepository, cursor: str
    ) -> None:
        repo.add(make_order(customer_id="cus-cursor"))
        with pytest.raises(ValidationError) as by_customer:
            repo.list_by_customer("cus-cursor", cursor=cursor)
        assert [f.field for f in by_customer.value.fields] == ["cursor"]
        with pytest.raises(ValidationError) as by_restaurant:
            repo.list_by_restaurant("rst-any", cursor=cursor)
        assert [f.field for f in by_restaurant.value.fields] == ["cursor"]
        with pytest.raises(ValidationError) as backwards:
            repo.list_by_restaurant("rst-any", cursor=cursor, newest_first=True)
        assert [f.field for f in backwards.value.fields] == ["cursor"]

    @pytest.mark.parametrize("limit", [0, -1, 101])
    def test_a_limit_outside_1_to_100_raises_validation_error_on_the_limit_field(
        self, repo: OrderRepository, limit: int
    ) -> None:
        with pytest.raises(ValidationError) as by_customer:
            repo.list_by_customer("cus-any", limit=limit)
        assert [f.field for f in by_customer.value.fields] == ["limit"]
        with pytest.raises(ValidationError) as by_restaurant:
            repo.list_by_restaurant("rst-any", limit=limit)
        assert [f.field for f in by_restaurant.value.fields] == ["limit"]

    # -- outbox ------------------------------------------------------------------------------------
    def test_the_outbox_holds_an_orders_events_in_version_order_after_add_and_saves(
        self, repo: OrderRepository
    ) -> None:
        order = make_order()
        repo.add(order)
        loaded = repo.get(order.order_id)
        advance(loaded, OrderStatus.CONFIRMED)
        repo.save(loaded)
        loaded = repo.get(order.order_id)
        advance(loaded, OrderStatus.READY_FOR_PICKUP)
        repo.save(loaded)
        records = self.outbox(repo).pending(100)
        assert [r.event.order_version for r in records] == [1, 2, 3, 4]
        assert [r.event.type for r in records] == [
            EventType.ORDER_PLACED,
            EventType.ORDER_STATUS_CHANGED,
            EventType.ORDER_STATUS_CHANGED,
            EventType.ORDER_STATUS_CHANGED,
        ]
        assert [r.event.payload.get("to") for r in records[1:]] == [
            "CONFIRMED",
            "PREPARING",
            "READY_FOR_PICKUP",
        ]
        assert all(r.attempts == 0 for r in records)
        assert all(r.event.order_id == order.order_id for r in records)

    def test_pending_returns_at_most_limit_records_oldest_first(self, repo: OrderRepository) -> None:
        orders = [make_order(now=T0 + timedelta(minutes=i)) for i in range(4)]
        expected = [o.pending_events[0].event_id for o in orders]
        for order in orders:
            repo.add(order)
        outbox = self.outbox(repo)
        assert [r.event.event_id for r in outbox.pending(3)] == expected[:3]
        assert [r.event.event_id for r in outbox.pending(100)] == expected

    def test_marking_published_removes_records_and_marking_again_is_harmless(self, repo: OrderRepository) -> None:
        first, second = make_order(), make_order()
        first_event = first.pending_events[0].event_id
        repo.add(first)
        repo.add(second)
        outbox = self.outbox(repo)
        outbox.mark_published([first_event])
        outbox.mark_published([first_event, "evt-never-existed"])
        remaining = outbox.pending(100)
        assert [r.event.order_id for r in remaining] == [second.order_id]

    def test_marking_failed_counts_attempts_and_keeps_the_record_pending(self, repo: OrderRepository) -> None:
        order = make_order()
        event_id = order.pending_events[0].event_id
        repo.add(order)
        outbox = self.outbox(repo)
        outbox.mark_failed([event_id])
        outbox.mark_failed([event_id, "evt-never-existed"])
        (record,) = outbox.pending(100)
        assert record.event.event_id == event_id
        assert record.attempts == 2
        outbox.mark_published([event_id])
        assert list(outbox.pending(100)) == []
