"""``fooddelivery.observability.setup.flushing``: what every cloud entrypoint runs each invocation in."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fooddelivery.observability.setup import FLUSH_TIMEOUT_ENV, flush_timeout_ms, flushing
from fooddelivery.observability.tracing import span, use_providers

HOUR_MS = 3_600_000


class SlowExporter(SpanExporter):
    """A collector that takes ``seconds`` to accept each batch."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.exported: list[str] = []
        self.done = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        time.sleep(self.seconds)
        self.exported.extend(s.name for s in spans)
        self.done.set()
        return SpanExportResult.SUCCESS


def _batched(exporter: SpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=HOUR_MS))
    use_providers(provider, None)
    try:
        yield provider
    finally:
        use_providers(None, None)
        provider.shutdown()


def test_a_block_exports_its_spans_when_it_ends_and_when_it_raises() -> None:
    exporter = InMemorySpanExporter()
    for _ in _batched(exporter):
        with flushing(1_000):
            with span("ok"):
                pass
            assert exporter.get_finished_spans() == ()  # still in the batch
        assert [s.name for s in exporter.get_finished_spans()] == ["ok"]

        @flushing(1_000)
        def handler() -> None:
            with span("failing"):
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            handler()
        assert [s.name for s in exporter.get_finished_spans()] == ["ok", "failing"]


def test_a_slow_collector_holds_the_invocation_no_longer_than_the_bound() -> None:
    exporter = SlowExporter(seconds=2.0)
    for _ in _batched(exporter):
        started = time.perf_counter()
        with flushing(200), span("slow"):
            pass
        elapsed = time.perf_counter() - started
        assert elapsed < 1.0, elapsed  # bounded by 200 ms (plus scheduling), not the collector's 2 s
        assert exporter.exported == []
        assert exporter.done.wait(5)  # the export went on in the background
        assert exporter.exported == ["slow"]


def test_the_bound_comes_from_the_environment_and_a_bad_value_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    assert flush_timeout_ms({}) == 1_000
    assert flush_timeout_ms({FLUSH_TIMEOUT_ENV: "250"}) == 250
    with caplog.at_level(logging.ERROR, logger="fooddelivery.observability.setup"):
        assert flush_timeout_ms({FLUSH_TIMEOUT_ENV: "-5"}) == 1_000
        assert flush_timeout_ms({FLUSH_TIMEOUT_ENV: "soon"}) == 1_000
    assert [r.getMessage() for r in caplog.records] == [
        f"{FLUSH_TIMEOUT_ENV} must be a positive integer (ms), got '-5': using 1000",
        f"{FLUSH_TIMEOUT_ENV} must be a positive integer (ms), got 'soon': using 1000",
    ]
