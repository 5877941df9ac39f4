"""SqsFifoEventPublisher on moto's FIFO saga queue: the core's EventPublisher contract, one message group per order
with the event id as deduplication id, one order's events in order, calls of at most 10 entries / 256 KiB / one
message per group, the retry of failed entries alone, and the queue's dead-letter queue after three receives."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

import pytest
from aws_stack import Stack, sqs_event

from fooddelivery.application.envelope import from_json
from fooddelivery.application.runtime import OrderRuntime
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.ports.messaging import EventPublisher
from fooddelivery.testing.builders import make_event
from fooddelivery.testing.contracts.event_publisher_contract import EventPublisherContract
from fooddelivery_aws.entrypoints.sqs import SqsConsumer
from fooddelivery_aws.messaging.sqs_events import (
    MAX_REQUEST_BYTES,
    SqsFifoEventPublisher,
    message_deduplication_id,
    message_group_id,
)


def _messages(stack: Stack) -> list[dict[str, Any]]:
    return stack.drain(stack.saga_queue_url)


def _events(messages: list[dict[str, Any]]) -> list[DomainEvent]:
    return [from_json(m["Body"]) for m in messages]


def _by_group(messages: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Event ids per message group, in receive order."""
    groups: dict[str, list[str]] = {}
    for m in messages:
        groups.setdefault(m["Attributes"]["MessageGroupId"], []).append(json.loads(m["Body"])["id"])
    return groups


class TestSqsFifoEventPublisherContract(EventPublisherContract):
    """The core's contract, read back from the FIFO queue."""

    @pytest.fixture
    def publisher(self, stack: Stack) -> EventPublisher:
        self._stack = stack
        return SqsFifoEventPublisher(stack.saga_queue_url, client=stack.clients["sqs"])

    def published(self, publisher: EventPublisher) -> list[DomainEvent]:
        return _events(_messages(self._stack))


class _FlakySqs:
    """A real SQS client whose ``SendMessageBatch`` answers, for chosen event ids, a failed entry (as SQS does, in
    ``Failed``) a given number of times; the event ids of every call are recorded."""

    def __init__(self, client: Any, failures: dict[str, int], *, code: str = "InternalError", sender: bool = False):
        self.client = client
        self.failures = dict(failures)
        self.code = code
        self.sender = sender
        self.calls: list[list[str]] = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        ids = [json.loads(e["MessageBody"])["id"] for e in Entries]
        self.calls.append(ids)
        failing = {i for i in ids if self.failures.get(i, 0) > 0}
        for i in failing:
            self.failures[i] -= 1
        passed = [e for e, i in zip(Entries, ids, strict=True) if i not in failing]
        response = self.client.send_message_batch(QueueUrl=QueueUrl, Entries=passed) if passed else {}
        failed = [
            {"Id": e["Id"], "SenderFault": self.sender, "Code": self.code, "Message": "injected"}
            for e, i in zip(Entries, ids, strict=True)
            if i in failing
        ]
        return {"Successful": response.get("Successful", []), "Failed": failed}


class _Recording:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[list[dict[str, Any]]] = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> Any:
        self.calls.append(Entries)
        return self.client.send_message_batch(QueueUrl=QueueUrl, Entries=Entries)


def _publisher(client: Any, stack: Stack, sleeps: list[float] | None = None) -> SqsFifoEventPublisher:
    record: Callable[[float], None] = sleeps.append if sleeps is not None else lambda _: None
    return SqsFifoEventPublisher(stack.saga_queue_url, client=client, sleep=record, max_attempts=3)


def test_each_order_gets_its_own_message_group_and_each_event_its_id_as_deduplication_id(stack: Stack) -> None:
    a1 = make_event(type=EventType.ORDER_PLACED, order_id="ord-a", order_version=1)
    b1 = make_event(type=EventType.ORDER_PLACED, order_id="ord-b", order_version=1)
    a2 = make_event(type=EventType.ORDER_CANCELLED, order_id="ord-a", order_version=2)

    SqsFifoEventPublisher(stack.saga_queue_url, client=stack.clients["sqs"]).publish([a1, b1, a2])

    messages = _messages(stack)
    assert _by_group(messages) == {"ord-a": [a1.event_id, a2.event_id], "ord-b": [b1.event_id]}
    assert {m["Attributes"]["MessageDeduplicationId"] for m in messages} == {a1.event_id, b1.event_id, a2.event_id}
    assert sorted(_events(messages), key=lambda e: e.event_id) == sorted([a1, b1, a2], key=lambda e: e.event_id)


