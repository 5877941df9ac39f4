"""The DynamoDB Streams outbox relay on moto: orders written by the DynamoDB repository, the table's real stream
read back as Lambda would receive it, the saga's events sent to the saga FIFO queue (message group = order id,
deduplication id = event id) and every event published to EventBridge (routed to the analytics queue), outbox items
deleted; partial failures of either destination reported by sequence number; the sweep for what the stream left
behind."""

from __future__ import annotations

import json
from typing import Any

from aws_stack import Stack

from fooddelivery.application.envelope import from_json
from fooddelivery.application.fanout import FanOutPublisher
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.domain.order import OrderStatus
from fooddelivery.testing.builders import T0, make_event, make_order, unique_id
from fooddelivery_aws.dynamodb import DynamoDBOrderRepository
from fooddelivery_aws.messaging.eventbridge import EventBridgePublisher, event_from_eventbridge
from fooddelivery_aws.messaging.sqs_events import SqsFifoEventPublisher
from fooddelivery_aws.relay import StreamOutboxRelay


def _repo(stack: Stack) -> DynamoDBOrderRepository:
    return DynamoDBOrderRepository(stack.tables["orders"], client=stack.clients["dynamodb"])


def _publisher(stack: Stack, events_client: Any = None, sqs_client: Any = None) -> FanOutPublisher:
    return FanOutPublisher(
        EventBridgePublisher(
            stack.bus_name, client=events_client or stack.clients["events"], sleep=lambda _: None, max_attempts=2
        ),
        SqsFifoEventPublisher(
            stack.saga_queue_url, client=sqs_client or stack.clients["sqs"], sleep=lambda _: None, max_attempts=2
        ),
    )


def _relay(stack: Stack, events_client: Any = None, sqs_client: Any = None) -> StreamOutboxRelay:
    return StreamOutboxRelay(_publisher(stack, events_client, sqs_client), _repo(stack))


def _saga_queue_events(stack: Stack) -> list[DomainEvent]:
    """What the saga queue holds (drained): the relay's CloudEvents bodies."""
    return [from_json(m["Body"]) for m in stack.drain(stack.saga_queue_url)]


def _bus_events(stack: Stack) -> list[DomainEvent]:
    """What reached the bus (drained from the analytics queue its rule feeds)."""
    return [event_from_eventbridge(json.loads(m["Body"])) for m in stack.drain(stack.analytics_queue_url)]


def _place_and_cancel(stack: Stack) -> tuple[str, list[DomainEvent]]:
    """An order placed, then cancelled: two transactions, two outbox records (OrderPlaced, OrderCancelled)."""
    from fooddelivery.domain.actors import Actor

    repo = _repo(stack)
    order = make_order(customer_id="cus-1")
    placed = list(order.pending_events)
    repo.add(order)
    stored = repo.get(order.order_id)
    stored.cancel(Actor.customer("cus-1"), T0, unique_id("evt"), "changed my mind")
    cancelled = list(stored.pending_events)
    repo.save(stored)
    return order.order_id, placed + cancelled


def test_outbox_inserts_go_to_the_saga_queue_in_the_orders_group_and_to_the_bus_and_are_deleted(stack: Stack) -> None:
    order_id, events = _place_and_cancel(stack)
    records = stack.stream_records()
    assert {r["eventName"] for r in records} == {"INSERT", "MODIFY"}  # the order's own writes are in the stream too

    failures = _relay(stack).handle(records)

    assert failures.response() == {"batchItemFailures": []}
    messages = stack.drain(stack.saga_queue_url)
    assert [from_json(m["Body"]) for m in messages] == events
    assert [e.type for e in events] == [EventType.ORDER_PLACED, EventType.ORDER_CANCELLED]
    assert [m["Attributes"]["MessageGroupId"] for m in messages] == [order_id, order_id]
    assert [m["Attributes"]["MessageDeduplicationId"] for m in messages] == [e.event_id for e in events]
    assert sorted(_bus_events(stack), key=lambda e: e.order_version) == events
    assert _repo(stack).pending() == []
    assert _repo(stack).get(order_id).status is OrderStatus.CANCELLED


def test_two_orders_land_in_two_message_groups(stack: Stack) -> None:
    first, first_events = _place_and_cancel(stack)
    second, second_events = _place_and_cancel(stack)

    assert _relay(stack).handle(stack.stream_records()).response() == {"batchItemFailures": []}

    groups: dict[str, list[str]] = {}
    for m in stack.drain(stack.saga_queue_url):
        groups.setdefault(m["Attributes"]["MessageGroupId"], []).append(from_json(m["Body"]).event_id)
    assert groups == {first: [e.event_id for e in first_events], second: [e.event_id for e in second_events]}
    assert {e.event_id for e in _bus_events(stack)} == {e.event_id for e in first_events + second_events}


