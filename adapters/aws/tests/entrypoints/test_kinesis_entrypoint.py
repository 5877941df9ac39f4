"""The tracking consumer: Kinesis records (the SAM sample's shape, and records read back from moto's stream)
decoded into location events, one EMF metrics line per batch, the first bad record reported by sequence number."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from aws_stack import Stack, sample_event

from fooddelivery.adapters.memory import VirtualClock
from fooddelivery.application.envelope import to_json
from fooddelivery.domain.events import DomainEvent
from fooddelivery.testing.builders import T0, make_event, make_location_event
from fooddelivery_aws.bootstrap import build_aws_app, reset_aws_app
from fooddelivery_aws.entrypoints.kinesis import (
    KinesisTrackingConsumer,
    LocationMetrics,
    decode_location_record,
    handler,
)
from fooddelivery_aws.messaging.kinesis import KinesisLocationStream


def kinesis_record(data: bytes, key: str, sequence: str) -> dict[str, Any]:
    """The SAM sample record with this data, partition key and sequence number."""
    record = sample_event("kinesis")["Records"][0]
    record["kinesis"].update(data=base64.b64encode(data).decode(), partitionKey=key, sequenceNumber=sequence)
    return dict(record)


def location(driver: str = "drv-1", seconds: int = 0) -> DomainEvent:
    return make_location_event(driver, at=T0 + timedelta(seconds=seconds))


class Sink:
    def __init__(self) -> None:
        self.events: list[DomainEvent] = []
        self.flushed = 0

    def __call__(self, event: DomainEvent) -> None:
        self.events.append(event)

    def flush(self) -> None:
        self.flushed += 1


def test_records_written_by_the_location_stream_are_decoded_in_order(stack: Stack) -> None:
    events = [location("drv-1", 0), location("drv-1", 5), location("drv-2", 7)]
    stream = KinesisLocationStream(stack.stream_name, client=stack.clients["kinesis"])
    for event in events:
        stream.append(event, event.payload["driverId"])
    sink = Sink()

    failures = KinesisTrackingConsumer(sink).handle(stack.kinesis_records())

    assert failures.response() == {"batchItemFailures": []}
    assert sorted(sink.events, key=lambda e: e.occurred_at) == events
    assert sink.flushed == 1


def test_the_first_bad_record_is_reported_and_the_rest_left_for_the_retry() -> None:
    good = kinesis_record(to_json(location()), "drv-1", "1")
    bad = kinesis_record(b"SGVsbG8=", "drv-1", "2")  # the SAM sample's kind of data: not our envelope
    after = kinesis_record(to_json(location(seconds=1)), "drv-1", "3")
    sink = Sink()

    failures = KinesisTrackingConsumer(sink).handle([good, bad, after])

    assert failures.response() == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    assert [e.event_id for e in sink.events] == [decode_location_record(good).event_id]
    assert sink.flushed == 1


def test_the_sam_sample_record_is_malformed_for_us() -> None:
    record = sample_event("kinesis")["Records"][0]
    failures = KinesisTrackingConsumer(Sink()).handle([record])
    assert failures.response() == {"batchItemFailures": [{"itemIdentifier": record["kinesis"]["sequenceNumber"]}]}


def test_what_a_location_record_must_be() -> None:
    cases = {
        "not base64": kinesis_record(b"", "drv-1", "1") | {"kinesis": {"data": "%%%", "sequenceNumber": "1"}},
        "another event type": kinesis_record(to_json(make_event()), "drv-1", "2"),
        "partition key not the driver": kinesis_record(to_json(location("drv-1")), "drv-2", "3"),
        "no data": {"kinesis": {"sequenceNumber": "4"}},
    }
    for name, record in cases.items():
        sink = Sink()
        failures = KinesisTrackingConsumer(sink).handle([record])
        assert len(failures) == 1, name
        assert sink.events == [], name


def test_the_metrics_line_is_embedded_metric_format_with_the_count_and_the_lags() -> None:
    clock = VirtualClock(T0 + timedelta(seconds=2))
    lines: list[str] = []
    metrics = LocationMetrics(clock, lines.append)
    records = [kinesis_record(to_json(location(seconds=s)), "drv-1", str(s)) for s in (0, 1)]

    KinesisTrackingConsumer(metrics).handle(records)

    (line,) = lines
    document = json.loads(line)
    assert document["LocationUpdates"] == 2
    assert document["LocationLagMs"] == [2000.0, 1000.0]
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "FoodDelivery"
    assert {m["Name"] for m in directive["Metrics"]} == {"LocationUpdates", "LocationLagMs"}
    assert document["_aws"]["Timestamp"] == int(clock.now().timestamp() * 1000)


def test_an_empty_batch_writes_no_metrics_line() -> None:
    lines: list[str] = []
    KinesisTrackingConsumer(LocationMetrics(VirtualClock(T0), lines.append)).handle([])
    assert lines == []


def test_the_lambda_handler_times_the_lag_on_the_applications_clock_without_building_the_core(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = VirtualClock(T0 + timedelta(seconds=3))
    app = build_aws_app(environ=stack.environ(), clock=clock)
    reset_aws_app(app)
    try:
        records = [kinesis_record(to_json(location(seconds=s)), "drv-1", str(s)) for s in (0, 2)]

        response = handler({"Records": records})

        assert response == {"batchItemFailures": []}
        (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
        document = json.loads(line)
        assert document["LocationUpdates"] == 2
        assert document["LocationLagMs"] == [3000.0, 1000.0]
        assert app.clock is clock
        assert app.built is False  # the stores, the saga and the runtime are not made for a clock
    finally:
        reset_aws_app()
