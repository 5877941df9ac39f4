"""The SQS consumer's settling rules, with a runtime that records what reached it: every record settled on its own,
the FIFO group rule, malformed records failed (never crashing the batch), each body shape translated into the core's
runtime input. What each input *does* is the core's runtime (tested there and end to end)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

import pytest
from aws_stack import sample_event

from fooddelivery.application.envelope import to_json
from fooddelivery.application.messages import EventInput, RuntimeInput, TimerInput, resume_body, timer_body
from fooddelivery.application.runtime import OrderRuntime, Outcome
from fooddelivery.domain.errors import ConcurrencyConflict, InvalidTransition
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.ports.scheduler import ScheduledMessage
from fooddelivery.testing.builders import T0, make_event, make_scheduled
from fooddelivery_aws.entrypoints.sqs import SqsConsumer
from fooddelivery_aws.messaging.eventbridge import EventBridgePublisher

SAMPLE = sample_event("sqs")["Records"][0]


@dataclass
class RecordingRuntime:
    """Stands for the core's ``OrderRuntime``: records the inputs and fails those of the orders in ``failing``."""

    failing: set[str] = field(default_factory=set)
    seen: list[tuple[str, str]] = field(default_factory=list)
    explode: str | None = None

    def _take(self, kind: str, key: str) -> None:
        self.seen.append((kind, key))
        if key in self.failing:
            raise ConcurrencyConflict(f"{key} is busy")

    def handle(self, item: RuntimeInput) -> tuple[Outcome, ...]:
        if isinstance(item, EventInput):
            if item.event.order_id == self.explode:
                raise RuntimeError("bug")
            self._take(item.event.type.value, item.event.order_id)
        elif isinstance(item, TimerInput):
            return (self.on_timer(item.message),)
        else:
            self._take("resume", item.saga_id)
        return (Outcome.NO_EFFECT,)

    def on_timer(self, message: ScheduledMessage) -> Outcome:
        self._take("timer", str(message.body["sagaId"]))
        return Outcome.TIMER_DELIVERED


def consumer(runtime: RecordingRuntime) -> SqsConsumer:
    return SqsConsumer(cast(OrderRuntime, runtime))


def eventbridge_body(event: DomainEvent) -> str:
    """What the rule's SQS target receives: an EventBridge event whose detail is our CloudEvent."""
    entry = EventBridgePublisher("bus").entry(event)
    return json.dumps(
        {
            "version": "0",
            "id": "eb-1",
            "detail-type": entry["DetailType"],
            "source": entry["Source"],
            "account": "123456789012",
            "time": "2025-03-14T12:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": json.loads(entry["Detail"]),
        }
    )


def record(body: str, message_id: str, group: str | None = None) -> dict[str, Any]:
    """The SAM sample SQS record with this body, id and (FIFO) message group."""
    out = json.loads(json.dumps(SAMPLE))
    out.update(messageId=message_id, body=body)
    if group is not None:
        out["attributes"].update(MessageGroupId=group, MessageDeduplicationId=message_id, SequenceNumber="1")
    return out


def placed(order_id: str) -> str:
    return eventbridge_body(make_event(type=EventType.ORDER_PLACED, order_id=order_id))


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


def test_each_record_is_settled_on_its_own() -> None:
    saga = RecordingRuntime(failing={"ord-2"})
    response = consumer(saga).handle(
        {"Records": [record(placed("ord-1"), "m1"), record(placed("ord-2"), "m2"), record(placed("ord-3"), "m3")]}
    )
    assert failed_ids(response) == ["m2"]
    assert saga.seen == [("OrderPlaced", "ord-1"), ("OrderPlaced", "ord-2"), ("OrderPlaced", "ord-3")]


def test_after_a_failure_in_a_fifo_group_the_rest_of_that_group_is_failed_unhandled_and_other_groups_go_on() -> None:
    saga = RecordingRuntime(failing={"ord-a1"})
    batch = [
        record(placed("ord-a1"), "a1", group="g-a"),
        record(placed("ord-b1"), "b1", group="g-b"),
        record(placed("ord-a2"), "a2", group="g-a"),
        record(placed("ord-b2"), "b2", group="g-b"),
        record(placed("ord-a3"), "a3", group="g-a"),
    ]
    response = consumer(saga).handle({"Records": batch})
    assert failed_ids(response) == ["a1", "a2", "a3"]
    assert saga.seen == [("OrderPlaced", "ord-a1"), ("OrderPlaced", "ord-b1"), ("OrderPlaced", "ord-b2")]


def test_records_before_the_failure_in_a_group_stay_handled() -> None:
    saga = RecordingRuntime(failing={"ord-2"})
    batch = [record(placed(f"ord-{i}"), f"m{i}", group="orders") for i in range(1, 5)]
    assert failed_ids(consumer(saga).handle({"Records": batch})) == ["m2", "m3", "m4"]
    assert saga.seen == [("OrderPlaced", "ord-1"), ("OrderPlaced", "ord-2")]