def test_only_the_sagas_events_go_to_the_saga_queue_and_every_event_goes_to_the_bus(stack: Stack) -> None:
    placed = make_event(type=EventType.ORDER_PLACED, order_id="ord-1")
    captured = make_event(type=EventType.PAYMENT_CAPTURED, order_id="ord-1", order_version=2)
    cancelled = make_event(type=EventType.ORDER_CANCELLED, order_id="ord-2", order_version=3)

    _publisher(stack).publish([placed, captured, cancelled])

    assert _saga_queue_events(stack) == [placed, cancelled]
    assert sorted(e.event_id for e in _bus_events(stack)) == sorted(e.event_id for e in (placed, captured, cancelled))


def test_a_stream_batch_relayed_twice_enqueues_each_event_once(stack: Stack) -> None:
    _, events = _place_and_cancel(stack)
    records = stack.stream_records()
    relay = _relay(stack)

    assert relay.handle(records).response() == {"batchItemFailures": []}
    assert relay.handle(records).response() == {"batchItemFailures": []}  # Lambda retried the batch

    assert _saga_queue_events(stack) == events  # deduplicated by event id
    assert len(_bus_events(stack)) == 4  # the bus is at-least-once: its consumers dedupe on the CloudEvents id


def test_the_deletes_come_back_on_the_stream_and_are_skipped(stack: Stack) -> None:
    _place_and_cancel(stack)
    relay = _relay(stack)
    relay.handle(stack.stream_records())
    stack.drain(stack.saga_queue_url)

    removes = stack.stream_records()

    assert {r["eventName"] for r in removes} == {"REMOVE"}
    assert relay.handle(removes).response() == {"batchItemFailures": []}
    assert stack.drain(stack.saga_queue_url) == []


def test_an_unreadable_outbox_image_is_failed_by_its_sequence_number_after_the_records_before_it(stack: Stack) -> None:
    _, events = _place_and_cancel(stack)
    records = [
        r for r in stack.stream_records() if r["eventName"] == "INSERT" and "outbox" in str(r["dynamodb"]["Keys"])
    ]
    assert len(records) == 2
    records[1]["dynamodb"]["NewImage"]["eventType"] = {"S": "NoSuchEvent"}

    failures = _relay(stack).handle(records)

    assert failures.response() == {"batchItemFailures": [{"itemIdentifier": records[1]["dynamodb"]["SequenceNumber"]}]}
    assert _saga_queue_events(stack) == events[:1]
    assert [r.event.event_id for r in _repo(stack).pending()] == [events[1].event_id]


