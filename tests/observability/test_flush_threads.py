"""Found in review: ``flushing()`` starts a new helper thread per provider on every invocation, and one whose
export is still running is left behind. Against a collector that stalls (each export blocking, as the OTLP
exporter does up to its timeout, 10 s by default), every invocation of a warm instance adds one more thread
blocked in ``force_flush``: the count grows with the invocation rate, without bound."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from fooddelivery.observability.setup import flushing
from fooddelivery.observability.tracing import span, use_providers


class StalledCollector(SpanExporter):
    """Each export blocks until the test releases it (a collector that accepts the connection and never answers)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.release.wait(30)
        return SpanExportResult.SUCCESS


def _flush_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "fooddelivery-otel-flush" and t.is_alive())


def test_invocations_against_a_stalled_collector_do_not_pile_up_flush_threads() -> None:
    exporter = StalledCollector()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=3_600_000))
    use_providers(provider, None)
    try:
        for i in range(20):  # 20 invocations of one warm instance, each bounded at 50 ms
            with flushing(50), span(f"invocation {i}"):
                pass
        alive = _flush_threads()
    finally:
        exporter.release.set()
        use_providers(None, None)
        provider.shutdown()
    # one flush in flight is expected; 20 (one per invocation, all blocked) is the defect
    assert alive <= 2, f"{alive} fooddelivery-otel-flush threads still blocked after 20 invocations"
