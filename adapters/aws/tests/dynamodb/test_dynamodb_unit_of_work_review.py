"""Attempts to break the DynamoDB unit of work (review): rivals that write what this commit writes, numbers that
DynamoDB normalises, a read cancelled by concurrent transactions, a torn read, one read raced by many writers,
and the billing of its calls.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from decimal import Decimal
from typing import Any

import boto3
import pytest
from raw_dynamodb import new_client, scan

from fooddelivery.adapters.memory import InMemoryOrderRepository, InMemorySagaStateStore, OperationCounters
from fooddelivery.cost.models import ModelInputs, model_units
from fooddelivery.domain import OrderStatus
from fooddelivery.domain.errors import ConcurrencyConflict, InfrastructureError, NotFound
from fooddelivery.metering import AWS, UsageMeter
from fooddelivery.ports.saga_store import SagaState
from fooddelivery.testing.builders import advance, make_order, make_saga_state
from fooddelivery_aws import metering
from fooddelivery_aws.dynamodb import DynamoDBOrderRepository, DynamoDBSagaStateStore
from fooddelivery_aws.dynamodb.tables import ORDERS, OUTBOX, SAGAS, TableSpec
from fooddelivery_aws.dynamodb.unit_of_work import DynamoDBUnitOfWork

Tables = dict[TableSpec, str]


@pytest.fixture
def client(moto_endpoint: str, moto_tables: Tables) -> Any:
    return new_client(moto_endpoint)


def unit_on(client: Any, tables: Tables, **orders_kwargs: Any) -> DynamoDBUnitOfWork:
    orders = DynamoDBOrderRepository(tables[ORDERS], client=client, **orders_kwargs)
    unit = orders.unit_of_work(DynamoDBSagaStateStore(tables[SAGAS], client=client))
    assert isinstance(unit, DynamoDBUnitOfWork)
    return unit


@pytest.fixture
def unit(client: Any, moto_tables: Tables) -> DynamoDBUnitOfWork:
    return unit_on(client, moto_tables)


def placed(unit: DynamoDBUnitOfWork, order_id: str = "ord-1") -> None:
    unit.commit(make_saga_state(saga_id=order_id, version=0), make_order(order_id=order_id), create_saga=True)


class LoseFirstAnswer:
    """botocore resends the first ``operation`` request after it was answered (its answer "lost")."""

    def __init__(self, client: Any, operation: str) -> None:
        self.resent = 0
        client.meta.events.register(f"needs-retry.dynamodb.{operation}", self._retry, unique_id="lose-first")

    def _retry(self, attempts: int, response: Any = None, **_: Any) -> int | None:
        if attempts == 1 and response is not None and response[0].status_code == 200:
            self.resent += 1
            return 0
        return None


# -- a rival that wrote what this commit writes -----------------------------------------------------------------
def test_two_drivers_of_the_same_saga_step_from_one_read_do_not_both_win_a_saga_only_commit(
    unit: DynamoDBUnitOfWork,
) -> None:
    """Two processes (a duplicated queue message) load the same order and saga and take the same step, which
    changes the saga alone. The port: "ConcurrencyConflict: the order or the saga was written by someone else since
    it was read". The second commit's PutItem is refused by its version condition, but ``_written`` finds the
    stored saga equal to what it put (the rival put the very same item) and reports success: both run the step."""
    placed(unit)
    order_a, saga_a = unit.load("ord-1")
    order_b, saga_b = unit.load("ord-1")
    assert saga_a is not None and saga_b is not None
    saga_a.current = saga_b.current = "AssignDriver"
    unit.commit(saga_a, order_a)
    with pytest.raises(ConcurrencyConflict):
        unit.commit(saga_b, order_b)


def test_two_drivers_of_the_same_step_from_one_read_do_not_both_win_and_the_loser_events_are_not_claimed_written(
    unit: DynamoDBUnitOfWork, client: Any, moto_tables: Tables
) -> None:
    """The same race on a step that changes the order and the saga: both make the same order item (the domain's
    time comes from the loaded order) and the same saga item, but their events have their own ids. The loser's
    transaction is cancelled (both versions moved), ``_written`` compares only the order and the saga items, finds
    them equal and reports success: the loser's events are taken off its order as if written, yet none is stored."""
    placed(unit)
    order_a, saga_a = unit.load("ord-1")
    order_b, saga_b = unit.load("ord-1")
    assert saga_a is not None and saga_b is not None
    advance(order_a, OrderStatus.CONFIRMED)
    advance(order_b, OrderStatus.CONFIRMED)
    [event_b] = order_b.pending_events
    saga_a.current = saga_b.current = "Confirmed"
    unit.commit(saga_a, order_a)
    try:
        unit.commit(saga_b, order_b)
    except ConcurrencyConflict:
        return  # what the port says
    keys = {item["orderId"]["S"] for item in scan(client, moto_tables[ORDERS])}
    assert f"outbox#{event_b.event_id}" in keys, "the commit succeeded, but its event was never written"