@pytest.mark.parametrize(
    "body",
    [
        "Hello from SQS!",  # the SAM sample's body
        "[1, 2]",
        '"text"',
        "{}",
        json.dumps({"detail-type": "OrderPlaced", "detail": "not an object"}),
        json.dumps({"detail-type": "OrderPlaced", "detail": {"specversion": "1.0", "type": "com.other.Thing"}}),
        json.dumps({"specversion": "1.0", "id": "x", "source": "/s", "type": "com.fooddelivery.NoSuchType"}),
        json.dumps({"messageType": "fooddelivery.saga.timer", "version": 1, "messageId": "t"}),
        json.dumps({"messageType": "fooddelivery.saga.resume", "version": 1}),
    ],
    ids=[
        "plain text",
        "a JSON array",
        "a JSON string",
        "an empty object",
        "EventBridge detail not an object",
        "someone else's CloudEvent",
        "an unknown event type",
        "a timer without fields",
        "a resume without saga id",
    ],
)
def test_a_malformed_record_is_failed_and_the_batch_goes_on(body: str) -> None:
    saga = RecordingRuntime()
    response = consumer(saga).handle({"Records": [record(body, "bad"), record(placed("ord-1"), "good")]})
    assert failed_ids(response) == ["bad"]
    assert saga.seen == [("OrderPlaced", "ord-1")]


def test_records_without_a_body_or_id_are_failed_without_crashing() -> None:
    saga = RecordingRuntime()
    response = consumer(saga).handle({"Records": [{"messageId": "m1"}, "junk", {"body": placed("ord-1")}]})
    assert failed_ids(response) == ["m1", "record-1"]
    assert saga.seen == [("OrderPlaced", "ord-1")]


def test_an_event_that_is_not_an_sqs_event_fails_nothing() -> None:
    assert consumer(RecordingRuntime()).handle({"hello": "world"}) == {"batchItemFailures": []}


def test_each_body_shape_reaches_the_runtime_as_its_input() -> None:
    saga = RecordingRuntime()
    cancelled = make_event(type=EventType.ORDER_CANCELLED, order_id="ord-c", payload={"by": "user-1", "reason": "x"})
    direct = make_event(type=EventType.ORDER_PLACED, order_id="ord-d")
    timer = make_scheduled(due_at=T0 + timedelta(minutes=5), body={"sagaId": "ord-t"})
    batch = [
        record(eventbridge_body(cancelled), "1"),
        record(to_json(direct).decode(), "2"),  # a CloudEvent sent to the queue directly
        record(timer_body(timer), "3"),
        record(resume_body("ord-r"), "4"),
        record(eventbridge_body(make_event(type=EventType.PAYMENT_CAPTURED, order_id="ord-p")), "5"),
    ]
    assert failed_ids(consumer(saga).handle({"Records": batch})) == []
    assert saga.seen == [
        ("OrderCancelled", "ord-c"),
        ("OrderPlaced", "ord-d"),
        ("timer", "ord-t"),
        ("resume", "ord-r"),
        ("PaymentCaptured", "ord-p"),  # every event reaches the runtime; its reaction table decides
    ]


def test_an_unexpected_error_in_the_runtime_fails_the_record_not_the_batch() -> None:
    saga = RecordingRuntime(explode="ord-1")
    response = consumer(saga).handle({"Records": [record(placed("ord-1"), "m1"), record(placed("ord-2"), "m2")]})
    assert failed_ids(response) == ["m1"]
    assert saga.seen == [("OrderPlaced", "ord-2")]


def test_an_invalid_transition_from_the_runtime_is_retried_not_dropped() -> None:
    class Busy(RecordingRuntime):
        def handle(self, item: RuntimeInput) -> tuple[Outcome, ...]:
            raise InvalidTransition("the saga is running a step")

    cancelled = make_event(type=EventType.ORDER_CANCELLED, order_id="ord-1")
    response = consumer(Busy()).handle({"Records": [record(eventbridge_body(cancelled), "m1")]})
    assert failed_ids(response) == ["m1"]


@pytest.mark.parametrize("event_type", list(EventType), ids=lambda t: t.value)
def test_every_event_type_sent_as_the_relay_sends_it_reaches_the_runtime_and_is_settled(event_type: EventType) -> None:
    saga = RecordingRuntime()
    event = make_event(type=event_type, order_id="ord-1")
    response = consumer(saga).handle({"Records": [record(to_json(event).decode(), "m1", group="ord-1")]})
    assert failed_ids(response) == []
    assert saga.seen == [(event_type.value, "ord-1")]
