"""The Pub/Sub adapters against the official Pub/Sub emulator: the core's publisher, notifier and location-stream
contracts (read back through pull subscriptions), the message shape (ordering key, attributes, CloudEvents JSON),
the fan-out to the runtime topic, and a refused publish reported per order."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fooddelivery.application.envelope import from_json
from fooddelivery.application.fanout import FanOutPublisher
from fooddelivery.domain.errors import InfrastructureError
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.ports.notifications import Notification, NotificationKind
from fooddelivery.testing.builders import make_event
from fooddelivery.testing.contracts import EventPublisherContract, LocationStreamContract, NotifierContract
from fooddelivery_gcp.pubsub import (
    BATCH_LATENCY_S,
    LazyPublisher,
    PubSubEventPublisher,
    PubSubLocationStream,
    PubSubNotifier,
)
from gcp_stack import PROJECT, PubSubAdmin


@pytest.fixture
def admin(pubsub_host: str) -> Iterator[PubSubAdmin]:
    a = PubSubAdmin()
    try:
        yield a
    finally:
        a.close()


def _topic(admin: PubSubAdmin, name: str) -> tuple[str, str]:
    topic_id = admin.topic(name)
    return f"projects/{PROJECT}/topics/{topic_id}", admin.subscribe(topic_id)


class TestPubSubEventPublisher(EventPublisherContract):
    @pytest.fixture
    def publisher(self, admin: PubSubAdmin) -> PubSubEventPublisher:
        topic, self.subscription = _topic(admin, "events")
        self.admin = admin
        return PubSubEventPublisher(topic)

    def published(self, publisher: Any) -> list[DomainEvent]:
        messages = self.admin.pull(self.subscription, timeout=5)
        return [from_json(m.data) for m in messages]


class TestPubSubNotifier(NotifierContract):
    @pytest.fixture
    def notifier(self, admin: PubSubAdmin, firestore_client: Any, prefix: str) -> PubSubNotifier:
        topic, self.subscription = _topic(admin, "notifications")
        self.admin = admin
        return PubSubNotifier(topic, lambda: firestore_client.collection(f"{prefix}notifications"))

    def delivered(self, notifier: Any) -> list[Notification]:
        out = []
        for m in self.admin.pull(self.subscription, timeout=5):
            doc = json.loads(m.data)
            out.append(
                Notification(
                    doc["notificationId"],
                    NotificationKind(doc["kind"]),
                    doc["recipientId"],
                    doc["orderId"],
                    doc["template"],
                    doc["data"],
                )
            )
        return out


class TestPubSubLocationStream(LocationStreamContract):
    @pytest.fixture
    def stream(self, admin: PubSubAdmin) -> PubSubLocationStream:
        topic, self.subscription = _topic(admin, "locations")
        self.admin = admin
        self.seen: list[Any] = []
        return PubSubLocationStream(topic)

    def appended(self, stream: Any, partition_key: str) -> list[DomainEvent]:
        self.seen.extend(self.admin.pull(self.subscription, timeout=3))
        return [from_json(m.data) for m in self.seen if m.ordering_key == partition_key]


def test_every_message_carries_the_order_as_ordering_key_and_its_type_and_schema_as_attributes(
    admin: PubSubAdmin,
) -> None:
    topic, subscription = _topic(admin, "shape")
    events = [make_event(order_id="ord-a", order_version=v, type=EventType.ORDER_STATUS_CHANGED) for v in (1, 2, 3)]
    PubSubEventPublisher(topic).publish(events)
    messages = admin.pull(subscription, at_least=3)
    assert [m.ordering_key for m in messages] == ["ord-a"] * 3
    assert [m.attributes["orderVersion"] for m in messages] == ["1", "2", "3"]
    assert {(m.attributes["eventType"], m.attributes["schemaVersion"]) for m in messages} == {
        ("OrderStatusChanged", "1")
    }
    cloud_event = json.loads(messages[0].data)
    assert (cloud_event["specversion"], cloud_event["id"], cloud_event["partitionkey"]) == (
        "1.0",
        events[0].event_id,
        "ord-a",
    )


def test_the_client_sends_a_batch_after_1_ms_and_a_long_call_still_arrives_in_order(admin: PubSubAdmin) -> None:
    # the library's default holds every message 10 ms before it sends the batch: 10 ms on each topic's publish of a
    # request that publishes after commit
    client = LazyPublisher().get()
    assert client.batch_settings.max_latency == BATCH_LATENCY_S == 0.001
    assert client.publisher_options.enable_message_ordering is True
    topic, subscription = _topic(admin, "latency")
    events = [make_event(order_id="ord-l", order_version=v, type=EventType.ORDER_STATUS_CHANGED) for v in range(1, 61)]
    PubSubEventPublisher(topic, client=client).publish(events)  # may span several batches: still in order
    messages = admin.pull(subscription, at_least=60)
    assert [int(m.attributes["orderVersion"]) for m in messages] == list(range(1, 61))


def test_the_fan_out_sends_only_the_runtimes_events_to_the_runtime_topic_and_every_event_to_the_bus(
    admin: PubSubAdmin,
) -> None:
    bus_topic, bus = _topic(admin, "order-events")
    runtime_topic, runtime = _topic(admin, "runtime")
    placed = make_event(order_id="ord-f", type=EventType.ORDER_PLACED)
    captured = make_event(order_id="ord-f", type=EventType.PAYMENT_CAPTURED)
    cancelled = make_event(order_id="ord-f", type=EventType.ORDER_CANCELLED)
    FanOutPublisher(PubSubEventPublisher(bus_topic), PubSubEventPublisher(runtime_topic)).publish(
        [placed, captured, cancelled]
    )
    assert [m.attributes["eventType"] for m in admin.pull(bus, at_least=3)] == [
        "OrderPlaced",
        "PaymentCaptured",
        "OrderCancelled",
    ]
    assert [m.attributes["eventType"] for m in admin.pull(runtime, at_least=2)] == ["OrderPlaced", "OrderCancelled"]


def test_a_refused_publish_names_every_event_of_the_order_from_the_failed_one_on(admin: PubSubAdmin) -> None:
    missing = f"projects/{PROJECT}/topics/never-created-{admin.suffix}"
    events = [make_event(order_id="ord-x"), make_event(order_id="ord-x"), make_event(order_id="ord-y")]
    with pytest.raises(InfrastructureError) as caught:
        PubSubEventPublisher(missing, timeout_s=10).publish(events)
    assert caught.value.context["failed_ids"] == [e.event_id for e in events]
    assert caught.value.context["retryable"] is False  # NotFound: the topic does not exist


def test_a_publish_that_outlives_the_wait_is_reported_failed_and_retryable_not_raised_as_a_bug(
    admin: PubSubAdmin,
) -> None:
    # A wait that times out leaves the ordering key running (the message may still be accepted), and the client's
    # resume_publish then raises RuntimeError("Ordering key is not paused."): that surfaced as a 500 for an order
    # already committed. Now the events are reported failed (they stay in the outbox) and the key keeps working.
    topic, subscription = _topic(admin, "slow")
    events = [make_event(order_id="ord-t"), make_event(order_id="ord-t")]
    with pytest.raises(InfrastructureError) as caught:
        PubSubEventPublisher(topic, timeout_s=1e-9).publish(events)
    assert caught.value.context["failed_ids"] == [e.event_id for e in events]
    assert caught.value.context["retryable"] is True
    assert set(caught.value.context["errors"]) <= {e.event_id for e in events}
    later = make_event(order_id="ord-t")
    PubSubEventPublisher(topic, timeout_s=10).publish([later])  # the key was never paused: it still publishes
    got = [m.attributes["eventId"] for m in admin.pull(subscription, at_least=3, timeout=10)]
    assert later.event_id in got and set(got) <= {*(e.event_id for e in events), later.event_id}


def test_a_publish_to_an_unreachable_service_waits_timeout_s_in_all_not_once_per_event(
    admin: PubSubAdmin, monkeypatch: pytest.MonkeyPatch
) -> None:
    # timeout_s is the wait for the batch: each event's future waited timeout_s on its own, so a stopped service held
    # a publish of n events n x timeout_s (a sweep of 100 events: 100 x 30 s) instead of timeout_s
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{port}")  # nothing listens there
    events = [make_event(order_id=order) for order in ("ord-u", "ord-u", "ord-v", "ord-v")]
    started = time.monotonic()
    with pytest.raises(InfrastructureError) as caught:
        PubSubEventPublisher(f"projects/{PROJECT}/topics/unreachable", timeout_s=1.0).publish(events)
    waited = time.monotonic() - started
    assert caught.value.context["failed_ids"] == [e.event_id for e in events]
    assert caught.value.context["retryable"] is True
    assert 1.0 <= waited < 2.5, waited  # one timeout_s (was 4.0: one per event)


def test_a_position_that_outlives_the_wait_is_reported_failed_not_raised_as_a_bug(admin: PubSubAdmin) -> None:
    topic, _ = _topic(admin, "slow-positions")
    with pytest.raises(InfrastructureError) as caught:
        PubSubLocationStream(topic, timeout_s=1e-9).append(make_event(order_id="ord-p"), "drv-1")
    assert caught.value.context["retryable"] is True