def test_many_writers_from_one_read_of_the_same_step_make_exactly_one_winner(
    moto_endpoint: str, moto_tables: Tables
) -> None:
    """Six processes race the same step from one read (each its own client, as separate Lambdas): exactly one may
    win; the others must get ConcurrencyConflict."""
    setup = unit_on(new_client(moto_endpoint), moto_tables)
    placed(setup)
    units = [unit_on(new_client(moto_endpoint), moto_tables) for _ in range(6)]
    loaded = [u.load("ord-1") for u in units]
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(len(units))

    def run(u: DynamoDBUnitOfWork, order: Any, saga: SagaState | None) -> None:
        assert saga is not None
        advance(order, OrderStatus.CONFIRMED)
        saga.current = "Confirmed"
        start.wait()
        try:
            u.commit(saga, order)
            outcome = "won"
        except ConcurrencyConflict:
            outcome = "conflict"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(u, o, s)) for u, (o, s) in zip(units, loaded, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 5 + ["won"]


def test_many_writers_from_one_read_of_different_steps_make_exactly_one_winner_with_its_own_items(
    moto_endpoint: str, moto_tables: Tables
) -> None:
    setup = unit_on(new_client(moto_endpoint), moto_tables)
    placed(setup)
    units = [unit_on(new_client(moto_endpoint), moto_tables) for _ in range(6)]
    loaded = [u.load("ord-1") for u in units]
    winners: list[int] = []
    conflicts: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(len(units))

    def run(n: int, u: DynamoDBUnitOfWork, order: Any, saga: SagaState | None) -> None:
        assert saga is not None
        advance(order, OrderStatus.CONFIRMED)
        saga.current = f"step-{n}"
        start.wait()
        try:
            u.commit(saga, order)
            with lock:
                winners.append(n)
        except ConcurrencyConflict:
            with lock:
                conflicts.append(n)

    threads = [
        threading.Thread(target=run, args=(n, u, o, s)) for n, (u, (o, s)) in enumerate(zip(units, loaded, strict=True))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1 and len(conflicts) == 5
    order, saga = setup.load("ord-1")
    assert saga is not None and saga.current == f"step-{winners[0]}" and saga.version == 2
    assert order.version == 2 and order.status is OrderStatus.CONFIRMED


# -- numbers DynamoDB normalises ----------------------------------------------------------------------------------
def test_dynalite_stores_numbers_as_dynamodb_does_without_trailing_zeros(
    dynalite_tables: Tables, dynalite_endpoint: str
) -> None:
    """The fact the next tests rest on (DynamoDB developer guide, "Data types", Number: "Leading and trailing
    zeroes are trimmed"), checked on dynalite."""
    client = new_client(dynalite_endpoint)
    client.put_item(TableName=dynalite_tables[SAGAS], Item={"sagaId": {"S": "x"}, "n": {"N": "1741953600.000000"}})
    item = client.get_item(TableName=dynalite_tables[SAGAS], Key={"sagaId": {"S": "x"}}, ConsistentRead=True)["Item"]
    assert item["n"] == {"N": "1741953600"}


def test_a_saga_write_with_a_decimal_in_its_data_whose_answer_was_lost_is_written_once_on_dynalite(
    dynalite_tables: Tables, dynalite_endpoint: str
) -> None:
    """A saga-only commit (one PutItem) whose answer was lost: the resend is refused, and ``_written`` compares the
    stored item with the Put byte for byte. DynamoDB trims trailing zeros of numbers, so a saga whose data holds
    ``Decimal("12.50")`` never compares equal and the commit that was applied is reported a ConcurrencyConflict."""
    client = new_client(dynalite_endpoint)
    unit = unit_on(client, dynalite_tables)
    saga = make_saga_state(saga_id="ord-1", version=0)
    saga.data["refund"] = Decimal("12.50")
    unit.commit(saga, None, create_saga=True)  # one PutItem
    saga.current = "AssignDriver"
    lost = LoseFirstAnswer(client, "PutItem")
    unit.commit(saga, None)
    assert lost.resent == 1 and saga.version == 2


def test_an_order_write_alone_whose_answer_was_lost_is_written_once_on_dynalite(
    dynalite_tables: Tables, dynalite_endpoint: str
) -> None:
    """An order-only commit without events (one PutItem) whose answer was lost. The order item's ``createdAt`` is
    ``epoch_text`` ("<seconds>.000000"), which DynamoDB stores as "<seconds>": the stored order never equals the
    Put, so an applied write is reported a ConcurrencyConflict on DynamoDB (and dynalite) -- it passes on moto
    only because moto keeps numbers as sent."""
    client = new_client(dynalite_endpoint)
    orders = DynamoDBOrderRepository(dynalite_tables[ORDERS], client=client)
    first = make_order(order_id="ord-1")
    first.take_events()  # dynalite has no transactions: store the order alone (one PutItem)
    orders.add(first)
    unit = unit_on(client, dynalite_tables)
    order = orders.get("ord-1")  # dynalite has no TransactGetItems either: the order store's own read
    advance(order, OrderStatus.CONFIRMED)
    order.take_events()  # a change without events: the order alone is one PutItem
    lost = LoseFirstAnswer(client, "PutItem")
    unit.commit(None, order)
    assert lost.resent == 1 and order.persisted_version == 2


# -- a transactional read cancelled by a concurrent transaction -------------------------------------------------------
class CancelReads:
    """The real client, except that its first ``times`` ``TransactGetItems`` are cancelled with ``codes`` (one
    reason per Get), as DynamoDB cancels one when a transaction writing one of its items is in flight."""

    def __init__(self, client: Any, times: int, codes: tuple[str, str] = ("TransactionConflict", "None")) -> None:
        self._client = client
        self._left = times
        self._codes = codes
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_get_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        self.calls += 1
        if self._left > 0:
            self._left -= 1
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                    "CancellationReasons": [{"Code": code} for code in self._codes],
                },
                "TransactGetItems",
            )
        return dict(self._client.transact_get_items(TransactItems=TransactItems))