def test_one_orders_events_are_received_in_the_order_they_were_sent(stack: Stack) -> None:
    events = [
        make_event(order_id=order_id, order_version=version)
        for version in range(1, 6)
        for order_id in ("ord-a", "ord-b", "ord-c")
    ]
    SqsFifoEventPublisher(stack.saga_queue_url, client=stack.clients["sqs"]).publish(events)

    groups = _by_group(_messages(stack))

    assert groups == {
        order_id: [e.event_id for e in events if e.order_id == order_id] for order_id in ("ord-a", "ord-b", "ord-c")
    }


def test_an_event_sent_again_within_the_deduplication_interval_is_delivered_once(stack: Stack) -> None:
    event = make_event(order_id="ord-a")
    publisher = SqsFifoEventPublisher(stack.saga_queue_url, client=stack.clients["sqs"])

    publisher.publish([event])
    publisher.publish([event])  # a stream batch relayed twice, or a sweep racing the stream

    assert _events(_messages(stack)) == [event]


def test_a_call_carries_at_most_one_message_per_order_ten_entries_and_256_kib(stack: Stack) -> None:
    recording = _Recording(stack.clients["sqs"])
    same_order = [make_event(order_id="ord-a", order_version=v) for v in (1, 2)]
    many = [make_event() for _ in range(12)]
    big = [make_event(payload={"note": "x" * 100_000}) for _ in range(3)]

    SqsFifoEventPublisher(stack.saga_queue_url, client=recording).publish(same_order + many + big)

    groups_per_call = [[e["MessageGroupId"] for e in call] for call in recording.calls]
    assert [len(c) for c in recording.calls] == [1, 10, 5, 1]  # [a1] [a2 + 9 more] [3 more + 2 big] [big]
    assert all(len(set(groups)) == len(groups) for groups in groups_per_call)
    assert all(sum(len(e["MessageBody"].encode()) for e in call) <= MAX_REQUEST_BYTES for call in recording.calls)
    assert len(_messages(stack)) == 17


def test_a_failed_entry_is_retried_alone_after_a_backoff_and_every_event_arrives_once(stack: Stack) -> None:
    events = [make_event(order_id=f"ord-{n}") for n in range(3)]
    flaky = _FlakySqs(stack.clients["sqs"], {events[1].event_id: 1})
    sleeps: list[float] = []

    _publisher(flaky, stack, sleeps).publish(events)

    assert flaky.calls == [[e.event_id for e in events], [events[1].event_id]]
    assert len(sleeps) == 1
    assert sorted(e.event_id for e in _events(_messages(stack))) == sorted(e.event_id for e in events)


def test_a_retried_message_never_overtakes_a_later_message_of_its_order(stack: Stack) -> None:
    placed = make_event(type=EventType.ORDER_PLACED, order_id="ord-a", order_version=1)
    cancelled = make_event(type=EventType.ORDER_CANCELLED, order_id="ord-a", order_version=2)
    other = make_event(order_id="ord-b")
    flaky = _FlakySqs(stack.clients["sqs"], {placed.event_id: 1})

    _publisher(flaky, stack, []).publish([placed, other, cancelled])

    # the order's second message waits for a later call, after the retry of its first
    assert flaky.calls == [[placed.event_id, other.event_id], [placed.event_id], [cancelled.event_id]]
    assert _by_group(_messages(stack))["ord-a"] == [placed.event_id, cancelled.event_id]


