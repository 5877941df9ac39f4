"""EventBridgePublisher on moto's EventBridge: the core's EventPublisher contract, the stack's rule routing every
event to the analytics queue (the saga queue is fed by the outbox relay, not by a rule: see
``test_sqs_events``), batching by count and size, and the retry of failed entries alone."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aws_stack import Stack

from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.ports.messaging import EventPublisher
from fooddelivery.testing.builders import make_event
from fooddelivery.testing.contracts.event_publisher_contract import EventPublisherContract
from fooddelivery_aws.messaging.eventbridge import (
    MAX_REQUEST_BYTES,
    EventBridgePublisher,
    entry_size,
    event_from_eventbridge,
)


def _observer(stack: Stack) -> str:
    """A FIFO queue receiving every event of the bus (one group, so in publication order)."""
    sqs, events = stack.clients["sqs"], stack.clients["events"]
    url = sqs.create_queue(
        QueueName="observer.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="everything", EventBusName=stack.bus_name, EventPattern=json.dumps({"source": ["fooddelivery.orders"]})
    )
    events.put_targets(
        Rule="everything",
        EventBusName=stack.bus_name,
        Targets=[{"Id": "observer", "Arn": arn, "SqsParameters": {"MessageGroupId": "all"}}],
    )
    return str(url)


def _events_in(stack: Stack, queue_url: str) -> list[DomainEvent]:
    return [event_from_eventbridge(json.loads(m["Body"])) for m in stack.drain(queue_url)]


class TestEventBridgePublisherContract(EventPublisherContract):
    """The core's contract: what was published is read back from a queue the bus routes every event to."""

    @pytest.fixture
    def publisher(self, stack: Stack) -> EventPublisher:
        self._stack = stack
        self._observer = _observer(stack)
        return EventBridgePublisher(stack.bus_name, client=stack.clients["events"])

    def published(self, publisher: EventPublisher) -> list[DomainEvent]:
        return _events_in(self._stack, self._observer)


