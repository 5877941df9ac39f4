"""The trace context in CloudEvents, timers and saga data; and nothing at all without an SDK."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.application.envelope import from_json, to_json
from fooddelivery.application.messages import EventInput, decode_body
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.observability.instrument import TracedScheduler, stamp_events
from fooddelivery.observability.tracing import TRACE_KEY, context_from, span
from fooddelivery.ports.scheduler import ScheduledMessage

from ._serve import T0 as START
from ._serve import call, open_server
from .conftest import Telemetry

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _event(**payload: object) -> DomainEvent:
    return DomainEvent("evt-1", EventType.ORDER_PLACED, T0, "ord-1", 1, dict(payload))


def test_a_cloudevent_carries_the_trace_context_as_the_distributed_tracing_extension() -> None:
    event = _event(total="19.99", **{TRACE_KEY: {"traceparent": TRACEPARENT, "tracestate": "congo=t61rcWkgMzE"}})

    envelope = json.loads(to_json(event))

    assert envelope["traceparent"] == TRACEPARENT
    assert envelope["tracestate"] == "congo=t61rcWkgMzE"
    assert envelope["data"] == {"total": "19.99"}
    back = from_json(to_json(event))
    assert back == event
    # the runtime's queue decodes it with the context (a consumer in another invocation continues the trace)
    decoded = decode_body(to_json(event))
    assert isinstance(decoded, EventInput)
    assert decoded.event.payload[TRACE_KEY] == {"traceparent": TRACEPARENT, "tracestate": "congo=t61rcWkgMzE"}


def test_an_event_without_a_trace_context_has_the_same_envelope_as_before() -> None:
    envelope = json.loads(to_json(_event(total="19.99")))

    assert "traceparent" not in envelope and "tracestate" not in envelope
    assert envelope["data"] == {"total": "19.99"}
    assert from_json(to_json(_event(total="19.99"))).payload == {"total": "19.99"}


def test_a_trace_key_smuggled_into_the_data_is_not_taken_for_a_trace_context() -> None:
    document = json.loads(to_json(_event(total="1.00")))
    document["data"][TRACE_KEY] = {"traceparent": TRACEPARENT}

    assert from_json(json.dumps(document)).payload == {"total": "1.00"}


def test_a_malformed_traceparent_is_ignored(telemetry: Telemetry) -> None:
    assert context_from({"traceparent": "00-not-a-trace-01"}) is None
    assert context_from({"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}) is None
    assert context_from("text") is None
    assert context_from({"traceparent": TRACEPARENT}) is not None


def test_without_an_sdk_nothing_is_stamped_and_no_span_is_made() -> None:
    events = [_event()]
    stamp_events(events)
    with span("anything") as current:
        assert current is None
    assert events == [_event()]
    scheduled: list[ScheduledMessage] = []

    class Inner:
        def schedule(self, message: ScheduledMessage) -> None:
            scheduled.append(message)

        def cancel(self, message_id: str) -> bool:
            return False

    TracedScheduler(Inner()).schedule(ScheduledMessage("t-1", T0, "saga.timeout", {"sagaId": "ord-1"}))
    assert scheduled[0].body == {"sagaId": "ord-1"}


def test_a_timer_scheduled_in_a_span_carries_its_context(telemetry: Telemetry) -> None:
    scheduled: list[ScheduledMessage] = []

    class Inner:
        def schedule(self, message: ScheduledMessage) -> None:
            scheduled.append(message)

        def cancel(self, message_id: str) -> bool:
            return False

    with span("step") as current:
        assert current is not None
        TracedScheduler(Inner()).schedule(ScheduledMessage("t-1", T0, "saga.timeout", {"sagaId": "ord-1"}))
    trace_id = format(current.get_span_context().trace_id, "032x")
    carried = scheduled[0].body[TRACE_KEY]["traceparent"]
    assert carried.split("-")[1] == trace_id
    (client,) = telemetry.named("scheduler.schedule")
    assert carried.split("-")[2] == format(client.context.span_id, "016x")
    assert scheduled[0].body["sagaId"] == "ord-1"


def test_importing_the_http_api_and_the_composition_root_loads_no_opentelemetry() -> None:
    code = (
        "import sys, json\n"
        "from fooddelivery.http import HttpApi\n"
        "from fooddelivery.bootstrap import bootstrap\n"
        "import fooddelivery.application.envelope, fooddelivery.observability.setup\n"
        "bootstrap()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('opentelemetry'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert json.loads(out) == []


def test_a_request_with_a_traceparent_header_starts_its_own_trace_linked_to_the_clients(
    tmp_path: Path, telemetry: Telemetry
) -> None:
    server = open_server(tmp_path / "serve.db", VirtualClock(START))
    try:
        response = call(
            server,
            "GET",
            "/restaurants/rest-0",
            "customer",
            headers={"traceparent": TRACEPARENT, "tracestate": "vendor=" + "x" * 200},
        )
    finally:
        server.close()

    assert response.status == 200
    request = telemetry.one("GET /restaurants/{restaurantId}")
    # a public edge: a new root, not the client's trace, linked to the client's span without its tracestate
    assert request.parent is None
    assert format(request.context.trace_id, "032x") != "4bf92f3577b34da6a3ce929d0e0e4736"
    links = [(ln.context.trace_id, ln.context.span_id, ln.context.trace_state.to_header()) for ln in request.links]
    assert links == [(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, "")]
    assert request.attributes["http.response.status_code"] == 200


def test_a_change_stream_relay_in_another_invocation_publishes_in_the_events_trace(telemetry: Telemetry) -> None:
    from fooddelivery.adapters.memory import InMemoryEventPublisher, InMemoryOrderRepository
    from fooddelivery.application.relay import ChangeRecord, ChangeStreamRelay

    bus = InMemoryEventPublisher()
    event = _event(total="19.99", **{TRACE_KEY: {"traceparent": TRACEPARENT}})

    result = ChangeStreamRelay(bus, InMemoryOrderRepository()).relay([ChangeRecord("seq-1", event)])

    assert result.published == ("evt-1",)
    relayed = telemetry.one("relay OrderPlaced")
    assert format(relayed.context.trace_id, "032x") == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert relayed.parent is not None and format(relayed.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert relayed.attributes["messaging.message.id"] == "evt-1"
    assert json.loads(to_json(bus.published[0]))["traceparent"] == TRACEPARENT
    (lag,) = telemetry.points("fooddelivery.outbox.lag")
    assert lag.attributes == {"messaging.operation.name": "relay"} and lag.count == 1


def test_a_timer_keeps_its_trace_context_on_a_runtime_queue(telemetry: Telemetry) -> None:
    from fooddelivery.application.messages import TimerInput, timer_body

    message = ScheduledMessage(
        "ord-1:WaitForRestaurantConfirmation:timeout",
        T0,
        "saga.timeout",
        {"sagaId": "ord-1", "state": "WaitForRestaurantConfirmation", TRACE_KEY: {"traceparent": TRACEPARENT}},
    )

    decoded = decode_body(timer_body(message))

    assert isinstance(decoded, TimerInput)
    assert decoded.message == message
    assert context_from(decoded.message.body[TRACE_KEY]) is not None


def test_a_clients_unsampled_traceparent_does_not_switch_off_tracing_of_the_order(
    tmp_path: Path, telemetry: Telemetry
) -> None:
    server = open_server(tmp_path / "serve.db", VirtualClock(START))
    try:
        response = call(
            server, "GET", "/restaurants/rest-0", "customer", headers={"traceparent": TRACEPARENT[:-2] + "00"}
        )
    finally:
        server.close()

    assert response.status == 200
    request = telemetry.one("GET /restaurants/{restaurantId}")
    assert request.context.trace_flags.sampled and request.parent is None
    assert [link.context.trace_flags.sampled for link in request.links] == [False]
