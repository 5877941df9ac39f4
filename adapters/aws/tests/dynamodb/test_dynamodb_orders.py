"""What the DynamoDB order repository promises beyond the port contract: one transaction per write, exact numbers
in the stored items, vendor errors translated, lazy clients, the outbox on the table's stream.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from raw_dynamodb import scan

from fooddelivery.adapters.memory import OperationCounters
from fooddelivery.domain.actors import Actor
from fooddelivery.domain.errors import (
    ConcurrencyConflict,
    DuplicateRequest,
    InfrastructureError,
    NotFound,
    ValidationError,
)
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.domain.order import OrderStatus
from fooddelivery.ports.orders import IdempotencyRecord
from fooddelivery.testing.builders import T0, advance, make_order, make_restaurant, make_saga_state
from fooddelivery_aws.dynamodb import DynamoDBOrderRepository, DynamoDBSagaStateStore
from fooddelivery_aws.dynamodb.records import outbox_record_from_item
from fooddelivery_aws.dynamodb.tables import ORDERS, SAGAS, TableSpec

Tables = dict[TableSpec, str]


@pytest.fixture
def repo(moto_tables: Tables, moto_dynamodb: Any) -> DynamoDBOrderRepository:
    return DynamoDBOrderRepository(moto_tables[ORDERS], client=moto_dynamodb)


def keys(client: Any, table: str) -> set[str]:
    return {item["orderId"]["S"] for item in scan(client, table)}


def numbers(value: Any) -> list[Any]:
    """Every ``N`` value anywhere inside a raw attribute value or item."""
    found: list[Any] = []
    if isinstance(value, dict):
        for kind, inner in value.items():
            if kind == "N":
                found.append(inner)
            else:
                found.extend(numbers(inner))
    elif isinstance(value, list):
        for inner in value:
            found.extend(numbers(inner))
    return found


def floats(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [f for inner in value.values() for f in floats(inner)]
    if isinstance(value, list):
        return [f for inner in value for f in floats(inner)]
    return []


# -- one transaction per write ------------------------------------------------------------------------------
class TestTransactions:
    def test_a_failing_condition_on_the_last_item_writes_neither_the_order_nor_any_of_its_events(
        self, repo: DynamoDBOrderRepository, moto_dynamodb: Any, moto_tables: Tables
    ) -> None:
        first = make_order()
        taken = first.pending_events[0].event_id
        repo.add(first)
        before = keys(moto_dynamodb, moto_tables[ORDERS])
        second = make_order()
        advance(second, OrderStatus.CONFIRMED)  # a second event, written before the colliding one
        colliding = replace(second.pending_events[-1], event_id=taken)
        second.pending_events[-1] = colliding
        with pytest.raises(ConcurrencyConflict):
            repo.add(second)
        assert keys(moto_dynamodb, moto_tables[ORDERS]) == before
        with pytest.raises(NotFound):
            repo.get(second.order_id)
        assert len(second.pending_events) == 2
        assert second.persisted_version == 0

    def test_a_save_refused_on_an_event_writes_no_change_and_leaves_the_order_untouched(
        self, repo: DynamoDBOrderRepository, moto_dynamodb: Any, moto_tables: Tables
    ) -> None:
        other = make_order()
        taken = other.pending_events[0].event_id
        repo.add(other)
        order = make_order()
        repo.add(order)
        loaded = repo.get(order.order_id)
        loaded.transition(OrderStatus.CONFIRMED, Actor.system(), T0 + timedelta(minutes=1), "evt-fresh")
        loaded.cancel(Actor.customer(order.customer_id), T0 + timedelta(minutes=2), taken, "collides")
        before = keys(moto_dynamodb, moto_tables[ORDERS])
        with pytest.raises(ConcurrencyConflict):
            repo.save(loaded)
        stored = repo.get(order.order_id)
        assert stored.status is OrderStatus.PENDING and stored.version == 1
        assert keys(moto_dynamodb, moto_tables[ORDERS]) == before
        assert [e.event_id for e in loaded.pending_events] == ["evt-fresh", taken]
        assert loaded.persisted_version == 1

    def test_an_order_its_events_and_its_idempotency_binding_are_items_of_one_table(
        self, repo: DynamoDBOrderRepository, moto_dynamodb: Any, moto_tables: Tables
    ) -> None:
        order = make_order(customer_id="cus-ana")
        event_id = order.pending_events[0].event_id
        repo.add(order, IdempotencyRecord("cus-ana", "key#1", "f" * 64, order.order_id))
        kinds = {item["orderId"]["S"]: item["itemType"]["S"] for item in scan(moto_dynamodb, moto_tables[ORDERS])}
        assert kinds == {
            order.order_id: "order",
            f"outbox#{event_id}": "outbox",
            "idem#7#cus-ana#key#1": "idempotency",
        }

    def test_concurrent_placements_with_one_key_create_one_order_and_name_it_to_the_others(
        self, repo: DynamoDBOrderRepository
    ) -> None:
        restaurant = make_restaurant()
        orders = [make_order(restaurant, customer_id="cus-race") for _ in range(8)]
        outcomes: dict[str, str] = {}
        lock = threading.Lock()
        barrier = threading.Barrier(len(orders))

        def place(i: int) -> None:
            order = orders[i]
            barrier.wait()
            try:
                repo.add(order, IdempotencyRecord("cus-race", "same-key", "f" * 64, order.order_id))
                result = "created"
            except DuplicateRequest as dup:
                result = f"duplicate of {dup.resource_id}"
            with lock:
                outcomes[order.order_id] = result

        threads = [threading.Thread(target=place, args=(i,)) for i in range(len(orders))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        created = [oid for oid, result in outcomes.items() if result == "created"]
        assert len(created) == 1
        assert sorted(outcomes.values()) == ["created"] + [f"duplicate of {created[0]}"] * 7
        assert [o.order_id for o in repo.list_by_customer("cus-race").items] == created

    def test_a_get_of_an_outbox_or_idempotency_key_is_not_an_order(self, repo: DynamoDBOrderRepository) -> None:
        order = make_order(customer_id="cus-ana")
        repo.add(order, IdempotencyRecord("cus-ana", "k", "f" * 64, order.order_id))
        for key in (f"outbox#{order.order_id}", "idem#7#cus-ana#k"):
            with pytest.raises(NotFound):
                repo.get(key)

    def test_an_idempotency_ttl_stamps_the_binding_with_an_expiry(
        self, moto_tables: Tables, moto_dynamodb: Any
    ) -> None:
        repo = DynamoDBOrderRepository(moto_tables[ORDERS], client=moto_dynamodb, idempotency_ttl=timedelta(hours=24))
        order = make_order(customer_id="cus-ana")
        repo.add(order, IdempotencyRecord("cus-ana", "k", "f" * 64, order.order_id))
        item = moto_dynamodb.get_item(TableName=moto_tables[ORDERS], Key={"orderId": {"S": "idem#7#cus-ana#k"}})
        assert item["Item"]["expiresAt"] == {"N": str(int((T0 + timedelta(hours=24)).timestamp()))}


# -- exact numbers --------------------------------------------------------------------------------------------
class TestNumbers:
    def test_every_stored_number_is_exact_text_money_in_minor_units_and_no_float_is_sent(
        self, repo: DynamoDBOrderRepository, moto_dynamodb: Any, moto_tables: Tables
    ) -> None:
        order = make_order()
        expected = order.snapshot()
        repo.add(order)
        raw = moto_dynamodb.get_item(TableName=moto_tables[ORDERS], Key={"orderId": {"S": order.order_id}})["Item"]
        assert floats(raw) == []
        assert all(isinstance(n, str) and Decimal(n).is_finite() for n in numbers(raw))
        pricing = raw["pricing"]["M"]
        assert raw["currency"] == {"S": "USD"}
        assert pricing["totalMinor"] == {"N": str(expected.pricing.total.minor)}
        assert pricing["tipMinor"] == {"N": "350"}
        assert [line["M"]["unitPriceMinor"]["N"] for line in raw["lines"]["L"]] == ["1250", "1800", "1425"]
        assert raw["createdAt"] == {"N": "1741953600.000000"}
        assert raw["createdAtUtc"] == {"S": "2025-03-14T12:00:00.000000Z"}
        address = raw["deliveryAddress"]["M"]
        location = expected.delivery_address.location
        assert location is not None
        assert float(address["lat"]["N"]) == location.lat and float(address["lon"]["N"]) == location.lon

    def test_the_boto3_deserializer_reads_every_stored_number_as_a_decimal(
        self, repo: DynamoDBOrderRepository, moto_dynamodb: Any, moto_tables: Tables
    ) -> None:
        from boto3.dynamodb.types import TypeDeserializer

        repo.add(make_order())
        deserialize = TypeDeserializer().deserialize
        for raw in scan(moto_dynamodb, moto_tables[ORDERS]):
            plain = {name: deserialize(value) for name, value in raw.items()}
            assert floats(plain) == []

    def test_an_event_payload_with_a_float_is_refused_and_nothing_is_written(
        self, repo: DynamoDBOrderRepository, moto_dynamodb: Any, moto_tables: Tables
    ) -> None:
        order = make_order()
        placed = order.pending_events[0]
        order.pending_events[0] = replace(placed, payload={**placed.payload, "total": 21.97})
        with pytest.raises(ValidationError) as caught:
            repo.add(order)
        assert [f.field for f in caught.value.fields] == ["payload.total"]
        assert scan(moto_dynamodb, moto_tables[ORDERS]) == []

    def test_saga_data_with_a_float_is_refused_and_decimals_round_trip_exactly(
        self, moto_tables: Tables, moto_dynamodb: Any
    ) -> None:
        store = DynamoDBSagaStateStore(moto_tables[SAGAS], client=moto_dynamodb)
        with pytest.raises(ValidationError):
            store.create(make_saga_state(data={"amount": 0.1}))
        assert scan(moto_dynamodb, moto_tables[SAGAS]) == []
        state = make_saga_state(data={"amount": Decimal("0.10000000000000000000000000001"), "n": 3})
        store.create(state)
        got = store.get(state.saga_id)
        assert got.data == {"amount": Decimal("0.10000000000000000000000000001"), "n": 3}
        assert type(got.data["n"]) is int

    def test_event_payloads_round_trip_through_the_outbox_with_their_types(self, repo: DynamoDBOrderRepository) -> None:
        order = make_order()
        placed = order.pending_events[0]
        payload = {"total": "21.97", "lineCount": 3, "ok": True, "none": None, "nested": {"l": ["ä", 1]}}
        order.pending_events[0] = replace(placed, payload=payload)
        repo.add(order)
        (record,) = repo.pending()
        assert record.event == replace(placed, payload=payload)


# -- listings and cursors -------------------------------------------------------------------------------------
class TestCursors:
    def test_a_cursor_of_another_listing_is_refused(self, repo: DynamoDBOrderRepository) -> None:
        restaurant = make_restaurant()
        for i in range(3):
            repo.add(make_order(restaurant, customer_id="cus-ana", now=T0 + timedelta(minutes=i)))
        cursor = repo.list_by_customer("cus-ana", limit=1).next_cursor
        assert cursor is not None
        with pytest.raises(ValidationError):
            repo.list_by_customer("cus-bob", cursor=cursor)
        with pytest.raises(ValidationError):
            repo.list_by_restaurant(restaurant.restaurant_id, cursor=cursor)
        by_status = repo.list_by_restaurant(restaurant.restaurant_id, OrderStatus.PENDING, limit=1).next_cursor
        assert by_status is not None
        with pytest.raises(ValidationError):
            repo.list_by_restaurant(restaurant.restaurant_id, OrderStatus.CONFIRMED, cursor=by_status)

    def test_pending_of_zero_or_less_is_empty(self, repo: DynamoDBOrderRepository) -> None:
        repo.add(make_order())
        assert list(repo.pending(0)) == []

    def test_pending_merges_shards_oldest_order_first(self, moto_tables: Tables, moto_dynamodb: Any) -> None:
        repo = DynamoDBOrderRepository(moto_tables[ORDERS], client=moto_dynamodb, outbox_shards=4)
        orders = [make_order(now=T0 + timedelta(minutes=i)) for i in range(12)]
        expected = [o.pending_events[0].event_id for o in orders]
        for order in reversed(orders):
            repo.add(order)
        assert [r.event.event_id for r in repo.pending(100)] == expected
        assert [r.event.event_id for r in repo.pending(5)] == expected[:5]


# -- counting ---------------------------------------------------------------------------------------------------
def test_every_operation_is_counted_under_the_cores_names(moto_tables: Tables, moto_dynamodb: Any) -> None:
    counters = OperationCounters()
    repo = DynamoDBOrderRepository(moto_tables[ORDERS], client=moto_dynamodb, counters=counters)
    order = make_order()
    repo.add(order)
    loaded = repo.get(order.order_id)
    advance(loaded, OrderStatus.PREPARING)
    repo.save(loaded)
    repo.list_by_customer(order.customer_id)
    repo.list_by_restaurant(order.restaurant_id)
    repo.find_idempotent(order.customer_id, "k")
    records = repo.pending()
    repo.mark_failed([records[0].event.event_id, "evt-unknown"])
    repo.mark_published([r.event.event_id for r in records])
    assert counters.snapshot() == {"orders.writes": 2, "orders.reads": 4, "outbox.writes": 3 + 1 + 3}


# -- vendor errors ----------------------------------------------------------------------------------------------
class _RefusingClient:
    """A fake DynamoDB client whose every call fails with one AWS error (as botocore raises it)."""

    def __init__(self, code: str, operation: str = "PutItem", **extra: Any) -> None:
        self.code = code
        self.operation = operation
        self.extra = extra

    def __getattr__(self, name: str) -> Any:
        def fail(**_: Any) -> Any:
            raise ClientError({"Error": {"Code": self.code, "Message": "refused"}, **self.extra}, self.operation)

        return fail


class TestVendorErrors:
    @pytest.mark.parametrize(
        ("code", "retryable"),
        [
            ("ProvisionedThroughputExceededException", True),
            ("ThrottlingException", True),
            ("InternalServerError", True),
            ("ResourceNotFoundException", False),
            ("AccessDeniedException", False),
        ],
    )
    def test_service_errors_become_infrastructure_errors_chained_to_the_vendor_error(
        self, code: str, retryable: bool
    ) -> None:
        repo = DynamoDBOrderRepository("orders", client=_RefusingClient(code))
        for call in (lambda: repo.get("ord-1"), lambda: repo.add(make_order()), repo.pending):
            with pytest.raises(InfrastructureError) as caught:
                call()
            assert caught.value.context["code"] == code
            assert caught.value.context["retryable"] is retryable
            assert isinstance(caught.value.__cause__, ClientError)

    def test_a_throttled_transaction_is_an_infrastructure_error_and_the_order_keeps_its_events(self) -> None:
        client = _RefusingClient(
            "TransactionCanceledException",
            "TransactWriteItems",
            CancellationReasons=[{"Code": "None"}, {"Code": "ThrottlingError"}],
        )
        repo = DynamoDBOrderRepository("orders", client=client)
        order = make_order()
        with pytest.raises(InfrastructureError) as caught:
            repo.add(order, IdempotencyRecord("cus", "k", "f" * 64, order.order_id))
        assert caught.value.context["retryable"] is True
        assert len(order.pending_events) == 1 and order.persisted_version == 0

    def test_a_missing_table_on_the_stand_in_is_an_infrastructure_error(
        self, moto_reset: str, moto_dynamodb: Any
    ) -> None:
        repo = DynamoDBOrderRepository("no-such-table", client=moto_dynamodb)
        with pytest.raises(InfrastructureError) as caught:
            repo.get("ord-1")
        assert caught.value.context["code"] == "ResourceNotFoundException"

    def test_an_unreachable_endpoint_is_a_retryable_infrastructure_error(self) -> None:
        client = boto3.client(
            "dynamodb",
            endpoint_url="http://127.0.0.1:9",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=1),
        )
        with pytest.raises(InfrastructureError) as caught:
            DynamoDBOrderRepository("orders", client=client).get("ord-1")
        assert caught.value.context["retryable"] is True


# -- clients and imports ----------------------------------------------------------------------------------------
def test_importing_the_package_imports_no_aws_sdk() -> None:
    code = (
        "import sys, fooddelivery_aws.dynamodb as d; "
        "d.DynamoDBOrderRepository('orders'); d.DynamoDBDriverRepository('drivers'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_repository_without_a_client_builds_one_on_first_use(moto_tables: Tables, moto_endpoint: str) -> None:
    repo = DynamoDBOrderRepository(moto_tables[ORDERS], endpoint_url=moto_endpoint, region_name="us-east-1")
    order = make_order()
    repo.add(order)
    assert repo.get(order.order_id).order_id == order.order_id


# -- the stream ------------------------------------------------------------------------------------------------
def test_outbox_records_reach_the_tables_stream_and_decode_to_the_events(
    repo: DynamoDBOrderRepository, moto_dynamodb: Any, moto_tables: Tables, moto_endpoint: str
) -> None:
    order = make_order()
    placed = order.pending_events[0]
    repo.add(order)
    streams = boto3.client("dynamodbstreams", endpoint_url=moto_endpoint, region_name="us-east-1")
    arn = moto_dynamodb.describe_table(TableName=moto_tables[ORDERS])["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    images = [r["dynamodb"]["NewImage"] for r in records if r["eventName"] == "INSERT"]
    outbox = [outbox_record_from_item(i) for i in images if i["itemType"]["S"] == "outbox"]
    assert [r.event for r in outbox] == [placed]
    assert outbox[0].event.type is EventType.ORDER_PLACED
    assert isinstance(outbox[0].event, DomainEvent)