def test_a_load_cancelled_by_a_concurrent_transaction_is_asked_again(client: Any, moto_tables: Tables) -> None:
    placed(unit_on(client, moto_tables))
    stub = CancelReads(client, times=2)
    order, saga = unit_on(stub, moto_tables).load("ord-1")
    assert stub.calls == 3
    assert order.version == 1 and saga is not None and saga.version == 1


def test_a_load_cancelled_past_its_retries_is_a_retryable_infrastructure_error(
    client: Any, moto_tables: Tables
) -> None:
    placed(unit_on(client, moto_tables))
    stub = CancelReads(client, times=100)
    with pytest.raises(InfrastructureError) as caught:
        unit_on(stub, moto_tables).load("ord-1")
    assert stub.calls == 4
    assert caught.value.context["reason"] == "transaction_conflict" and caught.value.context["retryable"] is True


def test_a_throttled_load_is_refused_at_once_as_retryable(client: Any, moto_tables: Tables) -> None:
    placed(unit_on(client, moto_tables))
    stub = CancelReads(client, times=1, codes=("ThrottlingError", "None"))
    with pytest.raises(InfrastructureError) as caught:
        unit_on(stub, moto_tables).load("ord-1")
    assert stub.calls == 1
    assert caught.value.context["reason"] == "throttled" and caught.value.context["retryable"] is True


