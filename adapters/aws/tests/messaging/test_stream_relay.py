"""The DynamoDB Streams outbox relay on moto: orders written by the DynamoDB repository, the table's real stream
read back as Lambda would receive it, events published to EventBridge and routed to the saga queue, outbox items
deleted; partial failures reported by sequence number; the sweep for what the stream left behind."""

from __future__ import annotations

import json
from typing import Any

from aws_stack import Stack

from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.domain.order import OrderStatus
from fooddelivery_aws.dynamodb import DynamoDBOrderRepository
from fooddelivery_aws.messaging.eventbridge import EventBridgePublisher, event_from_eventbridge
from fooddelivery_aws.relay import StreamOutboxRelay
from tests.builders import T0, make_order


def _repo(stack: Stack) -> DynamoDBOrderRepository:
    return DynamoDBOrderRepository(stack.tables["orders"], client=stack.clients["dynamodb"])


def _relay(stack: Stack, events_client: Any = None) -> StreamOutboxRelay:
    publisher = EventBridgePublisher(
        stack.bus_name, client=events_client or stack.clients["events"], sleep=lambda _: None, max_attempts=2
    )
    return StreamOutboxRelay(publisher, _repo(stack))


def _saga_queue_events(stack: Stack) -> list[DomainEvent]:
    return [event_from_eventbridge(json.loads(m["Body"])) for m in stack.drain(stack.saga_queue_url)]


def _place_and_cancel(stack: Stack) -> tuple[str, list[DomainEvent]]:
    """An order placed, then cancelled: two transactions, two outbox records (OrderPlaced, OrderCancelled)."""
    from fooddelivery.domain.actors import Actor

    repo = _repo(stack)
    order = make_order(customer_id="cus-1")
    placed = list(order.pending_events)
    repo.add(order)
    stored = repo.get(order.order_id)
    stored.cancel(Actor.customer("cus-1"), T0, "evt-cancel-1", "changed my mind")
    cancelled = list(stored.pending_events)
    repo.save(stored)
    return order.order_id, placed + cancelled


def test_outbox_inserts_are_published_routed_to_the_saga_queue_and_deleted(stack: Stack) -> None:
    order_id, events = _place_and_cancel(stack)
    records = stack.stream_records()
    assert {r["eventName"] for r in records} == {"INSERT", "MODIFY"}  # the order's own writes are in the stream too

    failures = _relay(stack).handle(records)

    assert failures.response() == {"batchItemFailures": []}
    assert _saga_queue_events(stack) == events
    assert [e.type for e in events] == [EventType.ORDER_PLACED, EventType.ORDER_CANCELLED]
    assert _repo(stack).pending() == []
    assert _repo(stack).get(order_id).status is OrderStatus.CANCELLED


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
        sent = iter(self.client.put_events(Entries=[e for e, b in zip(Entries, bad, strict=True) if not b])["Entries"])
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
    assert _saga_queue_events(stack) == events[:1]
    assert [r.event.event_id for r in _repo(stack).pending()] == [events[1].event_id]

    # Lambda retries from the failed record: the retry publishes it
    retry = [r for r in records if int(r["dynamodb"]["SequenceNumber"]) >= int(failing_seq)]
    assert _relay(stack).handle(retry).response() == {"batchItemFailures": []}
    assert _saga_queue_events(stack) == events[1:]
    assert _repo(stack).pending() == []


def test_the_sweep_publishes_what_the_stream_never_relayed(stack: Stack) -> None:
    _, events = _place_and_cancel(stack)

    assert _relay(stack).sweep() == 2

    assert _saga_queue_events(stack) == events
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
    relay = StreamOutboxRelay(EventBridgePublisher(stack.bus_name, client=stack.clients["events"]), repo)

    assert relay.handle(stack.stream_records("outbox")).response() == {"batchItemFailures": []}

    assert _saga_queue_events(stack) == events
    assert repo.pending() == []
