"""What the in-memory adapters meter, and what each cloud model makes of it, for one order of a known size
(every expected figure worked out by hand from the sizes, in the comments)."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from fooddelivery.adapters.counters import OperationCounters
from fooddelivery.adapters.memory import InMemoryEventPublisher, InMemoryOrderRepository, InMemorySagaStateStore
from fooddelivery.adapters.sizes import envelope_size, idempotency_size, order_size, outbox_size, saga_size
from fooddelivery.cost.models import DeploymentOptions, ModelInputs, cosmos_read_ru, cosmos_write_ru, model_units
from fooddelivery.domain.order import OrderStatus
from fooddelivery.metering import AWS, AZURE, GCP
from fooddelivery.ports.orders import IdempotencyRecord
from fooddelivery.testing.builders import advance, make_order, make_saga_state


@pytest.fixture
def placed() -> OperationCounters:
    """One order (907 bytes stored), its OrderPlaced outbox record (305 bytes) and its idempotency binding
    (179 bytes) written in one atomic write, then its event (388-byte envelope) published and marked."""
    counters = OperationCounters()
    orders = InMemoryOrderRepository(counters=counters)
    bus = InMemoryEventPublisher(counters=counters)
    order = make_order(order_id="ord-1", event_id="evt-1", customer_id="cus-ana")
    events = list(order.pending_events)
    binding = IdempotencyRecord("cus-ana", "checkout-42", "f" * 64, "ord-1")
    # the sizes the test's hand calculations start from
    assert (order_size(order), outbox_size(events[0]), idempotency_size(binding)) == (907, 305, 179)
    assert envelope_size(events[0]) == 388
    orders.add(order, binding)
    bus.publish(events)
    orders.mark_published(["evt-1"])
    return counters


def test_an_atomic_placement_is_metered_item_by_item_with_sizes(placed: OperationCounters) -> None:
    usage = placed.usage()
    assert usage["store.orders.txn"].quantity == 1
    assert usage["store.orders.txn_item"].kib == {1: 1}  # 907 bytes: 1 KiB started
    assert usage["store.outbox.txn_item"].kib == {1: 1}
    assert usage["store.idempotency.txn_item"].kib == {1: 1}
    assert usage["store.outbox.delete"].bytes == 305
    assert usage["bus.event"].bytes == 388
    assert usage["runtime.event"].quantity == 1  # OrderPlaced starts the saga: it goes to the runtime's queue
    # the counts the simulation report has always had are unchanged
    assert placed.snapshot() == {"orders.writes": 1, "outbox.writes": 2, "events.published": 1}


def _units(counters: OperationCounters, runtime: str) -> dict[str, Decimal]:
    inputs = ModelInputs(
        usage=counters.usage(),
        orders=1,
        cpu_seconds=0.0,
        peak_orders_per_second=Decimal(1),
        hours=Decimal(720),
        scale=Decimal(1),
        options=DeploymentOptions(),
    )
    return {line.meter: line.quantity for line in model_units(runtime, inputs)}


def test_aws_bills_the_placement_as_a_transaction_and_one_event(placed: OperationCounters) -> None:
    units = _units(placed, "aws.queue")
    # TransactWriteItems: 2 x (order 1 KB + outbox 1 KB + binding 1 KB) = 6; the outbox delete: 1
    assert units[AWS.DYNAMODB_WRITE_UNITS] == 6 + 1
    assert units[AWS.DYNAMODB_READ_UNITS] == 0
    assert units[AWS.EVENTBRIDGE_EVENTS] == 1  # 388 bytes: one 64 KB chunk
    assert units[AWS.SQS_FIFO_REQUESTS] == 3  # send, receive, delete on the saga queue
    assert units[AWS.SQS_STANDARD_REQUESTS] == 1  # the event into the analytics queue
    # invocations: the stream function for the committed write, the SQS function for the runtime message
    assert units[AWS.LAMBDA_REQUESTS] == 2


def test_azure_bills_request_units_by_item_size(placed: OperationCounters) -> None:
    units = _units(placed, "azure.queue")
    # writes: order, outbox record and binding, 1 KB each: 3 x 4.95; the outbox delete (1 KB) as a write 4.95
    assert units[AZURE.COSMOS_REQUEST_UNITS] == 4 * Decimal("4.95")
    # bus: topic send + receive + complete; runtime queue: send + receive + complete
    assert units[AZURE.SERVICEBUS_OPERATIONS] == 6


def test_google_cloud_bills_documents_and_at_least_1000_bytes_a_message(placed: OperationCounters) -> None:
    units = _units(placed, "gcp.queue")
    assert units[GCP.FIRESTORE_WRITES] == 3
    assert units[GCP.FIRESTORE_DELETES] == 1
    assert units[GCP.FIRESTORE_READS] == 0
    # 388-byte envelope on the bus and on the runtime topic: publish + delivery, 1,000 bytes each
    assert units[GCP.PUBSUB_BYTES] == 4 * 1000


def test_cosmos_request_charges_follow_the_published_examples() -> None:
    assert [cosmos_read_ru(k) for k in (1, 2, 3, 4)] == [
        Decimal("1.00"),
        Decimal("1.04"),
        Decimal("1.14"),
        Decimal("1.14"),
    ]
    assert [cosmos_write_ru(k) for k in (1, 2, 4, 8)] == [
        Decimal("4.95"),
        Decimal("6.29"),
        Decimal("6.67"),
        Decimal("13.34"),
    ]
    assert cosmos_read_ru(100) == Decimal(10)


def test_reads_and_queries_are_metered_by_what_they_return() -> None:
    counters = OperationCounters()
    orders = InMemoryOrderRepository(counters=counters)
    order = make_order(order_id="ord-2", customer_id="cus-ana")
    orders.add(order)
    orders.get("ord-2")
    orders.list_by_customer("cus-ana")
    usage = counters.usage()
    assert usage["store.orders.read"].bytes == 907
    assert usage["store.orders.query"].bytes == 907
    assert usage["store.orders.query_item"].quantity == 1
    units = _units(counters, "aws.queue")
    # a strongly consistent read of 907 bytes: 1 RRU; a query page (index, eventually consistent): 0.5
    assert units[AWS.DYNAMODB_READ_UNITS] == Decimal("1.5")


def test_metering_can_be_switched_off_without_changing_the_counts() -> None:
    counters = OperationCounters(metering=False)
    orders = InMemoryOrderRepository(counters=counters)
    orders.add(make_order(order_id="ord-3"))
    orders.get("ord-3")
    assert counters.usage() == {}
    assert counters.snapshot() == {"orders.writes": 1, "outbox.writes": 1, "orders.reads": 1}


def test_a_unit_of_work_commits_the_order_and_its_saga_as_one_atomic_write() -> None:
    # The cloud stores' native units of work write the order, its outbox records and the saga in one atomic write
    # (DynamoDB TransactWriteItems, a Cosmos DB transactional batch, a Firestore batched write): the saga is one
    # more item of the order's transaction, not a write of its own.
    counters = OperationCounters()
    orders = InMemoryOrderRepository(counters=counters)
    sagas = InMemorySagaStateStore(counters=counters)
    unit = orders.unit_of_work(sagas)
    assert unit is not None
    order = make_order(order_id="ord-4", customer_id="cus-ana")
    saga = make_saga_state(saga_id="ord-4")
    unit.commit(saga, order, create_saga=True)  # the placement with its saga
    loaded, stored_saga = unit.load("ord-4")
    assert stored_saga is not None
    advance(loaded, OrderStatus.CONFIRMED)  # one more event on the order
    stored_saga.current = "AssignDriver"
    unit.commit(stored_saga, loaded)  # a step: the order with its event, and the saga
    stored_saga.current = "Done"
    unit.commit(stored_saga)  # a step that changes only the saga
    usage = counters.usage()
    saga_kib = math.ceil(saga_size(stored_saga) / 1024)
    assert usage["store.orders.txn"].quantity == 2  # one atomic write per commit of the order and the saga
    assert usage["store.orders.txn_item"].quantity == 2
    assert usage["store.outbox.txn_item"].quantity == 2  # OrderPlaced, OrderConfirmed
    assert usage["store.sagas.txn_item"].quantity == 2
    assert usage["store.sagas.write"].quantity == 1  # the saga-only commit is the saga store's own write
    # every item written is under 1 KB: 1 KiB started each
    assert saga_kib == 1
    for name in ("orders.txn_item", "outbox.txn_item", "sagas.txn_item", "sagas.write"):
        assert set(usage[f"store.{name}"].kib) == {1}, name
    units = _units(counters, "aws.queue")
    # 2 transactions x 3 items x 2 WRU (a transactional write bills double), plus the saga-only PutItem's 1 WRU
    assert units[AWS.DYNAMODB_WRITE_UNITS] == 2 * 3 * 2 + 1
    gcp = _units(counters, "gcp.queue")
    assert gcp[GCP.FIRESTORE_WRITES] == 2 * 3 + 1  # one billed write per document, in a batch or not


def test_on_azure_a_saga_only_write_is_a_change_feed_invocation_too() -> None:
    # With the native unit of work the saga documents live in the Cosmos DB orders container (each in its order's
    # partition), whose change feed triggers the relay function for every document written, outbox or not: a
    # saga-only commit (``store.sagas.write``) is one more invocation in queue mode, as a commit carrying events
    # (``store.orders.txn``) is. Durable Functions keeps no saga documents in Cosmos DB: nothing more there.
    counters = OperationCounters()
    orders = InMemoryOrderRepository(counters=counters)
    sagas = InMemorySagaStateStore(counters=counters)
    unit = orders.unit_of_work(sagas)
    assert unit is not None
    order = make_order(order_id="ord-5", customer_id="cus-ana")
    saga = make_saga_state(saga_id="ord-5")
    unit.commit(saga, order, create_saga=True)  # order, its event and the saga: one batch, one change-feed batch
    saga.current = "WaitForRestaurant"
    unit.commit(saga)  # the saga alone: one document of the orders container, one more change-feed batch
    saga.current = "Done"
    unit.commit(saga)  # and again
    usage = counters.usage()
    assert (usage["store.orders.txn"].quantity, usage["store.sagas.write"].quantity) == (1, 2)
    assert "api.request" not in usage and "runtime.event" not in usage  # no other invocation in this test
    assert _units(counters, "azure.queue")[AZURE.FUNCTIONS_EXECUTIONS] == 1 + 2
    assert _units(counters, "azure.durable")[AZURE.FUNCTIONS_EXECUTIONS] == 1
