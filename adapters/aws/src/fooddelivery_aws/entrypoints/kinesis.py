"""The tracking consumer: driver positions from the Kinesis location stream.

Each record's ``kinesis.data`` is base64 of a ``DeliveryLocationUpdated`` event in our CloudEvents JSON (what
:class:`~fooddelivery_aws.messaging.kinesis.KinesisLocationStream` writes); its partition key must be the event's
driver id. Decoded events go to a sink; the default one, :class:`LocationMetrics`, writes one CloudWatch Embedded
Metric Format line per batch (``FoodDelivery/LocationUpdates`` and ``FoodDelivery/LocationLagMs``, the time from
the driver's report to this consumer), which CloudWatch Logs turns into metrics for the tracking dashboard and
alarms without an API call (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
The driver's position itself is already stored by the use case that appended the event.

Partial batches: Lambda retries a Kinesis batch from the lowest sequence number reported in ``batchItemFailures``
(https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html), so the consumer stops at
the first record it cannot handle and reports it; the records after it come again. A malformed record is reported
too: with ``BisectBatchOnFunctionError``, a bounded ``MaximumRetryAttempts`` and an on-failure destination on the
event source mapping it ends up alone in that destination, where it can be inspected, instead of blocking the shard.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from fooddelivery.application.envelope import from_json
from fooddelivery.domain.errors import ValidationError
from fooddelivery.domain.events import DomainEvent, EventType
from fooddelivery.domain.geo import GeoPoint
from fooddelivery.observability.setup import flushing
from fooddelivery.ports.clock import Clock
from fooddelivery_aws.batch import BatchItemFailures
from fooddelivery_aws.metering import metered

__all__ = ["KinesisTrackingConsumer", "LocationMetrics", "decode_location_record", "handler"]

log = logging.getLogger(__name__)

#: CloudWatch namespace of the tracking metrics.
METRICS_NAMESPACE: Final[str] = "FoodDelivery"
#: Most values of one metric in one EMF document.
_MAX_EMF_VALUES: Final[int] = 100


def decode_location_record(record: Mapping[str, Any]) -> DomainEvent:
    """The location event of one Kinesis record of a Lambda event.

    Raises:
        ValidationError: no ``kinesis.data``, data that is not base64 of our CloudEvents JSON, another event type,
            a partition key other than the event's driver id, or coordinates that are not a valid position.
    """
    payload = record.get("kinesis")
    if not isinstance(payload, Mapping) or not isinstance(payload.get("data"), str):
        raise ValidationError.single("kinesis.data", "a Kinesis record needs base64 data", "required")
    try:
        raw = base64.b64decode(payload["data"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError.single("kinesis.data", f"not base64: {exc}", "invalid") from exc
    event = from_json(raw)
    if event.type is not EventType.DELIVERY_LOCATION_UPDATED:
        raise ValidationError.single("type", f"expected DeliveryLocationUpdated, got {event.type.value}", "invalid")
    driver_id = event.payload.get("driverId")
    if not isinstance(driver_id, str) or payload.get("partitionKey") != driver_id:
        raise ValidationError.single("partitionKey", "must be the event's driverId", "invalid")
    try:
        GeoPoint(float(event.payload["lat"]), float(event.payload["lon"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError.single("payload", f"lat/lon are not a position: {exc}", "invalid") from exc
    return event


class LocationMetrics:
    """The default sink: collects a batch's events and writes one EMF line when the batch ends.

    Args:
        clock: time source of the lag.
        emit: writes one log line (default: standard output, which Lambda sends to CloudWatch Logs).
    """

    def __init__(self, clock: Clock, emit: Callable[[str], None] | None = None) -> None:
        self.clock = clock
        self._emit = emit or _print
        self._lags: list[float] = []

    def __call__(self, event: DomainEvent) -> None:
        """Record one event's lag."""
        lag_ms = (self.clock.now() - event.occurred_at).total_seconds() * 1000
        self._lags.append(round(max(0.0, lag_ms), 1))

    def flush(self) -> None:
        """Write the EMF line of what was recorded since the last flush (nothing if nothing was)."""
        if not self._lags:
            return
        lags, self._lags = self._lags, []
        now = self.clock.now()
        document = {
            "_aws": {
                "Timestamp": int(now.timestamp() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": METRICS_NAMESPACE,
                        "Dimensions": [[]],
                        "Metrics": [
                            {"Name": "LocationUpdates", "Unit": "Count"},
                            {"Name": "LocationLagMs", "Unit": "Milliseconds"},
                        ],
                    }
                ],
            },
            "LocationUpdates": len(lags),
            "LocationLagMs": lags[:_MAX_EMF_VALUES] if len(lags) > 1 else lags[0],
        }
        self._emit(json.dumps(document, separators=(",", ":")))


def _print(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class KinesisTrackingConsumer:
    """Decodes a Kinesis batch and hands each location event to ``sink`` (see the module docstring).

    Args:
        sink: receives each decoded event, in order; may have a ``flush()`` called after the batch.
    """

    def __init__(self, sink: Callable[[DomainEvent], object]) -> None:
        self.sink = sink

    def handle(self, records: Sequence[Any]) -> BatchItemFailures:
        """Handle records in order until one fails; returns that record's sequence number (or nothing)."""
        failures = BatchItemFailures()
        try:
            for index, record in enumerate(records):
                sequence = _sequence(record) or f"record-{index}"
                try:
                    if not isinstance(record, Mapping):
                        raise ValidationError.single("record", "must be a JSON object", "invalid")
                    self.sink(decode_location_record(record))
                except Exception:
                    log.exception("Kinesis record %s failed; Lambda retries from it", sequence)
                    failures.add(sequence)
                    break
        finally:
            flush = getattr(self.sink, "flush", None)
            if callable(flush):
                flush()
        return failures


def _sequence(record: Any) -> str | None:
    if isinstance(record, Mapping):
        payload = record.get("kinesis")
        if isinstance(payload, Mapping) and isinstance(payload.get("sequenceNumber"), str):
            return str(payload["sequenceNumber"])
    return None


@metered()
@flushing()
def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point (``fooddelivery_aws.entrypoints.kinesis.handler``): see the module docstring."""
    from fooddelivery_aws.bootstrap import aws_app

    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list):
        log.error("not a Kinesis event: no Records list")
        return BatchItemFailures().response()
    consumer = KinesisTrackingConsumer(LocationMetrics(aws_app().clock))  # the time only: the core is not built
    return consumer.handle(records).response()
