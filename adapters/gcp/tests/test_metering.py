"""Metering wired in the GCP package: Firestore document operations, Pub/Sub bytes (with the 1,000-byte minimum)
and Cloud Tasks operations recorded on the core's meter (``fooddelivery.metering``), against units computed by hand
from Google's rules (see ``fooddelivery_gcp.metering``): one keyed order placed through the HTTP API over the
emulators, and a timer's life on the Cloud Tasks stand-in."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.http.auth import issue_dev_token
from fooddelivery.http.messages import HttpRequest
from fooddelivery.metering import GCP, UsageMeter
from fooddelivery.ports.scheduler import ScheduledMessage
from fooddelivery.testing.http_parity import REFERENCE_ORDER, seed
from fooddelivery_gcp.bootstrap import GcpApp, build_gcp_app
from fooddelivery_gcp.entrypoints import handle_runtime_event
from fooddelivery_gcp.metering import FirestoreMeter, MeteredPublisher, pubsub_message_bytes, task_operations
from fooddelivery_gcp.tasks import CloudTasksScheduler, build_task
from gcp_stack import OidcKeys, PubSubAdmin, TasksStandIn, function_env

QUEUE = "projects/p/locations/us-central1/queues/saga-timers"
URL = "https://saga-timer.example.test/"
SA = "tasks@p.iam.gserviceaccount.com"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


# -- the rules, one by one ----------------------------------------------------------------------------------------
def test_firestore_counts_are_forwarded_to_the_core_meter() -> None:
    core = UsageMeter()
    documents = FirestoreMeter(forward=core)
    documents.record("orders", reads=2, writes=1)
    documents.record("outbox", writes=3, deletes=3)
    assert documents.get("orders", "reads") == 2  # the package's own tally, by collection, as before
    assert (core.quantity(GCP.FIRESTORE_READS), core.quantity(GCP.FIRESTORE_WRITES)) == (2, 4)
    assert core.quantity(GCP.FIRESTORE_DELETES) == 3


class _Client:
    """A publisher client answering every publish with message id ``"1234567890"`` (10 bytes)."""

    def __init__(self) -> None:
        self.published: list[bytes] = []

    def publish(self, topic: str, data: bytes, ordering_key: str = "", **attributes: str) -> Future[str]:
        self.published.append(data)
        future: Future[str] = Future()
        future.set_result("1234567890")
        return future


def test_a_publish_bills_its_volume_with_the_1000_byte_minimum_once_accepted() -> None:
    meter = UsageMeter()
    publisher = MeteredPublisher(_Client(), meter)
    small = publisher.publish("t", b"x" * 100, ordering_key="ord-1", eventType="OrderPlaced")
    assert meter.quantity(GCP.PUBSUB_BYTES) == 0  # not accepted yet: nothing billed
    assert small.result(timeout=1) == "1234567890"
    small.result(timeout=1)  # read twice, billed once
    # 100 data + len("eventType") 9 + len("OrderPlaced") 11 + 20 timestamp + 10 message id = 150 -> 1,000
    assert meter.quantity(GCP.PUBSUB_BYTES) == 1000
    publisher.publish("t", b"y" * 2000, ordering_key="ord-1").result()
    assert meter.quantity(GCP.PUBSUB_BYTES) == 1000 + 2000 + 20 + 10
    assert pubsub_message_bytes(b"", {}, "") == 20


def test_a_timer_bills_its_create_and_delete_calls() -> None:
    meter = UsageMeter()
    tasks = TasksStandIn()
    try:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import tasks_v2

        client = tasks_v2.CloudTasksClient(
            transport="rest", credentials=AnonymousCredentials(), client_options={"api_endpoint": tasks.url}
        )
        scheduler = CloudTasksScheduler(QUEUE, URL, SA, VirtualClock(NOW), client=client, meter=meter)
        timer = ScheduledMessage("ord-1:Wait:timeout", NOW + timedelta(minutes=5), "saga.timeout", {"sagaId": "ord-1"})
        task = build_task(QUEUE, timer, url=URL, service_account=SA, now=NOW)
        assert task_operations(task) == 1  # a timer is far under 32 KB
        scheduler.schedule(timer)
        scheduler.schedule(timer)  # ALREADY_EXISTS: still an API call, billed
        assert scheduler.cancel(timer.message_id) is True
        assert scheduler.cancel(timer.message_id) is False  # NOT_FOUND: billed too
        assert meter.quantity(GCP.TASKS_OPERATIONS) == 4
    finally:
        tasks.stop()


# -- one order, over the emulators --------------------------------------------------------------------------------
@pytest.fixture
def metered_app(
    firestore_client: Any, pubsub_host: str, prefix: str, tmp_path: Path
) -> Iterator[tuple[GcpApp, UsageMeter, PubSubAdmin, dict[str, str]]]:
    admin = PubSubAdmin()
    meter = UsageMeter()
    env = function_env(admin, prefix, OidcKeys(tmp_path), None)
    app = build_gcp_app(environ=env, firestore=firestore_client, meter=meter)
    seed(app.boot.restaurants, app.boot.drivers, datetime.now(UTC))
    try:
        yield app, meter, admin, env
    finally:
        admin.close()


def test_one_placed_order_records_the_units_computed_by_hand(
    metered_app: tuple[GcpApp, UsageMeter, PubSubAdmin, dict[str, str]],
) -> None:
    app, meter, admin, env = metered_app
    bus = admin.subscribe(env["ORDER_EVENTS_TOPIC"])
    meter.reset()  # the catalog seeded by the test is not the order's
    token = issue_dev_token("customer", "parity-user-1", None, None)
    request = HttpRequest.build(
        "POST",
        "/orders",
        headers=[
            ("Authorization", f"Bearer {token}"),
            ("Content-Type", "application/json"),
            ("Idempotency-Key", "metered-1"),
        ],
        body=REFERENCE_ORDER,
    )
    answer = app.http_api().handle(request)
    assert answer.status == 201, answer.body
    (published,) = admin.pull(bus, at_least=1)
    volume = pubsub_message_bytes(published.data, dict(published.attributes), published.message_id)
    assert volume < 1000, json.loads(published.data)  # an OrderPlaced envelope: billed as 1,000 bytes
    usage = {name: tally.quantity for name, tally in meter.usage().items()}
    assert usage == {
        # the idempotency key's document (absent: a read all the same) and the restaurant; the answer is the order
        # the transaction committed, from the call's scope (not read back)
        GCP.FIRESTORE_READS: 2,
        # one transaction: the order, its OrderPlaced outbox record, the idempotency key's document
        GCP.FIRESTORE_WRITES: 3,
        # published right after the commit, the outbox record is deleted
        GCP.FIRESTORE_DELETES: 1,
        # OrderPlaced to the order-events topic and to the runtime topic: 1,000 bytes each (the minimum)
        GCP.PUBSUB_BYTES: 2000,
    }


def test_a_runtime_delivery_is_billed_and_so_is_the_dead_letter_of_a_poison_message(
    metered_app: tuple[GcpApp, UsageMeter, PubSubAdmin, dict[str, str]],
) -> None:
    app, meter, _, _ = metered_app
    meter.reset()
    poison = base64.b64encode(b'{"hello": "world"}').decode()
    outcome = handle_runtime_event({"message": {"data": poison, "messageId": "42"}}, app)
    assert outcome.startswith("dead-lettered")
    # the push delivery: 18 bytes of data + 20 + "42" = 40 -> 1,000; the dead letter published (the same 18 bytes,
    # its reason and source as attributes, well under 1,000) -> 1,000
    assert {name: tally.quantity for name, tally in meter.usage().items()} == {GCP.PUBSUB_BYTES: 2000}