class _FailingFor:
    """The real EventBridge client, with one event id's entry always failing (``InternalFailure``)."""

    def __init__(self, client: Any, event_id: str) -> None:
        self.client = client
        self.event_id = event_id

    def put_events(self, *, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        bad = [json.loads(e["Detail"])["id"] == self.event_id for e in Entries]
        good = [e for e, b in zip(Entries, bad, strict=True) if not b]
        sent = iter(self.client.put_events(Entries=good)["Entries"] if good else [])
        return {
            "FailedEntryCount": sum(bad),
            "Entries": [{"ErrorCode": "InternalFailure"} if b else next(sent) for b in bad],
        }


def test_a_publish_failure_reports_the_first_unpublished_record_and_keeps_it_pending(stack: Stack) -> None:
    _, events = _place_and_cancel(stack)
    records = stack.stream_records()
    failing_seq = next(
        r["dynamodb"]["SequenceNumber"]
        for r in records
        if r["eventName"] == "INSERT" and r["dynamodb"]["NewImage"].get("eventId", {}).get("S") == events[1].event_id
    )

    failures = _relay(stack, _FailingFor(stack.clients["events"], events[1].event_id)).handle(records)

    assert failures.response() == {"batchItemFailures": [{"itemIdentifier": failing_seq}]}
    assert _bus_events(stack) == events[:1]
    assert [r.event.event_id for r in _repo(stack).pending()] == [events[1].event_id]

    # Lambda retries from the failed record: the retry publishes it. The saga queue had taken it before the bus
    # refused it; sent again within the deduplication interval, it is not enqueued twice.
    retry = [r for r in records if int(r["dynamodb"]["SequenceNumber"]) >= int(failing_seq)]
    assert _relay(stack).handle(retry).response() == {"batchItemFailures": []}
    assert _bus_events(stack) == events[1:]
    assert _saga_queue_events(stack) == events
    assert _repo(stack).pending() == []


class _SqsFailingFor:
    """The real SQS client, with one event id's entry failing (``InternalError``, not the sender's fault) the first
    ``times`` times it is sent; the event ids of every call are recorded."""

    def __init__(self, client: Any, event_id: str, times: int) -> None:
        self.client = client
        self.event_id = event_id
        self.times = times
        self.calls: list[list[str]] = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        ids = [json.loads(e["MessageBody"])["id"] for e in Entries]
        self.calls.append(ids)
        bad = [i == self.event_id and self.times > 0 for i in ids]
        if any(bad):
            self.times -= 1
        sent = [e for e, b in zip(Entries, bad, strict=True) if not b]
        response = self.client.send_message_batch(QueueUrl=QueueUrl, Entries=sent) if sent else {}
        failed = [
            {"Id": e["Id"], "SenderFault": False, "Code": "InternalError"}
            for e, b in zip(Entries, bad, strict=True)
            if b
        ]
        return {"Successful": response.get("Successful", []), "Failed": failed}


def test_a_failing_saga_queue_entry_is_retried_alone_and_the_batch_succeeds(stack: Stack) -> None:
    first, first_events = _place_and_cancel(stack)
    second, second_events = _place_and_cancel(stack)
    failing = first_events[0].event_id
    flaky = _SqsFailingFor(stack.clients["sqs"], failing, times=1)

    assert _relay(stack, sqs_client=flaky).handle(stack.stream_records()).response() == {"batchItemFailures": []}

    # one call per message of an order (at most one message per group per call); the failed entry alone again
    assert flaky.calls[1] == [failing]
    assert all(failing not in call for call in flaky.calls[2:])
    messages = stack.drain(stack.saga_queue_url)
    by_group: dict[str, list[str]] = {}
    for m in messages:
        by_group.setdefault(m["Attributes"]["MessageGroupId"], []).append(from_json(m["Body"]).event_id)
    assert by_group == {first: [e.event_id for e in first_events], second: [e.event_id for e in second_events]}
    assert _repo(stack).pending() == []


def test_a_saga_queue_entry_that_keeps_failing_reports_its_record_and_nothing_after_it_is_published(
    stack: Stack,
) -> None:
    _, events = _place_and_cancel(stack)
    records = stack.stream_records()
    failing_seq = next(
        r["dynamodb"]["SequenceNumber"]
        for r in records
        if r["eventName"] == "INSERT" and r["dynamodb"]["NewImage"].get("eventId", {}).get("S") == events[1].event_id
    )
    flaky = _SqsFailingFor(stack.clients["sqs"], events[1].event_id, times=99)

    failures = _relay(stack, sqs_client=flaky).handle(records)

    assert failures.response() == {"batchItemFailures": [{"itemIdentifier": failing_seq}]}
    assert _saga_queue_events(stack) == events[:1]
    assert _bus_events(stack) == events[:1]  # the bus gets nothing past the gap either
    assert [r.event.event_id for r in _repo(stack).pending()] == [events[1].event_id]

    # Lambda retries from the failed record: the retry publishes it to both
    retry = [r for r in records if int(r["dynamodb"]["SequenceNumber"]) >= int(failing_seq)]
    assert _relay(stack).handle(retry).response() == {"batchItemFailures": []}
    assert _saga_queue_events(stack) == events[1:]
    assert _bus_events(stack) == events[1:]
    assert _repo(stack).pending() == []


def test_the_sweep_publishes_what_the_stream_never_relayed(stack: Stack) -> None:
    order_id, events = _place_and_cancel(stack)

    assert _relay(stack).sweep() == 2

    messages = stack.drain(stack.saga_queue_url)
    assert [from_json(m["Body"]) for m in messages] == events
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {order_id}
    assert len(_bus_events(stack)) == 2
    assert _repo(stack).pending() == []


def test_records_that_are_not_stream_records_are_failed_without_crashing(stack: Stack) -> None:
    failures = _relay(stack).handle([{"eventName": "INSERT"}])
    assert failures.response() == {"batchItemFailures": [{"itemIdentifier": "position-0"}]}


def test_with_a_dedicated_outbox_table_its_stream_is_relayed_and_its_items_deleted(stack: Stack) -> None:
    repo = DynamoDBOrderRepository(
        stack.tables["orders"], client=stack.clients["dynamodb"], outbox_table=stack.tables["outbox"]
    )
    order = make_order()
    events = list(order.pending_events)
    repo.add(order)
    relay = StreamOutboxRelay(_publisher(stack), repo)

    assert relay.handle(stack.stream_records("outbox")).response() == {"batchItemFailures": []}

    assert _saga_queue_events(stack) == events
    assert repo.pending() == []