# -- billing ----------------------------------------------------------------------------------------------------------
def test_a_load_of_a_saga_over_4_kb_bills_its_4_kb_steps(unit: DynamoDBUnitOfWork, client: Any) -> None:
    from fooddelivery_aws.dynamodb.records import saga_to_item

    saga = make_saga_state(saga_id="ord-big", version=0)
    saga.data["notes"] = "x" * 5000
    assert 4096 < metering.dynamodb_item_size(saga_to_item(saga)) <= 8192
    unit.commit(saga, make_order(order_id="ord-big"), create_saga=True)
    meter = UsageMeter()
    metering.instrument(client, meter)
    try:
        unit.load("ord-big")
    finally:
        metering.instrument(client, None)
    # transactional: the order under 4 KB 2, the saga in two 4 KB steps 2 x 2
    assert meter.quantity(AWS.DYNAMODB_READ_UNITS) == 2 + 2 * 2


@pytest.mark.parametrize("shape", ["order_with_event_and_saga", "order_without_event_and_saga", "saga_only"])
def test_the_cost_model_predicts_the_write_units_of_each_commit_shape(
    shape: str, client: Any, moto_tables: Tables
) -> None:
    """The in-memory unit's metering (7a9cc1b) against what DynamoDBUnitOfWork is billed, for each shape of a step's
    commit (after a placement with its saga)."""

    def step(u: Any) -> None:
        order, saga = u.load("ord-1")
        if shape != "saga_only":
            advance(order, OrderStatus.CONFIRMED)
            if shape == "order_without_event_and_saga":
                order.take_events()
        saga.current = "Next"
        u.commit(saga, order)

    unit = unit_on(client, moto_tables)
    placed(unit)
    meter = UsageMeter()
    metering.instrument(client, meter)
    try:
        step(unit)
    finally:
        metering.instrument(client, None)

    counters = OperationCounters()
    memory_orders = InMemoryOrderRepository(counters=counters)
    memory_unit = memory_orders.unit_of_work(InMemorySagaStateStore(counters=counters))
    assert memory_unit is not None
    memory_unit.commit(make_saga_state(saga_id="ord-1", version=0), make_order(order_id="ord-1"), create_saga=True)
    placed_counters = counters.usage()
    step(memory_unit)

    def wru(usage: Any) -> Decimal:
        inputs = ModelInputs(usage, 1, 0.0, Decimal(1), Decimal(720), Decimal(1))
        return Decimal({u.meter: u.quantity for u in model_units("aws.queue", inputs)}.get(AWS.DYNAMODB_WRITE_UNITS, 0))

    predicted = wru(counters.usage()) - wru(placed_counters)
    assert predicted == meter.quantity(AWS.DYNAMODB_WRITE_UNITS)


# -- the outbox in its own sharded table --------------------------------------------------------------------------
def test_an_event_id_taken_in_a_sharded_outbox_table_is_a_conflict_and_nothing_is_written(
    client: Any, moto_tables: Tables
) -> None:
    unit = unit_on(client, moto_tables, outbox_table=moto_tables[OUTBOX], outbox_shards=3)
    placed(unit)
    order, saga = unit.load("ord-1")
    assert saga is not None
    advance(order, OrderStatus.CONFIRMED)
    [event] = order.pending_events
    placed_event_ids = [i["eventId"]["S"] for i in scan(client, moto_tables[OUTBOX])]
    order.pending_events[0] = replace(event, event_id=placed_event_ids[0])
    saga.current = "Confirmed"
    with pytest.raises(ConcurrencyConflict) as caught:
        unit.commit(saga, order)
    assert "already written" in str(caught.value)
    stored, stored_saga = unit.load("ord-1")
    assert stored.version == 1 and stored_saga is not None and stored_saga.version == 1
    assert len(scan(client, moto_tables[OUTBOX])) == 1


# -- a batch read across a transaction ------------------------------------------------------------------------------
class ReadOrderBeforeRival:
    """The real client, except that ``BatchGetItem`` returns the order item as it was before a rival's transaction
    and the saga item as it is after it: what DynamoDB may answer when a ``TransactWriteItems`` lands between the
    batch's item reads (developer guide, "Isolation levels for DynamoDB transactions": BatchGetItem is not
    serializable as a whole). moto serialises requests, so it never does. ``TransactGetItems`` is serializable with
    every transaction: it passes through (DynamoDB would cancel it while the rival is in flight, never tear it)."""

    def __init__(self, client: Any, orders_table: str) -> None:
        self._client = client
        self._orders = orders_table
        self.stale_order: dict[str, Any] | None = None
        self.batch_reads = 0
        self.transactional_reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.batch_reads += 1
        response = dict(self._client.batch_get_item(RequestItems=RequestItems))
        if self.stale_order is not None:
            response["Responses"] = {**response["Responses"], self._orders: [self.stale_order]}
        return response

    def transact_get_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        self.transactional_reads += 1
        return dict(self._client.transact_get_items(TransactItems=TransactItems))