def test_an_entry_that_keeps_failing_raises_naming_it_and_every_event_after_its_call(stack: Stack) -> None:
    events = [make_event() for _ in range(12)]  # two calls: 10 + 2
    flaky = _FlakySqs(stack.clients["sqs"], {events[3].event_id: 99})

    with pytest.raises(InfrastructureError) as caught:
        _publisher(flaky, stack, []).publish(events)

    assert caught.value.context["failed_ids"] == [events[3].event_id, events[10].event_id, events[11].event_id]
    assert caught.value.context["errors"] == {events[3].event_id: "InternalError"}
    assert caught.value.context["retryable"] is True
    assert len(flaky.calls) == 3  # the first call and two retries of its failed entry; the second call never made
    assert {e.event_id for e in _events(_messages(stack))} == {e.event_id for e in events[:10]} - {events[3].event_id}


def test_a_sender_fault_is_not_retried(stack: Stack) -> None:
    events = [make_event(), make_event()]
    flaky = _FlakySqs(stack.clients["sqs"], {events[0].event_id: 99}, code="InvalidParameterValue", sender=True)

    with pytest.raises(InfrastructureError) as caught:
        _publisher(flaky, stack, []).publish(events)

    assert len(flaky.calls) == 1
    assert caught.value.context["failed_ids"] == [events[0].event_id]
    assert caught.value.context["retryable"] is False


def test_an_event_larger_than_a_call_takes_is_refused_before_any_call(stack: Stack) -> None:
    recording = _Recording(stack.clients["sqs"])
    huge = make_event(payload={"note": "x" * MAX_REQUEST_BYTES})

    with pytest.raises(InfrastructureError) as caught:
        SqsFifoEventPublisher(stack.saga_queue_url, client=recording).publish([make_event(), huge])

    assert caught.value.context["reason"] == "entry_too_large"
    assert caught.value.context["too_large"] == [huge.event_id]
    assert recording.calls == []


def test_a_missing_queue_is_an_infrastructure_error_naming_every_event(stack: Stack) -> None:
    events = [make_event(), make_event()]
    missing = stack.saga_queue_url.replace("saga.fifo", "no-such-queue.fifo")
    with pytest.raises(InfrastructureError) as caught:
        SqsFifoEventPublisher(missing, client=stack.clients["sqs"]).publish(events)
    assert caught.value.context["failed_ids"] == [e.event_id for e in events]
    assert caught.value.context["retryable"] is False


def test_ids_sqs_cannot_take_become_a_stable_digest_and_valid_ones_stay_as_they_are() -> None:
    plain = make_event(order_id="ord-1f0c", event_id="evt-9a")
    odd = make_event(order_id="ord-zoë", event_id="evt " + "x" * 200)

    assert (message_group_id(plain), message_deduplication_id(plain)) == ("ord-1f0c", "evt-9a")
    group, dedup = message_group_id(odd), message_deduplication_id(odd)
    assert group.startswith("sha256-") and group.isascii() and len(group) <= 128
    assert dedup.startswith("sha256-") and len(dedup) <= 128
    assert message_group_id(make_event(order_id="ord-zoë")) == group  # one order, one group


def test_a_message_the_consumer_keeps_failing_moves_to_the_dead_letter_queue_after_ten_receives(stack: Stack) -> None:
    sqs = stack.clients["sqs"]
    sqs.send_message(
        QueueUrl=stack.saga_queue_url,
        MessageBody=json.dumps({"not": "a CloudEvent"}),
        MessageGroupId="ord-bad",
        MessageDeduplicationId="evt-bad",
    )
    sqs.set_queue_attributes(QueueUrl=stack.saga_queue_url, Attributes={"VisibilityTimeout": "0"})
    consumer = SqsConsumer(cast(OrderRuntime, _NoRuntime()))
    for receive in range(1, 11):
        (message,) = stack.receive(stack.saga_queue_url, delete=False)
        assert message["Attributes"]["ApproximateReceiveCount"] == str(receive)
        response = consumer.handle(sqs_event([message]))
        assert response == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}

    assert stack.receive(stack.saga_queue_url) == []  # the eleventh receive moves it
    (dead,) = stack.drain(stack.saga_dlq_url)
    assert json.loads(dead["Body"]) == {"not": "a CloudEvent"}


class _NoRuntime:
    def handle(self, item: Any) -> Any:
        raise AssertionError("a malformed message reached the runtime")

    on_timer = handle