class _FlakyEvents:
    """A real EventBridge client whose ``PutEvents`` answers, for chosen event ids, a failed entry (as EventBridge
    does with ``FailedEntryCount``) a given number of times; every call's entries are recorded."""

    def __init__(self, client: Any, failures: dict[str, int], code: str = "ThrottlingException") -> None:
        self.client = client
        self.failures = dict(failures)
        self.code = code
        self.calls: list[list[str]] = []

    def put_events(self, *, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        ids = [json.loads(e["Detail"])["id"] for e in Entries]
        self.calls.append(ids)
        failing = {i for i in ids if self.failures.get(i, 0) > 0}
        for i in failing:
            self.failures[i] -= 1
        passed = [e for e, i in zip(Entries, ids, strict=True) if i not in failing]
        accepted = iter(self.client.put_events(Entries=passed)["Entries"] if passed else [])
        results = [
            {"ErrorCode": self.code, "ErrorMessage": "injected"} if i in failing else next(accepted) for i in ids
        ]
        return {"FailedEntryCount": len(failing), "Entries": results}


def _publisher(client: Any, stack: Stack, sleeps: list[float] | None = None) -> EventBridgePublisher:
    record: Callable[[float], None] = sleeps.append if sleeps is not None else lambda _: None
    return EventBridgePublisher(stack.bus_name, client=client, sleep=record, max_attempts=3)


def test_the_rule_routes_every_event_to_the_analytics_queue_and_none_to_the_saga_queue(stack: Stack) -> None:
    placed = make_event(type=EventType.ORDER_PLACED, order_id="ord-1")
    captured = make_event(type=EventType.PAYMENT_CAPTURED, order_id="ord-1", order_version=2)
    cancelled = make_event(type=EventType.ORDER_CANCELLED, order_id="ord-2", order_version=3)
    EventBridgePublisher(stack.bus_name, client=stack.clients["events"]).publish([placed, captured, cancelled])

    messages = stack.drain(stack.analytics_queue_url)

    received = sorted((event_from_eventbridge(json.loads(m["Body"])) for m in messages), key=lambda e: e.event_id)
    assert received == sorted([placed, captured, cancelled], key=lambda e: e.event_id)
    body = next(json.loads(m["Body"]) for m in messages if json.loads(m["Body"])["detail"]["id"] == placed.event_id)
    assert body["source"] == "fooddelivery.orders"
    assert body["detail-type"] == "OrderPlaced"
    assert body["detail"]["specversion"] == "1.0"
    assert body["detail"]["partitionkey"] == "ord-1"
    assert stack.drain(stack.saga_queue_url) == []


def test_a_failed_entry_is_retried_alone_after_a_backoff_and_every_event_arrives_once(stack: Stack) -> None:
    observer = _observer(stack)
    events = [make_event(order_id="ord-1", order_version=v) for v in (1, 2, 3)]
    flaky = _FlakyEvents(stack.clients["events"], {events[1].event_id: 1})
    sleeps: list[float] = []

    _publisher(flaky, stack, sleeps).publish(events)

    assert flaky.calls == [[e.event_id for e in events], [events[1].event_id]]
    assert len(sleeps) == 1
    assert sorted(e.event_id for e in _events_in(stack, observer)) == sorted(e.event_id for e in events)


def test_an_entry_that_keeps_failing_raises_naming_it_and_the_events_after_it(stack: Stack) -> None:
    observer = _observer(stack)
    events = [make_event(order_version=v) for v in range(1, 13)]  # two calls: 10 + 2
    flaky = _FlakyEvents(stack.clients["events"], {events[3].event_id: 99})

    with pytest.raises(InfrastructureError) as caught:
        _publisher(flaky, stack, []).publish(events)

    assert caught.value.context["failed_ids"] == [events[3].event_id, events[10].event_id, events[11].event_id]
    assert caught.value.context["errors"] == {events[3].event_id: "ThrottlingException"}
    assert caught.value.context["retryable"] is True
    assert len(flaky.calls) == 3  # the first batch and two retries of the failed entry; the second batch never sent
    accepted = {e.event_id for e in _events_in(stack, observer)}
    assert accepted == {e.event_id for e in events[:10]} - {events[3].event_id}


def test_a_permanent_entry_error_is_not_retried(stack: Stack) -> None:
    events = [make_event(), make_event()]
    flaky = _FlakyEvents(stack.clients["events"], {events[0].event_id: 99}, code="MalformedDetail")

    with pytest.raises(InfrastructureError) as caught:
        _publisher(flaky, stack, []).publish(events)

    assert len(flaky.calls) == 1
    assert caught.value.context["failed_ids"] == [events[0].event_id]
    assert caught.value.context["retryable"] is False


class _Recording:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[list[dict[str, Any]]] = []

    def put_events(self, *, Entries: list[dict[str, Any]]) -> Any:
        self.calls.append(Entries)
        return self.client.put_events(Entries=Entries)


def test_events_go_ten_to_a_call(stack: Stack) -> None:
    recording = _Recording(stack.clients["events"])
    EventBridgePublisher(stack.bus_name, client=recording).publish([make_event() for _ in range(25)])
    assert [len(c) for c in recording.calls] == [10, 10, 5]


def test_a_call_never_carries_more_than_256_kb_of_entries(stack: Stack) -> None:
    observer = _observer(stack)
    big = [make_event(payload={"note": "x" * 100_000}) for _ in range(5)]
    recording = _Recording(stack.clients["events"])

    EventBridgePublisher(stack.bus_name, client=recording).publish(big)

    assert [len(c) for c in recording.calls] == [2, 2, 1]
    assert all(sum(entry_size(e) for e in call) <= MAX_REQUEST_BYTES for call in recording.calls)
    assert len(_events_in(stack, observer)) == 5


def test_an_event_larger_than_eventbridge_takes_is_refused_before_any_call(stack: Stack) -> None:
    recording = _Recording(stack.clients["events"])
    huge = make_event(payload={"note": "x" * MAX_REQUEST_BYTES})

    with pytest.raises(InfrastructureError) as caught:
        EventBridgePublisher(stack.bus_name, client=recording).publish([make_event(), huge])

    assert caught.value.context["reason"] == "entry_too_large"
    assert caught.value.context["too_large"] == [huge.event_id]
    assert caught.value.context["retryable"] is False
    assert recording.calls == []


def test_a_missing_bus_is_an_infrastructure_error_naming_every_event(stack: Stack) -> None:
    events = [make_event(), make_event()]
    with pytest.raises(InfrastructureError) as caught:
        EventBridgePublisher("no-such-bus", client=stack.clients["events"]).publish(events)
    assert caught.value.context["failed_ids"] == [e.event_id for e in events]
    assert caught.value.context["code"] == "ResourceNotFoundException"
    assert caught.value.context["retryable"] is False


def test_entry_size_counts_utf8_bytes_of_source_detail_type_detail_resources_and_14_for_time() -> None:
    entry = {
        "Time": object(),
        "Source": "fooddelivery.orders",
        "DetailType": "OrderPlaced",
        "Detail": '{"n":"é"}',
        "Resources": ["arn:a"],
        "EventBusName": "ignored",
    }
    assert entry_size(entry) == 14 + 19 + 11 + 10 + 5