def test_a_saga_only_step_decided_on_an_order_older_than_the_saga_it_read_does_not_commit(
    client: Any, moto_tables: Tables
) -> None:
    """The unit's load was one ``BatchGetItem``, not a snapshot: a rival commits order v2 with saga v2 (one
    transaction); a torn batch read returned order v1 with saga v2, a pair that never existed, and a step decided on
    it that writes the saga alone (conditioned on saga v2 only) committed. The load is now one ``TransactGetItems``
    (serializable): it returns the pair as one transaction left it, here (v2, v2), and never asks the batch read
    that tears. A step decided on the order as it is then commits; one decided on the pair before the rival (v1, v1)
    fails on the saga the rival moved."""
    stub = ReadOrderBeforeRival(client, moto_tables[ORDERS])
    unit = unit_on(stub, moto_tables)
    placed(unit)
    before_order, before_saga = unit.load("ord-1")  # (v1, v1)
    assert before_saga is not None
    stub.stale_order = client.get_item(
        TableName=moto_tables[ORDERS], Key={"orderId": {"S": "ord-1"}}, ConsistentRead=True
    )["Item"]
    rival_order, rival_saga = unit_on(client, moto_tables).load("ord-1")
    assert rival_saga is not None
    advance(rival_order, OrderStatus.CONFIRMED)
    rival_saga.current = "AssignDriver"
    unit_on(client, moto_tables).commit(rival_saga, rival_order)  # order v2 and saga v2, atomically

    order, saga = unit.load("ord-1")  # a snapshot: not torn
    assert stub.batch_reads == 0 and stub.transactional_reads == 2
    assert saga is not None and saga.version == 2 and saga.current == "AssignDriver"
    assert order.version == 2 and order.status is OrderStatus.CONFIRMED
    before_saga.data["decided_on"] = before_order.status.value  # decided on (v1, v1): the rival moved the saga
    with pytest.raises(ConcurrencyConflict):
        unit.commit(before_saga, before_order)
    saga.data["decided_on"] = order.status.value  # decided on the pair as it is
    unit.commit(saga, order)
    assert saga.version == 3
    stored_order, stored_saga = unit_on(client, moto_tables).load("ord-1")
    assert stored_saga is not None and stored_saga.data["decided_on"] == "CONFIRMED" and stored_order.version == 2


# -- the cost model against the bill, beyond the shapes tested so far -------------------------------------------------
def _model(usage: Any, meter: str) -> Decimal:
    inputs = ModelInputs(usage, 1, 0.0, Decimal(1), Decimal(720), Decimal(1))
    return Decimal({u.meter: u.quantity for u in model_units("aws.queue", inputs)}.get(meter, 0))


def _big_saga(order_id: str, chars: int) -> SagaState:
    saga = make_saga_state(saga_id=order_id, version=0)
    saga.data["notes"] = "x" * chars
    return saga


@pytest.mark.parametrize("chars", [0, 2500, 5000])
def test_the_cost_model_predicts_the_write_units_of_a_placement_with_binding_and_saga_of_any_size(
    chars: int, client: Any, moto_tables: Tables
) -> None:
    from fooddelivery.ports.orders import IdempotencyRecord
    from fooddelivery.testing.builders import make_restaurant

    restaurant = make_restaurant()
    binding = IdempotencyRecord("cus-ana", "key-1", "f" * 64, "ord-1")
    unit = unit_on(client, moto_tables)
    meter = UsageMeter()
    metering.instrument(client, meter)
    try:
        unit.commit(
            _big_saga("ord-1", chars),
            make_order(restaurant, order_id="ord-1", customer_id="cus-ana"),
            create_saga=True,
            idempotency=binding,
        )
    finally:
        metering.instrument(client, None)
    counters = OperationCounters()
    memory_unit = InMemoryOrderRepository(counters=counters).unit_of_work(InMemorySagaStateStore(counters=counters))
    assert memory_unit is not None
    memory_unit.commit(
        _big_saga("ord-1", chars),
        make_order(restaurant, order_id="ord-1", customer_id="cus-ana"),
        create_saga=True,
        idempotency=binding,
    )
    assert _model(counters.usage(), AWS.DYNAMODB_WRITE_UNITS) == meter.quantity(AWS.DYNAMODB_WRITE_UNITS)


