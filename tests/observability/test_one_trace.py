"""One order, one trace: ``POST /orders`` -> the outbox -> the relay -> the runtime -> every saga step ->
``OrderConfirmed``, on ``serve``'s application (SQLite) in process, read with the SDK's in-memory exporter."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.application.envelope import from_json, to_json
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.observability.tracing import TRACE_KEY
from tests.serve._live import wait_for

from ._serve import T0, confirm, open_server, place
from .conftest import Telemetry

SAGA_STEPS = ("ValidateOrder", "ProcessPayment", "NotifyRestaurant", "AssignDriver", "NotifyCustomer")


def _hex(trace_id: int) -> str:
    return format(trace_id, "032x")


def _trace_of(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.trace_id


def _traceparent_trace(event: DomainEvent) -> str:
    return str(event.payload[TRACE_KEY]["traceparent"]).split("-")[1]


def _confirmed(published: list[DomainEvent]) -> list[DomainEvent]:
    return [e for e in published if e.type is EventType.ORDER_STATUS_CHANGED and e.payload["to"] == "CONFIRMED"]




def test_one_trace_from_post_orders_through_the_outbox_and_every_saga_step_to_order_confirmed(
    tmp_path: Path, telemetry: Telemetry
) -> None:
    server = open_server(tmp_path / "serve.db", VirtualClock(T0))
    try:
        order_id = place(server)
        confirm(server, order_id)
        published = server.adapters.publisher.of_order(order_id)
    finally:
        server.close()

    post = telemetry.one("POST /orders")
    trace = _trace_of(post)
    assert post.kind is SpanKind.SERVER
    assert post.parent is None
    assert post.attributes is not None
    assert {
        "http.request.method": "POST",
        "http.route": "/orders",
        "http.response.status_code": 201,
    }.items() <= dict(post.attributes).items()
    in_trace = [s for s in telemetry.spans() if _trace_of(s) == trace]
    names = Counter(s.name for s in in_trace)
    # the API call, the use case, the outbox write, the runtime's handling, every step, the relay's publish
    for name in (
        "use_case place_order",
        "unit_of_work.commit",
        "process OrderPlaced",
        "publish",
        *(f"saga {step}" for step in SAGA_STEPS),
        "payments.authorize",
        "payments.capture",
        "saga ConfirmOrder",
    ):
        assert names[name] >= 1, f"{name} not in the order's trace: {sorted(names)}"
    # the confirmation's timeout is written in the wait's commit (the SQLite unit of work holds the timers), and
    # removed in the commit that accepts the confirmation: no scheduler call of their own
    timeout = f"{order_id}:WaitForRestaurantConfirmation:timeout"
    arming = [
        s
        for s in in_trace
        if s.name == "unit_of_work.commit"
        and s.attributes is not None
        and s.attributes.get("fooddelivery.timer.scheduled") == timeout
    ]
    assert len(arming) == 1
    disarming = [
        s
        for s in telemetry.named("unit_of_work.commit")
        if s.attributes is not None and s.attributes.get("fooddelivery.timer.cancelled") == timeout
    ]
    assert len(disarming) == 1
    assert not telemetry.named("scheduler.schedule") and not telemetry.named("scheduler.cancel")
    steps = {s.attributes["fooddelivery.saga.step"] for s in in_trace if s.name.startswith("saga ")}
    assert steps == {*SAGA_STEPS, "ConfirmOrder"}
    # the driver and restaurant stores (port calls that leave the process), as client spans of the order's trace
    for name in ("restaurants.get", "drivers.available_near", "drivers.save"):
        assert names[name] >= 1, f"{name} not in the order's trace: {sorted(names)}"
    by_name = {s.name: s for s in in_trace}
    reserve = by_name["drivers.save"]
    assert reserve.kind is SpanKind.CLIENT
    assert {
        "db.system.name": "sqlite",
        "db.operation.name": "save",
        "db.collection.name": "drivers",
    }.items() <= dict(reserve.attributes).items()
    assert reserve.attributes["fooddelivery.driver_id"]
    assert reserve.parent is not None and by_name["saga AssignDriver"].context.span_id == reserve.parent.span_id
    search = by_name["drivers.available_near"]
    assert search.attributes["db.response.returned_rows"] >= 1
    assert by_name["unit_of_work.commit"].attributes["db.system.name"] == "sqlite"
    restaurant = by_name["restaurants.get"]
    assert restaurant.attributes["fooddelivery.restaurant_id"] == "rest-0"
    assert restaurant.attributes["db.collection.name"] == "restaurants"
    assert {s.attributes["fooddelivery.order_id"] for s in in_trace if s.name.startswith("saga ")} == {order_id}
    process = telemetry.one("process OrderPlaced")
    assert process.kind is SpanKind.CONSUMER
    assert process.attributes["messaging.operation.type"] == "process"
    # the SQLite outbox appends the request's events to the bus log and marks them in one write, after the runtime
    # handled them (PublishingOutbox): one PRODUCER span for OrderPlaced and the four events the saga's steps
    # committed, in the request's trace, after the CONSUMER span
    (publish,) = [s for s in in_trace if s.name == "publish"]
    assert publish.kind is SpanKind.PRODUCER
    assert {
        "messaging.operation.type": "send",
        "messaging.batch.message_count": 5,
        "messaging.destination.name": "SqliteEventPublisher",
        "fooddelivery.order_id": order_id,
    }.items() <= dict(publish.attributes).items()
    assert publish.start_time > process.end_time

    # the restaurant's confirmation is its own request (its own trace); the step it drove stays in the order's
    # trace and links to it
    put = telemetry.one("PUT /orders/{orderId}")
    assert _trace_of(put) != trace
    assert put.attributes["http.route"] == "/orders/{orderId}"
    confirm_step = telemetry.one("saga ConfirmOrder")
    assert _trace_of(confirm_step) == trace
    assert [link.context.trace_id for link in confirm_step.links] == [_trace_of(put)]

    # OrderConfirmed carries the order's trace context in its CloudEvent, as published and stored
    confirmed = [e for e in published if e.type is EventType.ORDER_STATUS_CHANGED and e.payload["to"] == "CONFIRMED"]
    assert len(confirmed) == 1
    envelope = json.loads(to_json(confirmed[0]))
    assert envelope["traceparent"].split("-")[1] == _hex(trace)
    assert TRACE_KEY not in envelope["data"]
    assert from_json(to_json(confirmed[0])).payload == confirmed[0].payload
    placed = [e for e in published if e.type is EventType.ORDER_PLACED]
    assert _traceparent_trace(placed[0]) == _hex(trace)


def test_the_trace_context_survives_the_sqlite_outbox_and_a_sweep_in_another_process_continues_it(
    tmp_path: Path, telemetry: Telemetry
) -> None:
    db = tmp_path / "serve.db"
    clock = VirtualClock(T0)
    first = open_server(db, clock)
    try:
        first.boot.service.relay.publish_own = lambda: 0  # type: ignore[method-assign]  # it dies before publishing
        order_id = place(first)  # committed, not published: it waits in the outbox
    finally:
        first.close()
    trace = _trace_of(telemetry.one("POST /orders"))
    assert not telemetry.named("process OrderPlaced")  # nothing was handled in the first process

    second = open_server(db, clock)  # another process: the event is read back from the SQLite outbox
    try:
        pending = [r.event for r in second.adapters.orders.pending() if r.event.order_id == order_id]
        assert [e.type for e in pending] == [EventType.ORDER_PLACED]
        assert _traceparent_trace(pending[0]) == _hex(trace)
        envelope = json.loads(to_json(pending[0]))
        assert envelope["traceparent"].split("-")[1] == _hex(trace)
        assert second.boot.service.pump() >= 1  # the sweep: no span is current here
        assert second.boot.orders.get(order_id).status.value == "PENDING"  # the saga ran up to the wait
    finally:
        second.close()

    # the sweep has no trace of its own: the runtime continues the event's trace, and so does the write that
    # appends OrderPlaced and the saga's events to the bus
    process = telemetry.one("process OrderPlaced")
    assert _trace_of(process) == trace
    relayed = telemetry.one("publish")
    assert _trace_of(relayed) == trace
    assert relayed.kind is SpanKind.PRODUCER
    assert relayed.attributes["messaging.batch.message_count"] == 5
    for step in SAGA_STEPS:
        assert _trace_of(telemetry.one(f"saga {step}")) == trace


def test_a_timer_delivery_continues_the_trace_that_set_it(tmp_path: Path, telemetry: Telemetry) -> None:
    clock = VirtualClock(T0)
    server = open_server(tmp_path / "serve.db", clock)
    try:
        order_id = place(server)
        clock.advance(301)  # the restaurant never answers
        assert server.boot.run_due() == 1
        assert server.boot.orders.get(order_id).status.value == "FAILED"
    finally:
        server.close()

    trace = _trace_of(telemetry.one("POST /orders"))
    timer = telemetry.one("timer saga.timeout")
    assert timer.kind is SpanKind.CONSUMER
    assert _trace_of(timer) == trace
    assert timer.attributes["fooddelivery.order_id"] == order_id
    compensations = [s for s in telemetry.spans() if s.name.startswith("saga compensate:")]
    assert {s.attributes["fooddelivery.saga.step"] for s in compensations} >= {"compensate:ProcessPayment"}
    assert {_trace_of(s) for s in compensations} == {trace}
    refund = telemetry.one("payments.refund")
    assert _trace_of(refund) == trace


def test_with_serve_running_the_saga_leaves_the_request_and_stays_in_the_orders_trace(
    tmp_path: Path, telemetry: Telemetry
) -> None:
    server = open_server(tmp_path / "serve.db", VirtualClock(T0))
    server.start()  # the worker and the saga queue thread: the saga runs after POST /orders answered
    try:
        order_id = place(server)
        assert server.sagas.drain(10.0)
        confirm(server, order_id)
        # The confirmation may reach the bus after the PUT answered, by the worker's sweep (a poll away): when the
        # saga thread wrote the saga's events before the placement's request wrote OrderPlaced (a loaded machine),
        # they and every later event of the order wait in the outbox for the sweep, in commit order (by design:
        # tests/sqlite/test_sqlite_outbox_publication.py, test_a_later_event_whose_older_one_is_not_handled_yet_...)
        confirmed = wait_for(lambda: _confirmed(server.adapters.publisher.of_order(order_id)), 10.0, 0.01)
    finally:
        server.stop()
        server.close()

    post = telemetry.one("POST /orders")
    trace = _trace_of(post)
    process = telemetry.one("process OrderPlaced")
    assert _trace_of(process) == trace
    for step in (*SAGA_STEPS, "ConfirmOrder"):
        assert _trace_of(telemetry.one(f"saga {step}")) == trace, step
    assert confirmed, "OrderStatusChanged to CONFIRMED never reached the bus"
    assert _traceparent_trace(confirmed[0]) == _hex(trace)
