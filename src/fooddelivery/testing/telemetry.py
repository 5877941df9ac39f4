"""Telemetry recorded in memory, for the observability tests of the core and of every cloud package.

The OpenTelemetry SDK's in-memory span exporter, behind the SDK's **batch** span processor with a one-hour schedule
(so a span reaches the exporter only when someone flushes, as at the end of a cloud function's invocation) or a
simple processor, and a push metric reader with a one-hour interval feeding a list. The providers are given to
:func:`fooddelivery.observability.tracing.use_providers` (the global ones can be set once per process) before the
application is built (``bootstrap()`` composes the instrumentation only when telemetry is on).

Needs the OpenTelemetry SDK (``pip install 'fooddelivery[otel,testing]'``). Use it as a pytest fixture::

    @pytest.fixture
    def telemetry() -> Iterator[Recorded]:
        yield from record(batched=True)
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fooddelivery.observability.tracing import use_providers

#: The export interval of the recording providers: an hour, so only a flush exports.
HOUR_MS = 3_600_000


class ListMetricExporter(MetricExporter):
    """Keeps every exported batch (a push exporter: it receives data only when the reader exports)."""

    def __init__(self) -> None:
        super().__init__(preferred_temporality={}, preferred_aggregation={})
        self.batches: list[MetricsData] = []

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        self.batches.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


@dataclass
class Recorded:
    """What reached the exporters."""

    spans_exporter: InMemorySpanExporter
    metrics_exporter: ListMetricExporter
    tracer_provider: TracerProvider = field(repr=False)

    def spans(self) -> list[ReadableSpan]:
        """The spans exported so far."""
        return list(self.spans_exporter.get_finished_spans())

    def named(self, prefix: str) -> list[ReadableSpan]:
        """The exported spans whose name starts with ``prefix``."""
        return [s for s in self.spans() if s.name.startswith(prefix)]

    def metric_points(self, name: str) -> list[Any]:
        """The data points of the metric ``name`` in every exported batch."""
        points: list[Any] = []
        for batch in self.metrics_exporter.batches:
            for resource in batch.resource_metrics:
                for scope in resource.scope_metrics:
                    for metric in scope.metrics:
                        if metric.name == name:
                            points.extend(metric.data.data_points)
        return points


def record(batched: bool) -> Generator[Recorded, None, None]:
    """Providers recording in memory, in use while the generator is suspended (a fixture's ``yield from``).

    Args:
        batched: a batch span processor with a one-hour schedule (spans exported only by a flush) if True, a
            simple one (each span exported as it ends) if False.

    Yields:
        What reached the exporters (:class:`Recorded`); the providers are shut down and unset afterwards.
    """
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    processor = (
        BatchSpanProcessor(spans, schedule_delay_millis=HOUR_MS, max_export_batch_size=100_000, max_queue_size=100_000)
        if batched
        else SimpleSpanProcessor(spans)
    )
    tracer_provider.add_span_processor(processor)
    metrics = ListMetricExporter()
    reader = PeriodicExportingMetricReader(metrics, export_interval_millis=HOUR_MS)
    meter_provider = MeterProvider(metric_readers=[reader])
    use_providers(tracer_provider, meter_provider)
    try:
        yield Recorded(spans, metrics, tracer_provider)
    finally:
        use_providers(None, None)
        tracer_provider.shutdown()
        meter_provider.shutdown()