@pytest.mark.parametrize("chars", [None, 0, 5000, 9000])
def test_the_cost_model_predicts_the_read_units_of_a_load(chars: int | None, client: Any, moto_tables: Tables) -> None:
    """None: an order without a saga (the batch read's missing key bills the minimum)."""
    from fooddelivery.testing.builders import make_restaurant

    restaurant = make_restaurant()
    unit = unit_on(client, moto_tables)
    counters = OperationCounters()
    memory_unit = InMemoryOrderRepository(counters=counters).unit_of_work(InMemorySagaStateStore(counters=counters))
    assert memory_unit is not None
    for u in (unit, memory_unit):
        order = make_order(restaurant, order_id="ord-1", customer_id="cus-ana")
        if chars is None:
            u.commit(None, order)
        else:
            u.commit(_big_saga("ord-1", chars), order, create_saga=True)
    before = counters.usage()
    meter = UsageMeter()
    metering.instrument(client, meter)
    try:
        unit.load("ord-1")
    finally:
        metering.instrument(client, None)
    memory_unit.load("ord-1")
    predicted = _model(counters.usage(), AWS.DYNAMODB_READ_UNITS) - _model(before, AWS.DYNAMODB_READ_UNITS)
    assert predicted == meter.quantity(AWS.DYNAMODB_READ_UNITS)


def test_a_placement_sent_again_with_its_idempotency_key_is_a_duplicate_even_when_its_items_match(
    unit: DynamoDBUnitOfWork, client: Any, moto_tables: Tables
) -> None:
    """A client's retry of a placement races its first request (same key, same request: both found no binding).
    With an atomic unit and the in-process runner, ``TransactionalOrders.add`` places through ``unit.commit(saga,
    order, create_saga=True, idempotency=...)``. The retry builds the order again, with a new event id, at the same
    clock time (a VirtualClock; or within the same microsecond). The port: DuplicateRequest (the use case then
    answers with the first order, created=False). ``_written`` finds the stored order and saga equal to the new Puts
    and reports a fresh success instead (created=True twice), with an OrderPlaced event that was never written."""
    from fooddelivery.domain.errors import DuplicateRequest
    from fooddelivery.ports.orders import IdempotencyRecord
    from fooddelivery.testing.builders import make_restaurant

    restaurant = make_restaurant()
    binding = IdempotencyRecord("cus-ana", "key-1", "f" * 64, "ord-1")
    first = make_order(restaurant, order_id="ord-1", customer_id="cus-ana", event_id="evt-first")
    unit.commit(make_saga_state(saga_id="ord-1", version=0), first, create_saga=True, idempotency=binding)
    again = make_order(restaurant, order_id="ord-1", customer_id="cus-ana", event_id="evt-again")
    with pytest.raises(DuplicateRequest):
        unit.commit(make_saga_state(saga_id="ord-1", version=0), again, create_saga=True, idempotency=binding)
    keys = {item["orderId"]["S"] for item in scan(client, moto_tables[ORDERS])}
    assert "outbox#evt-again" not in keys


