"""Telemetry read back in process: the OpenTelemetry SDK's in-memory span exporter and metric reader, given to
``fooddelivery.observability`` for one test (the global providers are left alone: they can be set once)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the otel extra (part of dev) installs the SDK")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fooddelivery.observability.tracing import use_providers


@dataclass
class Telemetry:
    """The spans and metrics recorded during a test."""

    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self) -> list[ReadableSpan]:
        """Every span ended so far, in the order they ended."""
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        """The ended spans called ``name``."""
        return [s for s in self.spans() if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        """The one ended span called ``name``."""
        found = self.named(name)
        assert len(found) == 1, f"{len(found)} spans named {name!r}: {[s.name for s in self.spans()]}"
        return found[0]

    def points(self, metric: str) -> list[Any]:
        """The data points of ``metric`` (cumulative, as read now)."""
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == metric:
                        found.extend(m.data.data_points)
        return found

    def total(self, metric: str, **attributes: str) -> float:
        """The sum of a counter's points whose attributes include ``attributes``."""
        return sum(p.value for p in self.points(metric) if all(p.attributes.get(k) == v for k, v in attributes.items()))


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """SDK tracer and meter providers recording in memory for this test."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    use_providers(tracer_provider, meter_provider)
    try:
        yield Telemetry(exporter, reader)
    finally:
        use_providers(None, None)
        tracer_provider.shutdown()
        meter_provider.shutdown()
