"""The DynamoDB unit of work (``DynamoDBOrderRepository.unit_of_work``) on moto server, and what dynalite makes of it:
one ``BatchGetItem`` per load, one ``TransactWriteItems`` per commit (order, outbox records, binding and saga),
everything or nothing, the units it is billed, and a full order lifecycle's store calls on the DynamoDB stores.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from raw_dynamodb import new_client, scan

from fooddelivery.adapters.memory import (
    InMemoryOrderRepository,
    InMemorySagaStateStore,
    OperationCounters,
    SequentialIdGenerator,
    VirtualClock,
)
from fooddelivery.application import PlaceOrder
from fooddelivery.application.unit_of_work import ComposedUnitOfWork, unit_of_work_for
from fooddelivery.bootstrap import Settings, bootstrap
from fooddelivery.cost.models import ModelInputs, model_units
from fooddelivery.domain import (
    Actor,
    DeliveryAddress,
    Driver,
    DriverStatus,
    GeoPoint,
    LineRequest,
    MenuItem,
    Money,
    OrderStatus,
    Restaurant,
)
from fooddelivery.domain.errors import (
    ConcurrencyConflict,
    DuplicateRequest,
    InfrastructureError,
    NotFound,
    ValidationError,
)
from fooddelivery.metering import AWS, UsageMeter
from fooddelivery.ports.orders import IdempotencyRecord
from fooddelivery.ports.saga_store import SagaState
from fooddelivery.testing.builders import advance, make_order, make_saga_state
from fooddelivery.testing.lifecycle import (
    LIFECYCLE_START,
    NATIVE_LIFECYCLE_STORE_CALLS,
    count_lifecycle_store_calls,
    deliver_orders,
)
from fooddelivery_aws import metering
from fooddelivery_aws.dynamodb import (
    DynamoDBDriverRepository,
    DynamoDBOrderRepository,
    DynamoDBRestaurantRepository,
    DynamoDBSagaStateStore,
)
from fooddelivery_aws.dynamodb.orders import MAX_TRANSACTION_ITEMS
from fooddelivery_aws.dynamodb.records import idempotency_key
from fooddelivery_aws.dynamodb.tables import DRIVERS, ORDERS, RESTAURANTS, SAGAS, TableSpec, create_table
from fooddelivery_aws.dynamodb.unit_of_work import DynamoDBUnitOfWork

Tables = dict[TableSpec, str]


class Calls:
    """The DynamoDB operations a client sent (``before-call`` hook), by name."""

    def __init__(self, client: Any) -> None:
        self.made: list[str] = []
        client.meta.events.register("before-call.dynamodb", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.made.append(model.name)

    def take(self) -> list[str]:
        made, self.made = self.made, []
        return made


@pytest.fixture
def client(moto_endpoint: str, moto_tables: Tables) -> Any:
    """A client of its own (hooks registered on it die with the test)."""
    return new_client(moto_endpoint)


@pytest.fixture
def calls(client: Any) -> Calls:
    return Calls(client)


@pytest.fixture
def counters() -> OperationCounters:
    return OperationCounters()


@pytest.fixture
def orders(moto_tables: Tables, client: Any, counters: OperationCounters) -> DynamoDBOrderRepository:
    return DynamoDBOrderRepository(moto_tables[ORDERS], client=client, counters=counters)


@pytest.fixture
def sagas(moto_tables: Tables, client: Any) -> DynamoDBSagaStateStore:
    return DynamoDBSagaStateStore(moto_tables[SAGAS], client=client)


@pytest.fixture
def unit(orders: DynamoDBOrderRepository, sagas: DynamoDBSagaStateStore) -> DynamoDBUnitOfWork:
    native = orders.unit_of_work(sagas)
    assert isinstance(native, DynamoDBUnitOfWork)
    return native


def saga_for(order_id: str) -> SagaState:
    return make_saga_state(saga_id=order_id, version=0)


def placed(unit: DynamoDBUnitOfWork, order_id: str = "ord-1") -> tuple[Any, SagaState]:
    """An order placed with its saga created in the same commit."""
    order = make_order(order_id=order_id)
    saga = saga_for(order_id)
    unit.commit(saga, order, create_saga=True)
    return order, saga


# -- which unit the core gets ---------------------------------------------------------------------------------
def test_the_order_store_gives_a_native_atomic_unit_over_a_saga_store_on_the_same_client(
    orders: DynamoDBOrderRepository, sagas: DynamoDBSagaStateStore, moto_tables: Tables, moto_endpoint: str
) -> None:
    unit = unit_of_work_for(orders, sagas)
    assert isinstance(unit, DynamoDBUnitOfWork) and unit.atomic is True
    # another technology, or the same tables through another client: the composed unit, as before
    assert isinstance(unit_of_work_for(orders, InMemorySagaStateStore()), ComposedUnitOfWork)
    elsewhere = DynamoDBSagaStateStore(moto_tables[SAGAS], client=new_client(moto_endpoint))
    assert orders.unit_of_work(elsewhere) is None
    # two lazily built clients of one region and endpoint reach the same DynamoDB
    lazy = {"region_name": "us-east-1", "endpoint_url": moto_endpoint}
    lazy_orders = DynamoDBOrderRepository(moto_tables[ORDERS], **lazy)
    assert isinstance(lazy_orders.unit_of_work(DynamoDBSagaStateStore(moto_tables[SAGAS], **lazy)), DynamoDBUnitOfWork)
    other_region = DynamoDBSagaStateStore(moto_tables[SAGAS], region_name="eu-west-1", endpoint_url=moto_endpoint)
    assert lazy_orders.unit_of_work(other_region) is None


# -- one call each way ----------------------------------------------------------------------------------------
def test_a_placement_with_its_saga_is_one_transaction_and_a_load_one_transactional_read(
    unit: DynamoDBUnitOfWork, calls: Calls, client: Any, moto_tables: Tables, counters: OperationCounters
) -> None:
    order = make_order(order_id="ord-1", customer_id="cus-ana")
    [event] = order.pending_events
    binding = IdempotencyRecord("cus-ana", "key-1", "f" * 64, "ord-1")
    saga = saga_for("ord-1")
    unit.commit(saga, order, create_saga=True, idempotency=binding)
    assert calls.take() == ["TransactWriteItems"]
    assert order.pending_events == [] and order.persisted_version == order.version == 1
    assert saga.version == 1
    stored = {item["orderId"]["S"] for item in scan(client, moto_tables[ORDERS])}
    assert stored == {"ord-1", f"outbox#{event.event_id}", idempotency_key("cus-ana", "key-1")}
    [saga_item] = scan(client, moto_tables[SAGAS])
    assert saga_item["sagaId"] == {"S": "ord-1"} and saga_item["version"] == {"N": "1"}

    calls.take()  # the scans above
    loaded, loaded_saga = unit.load("ord-1")
    assert calls.take() == ["TransactGetItems"]
    assert loaded.order_id == "ord-1" and loaded.persisted_version == 1 and loaded.status is OrderStatus.PENDING
    assert loaded_saga == saga
    assert counters.snapshot() == {"units.writes": 1, "units.reads": 1, "outbox.writes": 1}


def test_a_step_writes_the_changed_order_its_events_and_the_saga_in_one_transaction(
    unit: DynamoDBUnitOfWork, calls: Calls, client: Any, moto_tables: Tables
) -> None:
    placed(unit)
    calls.take()
    order, saga = unit.load("ord-1")
    advance(order, OrderStatus.CONFIRMED)
    [event] = order.pending_events
    saga.current = "Confirmed"
    unit.commit(saga, order)
    assert calls.take() == ["TransactGetItems", "TransactWriteItems"]
    assert order.persisted_version == 2 and saga.version == 2
    again, again_saga = unit.load("ord-1")
    assert again.status is OrderStatus.CONFIRMED and again.version == 2
    assert again_saga is not None and again_saga.current == "Confirmed" and again_saga.version == 2
    outbox = [i for i in scan(client, moto_tables[ORDERS]) if i["orderId"]["S"].startswith("outbox#")]
    assert len(outbox) == 2 and f"outbox#{event.event_id}" in {i["orderId"]["S"] for i in outbox}


def test_a_commit_that_leaves_the_order_unchanged_writes_the_saga_alone_with_one_put(
    unit: DynamoDBUnitOfWork, calls: Calls
) -> None:
    placed(unit)
    order, saga = unit.load("ord-1")
    calls.take()
    assert saga is not None
    saga.current = "AssignDriver"
    unit.commit(saga, order)
    assert calls.take() == ["PutItem"]
    assert saga.version == 2
    assert unit.load("ord-1")[1] == saga
    unit.commit(None, order)  # nothing to write: no call
    assert calls.take() == ["TransactGetItems"]


def test_an_order_without_a_saga_loads_with_none_and_a_missing_order_is_not_found(
    unit: DynamoDBUnitOfWork, orders: DynamoDBOrderRepository
) -> None:
    orders.add(make_order(order_id="ord-2"))
    order, saga = unit.load("ord-2")
    assert order.order_id == "ord-2" and saga is None
    with pytest.raises(NotFound):
        unit.load("ord-404")


# -- everything or nothing ------------------------------------------------------------------------------------
def test_a_conflict_on_the_saga_writes_nothing_of_the_order(
    unit: DynamoDBUnitOfWork, sagas: DynamoDBSagaStateStore, client: Any, moto_tables: Tables
) -> None:
    placed(unit)
    order, saga = unit.load("ord-1")
    assert saga is not None
    rival = sagas.get("ord-1")
    sagas.save(rival)  # someone else moved the saga to version 2
    before = scan(client, moto_tables[ORDERS])
    advance(order, OrderStatus.CONFIRMED)
    with pytest.raises(ConcurrencyConflict) as caught:
        unit.commit(saga, order)
    assert caught.value.context["stored_version"] == "2" and caught.value.context["expected_version"] == 1
    assert scan(client, moto_tables[ORDERS]) == before  # neither the order nor its event's record
    assert len(order.pending_events) == 1 and order.persisted_version == 1 and saga.version == 1
    stored, stored_saga = unit.load("ord-1")
    assert stored.status is OrderStatus.PENDING and stored_saga is not None and stored_saga.version == 2


def test_a_conflict_on_the_order_writes_nothing_of_the_saga(
    unit: DynamoDBUnitOfWork, orders: DynamoDBOrderRepository, client: Any, moto_tables: Tables
) -> None:
    placed(unit)
    order, saga = unit.load("ord-1")
    assert saga is not None
    rival = orders.get("ord-1")
    advance(rival, OrderStatus.CONFIRMED)
    orders.save(rival)
    saga_before = scan(client, moto_tables[SAGAS])
    advance(order, OrderStatus.CONFIRMED)
    saga.current = "Confirmed"
    with pytest.raises(ConcurrencyConflict) as caught:
        unit.commit(saga, order)
    assert caught.value.context["stored_version"] == 2 and caught.value.context["expected_version"] == 1
    assert scan(client, moto_tables[SAGAS]) == saga_before
    assert saga.version == 1


def test_replacing_a_saga_never_created_is_not_found_and_writes_nothing(
    unit: DynamoDBUnitOfWork, orders: DynamoDBOrderRepository, client: Any, moto_tables: Tables
) -> None:
    orders.add(make_order(order_id="ord-3"))
    order, _ = unit.load("ord-3")
    advance(order, OrderStatus.CONFIRMED)
    saga = make_saga_state(saga_id="ord-3", version=1)
    with pytest.raises(NotFound):
        unit.commit(saga, order)
    assert unit.load("ord-3")[0].version == 1 and scan(client, moto_tables[SAGAS]) == []


def test_a_second_start_of_the_saga_is_a_conflict_and_its_order_is_not_written(
    unit: DynamoDBUnitOfWork, client: Any, moto_tables: Tables
) -> None:
    placed(unit)
    order, _ = unit.load("ord-1")
    advance(order, OrderStatus.CONFIRMED)
    with pytest.raises(ConcurrencyConflict):
        unit.commit(saga_for("ord-1"), order, create_saga=True)
    assert unit.load("ord-1")[0].version == 1
    assert len(scan(client, moto_tables[SAGAS])) == 1


def test_a_duplicate_placement_is_reported_as_one_and_its_saga_is_not_created(
    unit: DynamoDBUnitOfWork, client: Any, moto_tables: Tables
) -> None:
    binding = IdempotencyRecord("cus-ana", "key-1", "f" * 64, "ord-1")
    unit.commit(
        saga_for("ord-1"), make_order(order_id="ord-1", customer_id="cus-ana"), create_saga=True, idempotency=binding
    )
    again = make_order(order_id="ord-9", customer_id="cus-ana")
    with pytest.raises(DuplicateRequest) as caught:
        unit.commit(saga_for("ord-9"), again, create_saga=True, idempotency=binding)
    assert caught.value.resource_id == "ord-1"
    assert [i["sagaId"]["S"] for i in scan(client, moto_tables[SAGAS])] == ["ord-1"]
    assert len(again.pending_events) == 1 and again.persisted_version == 0


def test_bad_saga_data_is_refused_before_anything_is_sent(unit: DynamoDBUnitOfWork, calls: Calls) -> None:
    order = make_order(order_id="ord-4")
    saga = saga_for("ord-4")
    saga.data["rate"] = 0.5  # a float: not storable exactly
    with pytest.raises(ValidationError):
        unit.commit(saga, order, create_saga=True)
    assert calls.take() == [] and order.persisted_version == 0


def test_the_saga_takes_one_of_the_hundred_actions_of_a_transaction(unit: DynamoDBUnitOfWork, calls: Calls) -> None:
    placed(unit)
    order, saga = unit.load("ord-1")
    assert saga is not None
    advance(order, OrderStatus.CONFIRMED)
    [confirmed] = order.pending_events
    # the order + 99 records: as many as the order store's own save may write, one too many with the saga
    order.pending_events.extend(replace(confirmed, event_id=f"evt-x{n}") for n in range(MAX_TRANSACTION_ITEMS - 2))
    calls.take()
    with pytest.raises(InfrastructureError) as caught:
        unit.commit(saga, order)
    assert caught.value.context["reason"] == "transaction_too_large"
    assert calls.take() == [] and len(order.pending_events) == MAX_TRANSACTION_ITEMS - 1
    unit.commit(None, order)  # without the saga it fits
    assert calls.take() == ["TransactWriteItems"] and order.persisted_version == 2


# -- billing ------------------------------------------------------------------------------------------------------
def test_a_load_bills_two_read_units_per_item_and_twice_the_minimum_for_a_missing_saga(
    unit: DynamoDBUnitOfWork, orders: DynamoDBOrderRepository, client: Any
) -> None:
    placed(unit)
    orders.add(make_order(order_id="ord-2"))
    meter = UsageMeter()
    metering.instrument(client, meter)
    unit.load("ord-1")  # order and saga, each under 4 KB, in a TransactGetItems: 2 + 2
    assert meter.quantity(AWS.DYNAMODB_READ_UNITS) == 4
    meter.reset()
    unit.load("ord-2")  # the order, and no saga: the minimum of a transactional read
    assert meter.quantity(AWS.DYNAMODB_READ_UNITS) == 2 + 2
    metering.instrument(client, None)


def test_a_commit_bills_the_transactional_write_units_of_every_item(unit: DynamoDBUnitOfWork, client: Any) -> None:
    meter = UsageMeter()
    metering.instrument(client, meter)
    order = make_order(order_id="ord-1")
    saga = saga_for("ord-1")
    sizes = [metering.dynamodb_item_size(i) for i in _items_of_placement(order, saga)]
    assert all(size < 1024 for size in sizes) and len(sizes) == 3  # order, its OrderPlaced record, the saga
    unit.commit(saga, order, create_saga=True)
    assert meter.quantity(AWS.DYNAMODB_WRITE_UNITS) == 2 * 3  # each item 1 unit, doubled in a transaction
    metering.instrument(client, None)

    # the same commit on the in-memory unit of work, priced by the cost model's AWS runtime: the same write units
    counters = OperationCounters()
    memory_unit = InMemoryOrderRepository(counters=counters).unit_of_work(InMemorySagaStateStore(counters=counters))
    assert memory_unit is not None
    memory_unit.commit(saga_for("ord-1"), make_order(order_id="ord-1"), create_saga=True)
    inputs = ModelInputs(counters.usage(), 1, 0.0, Decimal(1), Decimal(720), Decimal(1))
    predicted = {u.meter: u.quantity for u in model_units("aws.queue", inputs)}
    assert predicted[AWS.DYNAMODB_WRITE_UNITS] == meter.quantity(AWS.DYNAMODB_WRITE_UNITS)


def _items_of_placement(order: Any, saga: SagaState) -> list[dict[str, Any]]:
    from fooddelivery_aws.dynamodb.records import order_to_item, outbox_to_item, saga_to_item

    [event] = order.pending_events
    return [
        order_to_item(order),
        outbox_to_item(order, event, key_attr="orderId", key_prefix="outbox#", shards=1),
        saga_to_item(saga),
    ]


# -- dynalite -----------------------------------------------------------------------------------------------------
def test_dynalite_refuses_a_units_read_and_its_transaction_and_nothing_is_stored(
    dynalite_tables: Tables, dynalite_endpoint: str
) -> None:
    """dynalite implements neither TransactGetItems nor TransactWriteItems: a load is refused there
    (UnknownOperationException, a non-retryable InfrastructureError), a commit of two items is refused as a whole,
    a commit of the saga alone (one PutItem) works. The day it accepts transactions this fails, and the unit's tests
    above should run on dynalite too."""
    client = new_client(dynalite_endpoint)
    orders = DynamoDBOrderRepository(dynalite_tables[ORDERS], client=client)
    sagas = DynamoDBSagaStateStore(dynalite_tables[SAGAS], client=client)
    unit = orders.unit_of_work(sagas)
    assert unit is not None
    saga = saga_for("ord-1")
    sagas.create(saga)  # a single conditional PutItem: dynalite has those
    with pytest.raises(InfrastructureError) as refused:
        unit.load("ord-1")
    assert refused.value.context["code"] == "UnknownOperationException" and refused.value.context["retryable"] is False
    order = make_order(order_id="ord-1")
    with pytest.raises(InfrastructureError):
        unit.commit(saga, order)
    assert scan(client, dynalite_tables[ORDERS]) == [] and saga.version == 1 and order.persisted_version == 0
    unit.commit(saga, None)  # the saga alone is one PutItem
    assert saga.version == 2 and sagas.get("ord-1").version == 2


# -- a full lifecycle -------------------------------------------------------------------------------------------


def dynamodb_app(tables: Tables, client: Any, *, composed: bool = False, with_world: bool = True) -> Any:
    """The core on the DynamoDB stores (as the conformance test builds it), with one restaurant and one driver
    (``with_world``); ``composed``: with the unit of work composed of the two ports (what it had before)."""
    orders = DynamoDBOrderRepository(tables[ORDERS], client=client)
    sagas = DynamoDBSagaStateStore(tables[SAGAS], client=client)
    extra = {"unit_of_work": ComposedUnitOfWork(orders, sagas)} if composed else {}
    app = bootstrap(
        Settings(),
        orders=orders,
        sagas=sagas,
        restaurants=DynamoDBRestaurantRepository(tables[RESTAURANTS], client=client),
        drivers=DynamoDBDriverRepository(tables[DRIVERS], client=client),
        clock=VirtualClock(LIFECYCLE_START),
        ids=SequentialIdGenerator(),
        **extra,
    )
    if not with_world:
        return app
    app.service.restaurants.add(
        Restaurant(
            "rest-1",
            "Trattoria",
            "pizza",
            Decimal("4.5"),
            GeoPoint(40.7128, -74.0060),
            "USD",
            Decimal("0.08875"),
            15,
            (MenuItem("pizza", "Pizza", Money.of("15.99", "USD")),),
        )
    )
    app.service.drivers.add(
        Driver("drv-1", "Dana", DriverStatus.AVAILABLE, GeoPoint(40.715, -74.002), "scooter", LIFECYCLE_START)
    )
    return app


def deliver_one(app: Any) -> str:
    """One order from its placement to the door (its id)."""
    command = PlaceOrder("rest-1", [LineRequest(1, name="Pizza")], DeliveryAddress("1 Main St"), "tok_visa")
    [order_id] = deliver_orders(app.service, [(Actor.customer("cus-1"), command)])
    return order_id


def check_delivered(app: Any, order_id: str) -> None:
    """The order was delivered by the one driver, who is free again."""
    delivered = app.service.get_order(Actor.admin(), order_id)
    assert delivered.status is OrderStatus.DELIVERED and delivered.driver_id == "drv-1"
    assert app.adapters["drivers"].get("drv-1").status is DriverStatus.AVAILABLE


def test_a_full_lifecycle_on_the_dynamodb_stores_costs_the_native_25_store_calls(
    moto_tables: Tables, client: Any
) -> None:
    app = dynamodb_app(moto_tables, client, with_world=False)
    assert isinstance(app.adapters["unit_of_work"], DynamoDBUnitOfWork)
    counted = count_lifecycle_store_calls(app)
    assert dict(counted) == NATIVE_LIFECYCLE_STORE_CALLS
    assert sum(counted.values()) == 25


def test_the_native_unit_makes_five_requests_fewer_and_bills_four_write_units_more_than_the_composed_one(
    moto_tables: Tables, client: Any, calls: Calls
) -> None:
    """The price of one atomic write per step, measured: a saga write inside the order's transaction is billed
    twice (2 write units per KB instead of 1), and that outweighs the writes it saves. A load (order and saga in one
    TransactGetItems, a snapshot) is billed twice the two strongly consistent reads it replaces: 2 read units more
    per load."""
    measured = {}
    for composed in (False, True):
        app = dynamodb_app(moto_tables, client, composed=composed)
        meter = UsageMeter()
        metering.instrument(client, meter)
        calls.take()
        try:
            order_id = deliver_one(app)
        finally:
            metering.instrument(client, None)
        made = Counter(calls.take())
        check_delivered(app, order_id)
        assert made.pop("Query") > 0  # the driver search (a Query per geohash cell it looks at): the same either way
        if not composed:
            assert dict(made) == {
                "TransactGetItems": 1,  # unit_of_work.load
                "TransactWriteItems": 8,  # 4 commits writing the order (and the saga), 4 orders.save with events
                "PutItem": 3,  # a commit writing the saga alone, the driver's two saves
                "GetItem": 6,  # 4 orders.get, restaurants.get, drivers.get
                "BatchWriteItem": 6,  # orders.mark_published
            }
        reads = meter.quantity(AWS.DYNAMODB_READ_UNITS)
        measured[composed] = (made.total(), meter.quantity(AWS.DYNAMODB_WRITE_UNITS), reads)
        for spec, name in moto_tables.items():  # empty tables for the next run
            client.delete_table(TableName=name)
            create_table(client, spec, name)
    native, composed_ = measured[False], measured[True]
    assert native[0] == composed_[0] - 5 == 24
    assert native[1] == composed_[1] + 4 == 60
    assert native[2] == composed_[2] + 2


# -- a lost answer ----------------------------------------------------------------------------------------------
class LoseFirstAnswer:
    """Makes botocore resend the first ``operation`` request after it was answered, as if the answer was lost on
    the way (a ``needs-retry`` handler: the request reached the server and was applied)."""

    def __init__(self, client: Any, operation: str) -> None:
        self.resent = 0
        client.meta.events.register(f"needs-retry.dynamodb.{operation}", self._retry, unique_id="lose-first")

    def _retry(self, attempts: int, response: Any = None, **_: Any) -> int | None:
        if attempts == 1 and response is not None and response[0].status_code == 200:
            self.resent += 1
            return 0  # resend now
        return None


def test_a_placement_whose_answer_was_lost_and_resent_is_written_once(
    unit: DynamoDBUnitOfWork, client: Any, calls: Calls, moto_tables: Tables
) -> None:
    lost = LoseFirstAnswer(client, "TransactWriteItems")
    order = make_order(order_id="ord-1", customer_id="cus-ana")
    binding = IdempotencyRecord("cus-ana", "key-1", "f" * 64, "ord-1")
    saga = saga_for("ord-1")
    unit.commit(saga, order, create_saga=True, idempotency=binding)  # resent, refused (moto ignores the token)
    assert lost.resent == 1 and calls.take() == ["TransactWriteItems"]  # one call, sent twice by botocore
    assert order.persisted_version == 1 and order.pending_events == [] and saga.version == 1
    assert len(scan(client, moto_tables[ORDERS])) == 3 and len(scan(client, moto_tables[SAGAS])) == 1


def test_a_step_whose_answer_was_lost_and_resent_is_written_once(
    unit: DynamoDBUnitOfWork, client: Any, moto_tables: Tables
) -> None:
    placed(unit)
    order, saga = unit.load("ord-1")
    assert saga is not None
    advance(order, OrderStatus.CONFIRMED)
    saga.current = "Confirmed"
    lost = LoseFirstAnswer(client, "TransactWriteItems")
    unit.commit(saga, order)
    assert lost.resent == 1 and order.persisted_version == 2 and saga.version == 2
    stored, stored_saga = unit.load("ord-1")
    assert stored.version == 2 and stored_saga == saga


def test_a_saga_write_whose_answer_was_lost_and_resent_is_written_once(unit: DynamoDBUnitOfWork, client: Any) -> None:
    placed(unit)
    order, saga = unit.load("ord-1")
    assert saga is not None
    saga.current = "AssignDriver"
    lost = LoseFirstAnswer(client, "PutItem")
    unit.commit(saga, order)  # the saga alone: one PutItem, resent, refused by its condition
    assert lost.resent == 1 and saga.version == 2
    assert unit.load("ord-1")[1] == saga


def test_a_rival_write_of_the_same_version_is_still_a_conflict(
    unit: DynamoDBUnitOfWork, sagas: DynamoDBSagaStateStore
) -> None:
    placed(unit)
    order, saga = unit.load("ord-1")
    assert saga is not None
    rival = sagas.get("ord-1")
    rival.current = "Rival"
    sagas.save(rival)
    saga.current = "AssignDriver"
    with pytest.raises(ConcurrencyConflict):
        unit.commit(saga, order)
    assert saga.version == 1