# -- the 4 MB of one transaction ---------------------------------------------------------------------------------------
def test_a_commit_over_the_4_mb_of_one_transaction_is_refused_whole(
    unit: DynamoDBUnitOfWork, client: Any, moto_tables: Tables
) -> None:
    """The unit's docstring: at most 100 actions "and 4 MB in all" (DynamoDB API reference, TransactWriteItems:
    "The aggregate size of the items in the transaction cannot exceed 4 MB"). 60 records of ~80 KB each (each item
    under the 400 KB item limit) with the saga: about 4.8 MB in 62 actions. It must be refused (InfrastructureError)
    with nothing written."""
    from fooddelivery.domain.errors import InfrastructureError

    placed(unit)
    order, saga = unit.load("ord-1")
    assert saga is not None
    advance(order, OrderStatus.CONFIRMED)
    [confirmed] = order.pending_events
    big = {"blob": "y" * 80_000}
    order.pending_events[:] = [replace(confirmed, event_id=f"evt-big{n}", payload=big) for n in range(60)]
    saga.current = "Confirmed"
    before_orders = scan(client, moto_tables[ORDERS])
    with pytest.raises(InfrastructureError):
        unit.commit(saga, order)
    assert scan(client, moto_tables[ORDERS]) == before_orders
    stored, stored_saga = unit.load("ord-1")
    assert stored.version == 1 and stored_saga is not None and stored_saga.version == 1


# -- the Streams relay -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("own_table", [False, True])
def test_the_streams_relay_publishes_exactly_the_unit_commits_events_in_order_and_nothing_of_the_saga(
    own_table: bool, client: Any, moto_tables: Tables, moto_endpoint: str
) -> None:
    from fooddelivery.adapters.memory.messaging import InMemoryEventPublisher
    from fooddelivery_aws.relay import StreamOutboxRelay

    kwargs = {"outbox_table": moto_tables[OUTBOX], "outbox_shards": 3} if own_table else {}
    unit = unit_on(client, moto_tables, **kwargs)
    order = make_order(order_id="ord-1")
    committed = list(order.pending_events)
    unit.commit(make_saga_state(saga_id="ord-1", version=0), order, create_saga=True)
    for to in (OrderStatus.CONFIRMED, OrderStatus.PREPARING):
        loaded, saga = unit.load("ord-1")
        assert saga is not None
        advance(loaded, to)
        committed += loaded.pending_events
        saga.current = to.value
        unit.commit(saga, loaded)
    loaded, saga = unit.load("ord-1")
    assert saga is not None
    saga.current = "saga-only"
    unit.commit(saga, loaded)  # the saga alone

    table = moto_tables[OUTBOX] if own_table else moto_tables[ORDERS]
    streams = boto3.client("dynamodbstreams", endpoint_url=moto_endpoint, region_name="us-east-1")
    arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    records: list[Any] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
        records += streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert not any("sagaId" in r["dynamodb"].get("Keys", {}) for r in records)
    publisher = InMemoryEventPublisher()
    outbox = DynamoDBOrderRepository(moto_tables[ORDERS], client=client, **kwargs)
    failures = StreamOutboxRelay(publisher, outbox).handle(records)
    assert failures.identifiers == []
    assert [e.event_id for e in publisher.published] == [e.event_id for e in committed]
    assert outbox.pending() == []


# -- which failure is reported -------------------------------------------------------------------------------------
def test_when_the_order_and_the_saga_both_moved_the_orders_conflict_is_reported(
    unit: DynamoDBUnitOfWork, client: Any, moto_tables: Tables
) -> None:
    placed(unit)
    order, saga = unit.load("ord-1")
    rival_order, rival_saga = unit.load("ord-1")
    assert saga is not None and rival_saga is not None
    advance(rival_order, OrderStatus.CONFIRMED)
    rival_saga.current = "Rival"
    unit.commit(rival_saga, rival_order)
    advance(order, OrderStatus.CONFIRMED)
    saga.current = "Mine"
    with pytest.raises(ConcurrencyConflict) as caught:
        unit.commit(saga, order)
    assert caught.value.context.get("order_id") == "ord-1" and caught.value.context["stored_version"] == 2
    assert "saga_id" not in caught.value.context


def test_a_step_on_an_order_deleted_since_its_read_is_not_found_even_if_the_saga_moved(
    unit: DynamoDBUnitOfWork,
) -> None:
    placed(unit)
    order, saga = unit.load("ord-1")
    assert saga is not None
    client = unit.orders._client.get()
    client.delete_item(TableName=unit.orders.table_name, Key={"orderId": {"S": "ord-1"}})
    rival = unit.sagas.get("ord-1")
    unit.sagas.save(rival)
    advance(order, OrderStatus.CONFIRMED)
    with pytest.raises(NotFound) as caught:
        unit.commit(saga, order)
    assert caught.value.context.get("order_id") == "ord-1"
