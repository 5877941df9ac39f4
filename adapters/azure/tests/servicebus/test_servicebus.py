"""Service Bus adapters against the in-memory Service Bus of the tests (``memory_servicebus.py``: the SDK's own
message types, sessions, scheduling, settlement and duplicate detection enforced)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import ServiceBusServerBusyError
from memory_servicebus import MemoryServiceBus, drain

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.application.fanout import FanOutPublisher
from fooddelivery.application.messages import EventInput, TimerInput, decode_body, resume_body
from fooddelivery.application.runtime import Outcome
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.ports.notifications import Notification, NotificationKind
from fooddelivery.ports.scheduler import ScheduledMessage
from fooddelivery_azure.servicebus import (
    ReceiverSettler,
    ServiceBusEventPublisher,
    ServiceBusNotifier,
    ServiceBusScheduler,
    Settlement,
    process,
)
from fooddelivery_azure.servicebus.consumer import RetryPolicy, SenderRetrier, message_body

T0 = datetime(2026, 12, 4, 18, 30, tzinfo=UTC)


def _event(order_id: str, version: int, kind: EventType = EventType.ORDER_PLACED, **payload: Any) -> DomainEvent:
    return DomainEvent(f"evt-{order_id}-{version}", kind, T0, order_id, version, dict(payload))


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0)


@pytest.fixture
def bus(clock: VirtualClock) -> MemoryServiceBus:
    bus = MemoryServiceBus(clock.now)
    bus.create_topic("order-events")
    bus.create_subscription("order-events", "analytics")
    bus.create_subscription("order-events", "by-order", requires_session=True)
    bus.create_queue("order-runtime", requires_session=True, max_delivery_count=3)
    return bus


# -- publishing -----------------------------------------------------------------------------------------------
def test_events_go_to_every_subscription_with_order_session_event_id_and_cloudevents_body(
    bus: MemoryServiceBus,
) -> None:
    publisher = ServiceBusEventPublisher(bus.get_topic_sender("order-events"), name="order-events")
    events = [_event("ord-1", 1), _event("ord-1", 2, EventType.PAYMENT_CAPTURED, amount="21.97")]
    publisher.publish(events)
    for sub in ("analytics", "by-order"):
        sent = bus.active(f"order-events/subscriptions/{sub}")
        assert [(m.message_id, m.session_id, m.content_type) for m in sent] == [
            ("evt-ord-1-1", "ord-1", "application/cloudevents+json"),
            ("evt-ord-1-2", "ord-1", "application/cloudevents+json"),
        ]
        decoded = decode_body(message_body(sent[1]))
        assert isinstance(decoded, EventInput) and decoded.event == events[1]


def test_a_resent_event_is_dropped_by_duplicate_detection(bus: MemoryServiceBus) -> None:
    publisher = ServiceBusEventPublisher(bus.get_topic_sender("order-events"), name="order-events")
    publisher.publish([_event("ord-1", 1)])
    publisher.publish([_event("ord-1", 1), _event("ord-1", 2)])
    assert [m.message_id for m in bus.active("order-events/subscriptions/analytics")] == ["evt-ord-1-1", "evt-ord-1-2"]


def test_a_refused_send_names_the_chunk_and_every_later_event_as_failed(bus: MemoryServiceBus) -> None:
    sender = bus.get_topic_sender("order-events")
    sender.fail_next.append(ServiceBusServerBusyError(message="busy"))
    publisher = ServiceBusEventPublisher(sender, name="order-events")
    with pytest.raises(InfrastructureError) as caught:
        publisher.publish([_event("ord-1", 1), _event("ord-1", 2)])
    assert caught.value.context["failed_ids"] == ["evt-ord-1-1", "evt-ord-1-2"]
    assert caught.value.context["retryable"] is True
    assert bus.active("order-events/subscriptions/analytics") == []


def test_the_fan_out_sends_the_runtimes_events_to_the_session_queue_and_every_event_to_the_topic(
    bus: MemoryServiceBus,
) -> None:
    fan_out = FanOutPublisher(
        bus=ServiceBusEventPublisher(bus.get_topic_sender("order-events"), name="order-events"),
        runtime_queue=ServiceBusEventPublisher(bus.get_queue_sender("order-runtime"), name="order-runtime"),
    )
    fan_out.publish([_event("ord-1", 1), _event("ord-1", 2, EventType.PAYMENT_CAPTURED)])
    assert [m.message_id for m in bus.active("order-runtime")] == ["evt-ord-1-1"]  # OrderPlaced only
    assert len(bus.active("order-events/subscriptions/analytics")) == 2


def test_a_session_queue_refuses_a_message_without_a_session(bus: MemoryServiceBus) -> None:
    with pytest.raises(Exception, match="session"):
        bus.get_queue_sender("order-runtime").send_messages(ServiceBusMessage(b"{}"))


def test_notifications_carry_their_id_as_message_id_and_a_resend_is_dropped(bus: MemoryServiceBus) -> None:
    bus.create_topic("notifications", duplicate_window=timedelta(days=7))
    bus.create_subscription("notifications", "email")
    notifier = ServiceBusNotifier(bus.get_topic_sender("notifications"))
    note = Notification("ord-1:customer:order_received", NotificationKind.CUSTOMER, "cus-1", "ord-1", "order_received")
    notifier.send(note)
    notifier.send(note)
    (sent,) = bus.active("notifications/subscriptions/email")
    assert sent.message_id == note.notification_id
    assert json.loads(message_body(sent))["template"] == "order_received"


# -- scheduling -----------------------------------------------------------------------------------------------
def _timer(message_id: str = "ord-1:timeout:1", seconds: float = 300) -> ScheduledMessage:
    return ScheduledMessage(message_id, T0 + timedelta(seconds=seconds), "saga.timeout", {"sagaId": "ord-1"})


@pytest.fixture
def scheduler(bus: MemoryServiceBus, container: Any) -> ServiceBusScheduler:
    return ServiceBusScheduler(bus.get_queue_sender("order-runtime"), container("timers"), queue_name="order-runtime")


def _receive_all(bus: MemoryServiceBus) -> list[Any]:
    got: list[Any] = []

    def take(message: Any, receiver: Any) -> None:
        got.append(message)
        receiver.complete_message(message)

    drain(bus, "order-runtime", take)
    return got


def test_a_timer_is_invisible_until_due_then_arrives_in_its_sagas_session(
    bus: MemoryServiceBus, scheduler: ServiceBusScheduler, clock: VirtualClock
) -> None:
    scheduler.schedule(_timer())
    assert _receive_all(bus) == []
    clock.advance(300)
    (message,) = _receive_all(bus)
    assert message.session_id == "ord-1" and message.message_id == "ord-1:timeout:1"
    decoded = decode_body(message_body(message))
    assert isinstance(decoded, TimerInput) and decoded.message == _timer()


def test_scheduling_a_known_id_again_is_a_no_op(bus: MemoryServiceBus, scheduler: ServiceBusScheduler) -> None:
    scheduler.schedule(_timer())
    scheduler.schedule(_timer())
    assert len(bus.active("order-runtime")) == 1


def test_a_cancelled_timer_never_arrives_and_cancel_says_whether_one_was_pending(
    bus: MemoryServiceBus, scheduler: ServiceBusScheduler, clock: VirtualClock
) -> None:
    scheduler.schedule(_timer("t-cancelled"))
    scheduler.schedule(_timer("t-fired", seconds=5))
    assert scheduler.cancel("t-cancelled") is True
    assert scheduler.cancel("t-never-scheduled") is False
    clock.advance(5)
    assert scheduler.cancel("t-fired") is False  # already enqueued: best effort
    clock.advance(600)
    assert [m.message_id for m in _receive_all(bus)] == ["t-fired"]


# -- consuming ------------------------------------------------------------------------------------------------
class _Runtime:
    """Records what it handled; raises what it is told to."""

    def __init__(self) -> None:
        self.handled: list[Any] = []
        self.fail_with: BaseException | None = None

    def handle(self, item: Any) -> tuple[Outcome, ...]:
        if self.fail_with is not None:
            raise self.fail_with
        self.handled.append(item)
        return (Outcome.STARTED,)


def _consume(bus: MemoryServiceBus, runtime: _Runtime) -> list[Settlement]:
    verdicts: list[Settlement] = []
    drain(bus, "order-runtime", lambda m, r: verdicts.append(process(m, runtime.handle, ReceiverSettler(r)).settlement))
    return verdicts


def _send(bus: MemoryServiceBus, body: bytes | str, session: str = "ord-1", message_id: str | None = None) -> None:
    message = ServiceBusMessage(body, session_id=session, message_id=message_id)
    bus.get_queue_sender("order-runtime").send_messages(message)


def test_a_handled_message_is_completed(bus: MemoryServiceBus) -> None:
    runtime = _Runtime()
    _send(bus, resume_body("ord-1"))
    assert _consume(bus, runtime) == [Settlement.COMPLETE]
    assert bus.active("order-runtime") == [] and bus.dead_letters("order-runtime") == []
    assert len(runtime.handled) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"hello": "world"}', "neither a CloudEvent"),
    ],
)
def test_a_poison_message_is_dead_lettered_at_once_with_the_error_as_reason(
    bus: MemoryServiceBus, body: bytes, reason: str
) -> None:
    runtime = _Runtime()
    _send(bus, body, message_id="poison")
    assert _consume(bus, runtime) == [Settlement.DEAD_LETTER]
    (dead,) = bus.dead_letters("order-runtime")
    assert dead.message_id == "poison" and dead.delivery_count == 1
    assert dead.reason is not None and reason in (dead.reason + (dead.description or ""))
    assert runtime.handled == []


def test_a_failing_message_is_abandoned_and_dead_lettered_by_the_broker_at_max_delivery_count(
    bus: MemoryServiceBus,
) -> None:
    runtime = _Runtime()
    runtime.fail_with = InfrastructureError("cosmos is down", retryable=True)
    _send(bus, resume_body("ord-1"), message_id="m1")
    assert _consume(bus, runtime) == [Settlement.ABANDON] * 3
    (dead,) = bus.dead_letters("order-runtime")
    assert (dead.message_id, dead.reason, dead.delivery_count) == ("m1", "MaxDeliveryCountExceeded", 3)


def test_a_message_that_fails_once_is_handled_on_redelivery(bus: MemoryServiceBus) -> None:
    runtime = _Runtime()
    _send(bus, resume_body("ord-1"))
    runtime.fail_with = InfrastructureError("busy", retryable=True)
    receiver = bus.get_queue_receiver("order-runtime", session_id="ord-1")
    (first,) = receiver.receive_messages()
    assert process(first, runtime.handle, ReceiverSettler(receiver)).settlement is Settlement.ABANDON
    runtime.fail_with = None
    (second,) = receiver.receive_messages()
    assert second.delivery_count == 2
    assert process(second, runtime.handle, ReceiverSettler(receiver)).settlement is Settlement.COMPLETE
    assert bus.active("order-runtime") == []


def test_a_lost_lock_on_settlement_is_logged_and_the_message_comes_back(
    bus: MemoryServiceBus, clock: VirtualClock
) -> None:
    runtime = _Runtime()
    _send(bus, resume_body("ord-1"))
    receiver = bus.get_queue_receiver("order-runtime", session_id="ord-1")
    (message,) = receiver.receive_messages()

    def slow(item: Any) -> tuple[Outcome, ...]:
        clock.advance(31)  # longer than the 30 s lock
        return runtime.handle(item)

    assert process(message, slow, ReceiverSettler(receiver)).settlement is Settlement.COMPLETE
    assert len(bus.active("order-runtime")) == 1  # not completed: it will be delivered again


def test_a_session_receiver_gets_only_its_sessions_messages_in_order(bus: MemoryServiceBus) -> None:
    for i, session in enumerate(["ord-a", "ord-b", "ord-a", "ord-b", "ord-a"]):
        _send(bus, resume_body(session), session=session, message_id=f"m{i}")
    receiver = bus.get_queue_receiver("order-runtime", session_id="ord-a")
    got = receiver.receive_messages(max_message_count=10)
    assert [m.message_id for m in got] == ["m0", "m2", "m4"]
    with pytest.raises(Exception, match="locked"):
        bus.get_queue_receiver("order-runtime", session_id="ord-a")


def test_settling_a_message_twice_is_refused_as_the_sdk_refuses_it(bus: MemoryServiceBus) -> None:
    from azure.servicebus.exceptions import MessageAlreadySettled

    _send(bus, resume_body("ord-1"))
    receiver = bus.get_queue_receiver("order-runtime", session_id="ord-1")
    (message,) = receiver.receive_messages()
    receiver.complete_message(message)
    with pytest.raises(MessageAlreadySettled):
        receiver.complete_message(message)


# -- "not now": a delayed copy instead of an immediate redelivery -------------------------------------------------
class _Outage(_Runtime):
    """Fails "not now" on its first ``failures`` inputs, then handles them; remembers when each came."""

    def __init__(self, clock: VirtualClock, failures: int) -> None:
        super().__init__()
        self.clock = clock
        self.failures = failures
        self.seen: list[float] = []

    def handle(self, item: Any) -> tuple[Outcome, ...]:
        self.seen.append((self.clock.now() - T0).total_seconds())
        if self.failures > 0:
            self.failures -= 1
            raise InfrastructureError("cosmos is down", retryable=True)
        return super().handle(item)


def _retrying(bus: MemoryServiceBus, clock: VirtualClock, runtime: _Runtime, **policy: Any) -> list[Settlement]:
    retrier = SenderRetrier(bus.get_queue_sender("order-runtime"), clock.now, RetryPolicy(**policy))
    verdicts: list[Settlement] = []
    drain(
        bus,
        "order-runtime",
        lambda m, r: verdicts.append(process(m, runtime.handle, ReceiverSettler(r), retrier).settlement),
    )
    return verdicts


def _run_until_quiet(bus: MemoryServiceBus, clock: VirtualClock, runtime: _Runtime, **policy: Any) -> list[Settlement]:
    """Consume, then let time pass a second at a time (up to an hour) consuming whatever falls due."""
    verdicts = _retrying(bus, clock, runtime, **policy)
    for _ in range(3600):
        if not bus.active("order-runtime"):
            break
        clock.advance(1)
        verdicts += _retrying(bus, clock, runtime, **policy)
    return verdicts


def test_the_backoff_doubles_from_5_s_to_5_min() -> None:
    policy = RetryPolicy()
    assert [policy.delay(a).total_seconds() for a in range(1, 10)] == [5, 10, 20, 40, 80, 160, 300, 300, 300]
    assert sum(policy.delay(a).total_seconds() for a in range(1, policy.max_attempts)) == 1215


def test_a_message_that_must_wait_comes_back_later_in_its_session_and_is_handled(
    bus: MemoryServiceBus, clock: VirtualClock
) -> None:
    runtime = _Outage(clock, failures=2)
    _send(bus, resume_body("ord-1"), message_id="m1")
    assert _retrying(bus, clock, runtime) == [Settlement.RESCHEDULE]
    # the original is completed; its copy waits, invisible, in the same session
    (copy,) = bus.active("order-runtime")
    assert (copy.message_id, copy.session_id) == ("m1~retry2", "ord-1")
    assert copy.application_properties == {
        "fooddelivery-attempt": 2,
        "fooddelivery-first-message-id": "m1",
    }
    assert _retrying(bus, clock, runtime) == []  # nothing visible before its time
    verdicts = _run_until_quiet(bus, clock, runtime)
    assert verdicts == [Settlement.RESCHEDULE, Settlement.COMPLETE]
    assert runtime.seen == [0, 5, 15]  # attempts at 0 s, then 5 s and 10 s later
    assert len(runtime.handled) == 1 and isinstance(runtime.handled[0], type(decode_body(resume_body("ord-1"))))
    assert bus.dead_letters("order-runtime") == []


def test_a_message_that_never_succeeds_is_dead_lettered_after_the_last_attempt_with_the_reason(
    bus: MemoryServiceBus, clock: VirtualClock
) -> None:
    runtime = _Outage(clock, failures=10**6)
    _send(bus, resume_body("ord-1"), message_id="m1")
    verdicts = _run_until_quiet(bus, clock, runtime)
    assert verdicts == [Settlement.RESCHEDULE] * 9 + [Settlement.DEAD_LETTER]
    # 10 attempts over 1,215 s: the broker's max delivery count (3 here) never counted a thing
    assert runtime.seen == [0, 5, 15, 35, 75, 155, 315, 615, 915, 1215]
    (dead,) = bus.dead_letters("order-runtime")
    assert (dead.message_id, dead.reason, dead.delivery_count) == ("m1~retry10", "RetriesExhausted", 1)
    assert dead.description is not None and "after 10 attempts" in dead.description and "cosmos is down" in (
        dead.description
    )


def test_without_a_retrier_the_same_outage_dead_letters_it_at_once(bus: MemoryServiceBus, clock: VirtualClock) -> None:
    runtime = _Outage(clock, failures=10**6)
    _send(bus, resume_body("ord-1"), message_id="m1")
    assert _consume(bus, runtime) == [Settlement.ABANDON] * 3
    assert runtime.seen == [0, 0, 0]  # what the retrier is for: three deliveries in no time, then a dead letter
    assert [d.reason for d in bus.dead_letters("order-runtime")] == ["MaxDeliveryCountExceeded"]


def test_when_the_copy_cannot_be_scheduled_the_message_is_abandoned(bus: MemoryServiceBus, clock: VirtualClock) -> None:
    runtime = _Outage(clock, failures=1)
    sender = bus.get_queue_sender("order-runtime")
    _send(bus, resume_body("ord-1"), message_id="m1")
    sender.fail_next.append(ServiceBusServerBusyError(message="busy"))
    retrier = SenderRetrier(sender, clock.now)
    receiver = bus.get_queue_receiver("order-runtime", session_id="ord-1")
    (message,) = receiver.receive_messages()
    assert process(message, runtime.handle, ReceiverSettler(receiver), retrier).settlement is Settlement.ABANDON
    (again,) = receiver.receive_messages()  # redelivered at once, as before
    assert again.message_id == "m1" and again.delivery_count == 2
    assert process(again, runtime.handle, ReceiverSettler(receiver), retrier).settlement is Settlement.COMPLETE


def test_a_redelivered_original_schedules_the_same_copy_which_duplicate_detection_drops(
    bus: MemoryServiceBus, clock: VirtualClock
) -> None:
    runtime = _Outage(clock, failures=2)
    retrier = SenderRetrier(bus.get_queue_sender("order-runtime"), clock.now)
    _send(bus, resume_body("ord-1"), message_id="m1")
    receiver = bus.get_queue_receiver("order-runtime", session_id="ord-1")
    (message,) = receiver.receive_messages()

    def slow(item: Any) -> tuple[Outcome, ...]:
        clock.advance(31)  # the lock expires before the completion: the original comes back
        return runtime.handle(item)

    assert process(message, slow, ReceiverSettler(receiver), retrier).settlement is Settlement.RESCHEDULE
    receiver.close()
    assert _retrying(bus, clock, runtime) == [Settlement.RESCHEDULE]  # the original again: the same copy id
    assert [m.message_id for m in bus.active("order-runtime")] == ["m1~retry2"]  # one copy, not two


def test_an_input_sent_after_a_retried_one_is_handled_first(bus: MemoryServiceBus, clock: VirtualClock) -> None:
    """The session ordering given up (see the consumer's docstring): the copy goes to the end of the session."""
    runtime = _Outage(clock, failures=1)
    _send(bus, resume_body("ord-1"), message_id="first")
    _send(bus, resume_body("ord-1"), message_id="second")
    verdicts = _run_until_quiet(bus, clock, runtime)
    assert verdicts == [Settlement.RESCHEDULE, Settlement.COMPLETE, Settlement.COMPLETE]
    assert runtime.seen == [0, 0, 5]  # "second" at once, "first" 5 s later
    assert [m.message_id for m in bus.entity("order-runtime").completed] == ["first", "second", "first~retry2"]
