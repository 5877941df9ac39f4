"""Metrics counted with the SDK's in-memory reader, and log lines as JSON with the trace and the order."""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from pathlib import Path

import pytest

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.domain.errors import InfrastructureError, ValidationError
from fooddelivery.observability.logs import LogSettings, configure_logging, reset_fields, step_fields

from ._serve import T0, confirm, open_server, place
from .conftest import Telemetry


class _RefusingBus:
    """A bus that is down: its publish calls, and the SQLite outbox's writes to its log (``OutboxPublication``)."""

    publisher = None

    def publish(self, events: object) -> None:
        raise InfrastructureError("the bus is down", service="bus", reason="unavailable")

    def publish_and_mark(self, events: object, unhandled: object = (), handed: object = None) -> list[str]:
        self.publish(events)
        return []


def test_orders_placed_confirmed_and_failed_by_reason_step_latency_retries_lag_and_dead_letters(
    tmp_path: Path, telemetry: Telemetry
) -> None:
    clock = VirtualClock(T0)
    server = open_server(tmp_path / "serve.db", clock)
    try:
        confirmed = place(server)
        confirm(server, confirmed)
        place(server, paymentMethod="tok_chargeDeclined")  # fails: payment_declined
        retried = place(server, paymentMethod="tok_processingError_1")  # one transient failure, then paid
        clock.advance(5)
        assert server.boot.run_due() == 1
        assert server.boot.orders.get(retried).payment_status.value == "CAPTURED"
        clock.advance(301)  # neither the retried order nor any other is confirmed: restaurant_timeout
        assert server.boot.run_due() == 1
        server.boot.service.dead_letters.append((server.adapters.publisher.of_order(confirmed)[0], RuntimeError()))
        depth = telemetry.points("fooddelivery.dlq.depth")
    finally:
        server.close()

    assert telemetry.total("fooddelivery.orders.placed") == 3
    assert telemetry.total("fooddelivery.orders.confirmed") == 1
    assert telemetry.total("fooddelivery.orders.failed", **{"fooddelivery.failure.reason": "payment_declined"}) == 1
    assert telemetry.total("fooddelivery.orders.failed", **{"fooddelivery.failure.reason": "restaurant_timeout"}) == 1
    assert telemetry.total("fooddelivery.orders.failed") == 2
    assert telemetry.total("fooddelivery.saga.step.retries", **{"fooddelivery.saga.step": "ProcessPayment"}) == 1
    assert telemetry.total("fooddelivery.saga.step.retries") == 1
    durations: Counter[tuple[str, str, str | None]] = Counter()
    for p in telemetry.points("fooddelivery.saga.step.duration"):
        a = p.attributes
        durations[(a["fooddelivery.saga.step"], a["fooddelivery.saga.step.outcome"], a.get("error.type"))] += p.count
        assert p.min >= 0
    # three orders validated; payment: two paid (one at its second attempt), one declined
    assert durations[("ValidateOrder", "ok", None)] == 3
    assert durations[("ProcessPayment", "ok", None)] == 2
    assert durations[("ProcessPayment", "error", "payment_declined")] == 1
    assert durations[("ProcessPayment", "error", "payment_retryable")] == 1
    assert durations[("ConfirmOrder", "ok", None)] == 1
    assert [p.value for p in depth] == [1]


def test_the_outbox_lag_is_the_time_an_event_waited(
    tmp_path: Path, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = VirtualClock(T0)
    server = open_server(tmp_path / "serve.db", clock)
    try:
        relay = server.boot.service.relay
        with monkeypatch.context() as patched:
            patched.setattr(relay, "publish_own", lambda: 0)  # the request publishes nothing: it waits in the outbox
            place(server)
        clock.advance(42)
        assert server.boot.service.pump() >= 1  # OrderPlaced, then the saga's events in the same write
    finally:
        server.close()

    (point,) = telemetry.points("fooddelivery.outbox.lag")
    assert point.attributes == {"messaging.operation.name": "publish"}
    assert point.max == 42.0  # OrderPlaced waited 42 s (virtual) in the outbox
    assert point.min == 0.0  # the saga's own events went out at once


def test_log_lines_are_json_with_the_trace_id_and_the_order(tmp_path: Path, telemetry: Telemetry) -> None:
    stream = io.StringIO()
    logger = logging.getLogger("fooddelivery")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    configure_logging(LogSettings(log_format="json"), stream=stream)
    server = open_server(tmp_path / "serve.db", VirtualClock(T0))
    try:
        relay = server.boot.service.relay
        relay.publisher = relay.publication = _RefusingBus()  # type: ignore[assignment]  # its events wait: logged
        order_id = place(server)
    finally:
        server.close()
        logger.handlers[:], logger.level, logger.propagate = saved

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    (warning,) = [line for line in lines if line["message"].startswith("event bus unavailable")]
    post = telemetry.one("POST /orders")
    assert warning["level"] == "WARNING"
    assert warning["logger"] == "fooddelivery.application.services"
    assert warning["trace_id"] == format(post.context.trace_id, "032x")
    assert len(warning["span_id"]) == 16
    assert warning["order_id"] == order_id
    assert "InfrastructureError: the bus is down" in warning["exc_info"]
    assert warning["time"].endswith("+00:00")


def test_a_saga_step_log_line_carries_the_step(telemetry: Telemetry) -> None:
    from fooddelivery.observability.instrument import traced_actions

    stream = io.StringIO()
    logger = logging.getLogger("fooddelivery")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    configure_logging(LogSettings(log_format="text"), stream=stream)

    class Context:
        saga_id = "ord-7"
        step = "AssignDriver"
        attempt = 2
        data: dict[str, object] = {}

    def action(context: object) -> None:
        logging.getLogger("fooddelivery.test").info("looking for a driver")

    try:
        fields = step_fields("ord-7", "AssignDriver")  # as the saga runner binds them around every action
        try:
            out = traced_actions({"assign_driver": action})["assign_driver"](Context())
        finally:
            reset_fields(fields)
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved

    step = telemetry.one("saga AssignDriver")
    line = stream.getvalue().strip()
    trace_id = format(step.context.trace_id, "032x")
    span_id = format(step.context.span_id, "016x")
    assert line == (
        f"INFO fooddelivery.test: looking for a driver order_id=ord-7 saga_step=AssignDriver "
        f"trace_id={trace_id} span_id={span_id}"
    )
    assert step.attributes["fooddelivery.saga.attempt"] == 2
    assert out is None  # no span was current: the step started no trace of its own to record as the origin
    assert telemetry.total("fooddelivery.saga.step.retries", **{"fooddelivery.saga.step": "AssignDriver"}) == 1


def test_the_log_settings_refuse_an_unknown_format_naming_the_variable() -> None:
    assert LogSettings.from_env({"FOODDELIVERY_LOG_FORMAT": " JSON "}).log_format == "json"
    assert LogSettings.from_env({}) == LogSettings("text", "info")
    with pytest.raises(ValidationError) as refused:
        LogSettings.from_env({"FOODDELIVERY_LOG_FORMAT": "xml"})
    assert refused.value.detail == "FOODDELIVERY_LOG_FORMAT: must be one of text, json, got 'xml'"
