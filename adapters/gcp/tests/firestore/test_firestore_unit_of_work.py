"""The Firestore unit of work against the emulator: one ``BatchGetDocuments`` per load, one ``Commit`` per commit
(counted at the client library's transport), everything or nothing on a conflict, a saga version this process never
saw, a lost commit answer, the billed operations, and which saga stores get a native unit."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from fooddelivery.adapters.memory import InMemorySagaStateStore
from fooddelivery.domain.actors import Actor
from fooddelivery.domain.errors import ConcurrencyConflict, DuplicateRequest, NotFound
from fooddelivery.domain.order import Order, OrderStatus, order_id_for_key
from fooddelivery.ports.orders import IdempotencyRecord
from fooddelivery.ports.saga_store import SagaState
from fooddelivery.ports.unit_of_work import OrderUnitOfWork
from fooddelivery.testing.builders import T0, make_order, make_saga_state
from fooddelivery_gcp.firestore import FirestoreOrderRepository, FirestoreSagaStateStore
from fooddelivery_gcp.firestore.unit_of_work import FirestoreUnitOfWork
from fooddelivery_gcp.metering import FirestoreMeter


class _Calls:
    """Counts the RPCs the client library sends (``Commit``, ``BatchGetDocuments``...), by wrapping each method of
    its transport; with ``lose_answer_of``, the first ``Commit`` writing that document id is applied, then its
    answer is lost (``UNAVAILABLE``, as when the connection drops after the server committed): the client library's
    default retry of Commit sends it again, as it would against Firestore."""

    def __init__(self, client: Any, monkeypatch: pytest.MonkeyPatch, lose_answer_of: str | None = None) -> None:
        self.counts: Counter[str] = Counter()
        self.lose_answer_of = lose_answer_of
        self.lost = 0
        transport = client._firestore_api._transport
        for name in ("commit", "batch_get_documents", "get_document", "begin_transaction", "run_query"):
            wrapped = transport._wrapped_methods[getattr(transport, name)]
            monkeypatch.setattr(wrapped, "_target", self._counting(name, wrapped._target))

    def _counting(self, name: str, real: Any) -> Any:
        def call(request: Any, *args: Any, **kwargs: Any) -> Any:
            from google.api_core.exceptions import ServiceUnavailable

            self.counts[name] += 1
            response = real(request, *args, **kwargs)
            if name == "commit" and self.lose_answer_of is not None and not self.lost:
                names = [w.update.name for w in request.writes if w.update.name]
                if any(n.endswith(f"/{self.lose_answer_of}") for n in names):
                    self.lost += 1
                    raise ServiceUnavailable("connection reset after the commit was applied")  # type: ignore[no-untyped-call]
            return response

        return call


def _stores(client: Any, prefix: str, meter: FirestoreMeter | None = None) -> FirestoreUnitOfWork:
    meter = meter if meter is not None else FirestoreMeter()
    orders = FirestoreOrderRepository(client, prefix=prefix, meter=meter)
    unit = orders.unit_of_work(FirestoreSagaStateStore(client, prefix=prefix, meter=meter))
    assert isinstance(unit, FirestoreUnitOfWork)
    return unit


def _placed_and_loaded(unit: FirestoreUnitOfWork) -> tuple[Order, SagaState]:
    """An order placed with its saga through ``unit``, then both loaded (the order's token and the saga's update
    time known to the unit)."""
    order, saga = make_order(), make_saga_state()
    saga.saga_id = order.order_id
    unit.commit(saga, order, create_saga=True)
    loaded, loaded_saga = unit.load(order.order_id)
    assert loaded_saga is not None
    return loaded, loaded_saga


def _step(order: Order, saga: SagaState, event_id: str) -> None:
    """A saga step on the copies (not committed): the order confirmed with event ``event_id``, the saga moved to
    ``Prepare``."""
    order.transition(OrderStatus.CONFIRMED, Actor.system(), T0, event_id)
    saga.current = "Prepare"


def test_a_firestore_order_store_gives_a_native_atomic_unit_over_a_firestore_saga_store_of_its_client(
    firestore_client: Any, prefix: str
) -> None:
    from google.cloud import firestore

    orders = FirestoreOrderRepository(firestore_client, prefix=prefix)
    unit = orders.unit_of_work(FirestoreSagaStateStore(firestore_client, prefix=prefix))
    assert isinstance(unit, OrderUnitOfWork) and unit.atomic is True
    assert orders.unit_of_work(InMemorySagaStateStore()) is None  # another technology: composed
    other = firestore.Client(project="another-project")
    assert orders.unit_of_work(FirestoreSagaStateStore(other, prefix=prefix)) is None  # another client: composed


def test_a_placement_with_its_saga_is_one_commit_and_a_load_one_batch_get(
    firestore_client: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    meter = FirestoreMeter()
    unit = _stores(firestore_client, prefix, meter)
    order = make_order(order_id=order_id_for_key("cus-ana", "k-1"), customer_id="cus-ana")
    event_id = order.pending_events[0].event_id
    saga = make_saga_state(saga_id=order.order_id)
    binding = IdempotencyRecord("cus-ana", "k-1", "f" * 64, order.order_id)
    calls = _Calls(firestore_client, monkeypatch)

    unit.commit(saga, order, create_saga=True, idempotency=binding)
    assert dict(calls.counts) == {"commit": 1}
    assert (order.persisted_version, order.pending_events, saga.version) == (1, [], 1)
    assert order.concurrency_token is not None

    loaded, loaded_saga = unit.load(order.order_id)
    assert dict(calls.counts) == {"commit": 1, "batch_get_documents": 1}
    assert (loaded.order_id, loaded.status, loaded.persisted_version) == (order.order_id, OrderStatus.PENDING, 1)
    assert loaded.concurrency_token == order.concurrency_token
    assert loaded_saga == saga
    assert [r.event.event_id for r in unit.orders.pending(10)] == [event_id]
    assert unit.orders.find_idempotent("cus-ana", "k-1") == binding
    assert meter.snapshot() == {
        "firestore.orders.writes": 1,
        "firestore.order_keys.writes": 1,
        "firestore.outbox.writes": 1,
        "firestore.sagas.writes": 1,
        "firestore.orders.reads": 1,  # the load: one read per document asked for
        "firestore.sagas.reads": 1,
        "firestore.outbox.reads": 1,  # pending
        "firestore.order_keys.reads": 1,  # find_idempotent
    }


def test_a_step_writes_the_order_its_event_and_the_saga_in_one_commit_with_no_read(
    firestore_client: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    unit = _stores(firestore_client, prefix)
    order, saga = _placed_and_loaded(unit)
    _step(order, saga, "evt-confirmed")
    calls = _Calls(firestore_client, monkeypatch)

    unit.commit(saga, order)

    assert dict(calls.counts) == {"commit": 1}  # the preconditions come from the load: no read
    assert (order.persisted_version, saga.version) == (2, 2)
    stored, stored_saga = unit.load(order.order_id)
    assert (stored.status, stored.persisted_version) == (OrderStatus.CONFIRMED, 2)
    assert stored_saga == saga
    assert "evt-confirmed" in [r.event.event_id for r in unit.orders.pending(10)]
    # an unchanged order is not written: the saga alone
    saga.current = "Ready"
    unit.commit(saga, stored)
    assert unit.load(order.order_id)[1] == saga and saga.version == 3


def test_a_conflict_on_the_saga_writes_nothing_of_the_order(firestore_client: Any, prefix: str) -> None:
    unit = _stores(firestore_client, prefix)
    order, saga = _placed_and_loaded(unit)
    rival = unit.sagas.get(order.order_id)
    rival.current = "Elsewhere"
    unit.sagas.save(rival)  # someone else moved the saga on
    _step(order, saga, "evt-lost")

    with pytest.raises(ConcurrencyConflict):
        unit.commit(saga, order)

    stored, stored_saga = unit.load(order.order_id)
    assert (stored.status, stored.persisted_version) == (OrderStatus.PENDING, 1)  # the order was not written
    assert "evt-lost" not in [r.event.event_id for r in unit.orders.pending(10)]  # nor its event
    assert stored_saga is not None and stored_saga.current == "Elsewhere" and stored_saga.version == 2
    # the caller's objects are as they were: the event still pending, the versions unchanged
    assert [e.event_id for e in order.pending_events] == ["evt-lost"]
    assert (order.persisted_version, saga.version) == (1, 1)


def test_a_conflict_on_the_order_writes_nothing_of_the_saga(firestore_client: Any, prefix: str) -> None:
    unit = _stores(firestore_client, prefix)
    order, saga = _placed_and_loaded(unit)
    waiting = saga.current
    rival = unit.orders.get(order.order_id)
    rival.cancel(Actor.customer(rival.customer_id), T0, "evt-cancel", "changed my mind")
    unit.orders.save(rival)
    _step(order, saga, "evt-lost")

    with pytest.raises(ConcurrencyConflict):
        unit.commit(saga, order)

    stored, stored_saga = unit.load(order.order_id)
    assert stored.status is OrderStatus.CANCELLED
    assert stored_saga is not None and (stored_saga.current, stored_saga.version) == (waiting, 1)
    assert (order.persisted_version, saga.version) == (1, 1)


def test_a_second_placement_with_the_same_key_is_a_duplicate_and_writes_nothing(
    firestore_client: Any, prefix: str
) -> None:
    unit = _stores(firestore_client, prefix)
    order_id = order_id_for_key("cus-ana", "k-1")
    binding = IdempotencyRecord("cus-ana", "k-1", "f" * 64, order_id)
    first, again = make_order(order_id=order_id), make_order(order_id=order_id)
    placed = first.pending_events[0].event_id
    unit.commit(make_saga_state(saga_id=order_id), first, create_saga=True, idempotency=binding)
    saga = make_saga_state(saga_id=order_id, current="Other")

    with pytest.raises(DuplicateRequest) as raised:
        unit.commit(saga, again, create_saga=True, idempotency=binding)

    assert raised.value.resource_id == order_id
    assert saga.version == 0 and again.persisted_version == 0
    assert [r.event.event_id for r in unit.orders.pending(10)] == [placed]
    stored_saga = unit.load(order_id)[1]
    assert stored_saga is not None and stored_saga.current != "Other"


def test_a_saga_version_this_process_never_saw_is_read_first_then_written_with_its_update_time(
    firestore_client: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = _stores(firestore_client, prefix)
    order, saga = make_order(), make_saga_state()
    saga.saga_id = order.order_id
    writer.commit(saga, order, create_saga=True)
    other = _stores(firestore_client, prefix)  # another instance: it never saw version 1
    stale = saga.copy()
    saga.current = "Moved"
    writer.commit(saga, None)  # version 2, unknown to ``other``
    fresh = writer.sagas.get(order.order_id).copy()  # what a third instance might hold (version 2)
    fresh.current = "Next"
    calls = _Calls(firestore_client, monkeypatch)

    with pytest.raises(ConcurrencyConflict):
        other.commit(stale, None)  # read first: version 2 is not 1

    _stores(firestore_client, prefix).commit(fresh, None)  # read first: version 2, written with its update time
    assert calls.counts["batch_get_documents"] == 2 and calls.counts["commit"] == 1
    assert writer.sagas.get(order.order_id).current == "Next" and fresh.version == 3


def test_a_commit_whose_answer_was_lost_is_the_commit_not_a_conflict(
    firestore_client: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    unit = _stores(firestore_client, prefix)
    order, saga = _placed_and_loaded(unit)
    _step(order, saga, "evt-once")
    calls = _Calls(firestore_client, monkeypatch, lose_answer_of=order.order_id)

    unit.commit(saga, order)  # the library resends the commit; its preconditions fail on our own write

    assert calls.lost == 1 and calls.counts["commit"] == 2
    assert (order.persisted_version, saga.version, order.pending_events) == (2, 2, [])
    stored, stored_saga = unit.load(order.order_id)
    assert stored.status is OrderStatus.CONFIRMED and stored_saga == saga
    assert stored.concurrency_token == order.concurrency_token
    # and the next step goes on from there with no read
    saga.current = "Ready"
    unit.commit(saga, order)
    assert unit.load(order.order_id)[1] == saga


def test_a_load_of_a_missing_order_is_not_found_and_of_an_order_without_saga_none(
    firestore_client: Any, prefix: str
) -> None:
    unit = _stores(firestore_client, prefix)
    with pytest.raises(NotFound):
        unit.load("ord-none")
    order = make_order()
    unit.commit(None, order)
    loaded, saga = unit.load(order.order_id)
    assert loaded.order_id == order.order_id and saga is None
    with pytest.raises(NotFound):
        unit.commit(make_saga_state(saga_id=order.order_id, version=1), None)  # a saga never created


def test_a_keyed_placement_whose_answer_was_lost_is_the_placement_not_a_duplicate(
    firestore_client: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    unit = _stores(firestore_client, prefix)
    order_id = order_id_for_key("cus-ana", "k-lost")
    order, saga = make_order(order_id=order_id, customer_id="cus-ana"), make_saga_state(saga_id=order_id)
    placed = order.pending_events[0].event_id
    calls = _Calls(firestore_client, monkeypatch, lose_answer_of=order_id)

    # the resent commit finds the order, the binding and the saga it created: ALREADY_EXISTS, then recognised
    unit.commit(saga, order, create_saga=True, idempotency=IdempotencyRecord("cus-ana", "k-lost", "f" * 64, order_id))

    assert calls.lost == 1 and calls.counts["commit"] == 2
    assert (order.persisted_version, saga.version, order.pending_events) == (1, 1, [])
    stored, stored_saga = unit.load(order_id)
    assert stored.concurrency_token == order.concurrency_token and stored_saga == saga
    assert [r.event.event_id for r in unit.orders.pending(10)] == [placed]
