"""Contract of a native ``OrderUnitOfWork``: every order store that implements one must pass it.

Subclass :class:`OrderUnitOfWorkContract` in a ``Test*`` class and override the fixture ``stores``: it returns a
:class:`UnitOfWorkStores` -- the order store (with its outbox), the saga store and the native unit over the two
(``orders.unit_of_work(sagas)``) -- all empty and fresh for each test::

    class TestMyUnitOfWork(OrderUnitOfWorkContract):
        @pytest.fixture
        def stores(self) -> UnitOfWorkStores:
            orders, sagas = MyOrderRepository(...), MySagaStateStore(...)
            unit = orders.unit_of_work(sagas)
            assert unit is not None
            return UnitOfWorkStores(orders, sagas, unit)

Every check reads back through the two stores' own ports (``orders.get``, ``orders.find_idempotent``, the outbox's
``pending``, ``sagas.get``), never through the unit itself, so a unit that writes something the ports cannot read
fails. The unit must be atomic (``unit.atomic`` is True): a commit that fails wrote nothing, of the order and of the
saga. If the outbox is a separate object from the order store, override :meth:`OrderUnitOfWorkContract.outbox`.

The port documents one behaviour this suite pins down: an unchanged order handed to ``commit`` is neither written
nor compared (a saga-only step succeeds even when the order changed since it was read), as the in-memory, SQLite
and composed units do.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import cast

import pytest

from fooddelivery.domain.actors import Actor
from fooddelivery.domain.errors import ConcurrencyConflict, DuplicateRequest, IdempotencyKeyReused, NotFound
from fooddelivery.domain.events import EventType
from fooddelivery.domain.order import Order, OrderStatus
from fooddelivery.ports.messaging import Outbox
from fooddelivery.ports.orders import IdempotencyRecord, OrderRepository
from fooddelivery.ports.saga_store import SagaState, SagaStateStore, SagaStatus
from fooddelivery.ports.unit_of_work import OrderUnitOfWork
from fooddelivery.testing.builders import T0, advance, make_order, make_saga_state

__all__ = ["OrderUnitOfWorkContract", "UnitOfWorkStores"]


@dataclass(frozen=True)
class UnitOfWorkStores:
    """The stores a unit-of-work contract test runs on (all empty when the test starts).

    Attributes:
        orders: the order store; it is also the ``Outbox`` its writes fill (else override
            :meth:`OrderUnitOfWorkContract.outbox`).
        sagas: the saga store.
        unit: the native unit of work over those two stores (``orders.unit_of_work(sagas)``).
    """

    orders: OrderRepository
    sagas: SagaStateStore
    unit: OrderUnitOfWork


class OrderUnitOfWorkContract:
    """Behaviour every native ``OrderUnitOfWork`` must show (fixture ``stores``: empty stores and their unit)."""

    @pytest.fixture
    def stores(self) -> UnitOfWorkStores:
        """The stores and their native unit of work, fresh and empty for each test (subclasses override this)."""
        raise NotImplementedError("a subclass provides the stores under test")

    def outbox(self, stores: UnitOfWorkStores) -> Outbox:
        """The outbox the order store's writes fill (the order store itself by default)."""
        return cast(Outbox, stores.orders)

    # -- helpers ---------------------------------------------------------------------------------------------
    def _pending_ids(self, stores: UnitOfWorkStores) -> list[str]:
        return [r.event.event_id for r in self.outbox(stores).pending(1000)]

    @staticmethod
    def _stored(stores: UnitOfWorkStores, *, saga: bool = True) -> tuple[Order, SagaState | None]:
        """An order placed through ``orders.add`` (and its saga through ``sagas.create``): version 1 each."""
        order = make_order()
        stores.orders.add(order)
        state = None
        if saga:
            state = make_saga_state(saga_id=order.order_id)
            stores.sagas.create(state)
        return order, state

    @staticmethod
    def _assert_stored(stores: UnitOfWorkStores, order: Order) -> Order:
        """The stored order equals ``order`` (state, version, token); returns what was read."""
        stored = stores.orders.get(order.order_id)
        assert stored.same_state(order)
        assert stored.version == order.version == order.persisted_version
        assert stored.concurrency_token == order.concurrency_token
        return stored

    # -- the unit --------------------------------------------------------------------------------------------
    def test_the_unit_is_an_atomic_order_unit_of_work(self, stores: UnitOfWorkStores) -> None:
        assert isinstance(stores.unit, OrderUnitOfWork)
        assert stores.unit.atomic is True

    # -- load ------------------------------------------------------------------------------------------------
    def test_load_reads_the_order_and_its_saga_as_the_two_stores_hold_them(self, stores: UnitOfWorkStores) -> None:
        placed, saga = self._stored(stores)
        expected = placed.snapshot()
        order, loaded_saga = stores.unit.load(placed.order_id)
        assert order.same_state(expected)
        assert order.status is OrderStatus.PENDING
        assert order.version == order.persisted_version == 1
        assert order.pending_events == []
        assert order.concurrency_token == stores.orders.get(placed.order_id).concurrency_token
        assert loaded_saga == saga == stores.sagas.get(placed.order_id)
        assert loaded_saga is not None and loaded_saga.version == 1
        assert loaded_saga.data["driver"]["history"] == ["drv-bob", "drv-cy"]

    def test_load_of_an_order_without_a_saga_gives_none_for_the_saga(self, stores: UnitOfWorkStores) -> None:
        placed, _ = self._stored(stores, saga=False)
        order, saga = stores.unit.load(placed.order_id)
        assert saga is None
        assert order.order_id == placed.order_id
        assert order.version == order.persisted_version == 1
        assert order.concurrency_token == stores.orders.get(placed.order_id).concurrency_token

    def test_load_of_an_unknown_order_raises_not_found_even_when_a_saga_has_its_id(
        self, stores: UnitOfWorkStores
    ) -> None:
        with pytest.raises(NotFound):
            stores.unit.load("ord-missing")
        stores.sagas.create(make_saga_state(saga_id="ord-only-a-saga"))
        with pytest.raises(NotFound):
            stores.unit.load("ord-only-a-saga")

    # -- commit: what it writes ------------------------------------------------------------------------------
    def test_a_new_order_its_binding_and_its_new_saga_are_written_by_one_commit(self, stores: UnitOfWorkStores) -> None:
        order = make_order(customer_id="cus-ana")
        expected = order.snapshot()
        placed_event = order.pending_events[0].event_id
        saga = make_saga_state(saga_id=order.order_id)
        binding = IdempotencyRecord("cus-ana", "key-1", "f" * 64, order.order_id)
        stores.unit.commit(saga, order, create_saga=True, idempotency=binding)
        assert order.pending_events == []
        assert order.persisted_version == order.version == 1
        assert saga.version == 1
        stored = self._assert_stored(stores, order)
        assert stored.same_state(expected)
        assert stores.orders.find_idempotent("cus-ana", "key-1") == binding
        assert stores.sagas.get(order.order_id) == saga
        (record,) = self.outbox(stores).pending(100)
        assert record.event.event_id == placed_event
        assert record.event.type is EventType.ORDER_PLACED
        assert record.event.order_id == order.order_id
        assert record.attempts == 0
        loaded, loaded_saga = stores.unit.load(order.order_id)
        assert loaded.same_state(expected)
        assert loaded_saga == saga

    def test_a_changed_order_and_its_saga_are_written_together_again_and_again(self, stores: UnitOfWorkStores) -> None:
        placed, _ = self._stored(stores)
        order, saga = stores.unit.load(placed.order_id)
        assert saga is not None
        advance(order, OrderStatus.CONFIRMED)
        confirmed = order.pending_events[0].event_id
        saga.current = "AssignDriver"
        saga.status = SagaStatus.RUNNING
        saga.completed.append("WaitForConfirmation")
        saga.data["driver"]["history"].append("drv-dee")
        saga.timer_id = None
        stores.unit.commit(saga, order)
        assert order.pending_events == []
        assert order.persisted_version == order.version == 2
        assert saga.version == 2
        self._assert_stored(stores, order)
        assert stores.orders.get(order.order_id).status is OrderStatus.CONFIRMED
        stored_saga = stores.sagas.get(order.order_id)
        assert stored_saga == saga
        assert stored_saga.data["driver"]["history"] == ["drv-bob", "drv-cy", "drv-dee"]
        # the same objects, committed again without a new read: their version (and token) were set anew
        advance(order, OrderStatus.PREPARING)
        preparing = order.pending_events[0].event_id
        saga.current = "WaitForPickup"
        stores.unit.commit(saga, order)
        assert order.persisted_version == order.version == 3
        assert saga.version == 3
        self._assert_stored(stores, order)
        assert stores.sagas.get(order.order_id) == saga
        records = self.outbox(stores).pending(100)
        assert [r.event.event_id for r in records][1:] == [confirmed, preparing]
        assert [r.event.order_version for r in records] == [1, 2, 3]
        assert [r.event.payload.get("to") for r in records[1:]] == ["CONFIRMED", "PREPARING"]

    def test_an_unchanged_order_is_not_written_with_the_saga(self, stores: UnitOfWorkStores) -> None:
        placed, _ = self._stored(stores)
        order, saga = stores.unit.load(placed.order_id)
        assert saga is not None
        elsewhere = stores.orders.get(placed.order_id)  # another writer changes the order meanwhile
        advance(elsewhere, OrderStatus.CONFIRMED)
        stores.orders.save(elsewhere)
        before = self._pending_ids(stores)
        saga.current = "AssignDriver"
        stores.unit.commit(saga, order)  # the order did not change: it is neither written nor compared
        assert saga.version == 2
        assert stores.sagas.get(placed.order_id) == saga
        assert order.persisted_version == 1
        stored = stores.orders.get(placed.order_id)
        assert stored.status is OrderStatus.CONFIRMED
        assert stored.version == 2
        assert self._pending_ids(stores) == before

    def test_a_saga_only_commit_writes_the_saga_and_leaves_the_order_alone(self, stores: UnitOfWorkStores) -> None:
        placed, _ = self._stored(stores)
        order, saga = stores.unit.load(placed.order_id)
        assert saga is not None
        before = self._pending_ids(stores)
        saga.current = "ProcessPayment"
        saga.attempts["ProcessPayment#0"] = 1
        stores.unit.commit(saga)
        assert saga.version == 2
        assert stores.sagas.get(placed.order_id) == saga
        self._assert_stored(stores, order)
        assert self._pending_ids(stores) == before

    def test_an_order_only_commit_writes_the_order_and_leaves_the_saga_alone(self, stores: UnitOfWorkStores) -> None:
        placed, saga = self._stored(stores)
        order, _ = stores.unit.load(placed.order_id)
        order.cancel(Actor.customer(order.customer_id), T0, "evt-order-only", "changed my mind")
        stores.unit.commit(None, order)
        assert order.pending_events == []
        assert order.persisted_version == order.version == 2
        stored = self._assert_stored(stores, order)
        assert stored.status is OrderStatus.CANCELLED
        assert stored.failure_reason == "changed my mind"
        assert "evt-order-only" in self._pending_ids(stores)
        assert stores.sagas.get(placed.order_id) == saga

    def test_a_new_order_without_a_saga_is_inserted_and_loads_without_one(self, stores: UnitOfWorkStores) -> None:
        order = make_order(customer_id="cus-ana")
        placed_event = order.pending_events[0].event_id
        binding = IdempotencyRecord("cus-ana", "key-solo", "c" * 64, order.order_id)
        stores.unit.commit(None, order, idempotency=binding)
        assert order.persisted_version == 1 and order.pending_events == []
        self._assert_stored(stores, order)
        assert stores.orders.find_idempotent("cus-ana", "key-solo") == binding
        assert self._pending_ids(stores) == [placed_event]
        assert stores.unit.load(order.order_id)[1] is None
        with pytest.raises(NotFound):
            stores.sagas.get(order.order_id)

    # -- commit: conflicts write nothing ---------------------------------------------------------------------
    def test_a_stale_order_raises_concurrency_conflict_and_writes_nothing(self, stores: UnitOfWorkStores) -> None:
        placed, stored_saga = self._stored(stores)
        loser, loser_saga = stores.unit.load(placed.order_id)
        assert loser_saga is not None
        winner = stores.orders.get(placed.order_id)
        advance(winner, OrderStatus.CONFIRMED)
        stores.orders.save(winner)  # the order moves on; the saga does not (its own write would succeed)
        before = self._pending_ids(stores)
        loser.cancel(Actor.customer(loser.customer_id), T0, "evt-loser", "changed my mind")
        loser_saga.current = "Loser"
        with pytest.raises(ConcurrencyConflict):
            stores.unit.commit(loser_saga, loser)
        assert stores.sagas.get(placed.order_id) == stored_saga  # the saga was not written either
        assert loser_saga.version == 1
        assert [e.event_id for e in loser.pending_events] == ["evt-loser"]
        assert loser.persisted_version == 1
        self._assert_stored(stores, winner)
        assert self._pending_ids(stores) == before

    def test_a_stale_saga_raises_concurrency_conflict_and_leaves_the_order_unwritten(
        self, stores: UnitOfWorkStores
    ) -> None:
        placed, _ = self._stored(stores)
        order, loser_saga = stores.unit.load(placed.order_id)
        assert loser_saga is not None
        winner_saga = stores.sagas.get(placed.order_id)
        winner_saga.current = "Winner"
        stores.sagas.save(winner_saga)  # the saga moves on; the order does not (its own write would succeed)
        before = self._pending_ids(stores)
        expected = order.snapshot()
        advance(order, OrderStatus.CONFIRMED)
        events = [e.event_id for e in order.pending_events]
        loser_saga.current = "Loser"
        with pytest.raises(ConcurrencyConflict):
            stores.unit.commit(loser_saga, order)
        assert [e.event_id for e in order.pending_events] == events
        assert order.persisted_version == 1
        assert loser_saga.version == 1
        stored = stores.orders.get(placed.order_id)
        assert stored.same_state(expected)
        assert stored.status is OrderStatus.PENDING and stored.version == 1
        assert self._pending_ids(stores) == before
        assert stores.sagas.get(placed.order_id) == winner_saga

    def test_creating_a_saga_that_exists_raises_concurrency_conflict_and_writes_nothing(
        self, stores: UnitOfWorkStores
    ) -> None:
        placed, stored_saga = self._stored(stores)
        order, _ = stores.unit.load(placed.order_id)
        expected = order.snapshot()
        before = self._pending_ids(stores)
        advance(order, OrderStatus.CONFIRMED)
        duplicate = make_saga_state(saga_id=placed.order_id, current="Duplicate")
        with pytest.raises(ConcurrencyConflict):
            stores.unit.commit(duplicate, order, create_saga=True)
        assert duplicate.version == 0
        assert order.persisted_version == 1 and len(order.pending_events) == 1
        assert stores.orders.get(placed.order_id).same_state(expected)
        assert stores.sagas.get(placed.order_id) == stored_saga
        assert self._pending_ids(stores) == before

    def test_a_placement_whose_saga_exists_raises_concurrency_conflict_and_stores_no_order(
        self, stores: UnitOfWorkStores
    ) -> None:
        order = make_order(customer_id="cus-ana")
        leftover = make_saga_state(saga_id=order.order_id, current="Leftover")
        stores.sagas.create(leftover)
        binding = IdempotencyRecord("cus-ana", "key-leftover", "e" * 64, order.order_id)
        with pytest.raises(ConcurrencyConflict):
            stores.unit.commit(make_saga_state(saga_id=order.order_id), order, create_saga=True, idempotency=binding)
        with pytest.raises(NotFound):
            stores.orders.get(order.order_id)
        assert stores.orders.find_idempotent("cus-ana", "key-leftover") is None
        assert self._pending_ids(stores) == []
        assert order.persisted_version == 0 and len(order.pending_events) == 1
        assert stores.sagas.get(order.order_id) == leftover

    def test_replacing_a_saga_never_stored_raises_not_found_and_writes_nothing(self, stores: UnitOfWorkStores) -> None:
        placed, _ = self._stored(stores, saga=False)
        order, saga = stores.unit.load(placed.order_id)
        assert saga is None
        expected = order.snapshot()
        advance(order, OrderStatus.CONFIRMED)
        with pytest.raises(NotFound):
            stores.unit.commit(make_saga_state(saga_id=placed.order_id, version=1), order)
        with pytest.raises(NotFound):
            stores.sagas.get(placed.order_id)
        assert stores.orders.get(placed.order_id).same_state(expected)
        assert len(self._pending_ids(stores)) == 1
        with pytest.raises(NotFound):
            stores.unit.commit(make_saga_state(saga_id="ord-never-stored", version=1))

    def test_replacing_an_order_never_stored_raises_not_found_and_writes_nothing(
        self, stores: UnitOfWorkStores
    ) -> None:
        order = make_order()
        order.take_events()
        order.persisted_version = order.version  # as if it had been read from a store that no longer has it
        advance(order, OrderStatus.CONFIRMED)
        saga = make_saga_state(saga_id=order.order_id)
        with pytest.raises(NotFound):
            stores.unit.commit(saga, order, create_saga=True)
        with pytest.raises(NotFound):
            stores.orders.get(order.order_id)
        with pytest.raises(NotFound):
            stores.sagas.get(order.order_id)
        assert self._pending_ids(stores) == []

    # -- idempotency -----------------------------------------------------------------------------------------
    def test_a_repeated_key_with_the_same_body_raises_duplicate_request_and_writes_nothing(
        self, stores: UnitOfWorkStores
    ) -> None:
        first = make_order(customer_id="cus-ana")
        stores.unit.commit(
            make_saga_state(saga_id=first.order_id),
            first,
            create_saga=True,
            idempotency=IdempotencyRecord("cus-ana", "key-1", "f" * 64, first.order_id),
        )
        retry = make_order(customer_id="cus-ana")
        retry_saga = make_saga_state(saga_id=retry.order_id)
        with pytest.raises(DuplicateRequest) as caught:
            stores.unit.commit(
                retry_saga,
                retry,
                create_saga=True,
                idempotency=IdempotencyRecord("cus-ana", "key-1", "f" * 64, retry.order_id),
            )
        assert caught.value.resource_id == first.order_id
        with pytest.raises(NotFound):
            stores.orders.get(retry.order_id)
        with pytest.raises(NotFound):
            stores.sagas.get(retry.order_id)
        assert retry.pending_events[0].event_id not in self._pending_ids(stores)
        assert retry.persisted_version == 0 and retry_saga.version == 0
        assert stores.orders.find_idempotent("cus-ana", "key-1") == IdempotencyRecord(
            "cus-ana", "key-1", "f" * 64, first.order_id
        )

    def test_a_repeated_key_with_another_body_raises_idempotency_key_reused_and_writes_nothing(
        self, stores: UnitOfWorkStores
    ) -> None:
        first = make_order(customer_id="cus-ana")
        stores.unit.commit(None, first, idempotency=IdempotencyRecord("cus-ana", "key-1", "a" * 64, first.order_id))
        other = make_order(customer_id="cus-ana")
        with pytest.raises(IdempotencyKeyReused):
            stores.unit.commit(
                make_saga_state(saga_id=other.order_id),
                other,
                create_saga=True,
                idempotency=IdempotencyRecord("cus-ana", "key-1", "b" * 64, other.order_id),
            )
        with pytest.raises(NotFound):
            stores.orders.get(other.order_id)
        with pytest.raises(NotFound):
            stores.sagas.get(other.order_id)
        assert other.pending_events[0].event_id not in self._pending_ids(stores)
        assert stores.orders.find_idempotent("cus-ana", "key-1") == IdempotencyRecord(
            "cus-ana", "key-1", "a" * 64, first.order_id
        )

    # -- concurrency -----------------------------------------------------------------------------------------
    def test_of_two_commits_from_the_same_read_exactly_one_wins_with_both_its_writes(
        self, stores: UnitOfWorkStores
    ) -> None:
        placed, _ = self._stored(stores)
        reads = [stores.unit.load(placed.order_id) for _ in range(2)]
        for i, (order, saga) in enumerate(reads):
            assert saga is not None
            order.cancel(Actor.customer(order.customer_id), T0, f"evt-race-{i}", f"reason {i}")
            saga.current = f"writer-{i}"
        wins: list[int] = []
        conflicts: list[int] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(len(reads))

        def write(i: int) -> None:
            order, saga = reads[i]
            barrier.wait()
            try:
                stores.unit.commit(saga, order)
                wins.append(i)
            except ConcurrencyConflict:
                conflicts.append(i)
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(i,)) for i in range(len(reads))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(wins) == 1 and len(conflicts) == 1
        (winner,) = wins
        stored = stores.orders.get(placed.order_id)
        assert stored.failure_reason == f"reason {winner}"
        assert stored.version == 2
        saga = stores.sagas.get(placed.order_id)
        assert saga.current == f"writer-{winner}"
        assert saga.version == 2
        race_events = [e for e in self._pending_ids(stores) if e.startswith("evt-race-")]
        assert race_events == [f"evt-race-{winner}"]
