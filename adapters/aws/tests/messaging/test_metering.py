"""What the AWS adapters really bill, recorded through their clients, for one order of a known size -- and the
in-memory cloud model of ``fooddelivery cost`` predicting the same units for the same order."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import boto3
from aws_stack import Stack

from fooddelivery.adapters.counters import OperationCounters
from fooddelivery.adapters.memory import InMemoryEventPublisher, InMemoryOrderRepository
from fooddelivery.adapters.sizes import idempotency_size, order_size, outbox_size
from fooddelivery.cost.models import ModelInputs, model_units
from fooddelivery.metering import AWS, UsageMeter
from fooddelivery.ports.orders import IdempotencyRecord
from fooddelivery.testing.builders import make_order
from fooddelivery_aws import metering
from fooddelivery_aws.dynamodb.orders import DynamoDBOrderRepository
from fooddelivery_aws.dynamodb.records import idempotency_to_item, order_to_item, outbox_to_item
from fooddelivery_aws.messaging.eventbridge import EventBridgePublisher
from fooddelivery_aws.messaging.sqs_events import SqsFifoEventPublisher


def _client(stack: Stack, service: str, meter: UsageMeter) -> Any:
    client = boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=stack.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return metering.instrument(client, meter)


def test_the_dynamodb_item_size_follows_the_documented_rule() -> None:
    item = {
        "orderId": {"S": "ord-1"},  # 7 + 5
        "version": {"N": "12"},  # 7 + (2 significant digits: 1 byte) + 1
        "items": {"L": [{"S": "ab"}]},  # 5 + 3 + (1 + 2)
        "ok": {"BOOL": True},  # 2 + 1
        "amount": {"N": "0.0500"},  # 6 + (1 significant digit: 1 byte) + 1
    }
    assert metering.dynamodb_item_size(item) == 12 + 9 + 11 + 3 + 8


def test_placing_one_order_bills_what_the_cost_model_predicts(stack: Stack) -> None:
    meter = UsageMeter()
    repo = DynamoDBOrderRepository(stack.tables["orders"], client=_client(stack, "dynamodb", meter))
    order = make_order(order_id="ord-1", event_id="evt-1", customer_id="cus-ana")
    event = order.pending_events[0]
    binding = IdempotencyRecord("cus-ana", "checkout-42", "f" * 64, "ord-1")
    sizes = [
        metering.dynamodb_item_size(order_to_item(order)),
        metering.dynamodb_item_size(
            outbox_to_item(order, event, key_attr="orderId", key_prefix="outbox#", shards=1)
        ),
        metering.dynamodb_item_size(idempotency_to_item(binding)),
    ]
    # the items' sizes by DynamoDB's rule, and the core's estimates of the same items (fooddelivery.adapters.sizes)
    # (the order item carries "createdAtKey", the RestaurantTimeIndex's sort key: 12 + 27 + 1 + 5 bytes)
    assert sizes == [903, 305, 181]
    assert [order_size(order), outbox_size(event), idempotency_size(binding)] == [907, 305, 179]
    repo.add(order, binding)
    # TransactWriteItems: 2 x (1 + 1 + 1): each under 1 KB
    assert meter.quantity(AWS.DYNAMODB_WRITE_UNITS) == 6

    repo.get("ord-1")
    assert meter.quantity(AWS.DYNAMODB_READ_UNITS) == 1  # a strongly consistent read of < 4 KB

    # the same placement on the in-memory adapters, priced by the AWS model: the same 6 write units
    counters = OperationCounters()
    InMemoryOrderRepository(counters=counters).add(
        make_order(order_id="ord-1", event_id="evt-1", customer_id="cus-ana"), binding
    )
    inputs = ModelInputs(counters.usage(), 1, 0.0, Decimal(1), Decimal(720), Decimal(1))
    predicted = {u.meter: u.quantity for u in model_units("aws.queue", inputs)}
    assert predicted[AWS.DYNAMODB_WRITE_UNITS] == meter.quantity(AWS.DYNAMODB_WRITE_UNITS)


def test_publishing_the_order_placed_event_bills_one_event_and_one_fifo_request(stack: Stack) -> None:
    meter = UsageMeter()
    bus = EventBridgePublisher(stack.bus_name, client=_client(stack, "events", meter))
    queue = SqsFifoEventPublisher(stack.saga_queue_url, client=_client(stack, "sqs", meter))
    order = make_order(order_id="ord-2", event_id="evt-2")
    events = list(order.pending_events)
    bus.publish(events)
    queue.publish(events)
    assert meter.quantity(AWS.EVENTBRIDGE_EVENTS) == 1
    assert meter.quantity(AWS.SQS_FIFO_REQUESTS) == 1
    assert meter.quantity(AWS.SQS_STANDARD_REQUESTS) == 0

    counters = OperationCounters()
    InMemoryEventPublisher(counters=counters).publish(events)
    inputs = ModelInputs(counters.usage(), 1, 0.0, Decimal(1), Decimal(720), Decimal(1))
    predicted = {u.meter: u.quantity for u in model_units("aws.queue", inputs)}
    assert predicted[AWS.EVENTBRIDGE_EVENTS] == 1
    # the model adds the consumer's receive and delete to the relay's send
    assert predicted[AWS.SQS_FIFO_REQUESTS] == 3 * meter.quantity(AWS.SQS_FIFO_REQUESTS)


def test_a_process_meter_instruments_the_clients_the_package_builds(stack: Stack, monkeypatch: Any) -> None:
    meter = UsageMeter()
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    metering.set_process_meter(meter)
    try:
        repo = DynamoDBOrderRepository(stack.tables["orders"], region_name="us-east-1", endpoint_url=stack.endpoint)
        repo.add(make_order(order_id="ord-3"))
    finally:
        metering.set_process_meter(None)
    assert meter.quantity(AWS.DYNAMODB_WRITE_UNITS) == 2 * (1 + 1)  # order + its OrderPlaced record, < 1 KB each


def test_a_metered_handler_records_the_invocation_its_duration_logs_and_gateway_request() -> None:
    meter = UsageMeter()
    log = logging.getLogger("fooddelivery.test")

    @metering.metered(meter, memory_mb=512)
    def handler(event: Any, context: Any) -> dict[str, Any]:
        log.warning("hello")
        return {"statusCode": 200}

    assert handler({"httpMethod": "GET", "path": "/health"}, None) == {"statusCode": 200}
    assert meter.quantity(AWS.LAMBDA_REQUESTS) == 1
    assert meter.quantity(AWS.APIGW_REST_REQUESTS) == 1
    gb_s = meter.quantity(AWS.LAMBDA_GB_SECONDS)
    assert isinstance(gb_s, Decimal) and gb_s >= Decimal("0.0005")  # at least 1 ms at 0.5 GB
    # the platform's lines + "hello\n" (6 bytes) + 26
    assert meter.quantity(AWS.LOG_BYTES) == metering.LAMBDA_PLATFORM_LOG_BYTES + 6 + 26
    handler({"requestContext": {"http": {"method": "GET"}}}, None)
    assert meter.quantity(AWS.APIGW_HTTP_REQUESTS) == 1
