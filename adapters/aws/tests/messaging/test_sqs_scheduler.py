"""SqsScheduler on moto's SQS and DynamoDB: the core's Scheduler contract, the delays SQS really gets (capped at
900 s and chained), early arrivals re-delayed, cancelled and duplicate timers dropped."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from aws_stack import Stack

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.application.messages import timer_from_document
from fooddelivery.domain.errors import InfrastructureError, ValidationError
from fooddelivery.ports.scheduler import ScheduledMessage, Scheduler
from fooddelivery.testing.builders import T0, make_scheduled
from fooddelivery.testing.contracts.scheduler_contract import SchedulerContract
from fooddelivery_aws.messaging.sqs_scheduler import MAX_DELAY_SECONDS, SqsScheduler, TimerOutcome


def _scheduler(stack: Stack, clock: VirtualClock, max_delay_s: int = MAX_DELAY_SECONDS) -> SqsScheduler:
    return SqsScheduler(
        stack.timer_queue_url,
        stack.tables["sagas"],
        clock=clock,
        sqs_client=stack.clients["sqs"],
        dynamodb_client=stack.clients["dynamodb"],
        max_delay_s=max_delay_s,
    )


def _received(stack: Stack) -> list[ScheduledMessage]:
    return [timer_from_document(json.loads(m["Body"])) for m in stack.drain(stack.timer_queue_url)]


class TestSqsSchedulerContract(SchedulerContract):
    """The core's contract, with time virtual: the scheduler sends every hop with no delay (``max_delay_s=0``),
    so what the queue holds is received at once and the consumer side (:meth:`SqsScheduler.accept`) decides, at the
    virtual ``now``, whether a timer is due (delivered), early (sent again) or cancelled/duplicate (dropped)."""

    @pytest.fixture
    def scheduler(self, stack: Stack) -> Scheduler:
        self._stack = stack
        self._clock = VirtualClock(T0)
        return _scheduler(stack, self._clock, max_delay_s=0)

    def due(self, scheduler: Scheduler, now: datetime) -> list[ScheduledMessage]:
        assert isinstance(scheduler, SqsScheduler)
        if now > self._clock.now():
            self._clock.set(now)
        delivered: list[ScheduledMessage] = []
        for message in _received(self._stack):  # drained first: what is sent again waits for the next call
            scheduler.accept(message, delivered.append)
        return delivered

    def test_late_delivery_hands_over_everything_due_in_due_order(self, scheduler: Scheduler) -> None:
        """SQS standard queues do not keep order (nothing relies on the order of two timers): the same messages
        are handed over, in whatever order the queue gives them."""
        third = make_scheduled(message_id="msg-3", due_at=T0 + timedelta(minutes=3))
        first = make_scheduled(message_id="msg-1", due_at=T0 + timedelta(minutes=1))
        later = make_scheduled(message_id="msg-9", due_at=T0 + timedelta(minutes=9))
        for message in (third, later, first):
            scheduler.schedule(message)
        assert sorted(m.message_id for m in self.due(scheduler, T0 + timedelta(minutes=5))) == ["msg-1", "msg-3"]
        assert [m.message_id for m in self.due(scheduler, T0 + timedelta(minutes=9))] == ["msg-9"]

    def test_messages_due_at_the_same_instant_keep_their_scheduling_order(self, scheduler: Scheduler) -> None:
        """As above: all of them are handed over; SQS standard queues promise no order."""
        at = T0 + timedelta(minutes=1)
        for message_id in ("msg-b", "msg-c", "msg-a"):
            scheduler.schedule(make_scheduled(message_id=message_id, due_at=at))
        assert sorted(m.message_id for m in self.due(scheduler, at)) == ["msg-a", "msg-b", "msg-c"]


def test_a_timer_within_15_minutes_is_sent_with_its_whole_delay(stack: Stack) -> None:
    clock = VirtualClock(T0)
    _scheduler(stack, clock).schedule(make_scheduled(due_at=T0 + timedelta(seconds=299, milliseconds=200)))
    assert stack.attributes(stack.timer_queue_url)["ApproximateNumberOfMessagesDelayed"] == "1"
    assert stack.receive(stack.timer_queue_url) == []  # not visible before its delay
    assert _scheduler(stack, clock).delay_for(T0 + timedelta(seconds=299, milliseconds=200)) == 300


def test_a_two_hour_timer_travels_in_hops_of_at_most_900_seconds(stack: Stack) -> None:
    clock = VirtualClock(T0)
    scheduler = _scheduler(stack, clock, max_delay_s=0)  # hops arrive at once; delay_for shows what SQS would get
    timer = make_scheduled(due_at=T0 + timedelta(hours=2))
    scheduler.schedule(timer)
    real = _scheduler(stack, clock)
    hops = []
    for _ in range(20):
        (message,) = _received(stack)
        hops.append(real.delay_for(message.due_at))
        outcome = scheduler.accept(message, lambda m: None)
        if outcome is TimerOutcome.DELIVERED:
            break
        clock.advance(real.delay_for(message.due_at))
    assert hops == [900] * 8 + [0]


def test_an_early_timer_is_sent_again_and_delivered_once_due(stack: Stack) -> None:
    clock = VirtualClock(T0)
    scheduler = _scheduler(stack, clock, max_delay_s=0)
    timer = make_scheduled(due_at=T0 + timedelta(seconds=30))
    scheduler.schedule(timer)
    delivered: list[ScheduledMessage] = []

    (first,) = _received(stack)
    assert scheduler.accept(first, delivered.append) is TimerOutcome.REDELAYED
    clock.advance(30)
    (again,) = _received(stack)
    assert scheduler.accept(again, delivered.append) is TimerOutcome.DELIVERED
    assert delivered == [timer]


def test_a_copy_delivered_twice_by_sqs_is_handed_over_once(stack: Stack) -> None:
    clock = VirtualClock(T0)
    scheduler = _scheduler(stack, clock, max_delay_s=0)
    timer = make_scheduled(due_at=T0)
    scheduler.schedule(timer)
    (message,) = _received(stack)
    delivered: list[ScheduledMessage] = []
    assert scheduler.accept(message, delivered.append) is TimerOutcome.DELIVERED
    assert scheduler.accept(message, delivered.append) is TimerOutcome.DROPPED
    assert delivered == [timer]


def test_a_delivery_that_fails_leaves_the_timer_deliverable(stack: Stack) -> None:
    clock = VirtualClock(T0)
    scheduler = _scheduler(stack, clock, max_delay_s=0)
    timer = make_scheduled(due_at=T0)
    scheduler.schedule(timer)
    (message,) = _received(stack)

    def boom(_: ScheduledMessage) -> None:
        raise InfrastructureError("saga store down")

    with pytest.raises(InfrastructureError):
        scheduler.accept(message, boom)
    delivered: list[ScheduledMessage] = []
    assert scheduler.accept(message, delivered.append) is TimerOutcome.DELIVERED  # the queue's redelivery
    assert delivered == [timer]


def test_a_timer_on_the_fifo_saga_queue_is_refused_as_aws_refuses_per_message_delays(stack: Stack) -> None:
    scheduler = SqsScheduler(
        stack.saga_queue_url,
        stack.tables["sagas"],
        clock=VirtualClock(T0),
        sqs_client=stack.clients["sqs"],
        dynamodb_client=stack.clients["dynamodb"],
    )
    with pytest.raises(InfrastructureError) as caught:
        scheduler.schedule(make_scheduled(due_at=T0 + timedelta(minutes=5)))
    assert caught.value.context["code"] in {"InvalidParameterValue", "MissingParameter"}


def test_a_naive_due_time_is_refused(stack: Stack) -> None:
    with pytest.raises(ValidationError):
        _scheduler(stack, VirtualClock(T0)).schedule(make_scheduled(due_at=datetime(2025, 1, 1)))
